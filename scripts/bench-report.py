#!/usr/bin/python3
"""Merge benchmark results and write the report with its plots.

    scripts/bench-report.py [--build build/bench]

Reads every <build>/results/*.json (c.json from bench/run.py; the bindings'
suites add theirs in the same shape), and writes next to them:
  <build>/results.json   every measurement of every suite, merged;
  <build>/report.md      tables: workload, xfutures, anchor, ratio, target,
                         met?; the targets missed and what limits them;
  <build>/plots/*.svg    one bar chart per workload and one of the ratios,
                         drawn by gnuplot (skipped, with a warning, when
                         gnuplot is missing).

A ratio is how many times faster xfutures is than the anchor: the anchor's
time over xfutures' time (or xfutures' rate over the anchor's, for a unit
where higher is better). Above 1 means xfutures is faster. Targets are
reported, never enforced: this script fails only on unreadable input.
"""

import argparse
import datetime
import glob
import json
import os
import shutil
import subprocess
import sys

# The targets of the issue. xf names the xfutures measurement when it is not
# the one called plain "xfutures". kind "ratio": ratio >= min; kind "max":
# xfutures' own value <= max (in the workload's unit).
TARGETS = [
    {"workload": "pool_bulk", "anchor": "libuv uv_queue_work", "kind": "ratio", "min": 3.0},
    {"workload": "pool_bulk", "anchor": "GLib GThreadPool", "kind": "ratio", "min": 1.5},
    {"workload": "serial_roundtrip", "anchor": "libuv uv_queue_work", "kind": "ratio",
     "min": 3.0},
    {"workload": "future_lifecycle", "anchor": "std::promise<void>", "kind": "max",
     "max": 60.0},
    {"workload": "loop_future", "anchor": "asyncio.Future (C)", "kind": "ratio", "min": 1.0},
    {"workload": "submit_native", "xf": "xfutures (2 workers)",
     "anchor": "xfutures (1 worker)", "kind": "ratio", "min": 1.8},
    # Workload 6: the Python binding (bench/python/py_bench.py).
    {"workload": "py_executor_submit", "anchor": "concurrent.futures.ThreadPoolExecutor",
     "kind": "ratio", "min": 10.0},
    {"workload": "py_executor_map", "anchor": "concurrent.futures.ThreadPoolExecutor",
     "kind": "ratio", "min": 10.0},
    {"workload": "py_loop_future", "anchor": "asyncio.Future (C) on asyncio", "kind": "ratio",
     "min": 1.0},
    {"workload": "py_submit_native", "xf": "xfutures (2 workers)", "anchor": "sequential",
     "kind": "ratio", "min": 1.8},
]

# The xfutures measurement of a workload when it is not called "xfutures"
# (besides the targets' "xf").
XF_IMPL = {"lua_pool": "xfutures (2 workers)"}

# What limits a target when it is missed, as found in perf profiles of the
# full run (perf record -g on the program). Printed only for missed targets.
LIMITS = {
    "pool_bulk": (
        "From `XF_BENCH_ONLY=xfutures perf record -g build/bench/bench/pool_bulk`: "
        "the workers spend most of their time in xf__pool_worker (inlined "
        "xf__pool_next) on cache misses, not on work: each task costs one "
        "pool-lock acquisition shared by both workers (xf__lock_slow ~5%), a "
        "load of the run-queue head right after the pop, and a write into "
        "every future while the inbox is reversed (each future a cache line "
        "that the submitter's core owns); the idle-spin loop (XF__POOL_SPIN) "
        "shows too. The submitter spends ~15% in malloc for the futures: "
        "the futures are freed by the workers (the submitter drops its "
        "reference first), so glibc's per-thread cache never refills and "
        "every allocation takes _int_malloc's slow path while the workers "
        "pay _int_free (~9%). Fixes: pop a batch of tasks per lock "
        "acquisition (or give each worker its own deque), decrement `queued` "
        "once per batch, and recycle future memory to the submitting thread "
        "(a lock-free return stack per pool) instead of cross-thread free."),
    "submit_native": (
        "Two workers and the submitting thread share two cores: while the "
        "main thread submits and then waits (xf_wait spins before it "
        "sleeps) it takes CPU from a worker, and the idle worker's spin "
        "does the same at the end. The median is noisy on this machine "
        "(1.2x to 1.8x between runs); a longer task or a sleeping waiter "
        "would show the workers' scaling alone."),
    "py_executor_submit": (
        "Per task the Python side costs more than the C pool: submit builds a "
        "Python Future wrapper (Future._wrap, pure Python) around "
        "py_executor_submit, each worker must take the GIL to call the Python "
        "function and to build the result value, and result() re-enters the "
        "core and converts the value back; with 2 workers and the submitter on "
        "2 cores the GIL changes hands several times per task. The stdlib pays "
        "the same GIL hand-offs plus its queue and locks, hence only ~3x. "
        "Fixes belong in bindings/python: create the wrapper in C (a C type, "
        "not a Python subclass built per future), and run tasks in batches per "
        "GIL acquisition on the worker."),
    "py_executor_map": (
        "map is concurrent.futures.Executor.map over submit: the same per-task "
        "costs as py_executor_submit, plus the stdlib's generator."),
    "py_loop_future": (
        "xfutures.asyncio.Future is a pure-Python class over the C future "
        "(bindings/python/xfutures/asyncio.py): __init__ looks up the loop's "
        "bridge in a WeakKeyDictionary and calls py_loop_create_future; "
        "set_result calls py_future_set_result and then _Bridge.kick, which "
        "schedules a loop.call_soon(_drive) and a C-loop run; await goes "
        "through __await__, done() and result() (future_state + "
        "py_future_outcome): about six SWIG calls and four Python frames per "
        "future against asyncio's C Future, which does it all in C. A C type "
        "for the loop future (as _asyncio.Future is) would be needed to meet "
        "the target."),
    "future_lifecycle": (
        "One allocation and free of the future, the lock word, and the "
        "state publication with release/acquire; no system call."),
}

BINDING_WORKLOADS = [
    ("6", "Python (bench/python/py_bench.py): py_executor_submit, py_executor_map "
     "(against concurrent.futures), py_loop_future, py_call_soon_chain (against "
     "asyncio and uvloop), py_submit_native (against sequential calls and the GIL)"),
    ("7", "Node (bench/node/node_bench.js): node_await (against a native Promise), "
     "node_delivery (worker-thread completions delivered to JavaScript, against "
     "worker_threads postMessage)"),
    ("8", "Lua (bench/lua/lua_bench.lua): lua_call (against a plain C function), "
     "lua_pool (against sequential), lua_timers (against lua-luv)"),
    ("9", "The binding crossing, a no-op call into the core: crossing_python, "
     "crossing_lua, crossing_node"),
]


def load(build):
    suites, results = {}, []
    for path in sorted(glob.glob(os.path.join(build, "results", "*.json"))):
        with open(path) as f:
            data = json.load(f)
        name = data.get("suite") or os.path.splitext(os.path.basename(path))[0]
        suites[name] = {k: v for k, v in data.items() if k != "results"}
        for r in data.get("results", []):
            r.setdefault("suite", name)
            results.append(r)
    return suites, results


def ratio(xf, anchor):
    if xf["unit"] != anchor["unit"]:
        return None
    if xf.get("lower_is_better", True):
        return anchor["value"] / xf["value"]
    return xf["value"] / anchor["value"]


def fmt(v):
    if v is None:
        return "—"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def fmt_ratio(r):
    return "—" if r is None else "%.2f×" % r


def by_workload(results):
    out = {}
    for r in results:
        out.setdefault(r["workload"], {})[r["impl"]] = r
    return out


def target_rows(wl):
    rows = []
    for t in TARGETS:
        impls = wl.get(t["workload"], {})
        xf = impls.get(t.get("xf", "xfutures"))
        anchor = impls.get(t["anchor"])
        if t["kind"] == "max":
            text = "≤ %g %s" % (t["max"], xf["unit"] if xf else "")
            met = None if xf is None else xf["value"] <= t["max"]
        else:
            text = "≥ %g× %s" % (t["min"], t["anchor"])
            r = ratio(xf, anchor) if xf and anchor else None
            met = None if r is None else r >= t["min"]
        rows.append((t, xf, anchor, text, met))
    return rows


def extra_note(r):
    notes = []
    if "sends" in r and "deliveries" in r:
        notes.append("%d sends, %d deliveries" % (r["sends"], r["deliveries"]))
    if r.get("note"):
        notes.append(r["note"])
    return "; ".join(notes)


def plot(build, wl, rows):
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        print("bench-report: gnuplot not found; no plots", file=sys.stderr)
        return []
    pdir = os.path.join(build, "plots")
    os.makedirs(pdir, exist_ok=True)
    made = []
    head = ('set terminal svg size 820,420 dynamic noenhanced font "sans,11"\n'
            "set style data histograms\nset style fill solid 0.8 border -1\n"
            "set boxwidth 0.7\nset grid ytics\nset yrange [0:*]\n"
            "set xtics rotate by -15 scale 0\nset key off\n")
    for name, impls in sorted(wl.items()):
        items = sorted(impls.values(), key=lambda r: (not r["impl"].startswith("xfutures"),
                                                      r["impl"]))
        dat = os.path.join(pdir, name + ".dat")
        with open(dat, "w") as f:
            for r in items:
                f.write('"%s" %.6g\n' % (r["impl"].replace('"', "'"), r["value"]))
        svg = os.path.join(pdir, name + ".svg")
        unit = items[0]["unit"]
        script = head + (
            'set output "%s"\nset title "%s (%s, median of %d; lower is better)"\n'
            'set ylabel "%s"\n'
            'plot "%s" using 2:xtic(1), "" using 0:2:(sprintf("%%.4g", $2)) '
            "with labels offset 0,0.8\n" % (svg, name, unit, items[0]["reps"], unit, dat))
        if subprocess.run([gnuplot], input=script, text=True).returncode == 0:
            made.append((name, "plots/%s.svg" % name))
    # The ratios of the headline comparisons.
    dat = os.path.join(pdir, "ratios.dat")
    with open(dat, "w") as f:
        for t, xf, anchor, _text, _met in rows:
            if t["kind"] == "ratio" and xf and anchor:
                f.write('"%s vs %s" %.6g %.6g\n' % (t["workload"], t["anchor"],
                                                    ratio(xf, anchor), t["min"]))
    svg = os.path.join(pdir, "ratios.svg")
    script = head + (
        'set output "%s"\nset title "xfutures speed-up over the anchor (bars) and the '
        'target (points)"\nset logscale y 2\nset yrange [*:*]\nset ylabel "ratio"\n'
        'plot "%s" using 2:xtic(1), "" using 0:3 with points pt 7 ps 1.5 lc rgb "red", '
        "1 with lines lc rgb \"black\"\n" % (svg, dat))
    if subprocess.run([gnuplot], input=script, text=True).returncode == 0:
        made.insert(0, ("ratios", "plots/ratios.svg"))
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "bench"))
    args = ap.parse_args()
    suites, results = load(args.build)
    if not results:
        print("bench-report: no results under %s/results" % args.build, file=sys.stderr)
        return 1
    with open(os.path.join(args.build, "results.json"), "w") as f:
        json.dump({"suites": suites, "results": results}, f, indent=1)
        f.write("\n")

    wl = by_workload(results)
    rows = target_rows(wl)
    quick = any(s.get("quick") for s in suites.values())
    m = next(iter(suites.values())).get("machine", {})
    out = []
    w = out.append
    w("# xfutures benchmarks\n")
    w("%s run, %s. Machine: %s, %s cores, Linux %s; %s.\n" % (
        "Quick" if quick else "Full",
        datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), m.get("cpu", "?"),
        m.get("nproc", "?"), m.get("kernel", "?"), m.get("compiler", "?")))
    if quick:
        w("> **Quick mode**: small sizes, only to check that every benchmark runs. "
          "These numbers are not for judging speed; run `make bench` for that.\n")
    w("Every value is the median of the repetitions; ratio = the anchor's time ÷ "
      "xfutures' time (above 1: xfutures is faster). Reproduce with `make bench` "
      "(or `make bench-quick`).\n")

    w("## Targets\n")
    w("| workload | xfutures | anchor | anchor result | ratio | target | met? |")
    w("|---|---|---|---|---|---|---|")
    for t, xf, anchor, text, met in rows:
        unit = xf["unit"] if xf else ""
        w("| %s | %s | %s | %s | %s | %s | %s |" % (
            t["workload"], (fmt(xf["value"]) + " " + unit) if xf else "not measured",
            t["anchor"], (fmt(anchor["value"]) + " " + anchor["unit"]) if anchor
            else "not measured", fmt_ratio(ratio(xf, anchor)) if xf and anchor else "—",
            text, {True: "yes", False: "**no**", None: "—"}[met]))
    w("")

    missed = [(t, xf) for t, xf, _a, _x, met in rows if met is False]
    if missed:
        w("### Targets missed\n")
        for name in dict.fromkeys(t["workload"] for t, _xf in missed):
            anchors = ", ".join(t["anchor"] for t, _xf in missed if t["workload"] == name)
            w("- **%s** (against %s): %s" % (name, anchors, LIMITS.get(
                name, "no profile finding recorded yet.")))
        w("")

    w("## Every comparison\n")
    w("| workload | xfutures | anchor | anchor result | ratio | n | notes |")
    w("|---|---|---|---|---|---|---|")
    for name, impls in sorted(wl.items()):
        xf_name = next((t["xf"] for t in TARGETS if t["workload"] == name and "xf" in t),
                       XF_IMPL.get(name, "xfutures"))
        xf = impls.get(xf_name)
        others = [r for k, r in sorted(impls.items()) if k != xf_name]
        if xf is None:
            continue
        if not others:
            w("| %s | %s %s | — | — | — | %d | %s |" % (
                name, fmt(xf["value"]), xf["unit"], xf["n"], extra_note(xf)))
        for a in others:
            w("| %s | %s %s | %s | %s %s | %s | %d | %s |" % (
                name, fmt(xf["value"]), xf["unit"], a["impl"], fmt(a["value"]), a["unit"],
                fmt_ratio(ratio(xf, a)), a["n"], extra_note(a)))
    w("")

    w("## Bindings (workloads 6–9)\n")
    others = sorted(s for s in suites if s != "c")
    if others:
        w("Suites merged besides the C one: %s. Their workloads appear in the "
          "tables above.\n" % ", ".join(others))
    else:
        w("Not measured yet. A binding's suite writes `results/<language>.json` "
          "next to `results/c.json`, in the same shape, and this report merges it.\n")
    for num, what in BINDING_WORKLOADS:
        w("%s. %s" % (num, what))
    w("")

    plots = plot(args.build, wl, rows)
    if plots:
        w("## Plots\n")
        for name, rel in plots:
            w("![%s](%s)\n" % (name, rel))
    report = os.path.join(args.build, "report.md")
    with open(report, "w") as f:
        f.write("\n".join(out))
    print("bench-report: %s, %s" % (report, os.path.join(args.build, "results.json")),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

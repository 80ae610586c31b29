#!/usr/bin/python3
"""Merge benchmark results and write the report with its charts.

    scripts/bench-report.py [--build build/bench]

Reads every <build>/results/*.json (c.json from bench/run.py; the bindings'
suites add theirs in the same shape), and writes next to them:
  <build>/results.json   every measurement of every suite, merged;
  <build>/report.md      tables: workload, xfutures, anchor, ratio, target,
                         met?; the targets missed and what limits them; the
                         scaling sweep; links to the charts;
  <build>/report.html    the same tables with the charts inline, one page
                         (scripts/check-report.py renders it in headless
                         Chromium and fails on errors);
  <build>/plots/*.svg    the charts, drawn by matplotlib: the ratios of
                         every comparison with each target marked, one
                         chart per workload family, and the scaling sweep
                         (skipped, with a warning, when matplotlib is
                         missing).

A ratio is how many times faster xfutures is than the anchor: the anchor's
time over xfutures' time (or xfutures' rate over the anchor's, for a unit
where higher is better). Above 1 means xfutures is faster. Targets are
reported, never enforced: this script fails only on unreadable input.

A workload it does not know still gets its rows and its chart: its family
is the program that measured it. A binding's workload is named with its
language's prefix (py_, lua_, node_) when it lacks one, so that it never
merges with the C suite's workload of the same name. Measurements that
carry a "sweep" field (bench/pool_scaling.cpp) form a sweep of their own,
with its table and its chart (the cost per task and the efficiency against
the task size, one panel per worker count), instead of rows of the
comparison table.

The page checks itself in the browser once it has loaded: a resource that
failed to load, a script error, an image that did not decode, a chart
label that sticks out of its chart or overlaps another label, an empty
chart or table: each is reported on the console and in
body[data-report-check], which scripts/check-report.py reads.
tests/report/test_report.py runs both scripts on a fixture under CTest.
"""

import argparse
import datetime
import glob
import html
import json
import os
import re
import sys

# The targets (README.md, Benchmarks, and the speed tables of the open work
# on the pool, the bindings, the process pool and the MPI executor). xf names
# the xfutures measurement when it is not the one called plain "xfutures".
# kind "ratio": ratio >= min; kind "max": xfutures' own value <= max; kind
# "at_least": xfutures' own value >= min (both in the workload's unit, for a
# measurement that is itself a ratio, such as a speed-up).
TARGETS = [
    # The thread pool, the futures, the loop and the closures (bench/*.c, *.cpp).
    {"workload": "pool_bulk", "anchor": "TBB task_group", "kind": "ratio", "min": 1.0},
    {"workload": "pool_bulk", "anchor": "libuv uv_queue_work", "kind": "ratio", "min": 3.0},
    {"workload": "pool_bulk", "anchor": "GLib GThreadPool", "kind": "ratio", "min": 2.0},
    {"workload": "serial_roundtrip", "anchor": "libuv uv_queue_work", "kind": "ratio",
     "min": 3.0},
    {"workload": "future_lifecycle", "anchor": "std::promise<void>", "kind": "ratio",
     "min": 8.0},
    {"workload": "future_lifecycle", "anchor": "std::promise<void>", "kind": "max",
     "max": 60.0},
    {"workload": "loop_future", "anchor": "asyncio.Future (C)", "kind": "ratio", "min": 1.0},
    {"workload": "loop_flood", "anchor": "libuv uv_async_send + queue", "kind": "ratio",
     "min": 1.0},
    {"workload": "timers_insert", "anchor": "libuv", "kind": "ratio", "min": 1.0},
    {"workload": "closure_void_call", "anchor": "xfutures call_soon_threadsafe",
     "kind": "ratio", "min": 0.7},
    {"workload": "submit_native", "xf": "xfutures (2 workers)",
     "anchor": "xfutures (1 worker)", "kind": "ratio", "min": 1.8},
    # Workload 6: the Python binding (bench/python/py_bench.py).
    {"workload": "py_executor_submit", "anchor": "concurrent.futures.ThreadPoolExecutor",
     "kind": "ratio", "min": 10.0},
    {"workload": "py_executor_map", "anchor": "concurrent.futures.ThreadPoolExecutor",
     "kind": "ratio", "min": 10.0},
    {"workload": "py_serial_roundtrip", "anchor": "concurrent.futures.ThreadPoolExecutor",
     "kind": "ratio", "min": 5.0},
    {"workload": "py_loop_future", "anchor": "asyncio.Future (C) on asyncio", "kind": "ratio",
     "min": 1.0},
    {"workload": "py_call_soon_chain", "anchor": "asyncio call_soon", "kind": "ratio",
     "min": 1.0},
    {"workload": "py_submit_native", "xf": "xfutures (2 workers)", "anchor": "sequential",
     "kind": "ratio", "min": 1.8},
    # Workload 7: the Node binding (bench/node/node_bench.js).
    {"workload": "node_delivery", "anchor": "worker_threads postMessage", "kind": "ratio",
     "min": 1.0},
    {"workload": "node_await", "anchor": "native Promise", "kind": "ratio", "min": 0.3},
    {"workload": "node_create_await", "anchor": "native Promise", "kind": "ratio",
     "min": 0.3},
    {"workload": "node_submit_all", "anchor": "setImmediate promises", "kind": "ratio",
     "min": 1.0},
    # Workload 8: the Lua binding (bench/lua/lua_bench.lua).
    {"workload": "lua_call", "anchor": "plain C function", "kind": "ratio", "min": 0.5},
    {"workload": "lua_timers", "anchor": "lua-luv (libuv)", "kind": "ratio", "min": 1.5},
    {"workload": "lua_pool", "xf": "xfutures (2 workers)", "anchor": "sequential",
     "kind": "ratio", "min": 1.9},
    # The process pool: the C worker (bench/process_pool.c) and Python workers
    # (bench/python/py_process_pool.py), 2 workers, against the stdlib's pool.
    {"workload": "pp_first_result", "anchor": "python ProcessPoolExecutor (fork)",
     "kind": "ratio", "min": 1.0},
    {"workload": "py_pp_roundtrip", "anchor": "concurrent.futures (spawn)", "kind": "ratio",
     "min": 5.0},
    {"workload": "py_pp_roundtrip", "anchor": "concurrent.futures (fork)", "kind": "ratio",
     "min": 5.0},
    {"workload": "py_pp_map", "anchor": "concurrent.futures (spawn)", "kind": "ratio",
     "min": 2.0},
    {"workload": "py_pp_map", "anchor": "concurrent.futures (fork)", "kind": "ratio",
     "min": 2.0},
    {"workload": "py_pp_first_result", "anchor": "concurrent.futures (spawn)",
     "kind": "ratio", "min": 1.0},
    {"workload": "py_pp_cpu", "xf": "xfutures (2 workers)", "anchor": "sequential",
     "kind": "ratio", "min": 1.8},
    {"workload": "py_pp_death", "anchor": "concurrent.futures (spawn)", "kind": "ratio",
     "min": 5.0},
    {"workload": "py_pp_death", "anchor": "concurrent.futures (fork)", "kind": "ratio",
     "min": 5.0},
    # The MPI executor of the Python binding (bench/python/py_mpi.py, whose
    # workloads the report prefixes with py_), 2 worker ranks.
    {"workload": "py_mpi_roundtrip", "anchor": "mpi4py.futures", "kind": "ratio", "min": 5.0},
    {"workload": "py_mpi_map", "anchor": "mpi4py.futures", "kind": "ratio", "min": 2.0},
    {"workload": "py_mpi_cpu", "xf": "xfutures speedup", "anchor": "sequential",
     "kind": "at_least", "min": 1.8},
]

# The xfutures measurement of a workload when it is not called "xfutures"
# (besides the targets' "xf").
XF_IMPL = {"lua_pool": "xfutures (2 workers)", "py_mpi_cpu": "xfutures speedup",
           "mpi_batch": "xfutures max_in_flight=16"}

# What limits a target when it is missed, as found in perf profiles of the
# full run (perf record -g on the program). Printed only for missed targets.
LIMITS = {
    "pool_bulk": (
        "perf on the submitter and the workers after the block cache and the "
        "lock-free inbox: glibc's arena lock and _int_free are gone from the "
        "profile, and so is the inbox reversal; about half of the workers' time "
        "is idle spinning, so the single submitting thread is what limits. Its "
        "cost is the futex wake-ups that the parallel-blocking rule requires "
        "(about 10%), the executor reference taken around each submit (a task "
        "can drop the last one before submit returns) and the allocation. TBB "
        "also lets the waiting thread run tasks. Tried and kept: per-thread "
        "block cache with a lock-free return stack, Vyukov inbox, cache-line "
        "counters. Not done: batches per lock and per-worker deques with "
        "stealing (a batch held by one worker would serialize tasks submitted "
        "together), and a waiter running queued tasks (it would run a task on "
        "the wrong named thread; it needs an opt-in option)."),
    "future_lifecycle": (
        "perf (thread CPU time, which load barely moves): 52-71 ns per future, "
        "most of it in set_result (lock, exchange, unlock) and the reference "
        "count atomics of unref; std::promise<void> pays a mutex, a condition "
        "variable and a shared state allocation. Restructuring the state word "
        "to drop the lock on the set path was not attempted."),
    "loop_flood": (
        "perf: the producers' side (xf__incoming_push and the allocation of "
        "each post) and lock contention of three threads on two cores. Tried "
        "and kept: a whole batch joins the ready list in one step, and a post "
        "from the loop's own thread skips the eventfd. Not done: a node living "
        "in the posted object (no allocation per post)."),
    "timers_insert": (
        "perf: the heap insert costs what uv_timer_start does (xf__schedule); "
        "the difference is fresh memory per handle (page faults once the "
        "4096-block cache is exhausted by a burst of 1M timers), an xf_now() "
        "per call_later where libuv uses its cached loop time, and a loop "
        "reference per returned handle. Not done: a handle pool that lives "
        "with the loop, or caller-owned handles as libuv has them."),
    "closure_void_call": (
        "From `perf record -g build/bench/bench/closure_call --quick`: "
        "xf__closure_entry 16% (the trampoline's argument conversion into "
        "values), the kernel's eventfd write/read and task switches about 25% "
        "(the loop goes to sleep between calls and each call wakes it), and "
        "malloc/free of the posted call record and its argument values about "
        "10% (they do not come from the block cache); call_soon_threadsafe "
        "posts one callback with no conversion and no allocation of values. "
        "Not done: call records and small argument values from the block "
        "cache, and batching the wake-up when calls arrive faster than the "
        "loop runs them."),
    "serial_roundtrip": (
        "One task at a time: each trip is a wake-up of a worker and of the "
        "waiter, and on 2 cores the spinning waiter and the idle worker's "
        "spin compete with the worker that runs the task. The spin is now "
        "adaptive (one spin slot per spare CPU, a per-thread budget that "
        "doubles on success and halves on sleep)."),
    "submit_native": (
        "Two workers and the submitting thread share two cores: while the "
        "main thread submits and then waits it takes CPU from a worker. The "
        "median is noisy on this machine (1.2x to 1.8x between runs)."),
    "py_executor_submit": (
        "Met on a quiet machine (11-15x); under load the GIL changes hands "
        "several times per task, and a worker that sleeps on the GIL costs a "
        "futex round trip."),
    "py_executor_map": (
        "map is concurrent.futures.Executor.map over submit: the same per-task "
        "costs as py_executor_submit, plus the stdlib's generator."),
    "py_serial_roundtrip": (
        "perf on submit().result() in a loop: context switches 22% and futex "
        "wake-ups 17%, the core's spins (xf_future_wait 10%, the idle worker "
        "9.5%) against Python 3% and the binding under 2%. A worker now takes "
        "the GIL once per task instead of twice. What is left is the thread "
        "wake-up on the answer path and the GIL hand-off, not binding code."),
    "py_loop_future": (
        "xfutures.asyncio.Future is a C type that keeps its outcome until the "
        "core future is needed; what remains per future is the type's "
        "allocation and loop.get_debug(), as asyncio's C future pays."),
    "py_call_soon_chain": (
        "perf: 35% in the kernel (eventfd write and read, epoll_wait per step) "
        "before loop-thread posts skipped the eventfd; the binding is 2.5%."),
    "node_delivery": (
        "perf: a bare native submit costs 1.6-2.9 us per job (the core's submit "
        "and worker wake-ups), the idle worker's spin takes CPU from the main "
        "thread (xf__pool_worker 22% of samples), and every job adds a "
        "registry entry, a wrapper, a registration and a Promise. Completion "
        "ids now reach JS as one array per wake-up. Not done: a batched submit "
        "(many jobs per crossing and per wake-up)."),
    "node_await": (
        "A done future's then settles without a core round trip; the rest is "
        "the SWIG wrapper lookup and the Promise the await makes."),
    "node_create_await": (
        "perf: mostly garbage collection. Each JS future costs a native future, "
        "a SWIG wrapper object with its weak handle and a FinalizationRegistry "
        "entry (SWIG_V8_ConvertPtr 5.6%, the registry 2.8%, clearing weak "
        "references 3.6%). Not done: a future that stays pure JS until native "
        "code needs it."),
    "node_submit_all": (
        "As node_delivery: the per-job cost of a native submit and its wake-up, "
        "and the wrapper and registration per result."),
    "lua_call": (
        "callgrind (instruction counts, as the machine was loaded): 431 "
        "instructions per fut:done() against 193 for a plain C function (was "
        "1073): about 120 are the Lua VM's method lookup and about 110 the "
        "wrapper (argument count, userdata tag check, the PLT call)."),
    "lua_timers": (
        "callgrind per timer: malloc/free about 1,900 instructions (core handle, "
        "box, Lua objects), the Lua GC about 1,270, xf__timers_run_due about 900, "
        "and the registry ref/unref; luv pays 8,815 in all against our 9,404. "
        "Needs a cheaper handle and function record in the binding and a "
        "timer handle pool in the core."),
    "lua_pool": (
        "Two worker states on two shared cores: the ratio is the machine's, "
        "1.85-2.0x when nothing else runs; it cannot be guaranteed in every run "
        "while other processes load the cores."),
    "py_pp_roundtrip": (
        "A submitter now sends straight to an idle worker (one manager wake-up "
        "and three system calls fewer); what is left is the two wake-ups on the "
        "answer path (the manager, then the waiting thread). A loop of "
        "submit(noop).result() measured 27-36 us per trip on a loaded machine, "
        "but this workload's row stays near 250 us on a quiet one: idle virtual "
        "CPUs wake slowly, and every trip here sleeps twice. Not explained "
        "further yet."),
    "py_pp_map": (
        "cProfile: the parent's main thread spends its time in the stdlib's "
        "chaining generator and the consumer loop, plus pickling, costs shared "
        "with the stdlib. Tried: plain pickle before cloudpickle. Not done: a "
        "second task queued per worker, as the stdlib does, which would break "
        "the rule that a death is blamed on exactly one task."),
    "py_pp_cpu": (
        "Two worker processes on two shared cores; the ratio is bounded by "
        "the machine's load in the same run."),
    "py_pp_death": (
        "strace: 3.8 ms from kill() to the worker's socket closing, all in the "
        "kernel; our own handling is about 0.3 ms (futures now fail before the "
        "other workers are killed). The stdlib takes 3-6 ms here, not the "
        "160 ms the target was set against, so 5x is below the kernel's floor."),
    "py_mpi_roundtrip": (
        "Two hops per task (rank 0's MPI thread, the serving rank's relay to its "
        "worker) and adaptive waits on both sides; 3-4x mpi4py quiet. Not done: "
        "running the C worker loop on the relay thread (it would help C tasks "
        "only)."),
    "py_mpi_map": (
        "Chunks cross as pickled lists; the parent's generator and pickling "
        "dominate, as for the process pool's map."),
    "py_mpi_cpu": (
        "Two worker ranks on two shared cores: bounded by the load in the same "
        "run (1.95x quiet)."),
}

BINDING_WORKLOADS = [
    ("6", "Python (bench/python/py_bench.py): py_executor_submit, py_executor_map "
     "(against concurrent.futures), py_loop_future, py_call_soon_chain (against "
     "asyncio and uvloop), py_submit_native (against sequential calls and the GIL)"),
    ("7", "Node (bench/node/node_bench.js): node_await and node_create_await (against "
     "a native Promise), node_delivery (worker-thread completions delivered to "
     "JavaScript, against worker_threads postMessage), node_submit_all (native jobs "
     "and Promise.all, against setImmediate promises)"),
    ("8", "Lua (bench/lua/lua_bench.lua): lua_call (against a plain C function), "
     "lua_pool (against sequential), lua_timers (against lua-luv)"),
    ("9", "The binding crossing, a no-op call into the core: crossing_python, "
     "crossing_lua, crossing_node"),
]


# Workload families, one chart each, in this order: a workload belongs to the
# first family one of whose prefixes starts its name; any other workload to a
# family named after the program that measured it.
FAMILIES = [
    ("Futures", ("future_",)),
    ("Thread pool", ("pool_", "submit_native", "serial_roundtrip")),
    ("Event loop", ("loop_", "closure_", "timers_")),
    ("Process pool", ("pp_", "py_pp_")),
    ("MPI", ("mpi_", "py_mpi_")),
    ("Python binding", ("py_", "crossing_python")),
    ("Lua binding", ("lua_", "crossing_lua")),
    ("Node binding", ("node_", "crossing_node")),
]

# Colours: xfutures always in blue; the anchors of the scaling sweep in
# their own colours, so a system looks the same in every chart.
XF_COLOR = "#1f5fa8"
ANCHOR_COLOR = "#9a9a9a"
SYSTEM_COLORS = [("xfutures", XF_COLOR), ("libuv", "#e07b00"), ("GLib", "#2e8b3a"),
                 ("TBB", "#8e44ad")]
MET_COLOR, MISSED_COLOR, NO_TARGET_COLOR = "#3a9d4f", "#d9472b", "#6f93c7"


def load(build):
    suites, results = {}, []
    for path in sorted(glob.glob(os.path.join(build, "results", "*.json"))):
        with open(path) as f:
            data = json.load(f)
        name = data.get("suite") or os.path.splitext(os.path.basename(path))[0]
        suites[name] = {k: v for k, v in data.items() if k != "results"}
        for r in data.get("results", []):
            r.setdefault("suite", name)
            r["workload"] = qualified(r)
            results.append(r)
    return suites, results


# A binding's workloads carry its language's prefix (py_, lua_, node_), so
# that a binding's measurement of a workload the C suite measures too (the
# MPI executor's mpi_roundtrip) is not merged with it.
SUITE_PREFIX = {"python": "py_", "lua": "lua_", "node": "node_"}


def qualified(r):
    name = r["workload"]
    prefix = SUITE_PREFIX.get(r["suite"].split("_", 1)[0])
    if prefix is None or name.startswith((prefix, "crossing_")):
        return name
    return prefix + name


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


def xf_name_of(name):
    """The name of the xfutures measurement of a workload."""
    return next((t["xf"] for t in TARGETS if t["workload"] == name and "xf" in t),
                XF_IMPL.get(name, "xfutures"))


def family_of(name, impls):
    for title, prefixes in FAMILIES:
        if name.startswith(prefixes):
            return title
    return next(iter(impls.values())).get("program") or "other"


def families(wl):
    """[(family, [workload, ...])] in FAMILIES order, then the others by name."""
    out = {}
    for name in sorted(wl):
        out.setdefault(family_of(name, wl[name]), []).append(name)
    order = [t for t, _p in FAMILIES if t in out] + sorted(
        f for f in out if f not in dict(FAMILIES))
    return [(f, out[f]) for f in order]


def target_rows(wl):
    rows = []
    for t in TARGETS:
        impls = wl.get(t["workload"], {})
        xf = impls.get(t.get("xf", "xfutures"))
        anchor = impls.get(t["anchor"])
        if t["kind"] == "max":
            text = "≤ %g %s" % (t["max"], xf["unit"] if xf else "")
            met = None if xf is None else xf["value"] <= t["max"]
        elif t["kind"] == "at_least":
            text = "≥ %g%s (over %s)" % (t["min"], " " + xf["unit"] if xf else "", t["anchor"])
            met = None if xf is None else xf["value"] >= t["min"]
        else:
            text = "≥ %g× %s" % (t["min"], t["anchor"])
            r = ratio(xf, anchor) if xf and anchor else None
            met = None if r is None else r >= t["min"]
        rows.append((t, xf, anchor, text, met))
    return rows


def ratio_target(name, xf_name, anchor):
    return next((t for t in TARGETS if t["kind"] == "ratio" and t["workload"] == name
                 and t["anchor"] == anchor and t.get("xf", "xfutures") == xf_name), None)


def comparisons(wl):
    """[(family, workload, xf, anchor, ratio or None, target or None)], every
    xfutures measurement against every other one of its workload."""
    out = []
    for fam, names in families(wl):
        for name in names:
            impls = wl[name]
            xf_name = xf_name_of(name)
            xf = impls.get(xf_name)
            if xf is None:
                continue
            for k, a in sorted(impls.items()):
                if k != xf_name:
                    out.append((fam, name, xf, a, ratio(xf, a), ratio_target(name, xf_name, k)))
    return out


def comparison_anchors(name, impls):
    """The other measurements of a workload, or [None] when xfutures is its only
    one (a row without an anchor); [] when xfutures did not measure it."""
    xf_name = xf_name_of(name)
    if xf_name not in impls:
        return []
    return [r for k, r in sorted(impls.items()) if k != xf_name] or [None]


def comparison_row(name, impls, a):
    """A row of a family's table: xfutures against the anchor a (or None)."""
    xf_name = xf_name_of(name)
    xf = impls[xf_name]
    texts, mets = [], []
    t = ratio_target(name, xf_name, a["impl"]) if a else None
    if t is not None and ratio(xf, a) is not None:
        texts.append("≥ %g×" % t["min"])
        mets.append(ratio(xf, a) >= t["min"])
    # A target on xfutures' own value goes on the first row of its workload.
    if a is None or a is comparison_anchors(name, impls)[0]:
        for t in TARGETS:
            if t["workload"] == name and t.get("xf", xf_name) == xf_name and \
                    t["kind"] in ("max", "at_least"):
                bound = t["max"] if t["kind"] == "max" else t["min"]
                texts.append("%s %g %s" % ("≤" if t["kind"] == "max" else "≥", bound,
                                           xf["unit"]))
                mets.append(xf["value"] <= bound if t["kind"] == "max" else
                            xf["value"] >= bound)
    met = "—" if not mets else "yes" if all(mets) else "**no**"
    own = "%s %s" % (fmt(xf["value"]), xf["unit"])
    if xf_name != "xfutures":
        own += " (%s)" % xf_name
    if a is None:
        return [name, own, "—", "—", "—", ", ".join(texts) or "—", met, str(xf["n"]),
                extra_note(xf)]
    return [name, own, a["impl"], "%s %s" % (fmt(a["value"]), a["unit"]),
            fmt_ratio(ratio(xf, a)), ", ".join(texts) or "—", met, str(a["n"]),
            extra_note(a)]


def extra_note(r):
    notes = []
    if "sends" in r and "deliveries" in r:
        notes.append("%d sends, %d deliveries" % (r["sends"], r["deliveries"]))
    if r.get("note"):
        notes.append(r["note"])
    return "; ".join(notes)


# ---- the scaling sweep --------------------------------------------------

def fmt_size(ns):
    if ns == 0:
        return "0"
    if ns % 1000 == 0:
        return "%d µs" % (ns // 1000)
    return "%g ns" % ns


def sweeps(results):
    """{sweep: {"sizes": [...], "threads": [...], "impls": [...],
    "points": {(impl, threads, task_ns): measurement}}}."""
    out = {}
    for r in results:
        if not r.get("sweep") or "task_ns" not in r or "threads" not in r:
            continue
        s = out.setdefault(r["sweep"], {"points": {}})
        s["points"][(r["impl"], int(r["threads"]), int(r["task_ns"]))] = r
    for s in out.values():
        keys = s["points"].keys()
        s["sizes"] = sorted({k[2] for k in keys})
        s["threads"] = sorted({k[1] for k in keys})
        s["impls"] = sorted({k[0] for k in keys if k[0] != SEQUENTIAL},
                            key=lambda i: (not i.startswith("xfutures"), i.lower()))
    return out


# The sweep's measurement of the work alone, run by the main thread without
# a pool in the same process as the pools. It is not the ideal: on a machine
# shared with other jobs it is measured at another moment than each pool, so
# an ideal made of it puts pools above 100%. It shows instead how fast the
# machine ran the work during the sweep against the calibrated task size.
SEQUENTIAL = "sequential"


def ideal(task_ns, threads, cores):
    """The cost per task of a pool with no overhead at all: the task size
    over the cores the pool can use."""
    return task_ns / max(1, min(threads, cores))


def system_color(impl, i):
    for key, color in SYSTEM_COLORS:
        if impl.startswith(key):
            return color
    return ["#555555", "#b8860b", "#008b8b", "#c71585"][i % 4]


# ---- the document: blocks rendered as Markdown and as HTML ---------------

class Doc:
    def __init__(self):
        self.blocks = []

    def heading(self, level, text):
        self.blocks.append(("h", level, text))

    def para(self, text):
        self.blocks.append(("p", text))

    def quote(self, text):
        self.blocks.append(("quote", text))

    def table(self, head, rows):
        self.blocks.append(("table", head, rows))

    def items(self, items, numbered=False):
        self.blocks.append(("items", items, numbered))

    def chart(self, name, rel, caption):
        self.blocks.append(("chart", name, rel, caption))

    def markdown(self):
        out = []
        for b in self.blocks:
            if b[0] == "h":
                out.append("%s %s\n" % ("#" * b[1], b[2]))
            elif b[0] == "p":
                out.append(b[1] + "\n")
            elif b[0] == "quote":
                out.append("> " + b[1] + "\n")
            elif b[0] == "table":
                out.append("| " + " | ".join(b[1]) + " |")
                out.append("|" + "---|" * len(b[1]))
                for row in b[2]:
                    out.append("| " + " | ".join(row) + " |")
                out.append("")
            elif b[0] == "items":
                for i, item in enumerate(b[1]):
                    if b[2]:
                        out.append("%s. %s" % item)
                    else:
                        out.append("- " + item)
                out.append("")
            elif b[0] == "chart":
                out.append("![%s](%s)\n" % (b[1], b[2]))
                out.append("*%s*\n" % b[3])
        return "\n".join(out)

    def html(self, build, title):
        body = []
        for b in self.blocks:
            if b[0] == "h":
                body.append("<h%d>%s</h%d>" % (b[1], inline(b[2]), b[1]))
            elif b[0] == "p":
                body.append("<p>%s</p>" % inline(b[1]))
            elif b[0] == "quote":
                body.append("<blockquote>%s</blockquote>" % inline(b[1]))
            elif b[0] == "table":
                body.append("<div class=\"table\"><table>\n<thead><tr>%s</tr></thead>\n<tbody>"
                            % "".join("<th>%s</th>" % inline(c) for c in b[1]))
                for row in b[2]:
                    body.append("<tr>%s</tr>" % "".join(
                        "<td%s>%s</td>" % (cell_class(c), inline(c)) for c in row))
                body.append("</tbody></table></div>")
            elif b[0] == "items":
                tag = "ol" if b[2] else "ul"
                body.append("<%s>" % tag)
                for item in b[1]:
                    if b[2]:
                        body.append("<li value=\"%s\">%s</li>" % (item[0], inline(item[1])))
                    else:
                        body.append("<li>%s</li>" % inline(item))
                body.append("</%s>" % tag)
            elif b[0] == "chart":
                with open(os.path.join(build, b[2])) as f:
                    svg = inline_svg(f.read(), b[1])
                body.append("<figure class=\"chart\" id=\"chart-%s\">%s\n<figcaption>%s "
                            "<a href=\"%s\">(SVG)</a></figcaption></figure>" % (
                                b[1], svg, inline(b[3]), html.escape(b[2])))
        return HTML_PAGE % {"title": html.escape(title), "body": "\n".join(body)}


def inline(text):
    """The Markdown used here (**bold**, `code`) as HTML."""
    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def cell_class(cell):
    if cell == "yes":
        return " class=\"met\""
    if cell == "**no**":
        return " class=\"missed\""
    if re.match(r"^[0-9.]+(×| [^ ]+)?$", cell) or cell in ("—", "not measured"):
        return " class=\"num\""
    if re.match(r"^[≥≤] ", cell) and len(cell) <= 24:  # a short target: one line
        return " class=\"target\""
    return ""


def inline_svg(svg, prefix):
    """An SVG file as an element of the page: without its XML prologue, with
    its ids made unique to it (every matplotlib figure has the same ids)."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'\bid="([^"]+)"', r'id="%s-\1"' % prefix, svg)
    svg = re.sub(r"url\(#([^)]+)\)", r"url(#%s-\1)" % prefix, svg)
    return re.sub(r'href="#([^"]+)"', r'href="#%s-\1"' % prefix, svg)


HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>%(title)s</title>
<script>
/* Every failure to load a resource or to run a script is reported on the
 * console, which scripts/check-report.py reads. */
window.reportErrors = [];
window.addEventListener("error", function (e) {
  var t = e.target, what = t && t !== window
    ? "failed to load " + (t.src || t.href || t.tagName) : "script error: " + e.message;
  window.reportErrors.push(what);
  console.error("report-check: " + what);
}, true);
</script>
<style>
body { font-family: "DejaVu Sans", sans-serif; font-size: 14px; color: #222;
       max-width: 1200px; margin: 0 auto; padding: 8px 24px 40px; }
h1 { font-size: 24px; } h2 { font-size: 19px; margin-top: 32px;
     border-bottom: 1px solid #ccc; padding-bottom: 3px; } h3 { font-size: 16px; }
blockquote { background: #fff6d6; border-left: 4px solid #e0b000; margin: 8px 0;
             padding: 6px 12px; }
div.table { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #d0d0d0; padding: 3px 8px; text-align: left;
         vertical-align: top; }
th { background: #eef2f7; } tbody tr:nth-child(even) { background: #fafafa; }
td.num { text-align: right; white-space: nowrap; } td.target { white-space: nowrap; }
td.met { color: #1d7a35; font-weight: bold; } td.missed { color: #b3261e; }
code { background: #f2f2f2; padding: 0 3px; }
figure.chart { margin: 16px 0 28px; }
figure.chart svg { width: 100%%; height: auto; display: block; }
figcaption { font-size: 13px; color: #444; margin-top: 4px; }
</style>
</head>
<body>
%(body)s
<script>
/* The page checks itself once everything it refers to has loaded: every
 * image decoded, every chart has a size, every table rows; the verdict goes
 * on the console and into body[data-report-check]. */
/* The labels of a chart (matplotlib writes each text as a group text_N)
 * that stick out of it or overlap another label by more than a sliver. */
function labels(id, svg) {
  var out = [], box = svg.getBoundingClientRect(), rects = [];
  svg.querySelectorAll('g[id*="-text_"]').forEach(function (g) {
    var r = g.getBoundingClientRect(), c = g.firstChild;
    /* matplotlib puts the text in a comment before the glyphs. */
    while (c && c.nodeType !== Node.COMMENT_NODE) c = c.nextSibling;
    r.label = c ? c.nodeValue.trim() : g.id;
    if (r.width > 0 && r.height > 0) rects.push(r);
  });
  rects.forEach(function (r) {
    if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 ||
        r.bottom > box.bottom + 1) out.push("label '" + r.label + "' cut off in " + id);
  });
  for (var i = 0; i < rects.length; i++)
    for (var j = i + 1; j < rects.length; j++) {
      var a = rects[i], b = rects[j];
      var w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      var h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 2 && h > 2)
        out.push("labels '" + a.label + "' and '" + b.label + "' overlap in " + id);
    }
  return out.filter(function (p, k) { return out.indexOf(p) === k; });
}

window.addEventListener("load", function () {
  var problems = window.reportErrors.slice();
  var charts = document.querySelectorAll("figure.chart");
  var tables = document.querySelectorAll("table");
  Array.prototype.forEach.call(document.images, function (img) {
    if (!img.complete || img.naturalWidth === 0)
      problems.push("image not loaded " + img.getAttribute("src"));
  });
  charts.forEach(function (f) {
    var g = f.querySelector("svg, img"), r = g && g.getBoundingClientRect();
    if (!r || r.width < 100 || r.height < 100) problems.push("empty chart " + f.id);
    if (g && g.tagName.toLowerCase() === "svg") problems.push.apply(problems, labels(f.id, g));
  });
  tables.forEach(function (t, i) {
    if (t.rows.length < 2) problems.push("empty table " + i);
  });
  if (!charts.length) problems.push("no charts");
  if (!tables.length) problems.push("no tables");
  var verdict = problems.length ? "failed: " + problems.join("; ")
    : "ok charts=" + charts.length + " tables=" + tables.length +
      " images=" + document.images.length;
  document.body.setAttribute("data-report-check", verdict);
  console.log("report-check: " + verdict);
});
</script>
</body>
</html>
"""


# ---- the charts ----------------------------------------------------------

def pyplot():
    """matplotlib's pyplot on the SVG-friendly Agg backend, or None."""
    try:
        import matplotlib
    except ImportError:
        print("bench-report: matplotlib not found (python3-matplotlib); no charts",
              file=sys.stderr)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({
        "svg.hashsalt": "xfutures-bench",  # the same ids from run to run
        "font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 10,
        "axes.titleweight": "bold", "axes.spines.top": False,
        "figure.dpi": 100, "savefig.dpi": 100,
    })
    return plt


def save(plt, fig, pdir, name):
    path = os.path.join(pdir, name + ".svg")
    fig.savefig(path, format="svg")
    plt.close(fig)
    return "plots/%s.svg" % name


def times_formatter(plt):
    from matplotlib.ticker import FuncFormatter
    return FuncFormatter(lambda v, _pos: ("%g×" % v) if v > 0 else "")


def plot_ratios(plt, pdir, comps):
    """Every comparison as a bar from parity (1×) to its ratio, on a log axis,
    grouped by family; each target a black mark, the ratios on the right."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    rows = []  # (left label, right label, ratio, target, colour, is_header)
    last = None
    for fam, name, xf, a, r, t in comps:
        if r is None:
            continue
        if fam != last:
            rows.append((fam, "", None, None, None, True))
            last = fam
        label = "%s — %s" % (name, a["impl"])
        if xf["impl"] != "xfutures":
            label = "%s: %s — %s" % (name, xf["impl"], a["impl"])
        if t is None:
            color, right = NO_TARGET_COLOR, fmt_ratio(r)
        else:
            met = r >= t["min"]
            color = MET_COLOR if met else MISSED_COLOR
            right = "%s   target ≥ %g× %s" % (fmt_ratio(r), t["min"], "met" if met else "missed")
        rows.append((label, right, r, t and t["min"], color, False))
    if not rows:
        return None
    height = 0.25 * len(rows) + 1.6
    fig, ax = plt.subplots(figsize=(11.5, height), layout="constrained")
    ys = list(range(len(rows)))[::-1]
    values = [r for _l, _rt, r, _t, _c, _h in rows if r] + [
        t for _l, _rt, _r, t, _c, _h in rows if t]
    lo, hi = min(values + [1.0]) / 1.5, max(values + [1.0]) * 1.5
    for y, (label, right, r, t, color, header) in zip(ys, rows):
        if header:
            ax.axhline(y, color="#cccccc", linewidth=0.8, zorder=0)
            continue
        ax.barh(y, r - 1, left=1, height=0.62, color=color, zorder=2)
        # A dot at the ratio keeps the colour visible when the bar is a sliver.
        ax.plot([r], [y], marker="o", markersize=4.5, color=color, zorder=2.5)
        if t:
            # The target: a line across the row, drawn over the bar, so that
            # it shows also where it sits on parity.
            ax.plot([t, t], [y - 0.45, y + 0.45], color="black", linewidth=2.6,
                    solid_capstyle="butt", zorder=3)
    # Parity is a light dotted line, so that a 1× target stays visible on it.
    ax.axvline(1, color="#8a8a8a", linewidth=1, linestyle=(0, (2, 2)), zorder=1)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_formatter(times_formatter(plt))
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.grid(axis="x", which="major", color="#e4e4e4", zorder=0)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_yticks(ys, [row[0] for row in rows])
    for tick, row in zip(ax.get_yticklabels(), rows):
        if row[5]:
            tick.set_fontweight("bold")
            tick.set_fontsize(10)
    ax.tick_params(axis="y", length=0)
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(ys, [row[1] for row in rows])
    right.tick_params(axis="y", length=0)
    for spine in ("top", "right", "left"):
        right.spines[spine].set_visible(False)
        ax.spines[spine].set_visible(False)
    ax.set_xlabel("speed-up of xfutures over the anchor (log scale; right of 1×: "
                  "xfutures is faster)")
    ax.legend(handles=[
        Patch(color=MET_COLOR, label="target met"),
        Patch(color=MISSED_COLOR, label="target missed"),
        Patch(color=NO_TARGET_COLOR, label="no target"),
        Line2D([], [], color="black", marker="|", linestyle="none", markersize=11,
               markeredgewidth=2.4, label="target"),
    ], loc="lower center", bbox_to_anchor=(0.5, 1 + 0.3 / height), ncol=4, frameon=False)
    # The axis on top too: the chart is taller than a screen.
    ax.tick_params(axis="x", which="both", top=True, labeltop=True)
    return save(plt, fig, pdir, "ratios")


def slug(text):
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "other"


def short_anchor(name):
    """An anchor's name cut to its first word and its qualifier in brackets:
    "concurrent.futures (fork)", "libuv", "TBB"; another measurement of
    xfutures keeps its whole name ("xfutures call_soon_threadsafe")."""
    qual = re.search(r"\([^)]*\)$", name)
    head = name.split()[0]
    if head == "xfutures":
        return name
    return head + (" " + qual.group(0) if qual and qual.group(0) not in head else "")


def compact_formatter(top):
    """Tick labels in one unit for an axis that reaches top: 950, or 120k
    rather than 120000, or 1.5M."""
    from matplotlib.ticker import FuncFormatter
    div, suffix = next(((d, x) for d, x in ((1e9, "G"), (1e6, "M"), (1e3, "k"))
                        if top >= 10 * d), (1, ""))
    return FuncFormatter(lambda v, _pos: "%g%s" % (v / div, suffix if v else ""))


def plot_family(plt, pdir, fam, names, wl):
    """One panel per workload: a horizontal bar per implementation, the value
    on the right; what xfutures must reach for a target is a black mark."""
    from matplotlib.ticker import MaxNLocator
    panels = []
    for name in names:
        impls = wl[name]
        xf_name = xf_name_of(name)
        items = sorted(impls.values(), key=lambda r: (r["impl"] != xf_name,
                                                      not r["impl"].startswith("xfutures"),
                                                      r["impl"]))
        panels.append((name, items, xf_name))
    heights = [len(items) + 1.6 for _n, items, _x in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11.5, 0.27 * sum(heights) + 0.5),
                             gridspec_kw={"height_ratios": heights}, layout="constrained",
                             squeeze=False)
    fig.get_layout_engine().set(h_pad=0.12)
    for ax, (name, items, xf_name) in zip(axes[:, 0], panels):
        unit = items[0]["unit"]
        lower = items[0].get("lower_is_better", True)
        values = [r["value"] for r in items]
        marks = []  # (value, text) xfutures must reach
        xf = wl[name].get(xf_name)
        for t in TARGETS:
            if t["workload"] != name or xf is None:
                continue
            if t["kind"] == "max":
                marks.append((t["max"], "≤ %g" % t["max"]))
            elif t["kind"] == "at_least":
                marks.append((t["min"], "≥ %g" % t["min"]))
            elif t.get("xf", "xfutures") == xf_name and t["anchor"] in wl[name]:
                # The value xfutures must reach, with the ratio and the
                # anchor it comes from, so that two marks can be told apart.
                a = wl[name][t["anchor"]]["value"]
                need = a / t["min"] if lower else a * t["min"]
                marks.append((need, "%s (%g× %s)" % (("≤ %s" if lower else "≥ %s") % fmt(need),
                                                      t["min"], short_anchor(t["anchor"]))))
        allv = values + [m for m, _t in marks]
        log = max(allv) / min(allv) > 40
        ys = list(range(len(items)))[::-1]
        base = min(allv) / 2 if log else 0
        colors = [XF_COLOR if r["impl"].startswith("xfutures") else ANCHOR_COLOR
                  for r in items]
        ax.barh(ys, [v - base for v in values], left=base, height=0.62, color=colors,
                zorder=2)
        for m, _text in marks:
            ax.plot([m], [ys[0]], marker="|", markersize=14, markeredgewidth=2.6,
                    color="black", zorder=3)
        if log:
            ax.set_xscale("log")
            ax.set_xlim(base, max(allv) * 1.3)
        else:
            ax.set_xlim(0, max(allv) * 1.08)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=7))
        # Short tick labels (120k, not 120000), so that they never run into
        # each other on the narrow axis left between the labels.
        ax.xaxis.set_major_formatter(compact_formatter(ax.get_xlim()[1]))
        ax.grid(axis="x", color="#e4e4e4", zorder=0)
        ax.set_ylim(-0.6, len(items) - 0.4)
        ax.set_yticks(ys, [r["impl"] for r in items])
        ax.tick_params(axis="y", length=0)
        right = ax.twinx()
        right.set_ylim(ax.get_ylim())
        right.set_yticks(ys, ["%s %s" % (fmt(r["value"]), unit) for r in items])
        right.tick_params(axis="y", length=0)
        for spine in ("top", "right"):
            right.spines[spine].set_visible(False)
            ax.spines[spine].set_visible(False)
        # The targets go on a line of their own under the title, where they
        # have the chart's whole width and take none from the bars.
        ax.set_title("%s  (%s, median of %d; %s is better%s)" % (
            name, unit, items[0].get("reps", 0), "lower" if lower else "higher",
            ", log scale" if log else ""), loc="left", pad=15 if marks else 6)
        if marks:
            ax.text(0, 1.0, "target for %s: %s" % (xf_name, ", ".join(t for _m, t in marks)),
                    transform=ax.transAxes, ha="left", va="bottom", fontsize=8.5,
                    color="#333333")
    return save(plt, fig, pdir, "family_" + slug(fam))


def plot_sweep(plt, pdir, name, s, cores):
    """Two rows of panels, one panel per worker count, one line per system:
    on top the cost per task against the task size with the ideal (the task
    size over the cores in use) dashed and the work alone, run sequentially
    in the same run, dotted; below it the efficiency, the ideal
    over the cost, where a line that reaches 100% marks the task size from
    which that system stops paying for its own overhead."""
    from matplotlib.ticker import FuncFormatter
    panels = s["threads"]
    fig = plt.figure(figsize=(11.5, 7.6), layout="constrained")
    # The legend gets a row of its own above the panels, so no line runs
    # under it.
    grid = fig.add_gridspec(3, len(panels), height_ratios=[1.5, 10, 7])
    top = fig.add_subplot(grid[0, :])
    top.axis("off")
    costs = [fig.add_subplot(grid[1, 0])]
    costs += [fig.add_subplot(grid[1, i], sharey=costs[0]) for i in range(1, len(panels))]
    effs = [fig.add_subplot(grid[2, 0], sharex=costs[0])]
    effs += [fig.add_subplot(grid[2, i], sharey=effs[0], sharex=costs[i])
             for i in range(1, len(panels))]
    xs = list(range(len(s["sizes"])))
    top_eff = 115.0  # a point above 100% (a core faster than at calibration) still shows
    for i, (ax, eff, w) in enumerate(zip(costs, effs, panels)):
        for k, impl in enumerate(s["impls"]):
            pts = [(x, size, s["points"][(impl, w, size)]["value"]) for x, size in
                   zip(xs, s["sizes"]) if (impl, w, size) in s["points"]]
            style = dict(marker="o", markersize=5, color=system_color(impl, k), zorder=3,
                         linewidth=2.4 if impl.startswith("xfutures") else 1.6)
            if pts:
                ax.plot([p[0] for p in pts], [p[2] for p in pts], label=impl, **style)
            epts = [(x, 100 * ideal(size, w, cores) / v) for x, size, v in pts if size]
            if epts:
                eff.plot([p[0] for p in epts], [p[1] for p in epts], **style)
                top_eff = max(top_eff, 1.05 * max(p[1] for p in epts))
        ideal_pts = [(x, ideal(size, w, cores)) for x, size in zip(xs, s["sizes"]) if size]
        ax.plot([p[0] for p in ideal_pts], [p[1] for p in ideal_pts], linestyle="--",
                color="black", linewidth=1.2, label="ideal: task ÷ min(workers, cores)",
                zorder=2)
        seq = [(x, s["points"][(SEQUENTIAL, w, size)]["value"]) for x, size in
               zip(xs, s["sizes"]) if size and (SEQUENTIAL, w, size) in s["points"]]
        if seq:
            ax.plot([p[0] for p in seq], [p[1] for p in seq], linestyle=":", marker="x",
                    markersize=5, color="#777777", linewidth=1.2, zorder=2,
                    label="the work alone, run sequentially")
        ax.set_yscale("log")
        ax.set_xlim(-0.3, len(xs) - 0.7)
        ax.grid(which="major", color="#e4e4e4")
        ax.tick_params(axis="x", labelbottom=False)
        title = "%d worker%s" % (w, "" if w == 1 else "s")
        if cores and w > cores:
            title += " (%d cores: oversubscribed)" % cores
        ax.set_title(title, loc="left")
        eff.axhline(100, color="black", linestyle="--", linewidth=1.2, zorder=2)
        eff.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: "%d%%" % v))
        eff.set_xticks(xs, [fmt_size(v) for v in s["sizes"]])
        eff.grid(which="major", color="#e4e4e4")
        eff.set_xlabel("task size (busy loop)")
        if i:
            ax.tick_params(axis="y", labelleft=False)
            eff.tick_params(axis="y", labelleft=False)
    effs[0].set_ylim(0, top_eff)
    costs[0].set_ylabel("ns per task (log scale)")
    effs[0].set_ylabel("efficiency: ideal ÷ cost")
    handles, labels = costs[0].get_legend_handles_labels()
    # At most four entries to a row, so that the legend never outgrows the
    # figure's width.
    top.legend(handles, labels, loc="center", ncol=min(4, len(labels)), frameon=False)
    return save(plt, fig, pdir, name)


# ---- the report ----------------------------------------------------------

def write_report(args, suites, results):
    points = [r for r in results if r.get("sweep")]
    plain = [r for r in results if not r.get("sweep")]
    wl = by_workload(plain)
    rows = target_rows(wl)
    comps = comparisons(wl)
    sw = sweeps(points)
    quick = any(s.get("quick") for s in suites.values())
    m = (suites.get("c") or next(iter(suites.values()))).get("machine", {})
    cores = m.get("nproc") or os.cpu_count() or 1

    pdir = os.path.join(args.build, "plots")
    os.makedirs(pdir, exist_ok=True)
    for old in glob.glob(os.path.join(pdir, "*.svg")) + glob.glob(os.path.join(pdir, "*.dat")):
        os.remove(old)
    plt = pyplot()
    charts = {}
    if plt is not None:
        charts["ratios"] = plot_ratios(plt, pdir, comps)
        for fam, names in families(wl):
            charts["family " + fam] = plot_family(plt, pdir, fam, names, wl)
        for name, s in sorted(sw.items()):
            charts["sweep " + name] = plot_sweep(plt, pdir, name, s, cores)

    doc = Doc()
    doc.heading(1, "xfutures benchmarks")
    doc.para("%s run, %s. Machine: %s, %s cores, Linux %s; %s." % (
        "Quick" if quick else "Full",
        datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), m.get("cpu", "?"),
        m.get("nproc", "?"), m.get("kernel", "?"), m.get("compiler", "?")))
    if quick:
        doc.quote("**Quick mode**: small sizes, only to check that every benchmark runs. "
                  "These numbers are not for judging speed; run `make bench` for that.")
    doc.para("Every value is the median of the repetitions; ratio = the anchor's time ÷ "
             "xfutures' time (above 1: xfutures is faster). Reproduce with `make bench` "
             "(or `make bench-quick`).")

    doc.heading(2, "Targets")
    table = []
    for t, xf, anchor, text, met in rows:
        # The anchor of a target on xfutures' own value (a speed-up) is what
        # that value is measured against, not a measurement of its own.
        anchor_text = (fmt(anchor["value"]) + " " + anchor["unit"]) if anchor else \
            "—" if t["kind"] == "at_least" else "not measured"
        table.append([t["workload"],
                      (fmt(xf["value"]) + " " + xf["unit"]) if xf else "not measured",
                      t["anchor"], anchor_text,
                      fmt_ratio(ratio(xf, anchor)) if xf and anchor else "—",
                      text, {True: "yes", False: "**no**", None: "—"}[met]])
    doc.table(["workload", "xfutures", "anchor", "anchor result", "ratio", "target", "met?"],
              table)
    if charts.get("ratios"):
        doc.chart("ratios", charts["ratios"],
                  "Every comparison: a bar from 1× (parity) to the ratio, green where a "
                  "target is met, red where it is missed, blue where there is none; the "
                  "black mark is the target.")

    missed = [(t, xf) for t, xf, _a, _x, met in rows if met is False]
    if missed:
        doc.heading(3, "Targets missed")
        doc.items(["**%s** (against %s): %s" % (
            name, ", ".join(dict.fromkeys(t["anchor"] for t, _xf in missed
                                          if t["workload"] == name)),
            LIMITS.get(name, "no profile finding recorded yet."))
            for name in dict.fromkeys(t["workload"] for t, _xf in missed)])

    for name, s in sorted(sw.items()):
        doc.heading(2, "Scaling: %s" % name)
        doc.para("Tasks of a fixed amount of busy work (a calibrated loop), submitted "
                 "from the main thread and all waited for; ns per task, submission and "
                 "waiting included, and in brackets the efficiency: the ideal (task size "
                 "÷ min(workers, %d cores)) over the cost. Near 100%%, a pool's own "
                 "overhead no longer matters. The row sequential is the work alone, the "
                 "same tasks run by the main thread without a pool in the same run, and "
                 "in brackets its time over the task size: well above 1×, other jobs "
                 "had the cores during that part of the sweep, and every system's "
                 "efficiency there is low by about as much." % cores)
        table = []
        for w in s["threads"]:
            for impl in s["impls"]:
                cells = [str(w), impl]
                for size in s["sizes"]:
                    r = s["points"].get((impl, w, size))
                    if r is None:
                        cells.append("—")
                    elif size:
                        cells.append("%s (%.0f%%)" % (
                            fmt(r["value"]), 100 * ideal(size, w, cores) / r["value"]))
                    else:
                        cells.append(fmt(r["value"]))
                table.append(cells)
            seq = [(size, s["points"].get((SEQUENTIAL, w, size))) for size in s["sizes"]]
            if any(r for _size, r in seq):
                table.append([str(w), SEQUENTIAL] + [
                    "—" if r is None else "%s (%.2f×)" % (fmt(r["value"]), r["value"] / size)
                    if size else fmt(r["value"]) for size, r in seq])
            table.append([str(w), "ideal"] + [fmt(ideal(size, w, cores)) if size else "0"
                                               for size in s["sizes"]])
        doc.table(["workers", "system"] + ["%s task (ns/task)" % fmt_size(v)
                                           for v in s["sizes"]], table)
        if charts.get("sweep " + name):
            doc.chart(name, charts["sweep " + name],
                      "Top: cost per task against the task size, one panel per worker "
                      "count; the dashed line is the ideal, the dotted one the work alone "
                      "run sequentially in the same run. Bottom: the efficiency, the "
                      "ideal over the cost. Where a line reaches the dashed 100%, that "
                      "system stops paying for its overhead.")

    doc.heading(2, "Every comparison")
    doc.para("One table and one chart per workload family: each xfutures measurement "
             "against every other implementation of its workload, with the target where "
             "there is one.")
    for fam, names in families(wl):
        table = [comparison_row(name, wl[name], a) for name in names
                 for a in comparison_anchors(name, wl[name])]
        if not table:
            continue
        doc.heading(3, fam)
        doc.table(["workload", "xfutures", "anchor", "anchor result", "ratio", "target",
                   "met?", "n", "notes"], table)
        if charts.get("family " + fam):
            doc.chart(slug(fam), charts["family " + fam],
                      "%s: every implementation of each workload, xfutures in blue; a "
                      "black mark is the value xfutures must reach to meet a target." % fam)

    doc.heading(2, "Bindings (workloads 6–9)")
    others = sorted(s for s in suites if s != "c")
    if others:
        doc.para("Suites merged besides the C one: %s. Their workloads appear in the "
                 "tables above." % ", ".join(others))
    else:
        doc.para("Not measured yet. A binding's suite writes `results/<language>.json` "
                 "next to `results/c.json`, in the same shape, and this report merges it.")
    doc.items(BINDING_WORKLOADS, numbered=True)

    report = os.path.join(args.build, "report.md")
    with open(report, "w") as f:
        f.write(doc.markdown())
    page = os.path.join(args.build, "report.html")
    with open(page, "w") as f:
        f.write(doc.html(args.build, "xfutures benchmarks"))
    print("bench-report: %s, %s, %s" % (report, page, os.path.join(args.build, "results.json")),
          file=sys.stderr)


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
    write_report(args, suites, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Run the benchmark suite and write its results; then make the report.

Builds nothing: CMake builds the programs into <build>/bench/ (make bench
configures <build> with -DXF_BENCH=ON -DCMAKE_BUILD_TYPE=Release). Usage:

    bench/run.py [--build build/bench] [--quick] [--only NAME ...] [--no-report]
                 [--no-check] [--bindings TREE]

Every program is run once, in turn, with nothing else of the suite running
beside it. A program prints one JSON object per measurement on stdout (the
format is described in bench/bench.h); each line is checked (the keys are
there, the value is a finite number) and a program that fails, times out or
prints no measurement fails the run. Nothing here judges speed: quick mode
(--quick, or XF_BENCH_QUICK=1) shrinks every size so that the suite checks
that the benchmarks still work, which is what `make test` runs it for.

The C programs' results go to <build>/results/c.json. The bindings' suites
(workloads 6-9: bench/python/py_bench.py, bench/lua/lua_bench.lua,
bench/node/node_bench.js; the Python process pool:
bench/python/py_process_pool.py; see BINDING_SUITES) run after them, each
with its interpreter (Python: this one, /usr/bin/python3 under make) and with
PYTHONPATH, LUA_PATH/LUA_CPATH or NODE_PATH pointing at the binding's build
directory: <bindings>/bindings/<language> where --bindings defaults to
build/default (what make build and make test build), falling back to
<build>/bindings/<language>. Their helpers (xfbench_work.so, the Lua anchor
module xfbench_noop.so) come from <build>/bench/lib. Each writes
<build>/results/<language>.json (a language's later suites
<language>_<program>.json) in the same shape, {"suite", "quick",
"machine", "results": [...]}; a binding that was not built (or whose
interpreter is missing) is skipped with a warning and its old results file
removed. scripts/bench-report.py merges every results file it finds into
<build>/results.json, <build>/report.md, <build>/report.html and the charts
in <build>/plots; then scripts/check-report.py renders report.html in
headless Chromium (screenshot: <build>/report.png) and fails the run if the
page has no chart or table or reports an error (--no-check skips it).

A sweep (bench/pool_scaling.cpp: task size by worker count) tags each
measurement with "sweep", "task_ns" and "threads"; the report draws it as
one chart rather than as rows of comparisons.

To add a program: a bench/NAME.c or .cpp (CMake builds it as NAME), or a
bench/NAME.py run with this interpreter; list nothing anywhere else. A
binding's program goes into BINDING_SUITES.
"""

import argparse
import glob
import json
import shutil
import math
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REQUIRED = ("workload", "impl", "unit", "value", "n", "reps")


# language: (program name, interpreter, script under bench/, what must exist
# in the binding's build directory).
BINDING_SUITES = [
    ("python", "py_bench", sys.executable, "python/py_bench.py", "xfutures/__init__.py"),
    ("python", "py_process_pool", sys.executable, "python/py_process_pool.py",
     "xfutures/__init__.py"),
    ("python", "py_mpi", sys.executable, "python/py_mpi.py", "xfutures/mpi.py"),
    ("lua", "lua_bench", "lua5.4", "lua/lua_bench.lua", "xfutures_core.so"),
    ("node", "node_bench", "node", "node/node_bench.js", "xfutures/index.js"),
]


def suite_name(lang, name):
    """The results file's name: the language for its first suite, the
    language and the program for any other (python_py_process_pool)."""
    first = next(n for lg, n, *_rest in BINDING_SUITES if lg == lang)
    return lang if name == first else "%s_%s" % (lang, name)


def binding_dir(lang, marker, candidates):
    """The first <tree>/bindings/<lang> holding marker, or None."""
    for tree in candidates:
        d = os.path.join(tree, "bindings", lang)
        if glob.glob(os.path.join(d, marker)):
            return os.path.abspath(d)
    return None


def binding_env(lang, bdir, libdir, env):
    env = dict(env, XF_BENCH_LIB=libdir)
    def prepend(var, value, tail=""):
        old = env.get(var)
        env[var] = value + (";" + old if old else tail) if var.startswith("LUA") else \
            value + (os.pathsep + old if old else "")
    if lang == "python":
        prepend("PYTHONPATH", bdir)
    elif lang == "lua":
        prepend("LUA_CPATH", "%s/?.so;%s/?.so" % (bdir, libdir), ";;")
        prepend("LUA_PATH", "%s/?.lua" % bdir, ";;")
    elif lang == "node":
        prepend("NODE_PATH", bdir)
    return env


def run_one(name, argv, env, timeout, failures):
    """Run one program; its checked measurements, or None (failures says why)."""
    print("bench: %s" % name, file=sys.stderr, flush=True)
    t0 = time.time()
    try:
        proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        failures.append("%s: timed out after %d s" % (name, timeout))
        return None
    if proc.returncode != 0:
        failures.append("%s: exit status %d" % (name, proc.returncode))
        return None
    try:
        got = parse(name, proc.stdout)
    except ValueError as e:
        failures.append(str(e))
        return None
    print("bench: %s: %d measurements in %.1f s" % (name, len(got), time.time() - t0),
          file=sys.stderr, flush=True)
    return got


def write_suite(outdir, suite, quick, seconds, results, **extra):
    out = os.path.join(outdir, "%s.json" % suite)
    data = {"suite": suite, "quick": quick, "machine": machine(), "seconds": seconds,
            "results": results}
    data.update(extra)
    with open(out, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    print("bench: %d measurements -> %s" % (len(results), out), file=sys.stderr)


def programs():
    """(name, argv-prefix) for every program of the suite, from the sources."""
    found = []
    for entry in sorted(os.listdir(HERE)):
        name, ext = os.path.splitext(entry)
        if ext in (".c", ".cpp"):
            found.append((name, None))
        elif ext == ".py" and name != "run":
            found.append((name, [sys.executable, os.path.join(HERE, entry)]))
    return found


def machine():
    info = {"nproc": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        out = subprocess.run(["cc", "--version"], capture_output=True, text=True)
        info["compiler"] = out.stdout.splitlines()[0]
    except (OSError, IndexError):
        pass
    return info


def parse(name, stdout):
    """The measurements a program printed; raises ValueError if malformed."""
    results = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        obj = json.loads(line)
        missing = [k for k in REQUIRED if k not in obj]
        if missing:
            raise ValueError("%s: a line lacks %s: %s" % (name, ", ".join(missing), line))
        if not isinstance(obj["value"], (int, float)) or not math.isfinite(obj["value"]) \
                or obj["value"] <= 0:
            raise ValueError("%s: not a positive finite value: %s" % (name, line))
        obj.setdefault("program", name)
        obj.setdefault("suite", "c")
        results.append(obj)
    if not results:
        raise ValueError("%s printed no measurement" % name)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--quick", action="store_true",
                    default=os.environ.get("XF_BENCH_QUICK", "0") not in ("", "0"))
    ap.add_argument("--only", nargs="*", help="run only these programs")
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--no-check", action="store_true",
                    help="do not render report.html in headless Chromium")
    ap.add_argument("--bindings", help="the build tree whose bindings/<language> the "
                    "binding suites use (default: build/default, else --build)")
    args = ap.parse_args()

    bindir = os.path.join(args.build, "bench")
    timeout = 300 if args.quick else 1800
    env = dict(os.environ, XF_BENCH_QUICK="1" if args.quick else "0")
    outdir = os.path.join(args.build, "results")
    os.makedirs(outdir, exist_ok=True)
    results, failures = [], []
    started = time.time()
    ran_c = False
    for name, argv in programs():
        if args.only and name not in args.only:
            continue
        ran_c = True
        if argv is None:
            path = os.path.join(bindir, name)
            if not os.access(path, os.X_OK):
                failures.append("%s: not built (%s)" % (name, path))
                continue
            argv = [path]
        argv = argv + (["--quick"] if args.quick else [])
        got = run_one(name, argv, env, timeout, failures)
        if got:
            results.extend(got)
    if ran_c:
        write_suite(outdir, "c", args.quick, round(time.time() - started, 1), results)

    # The bindings' suites (workloads 6-9).
    libdir = os.path.abspath(os.path.join(bindir, "lib"))
    trees = [args.bindings, args.build] if args.bindings else \
        [os.path.join(ROOT, "build", "default"), args.build]
    for lang, name, interp, script, marker in BINDING_SUITES:
        if args.only and name not in args.only:
            continue
        suite = suite_name(lang, name)
        stale = os.path.join(outdir, "%s.json" % suite)
        bdir = binding_dir(lang, marker, trees)
        exe = shutil.which(interp) if not os.path.isabs(interp) else interp
        if bdir is None or exe is None:
            why = ("the %s binding is not built (looked in %s)" % (
                lang, ", ".join(os.path.join(t, "bindings", lang) for t in trees))
                if bdir is None else "%s not found" % interp)
            print("bench: WARNING: %s skipped: %s" % (name, why), file=sys.stderr)
            if os.path.exists(stale):
                os.remove(stale)
            continue
        t0 = time.time()
        argv = [exe, os.path.join(HERE, script)] + (["--quick"] if args.quick else [])
        got = run_one(name, argv, binding_env(lang, bdir, libdir, env), timeout, failures)
        if got:
            for r in got:
                r["suite"] = lang
            write_suite(outdir, suite, args.quick, round(time.time() - t0, 1), got,
                        bindings=bdir)
        elif os.path.exists(stale):
            os.remove(stale)

    if failures:
        for msg in failures:
            print("bench: FAILED %s" % msg, file=sys.stderr)
        return 1
    if not args.no_report:
        report = os.path.join(ROOT, "scripts", "bench-report.py")
        rc = subprocess.call([sys.executable, report, "--build", args.build])
        if rc == 0 and not args.no_check:
            check = os.path.join(ROOT, "scripts", "check-report.py")
            rc = subprocess.call([sys.executable, check, "--build", args.build])
        return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())

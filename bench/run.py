#!/usr/bin/python3
"""Run the benchmark suite and write its results; then make the report.

Builds nothing: CMake builds the programs into <build>/bench/ (make bench
configures <build> with -DXF_BENCH=ON -DCMAKE_BUILD_TYPE=Release). Usage:

    bench/run.py [--build build/bench] [--quick] [--only NAME ...] [--no-report]

Every program is run once, in turn, with nothing else of the suite running
beside it. A program prints one JSON object per measurement on stdout (the
format is described in bench/bench.h); each line is checked (the keys are
there, the value is a finite number) and a program that fails, times out or
prints no measurement fails the run. Nothing here judges speed: quick mode
(--quick, or XF_BENCH_QUICK=1) shrinks every size so that the suite checks
that the benchmarks still work, which is what `make test` runs it for.

The results of this suite go to <build>/results/c.json. Other suites (the
bindings' benchmarks: workloads 6-9) write their own
<build>/results/<name>.json in the same shape, {"suite", "quick",
"machine", "results": [...]}; scripts/bench-report.py merges every such file
it finds into <build>/results.json, <build>/report.md and the plots.

To add a program: a bench/NAME.c or .cpp (CMake builds it as NAME), or a
bench/NAME.py run with this interpreter; list nothing anywhere else.
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REQUIRED = ("workload", "impl", "unit", "value", "n", "reps")


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
    args = ap.parse_args()

    bindir = os.path.join(args.build, "bench")
    timeout = 300 if args.quick else 1800
    env = dict(os.environ, XF_BENCH_QUICK="1" if args.quick else "0")
    results, failures = [], []
    started = time.time()
    for name, argv in programs():
        if args.only and name not in args.only:
            continue
        if argv is None:
            path = os.path.join(bindir, name)
            if not os.access(path, os.X_OK):
                failures.append("%s: not built (%s)" % (name, path))
                continue
            argv = [path]
        argv = argv + (["--quick"] if args.quick else [])
        print("bench: %s" % name, file=sys.stderr, flush=True)
        t0 = time.time()
        try:
            proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            failures.append("%s: timed out after %d s" % (name, timeout))
            continue
        if proc.returncode != 0:
            failures.append("%s: exit status %d" % (name, proc.returncode))
            continue
        try:
            got = parse(name, proc.stdout)
        except ValueError as e:
            failures.append(str(e))
            continue
        print("bench: %s: %d measurements in %.1f s" % (name, len(got), time.time() - t0),
              file=sys.stderr, flush=True)
        results.extend(got)

    outdir = os.path.join(args.build, "results")
    os.makedirs(outdir, exist_ok=True)
    out = os.path.join(outdir, "c.json")
    with open(out, "w") as f:
        json.dump({"suite": "c", "quick": args.quick, "machine": machine(),
                   "seconds": round(time.time() - started, 1), "results": results},
                  f, indent=1)
        f.write("\n")
    print("bench: %d measurements -> %s" % (len(results), out), file=sys.stderr)

    if failures:
        for msg in failures:
            print("bench: FAILED %s" % msg, file=sys.stderr)
        return 1
    if not args.no_report:
        report = os.path.join(ROOT, "scripts", "bench-report.py")
        return subprocess.call([sys.executable, report, "--build", args.build])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The anchor of bench/process_pool.c: concurrent.futures.ProcessPoolExecutor
with the "spawn" and "fork" start methods, on the same workloads (2 workers,
a trivial function): pp_roundtrip, pp_batch (ns per task) and
pp_first_result (ms). Prints one JSON object per measurement, as bench.h.

Usage: /usr/bin/python3 process_pool_anchor.py [--quick] [--reps N]
"""
import json
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def noop(x):
    return x


def emit(workload, impl, unit, n, values, quick):
    s = sorted(values)
    print(json.dumps({
        "program": "process_pool", "workload": workload, "impl": impl, "unit": unit,
        "value": statistics.median(s), "min": s[0], "max": s[-1], "n": n,
        "reps": len(s), "lower_is_better": True, "quick": quick,
    }), flush=True)
    print(f"{workload:<22} {impl:<34} {statistics.median(s):12.1f} {unit}", file=sys.stderr)


def main():
    quick = "--quick" in sys.argv
    reps = 3 if quick else 5
    if "--reps" in sys.argv:
        reps = max(1, int(sys.argv[sys.argv.index("--reps") + 1])) if not quick else 3
    rounds = 200 if quick else 5000
    firsts = 3 if quick else 10
    for method in ("spawn", "fork"):
        ctx = multiprocessing.get_context(method)
        impl = f"python ProcessPoolExecutor ({method})"
        with ProcessPoolExecutor(2, mp_context=ctx) as ex:
            list(ex.map(noop, range(4)))
            v = []
            for _ in range(reps):
                t0 = time.perf_counter_ns()
                for i in range(rounds):
                    assert ex.submit(noop, i).result() == i
                v.append((time.perf_counter_ns() - t0) / rounds)
            emit("pp_roundtrip", impl, "ns/task", rounds, v, quick)
            v = []
            for _ in range(reps):
                t0 = time.perf_counter_ns()
                fs = [ex.submit(noop, i) for i in range(rounds)]
                for i, f in enumerate(fs):
                    assert f.result() == i
                v.append((time.perf_counter_ns() - t0) / rounds)
            emit("pp_batch", impl, "ns/task", rounds, v, quick)
        v = []
        for _ in range(firsts):
            t0 = time.perf_counter_ns()
            with ProcessPoolExecutor(2, mp_context=ctx) as ex:
                assert ex.submit(noop, 7).result() == 7
                v.append((time.perf_counter_ns() - t0) / 1e6)
        emit("pp_first_result", impl, "ms", 1, v, quick)


if __name__ == "__main__":
    main()

"""The MPI executor of the Python binding against mpi4py.futures.

Workloads, each with 2 worker processes spawned by the executor
(MPI_Comm_spawn; both executors live in this one process, whose MPI mpi4py
initializes with MPI_THREAD_MULTIPLE):
  mpi_roundtrip  one trivial task at a time (a module-level function that
                 returns its argument): submit, wait for the result,
                 repeat. The workers are started before the clock runs.
                 us per task.
  mpi_map        map of 100000 trivial items with chunksize 1000, the
                 results in order. us per item.
  mpi_cpu        four CPU-bound tasks (the primes below 60000, counted the
                 slow way) on 2 worker ranks, against the same four run
                 sequentially here: impl "speedup" is sequential time over
                 the executor's time (higher is better).

Run by bench/run.py (BINDING_SUITES) with this machine's Open MPI settings
(as root, oversubscribed, loopback only) unless the environment has its
own. Without MPI (the binding built without it, or no mpi4py) it prints
nothing and says why on stderr.

Usage: py_mpi.py [--quick]
"""
import json
import os
import statistics
import sys
import time

for k, v in (("OMPI_ALLOW_RUN_AS_ROOT", "1"), ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
             ("OMPI_MCA_rmaps_base_oversubscribe", "1"), ("OMPI_MCA_pml", "ob1"),
             ("OMPI_MCA_btl", "self,vader,tcp"), ("OMPI_MCA_btl_tcp_if_include", "lo"),
             ("OMPI_MCA_oob_tcp_if_include", "lo")):
    os.environ.setdefault(k, v)

QUICK = "--quick" in sys.argv or os.environ.get("XF_BENCH_QUICK", "0") not in ("", "0")
REPS = 3 if QUICK else 5
ROUNDS = 200 if QUICK else 2000
ITEMS = 100000
LIMIT = 60000


def noop(x):
    return x


def count_primes(limit):
    count = 0
    for n in range(2, limit):
        d = 2
        while d * d <= n and n % d != 0:
            d += 1
        if d * d > n:
            count += 1
    return count


def emit(workload, impl, unit, n, values, lower_is_better=True):
    s = sorted(values)
    obj = {"program": "py_mpi", "workload": workload, "impl": impl, "unit": unit,
           "value": statistics.median(s), "min": s[0], "max": s[-1], "n": n,
           "reps": len(s), "lower_is_better": lower_is_better, "quick": QUICK}
    print(json.dumps(obj), flush=True)
    print(f"{workload:<16} {impl:<22} {statistics.median(s):10.2f} {unit} "
          f"(min {s[0]:.2f}, max {s[-1]:.2f})", file=sys.stderr)


def roundtrip(ex):
    ex.submit(noop, 0).result()
    ex.submit(noop, 0).result()
    out = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        for i in range(ROUNDS):
            if ex.submit(noop, i).result() != i:
                raise SystemExit("wrong result")
        out.append((time.perf_counter() - t0) / ROUNDS * 1e6)
    return out


def mapped(ex):
    out = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        got = list(ex.map(noop, range(ITEMS), chunksize=1000))
        out.append((time.perf_counter() - t0) / ITEMS * 1e6)
        if got[-1] != ITEMS - 1:
            raise SystemExit("wrong map")
    return out


def cpu(ex):
    out = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        seq = [count_primes(LIMIT) for _ in range(4)]
        sequential = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = [f.result() for f in [ex.submit(count_primes, LIMIT) for _ in range(4)]]
        pooled = time.perf_counter() - t0
        if got != seq:
            raise SystemExit("wrong primes")
        out.append(sequential / pooled)
    return out


def main():
    from xfutures import mpi as xmpi
    if not xmpi.available():
        print("py_mpi: skipped: this build of xfutures has no MPI", file=sys.stderr)
        return 0
    try:
        from mpi4py import MPI  # noqa: F401  initializes MPI (THREAD_MULTIPLE)
        from mpi4py.futures import MPIPoolExecutor as M4Pool
    except ImportError:
        print("py_mpi: skipped: mpi4py is not installed (python3-mpi4py)", file=sys.stderr)
        return 0
    results = {}
    with xmpi.MPIPoolExecutor(max_workers=2) as ex:
        results["xf"] = (roundtrip(ex), mapped(ex), cpu(ex))
    with M4Pool(max_workers=2) as ex:
        results["m4"] = (roundtrip(ex), mapped(ex), cpu(ex))
    for key, impl in (("xf", "xfutures"), ("m4", "mpi4py.futures")):
        rt, mp, cp = results[key]
        emit("mpi_roundtrip", impl, "us/task", ROUNDS, rt)
        emit("mpi_map", impl, "us/item", ITEMS, mp)
        emit("mpi_cpu", impl + " speedup", "x", 4, cp, lower_is_better=False)
    xf_rt, m4_rt = statistics.median(results["xf"][0]), statistics.median(results["m4"][0])
    xf_mp, m4_mp = statistics.median(results["xf"][1]), statistics.median(results["m4"][1])
    print("py_mpi: round trip %.1fx faster than mpi4py.futures, map %.1fx"
          % (m4_rt / xf_rt, m4_mp / xf_mp), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

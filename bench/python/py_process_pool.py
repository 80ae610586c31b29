"""Python workers: xfutures.ProcessPoolExecutor against the stdlib's
concurrent.futures.ProcessPoolExecutor ("spawn" and "fork") and joblib's loky
executor (joblib.externals.loky.get_reusable_executor), each with 2 workers.

Workloads (one JSON line per measurement, as bench/bench.h says):
  py_pp_roundtrip     one trivial task at a time (a module-level function
                      returning its argument), unchunked: submit, wait for
                      the result, repeat; the workers are started before the
                      clock runs (one warm pool serves this, py_pp_map and
                      py_pp_cpu). ns per task.
  py_pp_map           map of n trivial items with chunksize; ns per item.
  py_pp_first_result  from creating the pool to the first result (the
                      workers' start included), then shut down. ms.
  py_pp_cpu           four equal CPU-bound pure-Python tasks, on the warm
                      pool and, as the anchor "sequential", called in turn in
                      this process. ms for the four.
  py_pp_death         a task blocks; its worker is sent SIGKILL; the time
                      from the kill to the task's future failing (a broken
                      pool). ms. The worker's pid comes through a FIFO the
                      task writes before it blocks, not by guessing.

Run by bench/run.py (BINDING_SUITES) with PYTHONPATH at the binding's build.
Usage: py_process_pool.py [--quick]
"""
import concurrent.futures as cf
import json
import multiprocessing
import os
import signal
import statistics
import sys
import tempfile
import time

import xfutures

try:
    from joblib.externals.loky import get_reusable_executor
except ImportError:  # python3-joblib is not installed: loky is skipped.
    get_reusable_executor = None

QUICK = "--quick" in sys.argv or os.environ.get("XF_BENCH_QUICK", "0") not in ("", "0")
REPS = 3 if QUICK else 5
# The workloads that start a pool per repetition (loky's start takes most of
# a second) repeat less in quick mode.
START_REPS = 1 if QUICK else REPS
WORKERS = 2


def noop(x):
    return x


def spin(n):
    s = 0
    for i in range(n):
        s += i * i
    return s


def report_and_block(fifo):
    fd = os.open(fifo, os.O_WRONLY)
    os.write(fd, b"%d\n" % os.getpid())
    os.close(fd)
    time.sleep(3600)


def emit(workload, impl, unit, n, values, **extra):
    s = sorted(values)
    obj = {"program": "py_process_pool", "workload": workload, "impl": impl, "unit": unit,
           "value": statistics.median(s), "min": s[0], "max": s[-1], "n": n,
           "reps": len(s), "lower_is_better": True, "quick": QUICK}
    obj.update(extra)
    print(json.dumps(obj), flush=True)
    print(f"{workload:<20} {impl:<30} {statistics.median(s):12.1f} {unit}", file=sys.stderr)


class Loky:
    """loky's reusable executor as a context manager that ends it on exit, so
    that every pool measured is a new one."""

    def __init__(self, n):
        self.ex = get_reusable_executor(max_workers=n, reuse=False)

    def __enter__(self):
        return self.ex

    def __exit__(self, *exc):
        self.ex.shutdown(wait=True, kill_workers=True)


def impls():
    """(name, a factory of a pool of WORKERS workers, used as a context)."""
    out = [("xfutures", lambda: xfutures.ProcessPoolExecutor(WORKERS))]
    for method in ("spawn", "fork"):
        ctx = multiprocessing.get_context(method)
        out.append(("concurrent.futures (%s)" % method,
                    lambda ctx=ctx: cf.ProcessPoolExecutor(WORKERS, mp_context=ctx)))
    if get_reusable_executor is not None:
        out.append(("loky", lambda: Loky(WORKERS)))
    return out


def warm(ex):
    assert list(ex.map(noop, range(2 * WORKERS))) == list(range(2 * WORKERS))


def roundtrip(name, ex):
    rounds = 100 if QUICK else 1000
    v = []
    for _ in range(REPS):
        t0 = time.perf_counter_ns()
        for i in range(rounds):
            assert ex.submit(noop, i).result() == i
        v.append((time.perf_counter_ns() - t0) / rounds)
    emit("py_pp_roundtrip", name, "ns/task", rounds, v)


def mapped(name, ex):
    items, chunk = (2000, 100) if QUICK else (100000, 1000)
    v = []
    for _ in range(REPS):
        t0 = time.perf_counter_ns()
        n = sum(1 for _ in ex.map(noop, range(items), chunksize=chunk))
        v.append((time.perf_counter_ns() - t0) / items)
        assert n == items
    emit("py_pp_map", name, "ns/item", items, v, chunksize=chunk)


def first_result(name, make):
    v = []
    for _ in range(START_REPS):
        t0 = time.perf_counter_ns()
        with make() as ex:
            assert ex.submit(noop, 7).result() == 7
            v.append((time.perf_counter_ns() - t0) / 1e6)
    emit("py_pp_first_result", name, "ms", 1, v)


def cpu(name, ex, n, want):
    v = []
    for _ in range(REPS):
        t0 = time.perf_counter_ns()
        got = [f.result() for f in [ex.submit(spin, n) for _ in range(4)]]
        v.append((time.perf_counter_ns() - t0) / 1e6)
        assert got == [want] * 4
    emit("py_pp_cpu", "%s (2 workers)" % name, "ms", 4, v, task_iterations=n)


def cpu_sequential(n):
    v = []
    for _ in range(REPS):
        t0 = time.perf_counter_ns()
        got = [spin(n) for _ in range(4)]
        v.append((time.perf_counter_ns() - t0) / 1e6)
    emit("py_pp_cpu", "sequential", "ms", 4, v, task_iterations=n)
    return got[0]


def death(name, make, tmp):
    fifo = os.path.join(tmp, "pid")
    os.mkfifo(fifo)
    v = []
    try:
        rfd = os.open(fifo, os.O_RDWR)  # Open at once, and the task's open never waits.
        for _ in range(START_REPS):
            ex = make()
            pool = ex.__enter__()
            try:
                warm(pool)
                f = pool.submit(report_and_block, fifo)
                pid = int(os.read(rfd, 32).split(b"\n")[0])
                t0 = time.perf_counter_ns()
                os.kill(pid, signal.SIGKILL)
                try:
                    f.result()
                except Exception:  # BrokenProcessPool, or loky's TerminatedWorkerError.
                    pass
                else:
                    raise AssertionError("%s: the killed task did not fail" % name)
                v.append((time.perf_counter_ns() - t0) / 1e6)
            finally:
                try:
                    ex.__exit__(None, None, None)
                except Exception:
                    pass
        os.close(rfd)
    finally:
        os.unlink(fifo)
    emit("py_pp_death", name, "ms", 1, v)


def main():
    n = 30000 if QUICK else 1500000
    want = cpu_sequential(n)
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in impls():
            # The steady-state workloads share one warm pool.
            with make() as ex:
                warm(ex)
                roundtrip(name, ex)
                mapped(name, ex)
                cpu(name, ex, n, want)
            first_result(name, make)
            death(name, make, tmp)


if __name__ == "__main__":
    main()

"""Workloads 6 and 9 (Python): the Python binding against its anchors.

Each measurement runs xfutures and its anchors in this one process, one
after the other, each repeated REPS times after a warm-up; the value is the
median. Prints one JSON line per measurement in the format of bench/bench.h
(everything else on stderr). Run by bench/run.py with /usr/bin/python3 and
PYTHONPATH set to the binding's build directory; --quick (or
XF_BENCH_QUICK=1) shrinks every size. XF_BENCH_LIB names the directory of
xfbench_work.so (built by bench/CMakeLists.txt). XF_BENCH_PARTS, a comma
separated list of workload names (py_loop_future,py_serial_roundtrip, ...),
runs only those, so that two builds can be measured in interleaved runs.

  py_executor_submit  submit N tiny tasks, then result() each; 2 workers.
                      Anchor: concurrent.futures.ThreadPoolExecutor.
  py_executor_map     list(pool.map(fn, range(N))); 2 workers; same anchor.
  py_serial_roundtrip pool.submit(fn, i).result(), N times in a row: one task
                      in flight, so each costs a wake-up of a worker and of
                      the caller; 2 workers; same anchor.
  py_loop_future      in a coroutine: create a loop future, set its result,
                      await it. Anchors: asyncio's Future (the C one), on
                      asyncio's loop and on uvloop.
  py_call_soon_chain  a callback that schedules the next one, N in a row.
                      Anchors: loop.call_soon on asyncio and on uvloop. The
                      Python binding has no call_soon of its own, so
                      xfutures is measured on its nearest equivalent: a chain
                      of done callbacks of xfutures.asyncio futures (each
                      callback finishes the next future; the callbacks run
                      on the C loop embedded in asyncio's).
  py_submit_native    K calls of the C function xfb_spin (CPU-bound, no
                      memory) through submit_native on 2 workers, against
                      the same calls made sequentially from Python, on 1
                      worker, and from 2 Python threads holding the GIL
                      (ctypes.PyDLL: the same C work, serialised by the GIL
                      as Python work would be).
  crossing_python     a no-op call into the core: xfutures.version() and
                      Future.done(), against a C builtin of the interpreter
                      (sys.getrecursionlimit) and ctypes calling xf_version.
"""

import asyncio
import concurrent.futures as cf
import ctypes
import json
import os
import statistics
import sys
import threading
import time

import xfutures
import xfutures.asyncio as xa

try:
    import uvloop
except ImportError:  # pragma: no cover - python3-uvloop is in install-deps.sh
    uvloop = None

QUICK = "--quick" in sys.argv[1:] or os.environ.get("XF_BENCH_QUICK", "0") not in ("", "0")
REPS = 3 if QUICK else 5
ONLY = os.environ.get("XF_BENCH_ONLY", "")
PARTS = [p for p in os.environ.get("XF_BENCH_PARTS", "").split(",") if p]
PROGRAM = "py_bench"


def size(full, quick):
    return quick if QUICK else full


def emit(workload, impl, unit, values, n, lower_is_better=True, **extra):
    values = sorted(values)
    obj = {"program": PROGRAM, "workload": workload, "impl": impl, "unit": unit,
           "value": statistics.median(values), "min": values[0], "max": values[-1],
           "n": n, "reps": len(values), "lower_is_better": lower_is_better,
           "quick": QUICK, "suite": "python", "python": sys.version.split()[0]}
    obj.update(extra)
    print(json.dumps(obj), flush=True)
    print("%-22s %-44s %12.1f %s" % (workload, impl, obj["value"], unit), file=sys.stderr,
          flush=True)


def measure(fn, n, per=1e9):
    """Warm up once (smaller), then REPS timed runs; per-item values."""
    fn(max(1, n // 10))
    out = []
    for _ in range(REPS):
        t0 = time.perf_counter_ns()
        fn(n)
        out.append((time.perf_counter_ns() - t0) / n * (per / 1e9))
    return out


def selected(impl):
    return not ONLY or ONLY in impl


# ---- 6a: executor bulk submit/result and map --------------------------------

def task(x):
    return x


def executors(workers=2):
    return [("xfutures", lambda: xfutures.ThreadPoolExecutor(max_workers=workers)),
            ("concurrent.futures.ThreadPoolExecutor",
             lambda: cf.ThreadPoolExecutor(max_workers=workers))]


def bench_executor():
    n = size(200000, 2000)
    for impl, make in executors():
        if not selected(impl):
            continue
        with make() as pool:
            def submit_all(k, pool=pool):
                fs = [pool.submit(task, i) for i in range(k)]
                total = 0
                for f in fs:
                    total += f.result()
                assert total == k * (k - 1) // 2
            emit("py_executor_submit", impl, "ns/task", measure(submit_all, n), n,
                 workers=2)

            def map_all(k, pool=pool):
                assert sum(pool.map(task, range(k))) == k * (k - 1) // 2
            emit("py_executor_map", impl, "ns/task", measure(map_all, n), n, workers=2)


def bench_serial_roundtrip():
    n = size(20000, 500)
    for impl, make in executors():
        if not selected(impl):
            continue
        with make() as pool:
            def serial(k, pool=pool):
                for i in range(k):
                    assert pool.submit(task, i).result() == i
            emit("py_serial_roundtrip", impl, "ns/task", measure(serial, n), n, workers=2)


# ---- 6b: loop futures and call_soon chains ------------------------------------

def loops():
    out = [("asyncio", asyncio.new_event_loop)]
    if uvloop is not None:
        out.append(("uvloop", uvloop.new_event_loop))
    else:
        print("py_bench: uvloop missing (python3-uvloop); its rows are skipped",
              file=sys.stderr)
    return out


def on_loop(make_loop, coro_fn, n):
    """measure() of coro_fn(k) run on one loop made for all repetitions."""
    loop = make_loop()
    try:
        return measure(lambda k: loop.run_until_complete(coro_fn(k)), n)
    finally:
        loop.close()


def bench_loop_future():
    n = size(500000, 5000)

    def make_chunk(factory):
        async def chunk(k):
            loop = asyncio.get_running_loop()
            total = 0
            for i in range(k):
                f = factory(loop)
                f.set_result(i)
                total += await f
            assert total == k * (k - 1) // 2
        return chunk

    c_future = asyncio.Future.__module__ == "_asyncio"
    cases = [("xfutures", asyncio.new_event_loop, make_chunk(lambda lp: xa.Future(loop=lp)))]
    for name, make_loop in loops():
        cases.append(("asyncio.Future (%s) on %s" % ("C" if c_future else "Python", name),
                      make_loop, make_chunk(lambda lp: lp.create_future())))
    for impl, make_loop, chunk in cases:
        if not selected(impl):
            continue
        vals = on_loop(make_loop, chunk, n)
        emit("py_loop_future", impl, "ns/future", vals, n,
             note="xfutures.asyncio.Future on asyncio's loop" if impl == "xfutures" else "")


def bench_call_soon_chain():
    n = size(500000, 5000)

    async def soon_chain(k):
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        left = [k]

        def step():
            left[0] -= 1
            if left[0]:
                loop.call_soon(step)
            else:
                done.set_result(None)
        loop.call_soon(step)
        await done

    async def future_chain(k):
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        left = [k]

        def step(_f):
            left[0] -= 1
            if left[0]:
                nxt = xa.Future(loop=loop)
                nxt.add_done_callback(step)
                nxt.set_result(None)
            else:
                done.set_result(None)
        first = xa.Future(loop=loop)
        first.add_done_callback(step)
        first.set_result(None)
        await done

    cases = [("xfutures", asyncio.new_event_loop, future_chain)]
    for name, make_loop in loops():
        cases.append(("%s call_soon" % name, make_loop, soon_chain))
    for impl, make_loop, fn in cases:
        if not selected(impl):
            continue
        vals = on_loop(make_loop, fn, n)
        emit("py_call_soon_chain", impl, "ns/callback", vals, n,
             note=("no call_soon in the Python binding: a chain of done callbacks "
                   "of xfutures.asyncio futures") if impl == "xfutures" else "")


# ---- 6c: submit_native against the GIL ---------------------------------------

def bench_submit_native():
    libdir = os.environ.get("XF_BENCH_LIB", "")
    path = os.path.join(libdir, "xfbench_work.so")
    if not os.path.exists(path):
        sys.exit("py_bench: %s is missing (bench/CMakeLists.txt builds it; "
                 "set XF_BENCH_LIB)" % path)
    released = ctypes.CDLL(path)
    held = ctypes.PyDLL(path)  # calls keep the GIL, as Python code would
    for lib in (released, held):
        lib.xfb_spin.restype = ctypes.c_uint64
        lib.xfb_spin.argtypes = [ctypes.c_uint64]
    k = size(32, 4)
    iters = size(10000000, 200000)
    expect = released.xfb_spin(iters)

    def sequential():
        for _ in range(k):
            assert released.xfb_spin(iters) == expect

    def on_pool(workers):
        pool = xfutures.ThreadPoolExecutor(max_workers=workers)
        # Start the workers before the clock does: threads are lazy.
        for f in [pool.submit_native(released.xfb_noop, "int64(int64)", 1)
                  for _ in range(workers * 4)]:
            f.result()

        def run():
            fs = [pool.submit_native(released.xfb_spin, "uint64(uint64)", iters)
                  for _ in range(k)]
            for f in fs:
                # uint64 results come back as int64 (two's complement).
                assert f.result() % 2**64 == expect
        return pool, run

    def gil_threads(threads=2):
        def worker(count):
            for _ in range(count):
                held.xfb_spin(iters)

        def run():
            ts = [threading.Thread(target=worker, args=(k // threads + (i < k % threads),))
                  for i in range(threads)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        return run

    pool1, run1 = on_pool(1)
    pool2, run2 = on_pool(2)
    cases = [("xfutures (2 workers)", run2), ("xfutures (1 worker)", run1),
             ("sequential", sequential), ("Python threads x2 (GIL held)", gil_threads())]
    for impl, fn in cases:
        if not selected(impl) and not selected("submit_native"):
            continue
        fn()
        vals = []
        for _ in range(REPS):
            t0 = time.perf_counter_ns()
            fn()
            vals.append((time.perf_counter_ns() - t0) / 1e6)
        emit("py_submit_native", impl, "ms/batch", vals, k, iters_per_call=iters,
             note="%d calls of xfb_spin(%d)" % (k, iters))
    pool1.shutdown()
    pool2.shutdown()


# ---- 9: the crossing ----------------------------------------------------------

def bench_crossing():
    n = size(2000000, 20000)
    fut = xfutures.Future()
    fut.set_result(1)
    cfut = cf.Future()
    cfut.set_result(1)
    version = xfutures.version
    raw_version = xfutures._xfutures.version
    done = fut.done
    cdone = cfut.done
    builtin = sys.getrecursionlimit
    lib = ctypes.CDLL(xfutures._xfutures.__file__)
    cversion = lib.xf_version if hasattr(lib, "xf_version") else None

    def loop_of(f):
        def run(k):
            for _ in range(k):
                f()
        return run

    cases = [("xfutures", version, "xfutures.version()"),
             ("xfutures raw version()", raw_version, "the SWIG function itself"),
             ("xfutures Future.done()", done, "a finished xfutures.Future"),
             ("concurrent.futures Future.done()", cdone, "pure Python, with a lock"),
             ("C builtin sys.getrecursionlimit()", builtin, "a METH_NOARGS C function")]
    if cversion is not None:
        cversion.restype = ctypes.c_char_p
        cases.append(("ctypes xf_version()", cversion, "libffi call of the C function"))
    for impl, f, note in cases:
        if not selected(impl):
            continue
        emit("crossing_python", impl, "ns/call", measure(loop_of(f), n), n,
             note=note + "; includes the Python for-loop")


def main():
    t0 = time.time()
    parts = {"crossing_python": bench_crossing, "py_executor_submit": bench_executor,
             "py_executor_map": bench_executor, "py_serial_roundtrip": bench_serial_roundtrip,
             "py_loop_future": bench_loop_future, "py_call_soon_chain": bench_call_soon_chain,
             "py_submit_native": bench_submit_native}
    unknown = [p for p in PARTS if p not in parts]
    if unknown:
        sys.exit("py_bench: unknown XF_BENCH_PARTS %s (one of %s)" % (
            ", ".join(unknown), ", ".join(parts)))
    run = []
    for name, part in parts.items():
        if (not PARTS or name in PARTS) and part not in run:
            run.append(part)
    for part in run:
        part()
    print("py_bench: %.1f s" % (time.time() - t0), file=sys.stderr)


if __name__ == "__main__":
    main()

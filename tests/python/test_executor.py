"""ThreadPoolExecutor, wait, as_completed and the combinators."""
import concurrent.futures as cf
import ctypes
import ctypes.util
import threading
import time

import pytest

import xfutures


def test_is_an_executor_and_a_context_manager():
    with xfutures.ThreadPoolExecutor(2) as ex:
        assert isinstance(ex, cf.Executor)
        assert ex.submit(pow, 2, 10).result() == 1024
    with pytest.raises(RuntimeError):
        ex.submit(pow, 2, 2)


def test_submit_kwargs_and_identity(pool):
    obj = object()
    assert pool.submit(lambda a, *, b: (a, b), 1, b=obj).result()[1] is obj


def test_task_exception_comes_back_as_itself(pool):
    box = []

    def fail():
        e = ValueError("nope")
        box.append(e)
        raise e

    f = pool.submit(fail)
    with pytest.raises(ValueError) as info:
        f.result(timeout=5)
    assert info.value is box[0]
    assert any(fr.name == "fail" for fr in info.traceback)
    assert f.exception() is box[0]


def test_workers_are_named_and_keep_their_thread_state():
    with xfutures.ThreadPoolExecutor(2, thread_name_prefix="seed") as ex:
        local = threading.local()

        def count():
            local.n = getattr(local, "n", 0) + 1
            return threading.current_thread().ident

        idents = {f.result() for f in [ex.submit(count) for _ in range(50)]}
        assert 1 <= len(idents) <= 2
    # The counters move just after each future finishes; after shutdown
    # (the end of the with block joins the workers) they are final.
    assert ex.stats()["completed"] == 50


def test_map_is_ordered_and_times_out(pool):
    assert list(pool.map(lambda x, y: x * y, range(5), range(5))) == [0, 1, 4, 9, 16]
    assert list(pool.map(str, range(3), chunksize=2)) == ["0", "1", "2"]
    # The task waits for a gate opened only afterwards: the timeout is the
    # only possible outcome.
    gate = threading.Event()
    it = pool.map(gate.wait, [30], timeout=0.05)
    with pytest.raises(cf.TimeoutError):
        next(it)
    gate.set()


def test_map_raises_the_task_exception(pool):
    it = pool.map(lambda x: 1 / x, [1, 0])
    assert next(it) == 1
    with pytest.raises(ZeroDivisionError):
        next(it)


def test_shutdown_cancel_futures():
    ex = xfutures.ThreadPoolExecutor(1)
    started, gate = threading.Event(), threading.Event()

    def hold():
        started.set()
        return gate.wait(30)

    first = ex.submit(hold)
    assert started.wait(30)  # first is running, the rest stays queued
    rest = [ex.submit(time.sleep, 0) for _ in range(5)]
    # The worker is let go only once shutdown has settled every queued job.
    left = [len(rest)]
    lock = threading.Lock()

    def settled(_):
        with lock:
            left[0] -= 1
            if left[0] == 0:
                gate.set()

    for f in rest:
        f.add_done_callback(settled)
    ex.shutdown(wait=True, cancel_futures=True)
    assert first.result() is True
    assert all(f.cancelled() for f in rest)


def test_initializer_and_broken_pool(caplog):
    seen = []
    with xfutures.ThreadPoolExecutor(2, initializer=seen.append, initargs=("hi",)) as ex:
        ex.submit(int).result()
    assert seen and set(seen) == {"hi"}

    ex = xfutures.ThreadPoolExecutor(2, initializer=lambda: 1 / 0)
    f = ex.submit(int)
    with pytest.raises(cf.BrokenExecutor):
        f.result(timeout=5)
    with pytest.raises(xfutures.BrokenThreadPool):
        ex.submit(int)
    ex.shutdown()
    assert "Exception in initializer" in caplog.text


def test_bounded_queue_applies_back_pressure():
    with xfutures.ThreadPoolExecutor(1, max_queue=1) as ex:
        fs = [ex.submit(time.sleep, 0.01) for _ in range(5)]
        xfutures.wait(fs)
        assert all(f.done() for f in fs)


def test_bad_arguments():
    with pytest.raises(ValueError):
        xfutures.ThreadPoolExecutor(0)
    with pytest.raises(TypeError):
        xfutures.ThreadPoolExecutor(1, initializer=3)
    with xfutures.ThreadPoolExecutor(1) as ex:
        with pytest.raises(TypeError):
            ex.submit(3)


def test_submit_native_runs_c_code():
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    with xfutures.ThreadPoolExecutor(2) as ex:
        assert ex.submit_native(libc.abs, "int(int)", -7).result() == 7
        assert ex.submit_native(libc.strlen, "size_t(string)", "hello").result() == 5
        addr = ctypes.cast(libc.labs, ctypes.c_void_p).value
        assert ex.submit_native(addr, "int64(int64)", -9).result() == 9
        with pytest.raises(ValueError):
            ex.submit_native(libc.abs, "int33(int)", 1)
        with pytest.raises(TypeError):
            ex.submit_native(libc.abs, "int(int)", 1, 2)
        with pytest.raises(TypeError):
            ex.submit_native(libc.abs, "int(int)", "x")


def test_wait_and_as_completed(pool):
    # The order is the test's: fs[1] finishes at once, fs[2] once gates[2]
    # opens, fs[0] once fs[2] has been handed out.
    gates = [threading.Event(), None, threading.Event()]
    fs = [pool.submit(gates[0].wait, 30), pool.submit(int), pool.submit(gates[2].wait, 30)]
    done, not_done = xfutures.wait(fs, return_when=xfutures.FIRST_COMPLETED)
    assert done == {fs[1]} and not_done == {fs[0], fs[2]}
    gates[2].set()
    order = []
    for f in xfutures.as_completed(fs):
        order.append(f)
        if f is fs[2]:
            gates[0].set()
    assert order == [fs[1], fs[2], fs[0]]
    done, not_done = xfutures.wait(fs, timeout=0)
    assert done == set(fs) and not not_done


def test_wait_first_exception_and_timeout(pool):
    gate = threading.Event()  # opened at the end: slow cannot finish before
    slow = pool.submit(gate.wait, 30)
    bad = pool.submit(lambda: 1 / 0)
    done, not_done = xfutures.wait([slow, bad], return_when=xfutures.FIRST_EXCEPTION)
    assert done == {bad} and not_done == {slow}
    done, not_done = xfutures.wait([slow], timeout=0.01)
    assert not_done == {slow}
    gate.set()


def test_as_completed_timeout(pool):
    gate = threading.Event()  # opened at the end: fs[0] cannot finish before
    fs = [pool.submit(gate.wait, 30), pool.submit(int)]
    got = []
    with pytest.raises(cf.TimeoutError, match="1 \\(of 2\\) futures unfinished"):
        for f in xfutures.as_completed(fs, timeout=0.1):
            got.append(f)
    assert got == [fs[1]]
    gate.set()


def test_gather_any_first_shield(pool):
    fs = [pool.submit(lambda i=i: i * i) for i in range(5)]
    assert xfutures.all(fs).result(5) == [0, 1, 4, 9, 16]
    bad = [pool.submit(int), pool.submit(lambda: 1 / 0)]
    with pytest.raises(ZeroDivisionError):
        xfutures.gather(bad).result(5)
    res = xfutures.gather(bad, return_exceptions=True).result(5)
    assert res[0] == 0 and isinstance(res[1], ZeroDivisionError)
    slow = xfutures.Future()
    fast = pool.submit(lambda: "fast")
    assert xfutures.first([slow, fast]).result(5) == "fast"
    assert slow.cancelled()
    assert xfutures.any([pool.submit(lambda: 1 / 0), pool.submit(str, 3)]).result(5) == "3"
    inner = xfutures.Future()
    outer = xfutures.shield(inner)
    assert outer.cancel() and not inner.cancelled()
    inner.set_result("still usable")
    assert inner.result() == "still usable"


def test_any_of_only_failures_is_an_error(pool):
    f = xfutures.any([pool.submit(lambda: 1 / 0)])
    with pytest.raises(Exception):
        f.result(5)


def test_chain(pool):
    dst = xfutures.Future()
    xfutures.chain(pool.submit(lambda: "chained"), dst)
    assert dst.result(5) == "chained"

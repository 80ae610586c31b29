"""Behaviour a program meets when it swaps the stdlib for xfutures: each test
is one thing that asyncio or concurrent.futures does and xfutures must do
too."""
import asyncio
import concurrent.futures as cf
import gc
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import types
import weakref

import pytest

import xfutures
import xfutures.asyncio as xa


def run(coro):
    return asyncio.run(coro)


# ---- Futures -------------------------------------------------------------------

def test_set_exception_none_on_a_done_future_is_invalid_state():
    f = xfutures.Future()
    f.set_result(1)
    with pytest.raises(cf.InvalidStateError):
        f.set_exception(None)

    async def main():
        g = xa.Future()
        g.set_result(1)
        with pytest.raises(asyncio.InvalidStateError):
            g.set_exception(None)
    run(main())


def test_future_of_str_is_a_generic_alias():
    for cls in (xfutures.Future, xa.Future):
        alias = cls[str]
        assert isinstance(alias, types.GenericAlias)
        assert alias.__origin__ is cls and alias.__args__ == (str,)


def test_asyncio_future_blocking_protocol():
    async def main():
        f = xa.Future()
        assert f._asyncio_future_blocking is False
        it = f.__await__()
        assert next(it) is f
        assert f._asyncio_future_blocking is True
        f._asyncio_future_blocking = False
        f.set_result(5)
        with pytest.raises(StopIteration) as info:
            next(it)
        assert info.value.value == 5
        assert asyncio.isfuture(f)
    run(main())


def test_cancel_message_as_asyncio():
    async def main():
        f = xa.Future()
        assert f._cancel_message is None
        f.cancel("why")
        assert f._cancel_message == "why"
    run(main())


def test_log_traceback_as_asyncio():
    async def main():
        f = xa.Future()
        assert f._log_traceback is False
        f.set_exception(ValueError("x"))
        assert f._log_traceback is True
        with pytest.raises(ValueError):
            f._log_traceback = True
        f.exception()
        assert f._log_traceback is False
    run(main())


def test_source_traceback_in_debug_mode():
    async def main():
        loop = asyncio.get_running_loop()
        assert xa.Future()._source_traceback is None
        loop.set_debug(True)
        f = xa.Future()
        tb = f._source_traceback
        assert tb and tb[-1].name == "main"
        loop.set_debug(False)
    run(main())


def test_exception_never_retrieved_has_the_future_in_its_context():
    async def main():
        loop = asyncio.get_running_loop()
        reports = []
        loop.set_exception_handler(lambda l, ctx: reports.append(ctx))
        f = xa.Future()
        f.set_exception(RuntimeError("lost"))
        ref = weakref.ref(f)
        del f
        gc.collect()
        await asyncio.sleep(0)
        lost = [r for r in reports if "never retrieved" in r["message"]]
        assert len(lost) == 1
        assert isinstance(lost[0]["exception"], RuntimeError)
        assert lost[0]["future"] is not None and ref() is lost[0]["future"]
    run(main())


def test_exception_not_logged_once_cancel_was_called():
    async def main():
        loop = asyncio.get_running_loop()
        reports = []
        loop.set_exception_handler(lambda l, ctx: reports.append(ctx))
        f = xa.Future()
        f.set_exception(RuntimeError("lost"))
        assert not f.cancel()
        del f
        gc.collect()
        await asyncio.sleep(0.01)
        assert not [r for r in reports if "never retrieved" in r["message"]]
    run(main())


def test_uninitialised_subclass_is_invalid_state():
    class Lazy(xfutures.Future):
        def __init__(self):
            pass

    with pytest.raises(cf.InvalidStateError):
        Lazy().done()
    with pytest.raises(cf.InvalidStateError):
        Lazy().set_result(1)

    class LazyLoop(xa.Future):
        def __init__(self):
            pass

    with pytest.raises(cf.InvalidStateError):
        LazyLoop().result()


# ---- Waiting -------------------------------------------------------------------

def test_wait_does_not_count_a_cancelled_future_not_yet_notified():
    f = xfutures.Future()
    f.cancel()
    done, not_done = xfutures.wait([f], timeout=0)
    assert f in not_done and not done
    assert f.set_running_or_notify_cancel() is False
    done, not_done = xfutures.wait([f], timeout=0)
    assert f in done


def test_as_completed_drops_yielded_futures():
    fs = [xfutures.Future() for _ in range(3)]
    for fut in fs:
        fut.set_result(1)
    del fut
    refs = [weakref.ref(f) for f in fs]
    it = xfutures.as_completed(fs)
    del fs
    first = next(it)
    i = [r() for r in refs].index(first)
    del first
    gc.collect()
    assert refs[i]() is None
    assert len(list(it)) == 2


def test_stdlib_wait_and_as_completed_over_a_mix():
    std = cf.Future()
    std.set_result("s")
    ours = xfutures.Future()
    ours.set_result("x")
    done, not_done = cf.wait([std, ours], timeout=1)
    assert done == {std, ours} and not not_done
    assert set(cf.as_completed([ours, std])) == {std, ours}
    # Nothing is left locked: a later wait on the stdlib future still works.
    late = xfutures.Future()
    threading.Thread(target=late.set_result, args=(2,)).start()
    done, _ = cf.wait([std, late], return_when=cf.ALL_COMPLETED)
    assert late in done and late.result() == 2
    assert std._condition.acquire(blocking=False)
    std._condition.release()


def test_stdlib_wait_wakes_up_for_an_xfutures_future(pool):
    release = threading.Event()
    f = pool.submit(release.wait)
    std = cf.Future()
    threading.Thread(target=release.set).start()
    done, not_done = cf.wait([std, f], return_when=cf.FIRST_COMPLETED)
    assert f in done and std in not_done


# ---- Executor ------------------------------------------------------------------

def test_shutdown_cancel_futures_keeps_the_job_a_worker_took():
    pool = xfutures.ThreadPoolExecutor(max_workers=1)
    started, release = threading.Event(), threading.Event()

    def job():
        started.set()
        release.wait()
        return "ran"
    f = pool.submit(job)
    queued = pool.submit(job)
    started.wait()
    pool.shutdown(wait=False, cancel_futures=True)
    release.set()
    assert f.result() == "ran"
    assert queued.cancelled()
    pool.shutdown(wait=True)


def _run_script(python, body):
    env = dict(os.environ)
    return subprocess.run([python, "-c", textwrap.dedent(body)], env=env, timeout=120,
                          capture_output=True, text=True)


def test_del_pool_with_a_running_task_does_not_block(python):
    # The task only ends once `del pool` has returned: if del waited for it,
    # the script would never finish.
    r = _run_script(python, """
        import threading, xfutures
        release = threading.Event()
        pool = xfutures.ThreadPoolExecutor(max_workers=1)
        f = pool.submit(release.wait)
        del pool
        release.set()
        assert f.result() is True
        print("ok")
    """)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_pool_threads_carry_their_names_in_threading():
    with xfutures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="worker") as pool:
        names = set(pool.map(lambda _: threading.current_thread().name, range(4)))
    assert names and all(n.startswith("worker_") for n in names), names


def test_loop_default_executor_can_be_an_xfutures_pool():
    async def main():
        loop = asyncio.get_running_loop()
        pool = xfutures.ThreadPoolExecutor(max_workers=2)
        loop.set_default_executor(pool)
        assert await loop.run_in_executor(None, sum, [1, 2, 3]) == 6
        assert await asyncio.to_thread(pow, 2, 10) == 1024
    run(main())


# ---- Other ---------------------------------------------------------------------

def test_fork_while_a_pool_is_busy_does_not_hang_the_child(python):
    r = _run_script(python, """
        import os, threading, xfutures
        release = threading.Event()
        pool = xfutures.ThreadPoolExecutor(max_workers=2)
        busy = [pool.submit(release.wait) for _ in range(2)]
        pid = os.fork()
        if pid == 0:
            f = xfutures.Future()
            f.set_result(1)
            os._exit(0 if f.result() == 1 else 3)
        _, status = os.waitpid(pid, 0)
        release.set()
        for b in busy:
            b.result()
        print(os.waitstatus_to_exitcode(status))
    """)
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stderr


def test_pickling_a_future_is_a_clear_type_error():
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(xfutures.Future())

    async def main():
        with pytest.raises(TypeError, match="pickle"):
            pickle.dumps(xa.Future())
    run(main())


def test_asyncio_takes_the_c_future_as_its_own():
    async def main():
        loop = asyncio.get_running_loop()
        f, g = xa.Future(), xa.Future(loop=loop)
        assert asyncio.isfuture(f) and asyncio.ensure_future(f) is f
        assert asyncio.wrap_future(f) is f

        async def waiter():
            return await f

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        assert f._asyncio_future_blocking is False  # the Task took it over
        threading.Thread(target=f.set_result, args=("x",)).start()
        assert await task == "x"
        g.set_result(2)
        assert await asyncio.gather(f, g) == ["x", 2]
        assert await asyncio.wait_for(g, 1) == 2
        done, _ = await asyncio.wait([f, g])
        assert done == {f, g}
        # A concurrent xfutures future under asyncio.wrap_future.
        c = xfutures.Future()
        c.set_result([1])
        assert await asyncio.wrap_future(c) == [1]
    run(main())


def test_xfutures_future_is_a_concurrent_future():
    f = xfutures.Future()
    assert isinstance(f, cf.Future) and isinstance(f, xfutures._xfutures.CFuture)
    assert isinstance(xfutures.ThreadPoolExecutor(max_workers=1), cf.ThreadPoolExecutor)

"""xfutures.asyncio: the C loop embedded in asyncio, and asyncio-compatible futures."""
import asyncio
import gc
import threading
import time

import pytest

import xfutures
import xfutures.asyncio as xa


def run(coro):
    return asyncio.run(coro)


def test_future_is_accepted_by_asyncio():
    async def main():
        f = xa.Future()
        assert asyncio.isfuture(f) and f.get_loop() is asyncio.get_running_loop()
        assert repr(f) == "<Future pending>"
        asyncio.get_running_loop().call_later(0.02, f.set_result, "Finished!")
        assert await f == "Finished!"
        assert repr(f) == "<Future finished result='Finished!'>"
        g = xa.Future()
        g.set_exception(ValueError("bad"))
        assert "exception=ValueError('bad')" in repr(g)
        with pytest.raises(ValueError):
            await g

    run(main())


def test_result_exception_states_and_cancel_message():
    async def main():
        f = xa.Future()
        with pytest.raises(asyncio.InvalidStateError):
            f.result()
        with pytest.raises(asyncio.InvalidStateError):
            f.exception()
        assert f.cancel("stop it") and f.cancelled()
        assert not f.cancel()
        with pytest.raises(asyncio.CancelledError) as info:
            await f
        assert info.value.args == ("stop it",)
        with pytest.raises(asyncio.InvalidStateError):
            f.set_result(1)
        with pytest.raises(TypeError):
            xa.Future().set_exception(StopIteration())

    run(main())


def test_callbacks_run_on_the_loop_in_order_with_context():
    async def main():
        loop_thread = threading.get_ident()
        f = xa.Future()
        calls = []
        for i in range(3):
            f.add_done_callback(lambda fut, i=i: calls.append((i, threading.get_ident())))
        # Callbacks run in order: once a last one has run, so have the three.
        ran = asyncio.get_running_loop().create_future()
        f.add_done_callback(lambda fut: ran.set_result(None))
        th = threading.Thread(target=f.set_result, args=(1,))
        th.start()
        th.join()
        assert calls == []  # never synchronously inside set_result
        await asyncio.wait_for(ran, 30)
        assert calls == [(0, loop_thread), (1, loop_thread), (2, loop_thread)]
        # Finished on the loop's thread, callbacks run as asyncio schedules them.
        g = xa.Future()
        g.add_done_callback(lambda fut: calls.append("g"))
        g.set_result(None)
        await asyncio.sleep(0)
        assert calls[-1] == "g"

    run(main())


def test_concurrent_future_callbacks_follow_the_registering_thread(pool):
    async def main():
        loop_thread = threading.get_ident()
        f = pool.submit(time.sleep, 0.05)
        seen = []
        f.add_done_callback(lambda fut: seen.append(threading.get_ident()))
        # Callbacks run in order: once a last one has run, so has the first.
        ran = asyncio.get_running_loop().create_future()
        f.add_done_callback(lambda fut: ran.set_result(None))
        await f
        await asyncio.wait_for(ran, 30)
        assert seen == [loop_thread]

    run(main())
    g = pool.submit(time.sleep, 0.05)
    seen = []
    g.add_done_callback(lambda fut: seen.append(threading.get_ident()))
    ran = threading.Event()
    g.add_done_callback(lambda fut: ran.set())
    g.result()
    assert ran.wait(30)
    assert seen and seen[0] != threading.get_ident()


def test_gather_wait_for_shield_and_remove_callback():
    async def main():
        a, b = xa.Future(), xa.Future()
        loop = asyncio.get_running_loop()
        loop.call_soon(a.set_result, 1)
        loop.call_later(0.01, b.set_result, 2)
        assert await asyncio.gather(a, b) == [1, 2]
        assert await xa.gather(a, b) == [1, 2]
        slow = xa.Future()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(slow, 0.02)
        assert slow.cancelled()
        slow2 = xa.Future()
        with pytest.raises(TimeoutError):
            await xa.wait_for(slow2, 0.02)
        assert slow2.cancelled()
        inner = xa.Future()
        shielded = asyncio.ensure_future(asyncio.shield(inner))
        await asyncio.sleep(0)
        shielded.cancel()
        with pytest.raises(asyncio.CancelledError):
            await shielded
        assert not inner.cancelled()
        inner.set_result("Still usable!")
        assert inner.result() == "Still usable!"
        c = xa.Future()
        c.add_done_callback(print)
        assert c.remove_done_callback(print) == 1

    run(main())


def test_task_cancellation_reaches_the_awaited_future():
    async def main():
        fut = xa.Future()

        async def waiter():
            return await fut

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0.01)
        task.cancel("bye")
        with pytest.raises(asyncio.CancelledError):
            await task
        assert fut.cancelled()

    run(main())


def test_run_in_executor_and_to_thread(pool):
    async def main():
        main_thread = threading.get_ident()
        r = await xa.run_in_executor(pool, threading.get_ident)
        assert r != main_thread
        results = await asyncio.gather(*(xa.to_thread(sum, range(n)) for n in (1, 10, 100)))
        assert results == [0, 45, 4950]
        # Four blocking calls run at once: they all pass a barrier that only
        # calls running at the same time can pass (its timeout ends a hang).
        barrier = threading.Barrier(4)
        await asyncio.gather(*(xa.run_in_executor(pool, barrier.wait, 30) for _ in range(4)))
        assert not barrier.broken
        with pytest.raises(ZeroDivisionError):
            await xa.run_in_executor(None, lambda: 1 / 0)
        assert await xa.sleep(0.01, "slept") == "slept"

    run(main())


def test_exception_never_retrieved_is_reported():
    async def main():
        loop = asyncio.get_running_loop()
        reports = []
        loop.set_exception_handler(lambda l, ctx: reports.append(ctx))
        f = xa.Future()
        f.set_exception(RuntimeError("lost"))
        del f
        gc.collect()
        await asyncio.sleep(0.01)
        assert any("never retrieved" in r["message"] for r in reports)
        assert any(isinstance(r.get("exception"), RuntimeError) for r in reports)

    run(main())


def test_raising_callback_goes_to_the_loop_handler():
    async def main():
        loop = asyncio.get_running_loop()
        reports = []
        loop.set_exception_handler(lambda l, ctx: reports.append(ctx))
        f = xa.Future()
        f.add_done_callback(lambda fut: 1 / 0)
        f.set_result(1)
        await asyncio.sleep(0.01)
        assert reports and isinstance(reports[0]["exception"], ZeroDivisionError)

    run(main())


def test_works_under_uvloop():
    uvloop = pytest.importorskip("uvloop")

    async def main():
        f = xa.Future()
        asyncio.get_running_loop().call_later(0.01, f.set_result, "uv")
        assert await f == "uv"
        assert await xa.to_thread(lambda: 3) == 3

    uvloop.install()
    try:
        asyncio.run(main())
    finally:
        asyncio.set_event_loop_policy(None)


def test_sleep_zero_yields_and_sleep_returns_its_result():
    order = []

    async def other():
        order.append("other")

    async def main():
        task = asyncio.ensure_future(other())
        await xa.sleep(0)  # lets the other task run, then returns
        order.append("main")
        await task
        return await xa.sleep(0.01, "done")

    assert asyncio.run(asyncio.wait_for(main(), 5)) == "done"
    assert order == ["other", "main"]


def test_blocking_wait_on_the_running_loops_own_future_raises_deadlock():
    # A done callback of an xfutures.Future registered under asyncio runs on
    # the C loop; blocking there on a pending future of that same loop could
    # never end, so every blocking call refuses at once.
    async def main():
        aloop = asyncio.get_running_loop()
        lf = xa.Future()
        view = xfutures.Future.from_handle(int(lf._h))
        seen = aloop.create_future()

        def on_done(_):
            got = []
            for call in (lambda: view.result(timeout=30),
                         lambda: view.exception(timeout=30),
                         lambda: xfutures.wait([view], timeout=30),
                         lambda: next(xfutures.as_completed([view], timeout=30))):
                try:
                    call()
                    got.append(None)
                except Exception as e:  # the assertion runs outside the C loop
                    got.append(e)
            # A zero timeout is still a poll.
            try:
                view.result(timeout=0)
            except Exception as e:
                got.append(e)
            aloop.call_soon_threadsafe(seen.set_result, got)

        trigger = xfutures.Future()
        trigger.add_done_callback(on_done)
        trigger.set_result(None)
        got = await seen
        assert all(isinstance(e, xfutures.DeadlockError) for e in got[:4]), got
        assert all(isinstance(e, RuntimeError) for e in got[:4])
        assert isinstance(got[4], xfutures.TimeoutError)
        lf.set_result(1)
        assert view.result(timeout=0) == 1

    run(main())

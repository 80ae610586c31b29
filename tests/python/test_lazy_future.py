"""xfutures.asyncio.Future made by Future() has no core future until one is
needed (a callback, cancel, the combinators, core_repr); these tests hold
that a user cannot tell: every path from the lazy state to the core keeps
the outcome, its identity, the callbacks' loop and the reports of lost
exceptions."""
import asyncio
import gc
import sys
import threading
import weakref

import pytest

import xfutures
import xfutures.asyncio as xa


def run(coro):
    return asyncio.run(coro)


def test_value_set_before_anything_else_comes_back_as_itself():
    async def main():
        obj = object()
        f = xa.Future()
        f.set_result(obj)
        assert f.done() and not f.cancelled()
        assert f.result() is obj
        assert (await f) is obj
        assert f.exception() is None

    run(main())


def test_callback_added_after_the_result_runs_on_the_loop_later():
    async def main():
        loop = asyncio.get_running_loop()
        seen = []
        f = xa.Future()
        value = ["x"]
        f.set_result(value)
        f.add_done_callback(lambda g: seen.append((g.result(), threading.get_ident())))
        assert seen == []  # asyncio: never inline
        while not seen:
            await asyncio.sleep(0)
        assert seen[0][0] is value and seen[0][1] == threading.get_ident()

    run(main())


def test_the_core_sees_what_was_set_before_it_was_asked():
    async def main():
        f = xa.Future()
        f.set_result([1, "a", None])
        assert xfutures.core_repr(f) == ("list", '[1, "a", none]')
        assert f.result() == [1, "a", None]
        g = xa.Future()
        err = KeyError("k")
        g.set_exception(err)
        assert xfutures.core_repr(g)[0] == "error"
        assert g.exception() is err

    run(main())


def test_a_second_outcome_is_invalid_state_in_every_state():
    async def main():
        f = xa.Future()
        f.set_result(1)
        with pytest.raises(asyncio.InvalidStateError):
            f.set_result(2)
        with pytest.raises(asyncio.InvalidStateError):
            f.set_exception(None)
        with pytest.raises(asyncio.InvalidStateError):
            f.set_exception(ValueError)
        assert f.result() == 1
        g = xa.Future()
        g.set_exception(ValueError)
        with pytest.raises(asyncio.InvalidStateError):
            g.set_result(3)
        with pytest.raises(ValueError):
            g.result()
        h = xa.Future()
        with pytest.raises(TypeError):
            h.set_exception(StopIteration())
        assert not h.done()

    run(main())


@pytest.mark.parametrize("touch_core", [False, True])
def test_exception_never_retrieved_is_reported_once(touch_core):
    async def main():
        loop = asyncio.get_running_loop()
        reports = []
        loop.set_exception_handler(lambda l, ctx: reports.append(ctx))
        f = xa.Future()
        err = RuntimeError("lost")
        f.set_exception(err)
        if touch_core:
            xfutures.core_repr(f)  # makes the core future
        del f
        gc.collect()
        for _ in range(3):
            await asyncio.sleep(0)
        lost = [r for r in reports if "never retrieved" in r["message"]]
        assert len(lost) == 1 and lost[0]["exception"] is err
        assert isinstance(lost[0]["future"], xa.Future)

    run(main())


def test_result_set_from_another_thread_wakes_the_awaiting_task():
    async def main():
        f = xa.Future()
        started = asyncio.Event()

        async def waiter():
            started.set()
            return await f

        task = asyncio.ensure_future(waiter())
        await started.wait()
        await asyncio.sleep(0)  # the task now waits on f
        obj = object()
        t = threading.Thread(target=f.set_result, args=(obj,))
        t.start()
        assert (await task) is obj
        t.join()

    run(main())


def test_cancel_of_a_lazy_future_runs_its_callbacks_and_says_why():
    async def main():
        f = xa.Future()
        seen = []
        f.add_done_callback(seen.append)
        assert f.cancel("why")
        with pytest.raises(asyncio.CancelledError, match="why"):
            await f
        while not seen:
            await asyncio.sleep(0)
        assert seen == [f] and f.cancelled()

    run(main())


def test_the_class_is_asyncio_compatible_and_extensible():
    async def main():
        f = xa.Future()
        assert type(f) is xa.Future and xa.Future.__name__ == "Future"
        assert xa.Future.__module__ == "xfutures.asyncio"
        assert weakref.ref(f)() is f
        f.note = "attributes can be set, as on asyncio's Future"
        assert f.note.startswith("attributes")
        assert xa.Future[int] is not None

        class Sub(xa.Future):
            pass

        s = Sub()
        s.set_result(5)
        assert await s == 5 and isinstance(s, xa.Future)
        assert repr(s) == "<Sub finished result=5>"

    run(main())


def _blocks_left_by(fn, rounds=3000):
    """How many memory blocks are still allocated after fn ran rounds times
    (a warm-up first, so that caches are filled)."""
    for _ in range(100):
        fn()
    gc.collect()
    before = sys.getallocatedblocks()
    for _ in range(rounds):
        fn()
    gc.collect()
    return sys.getallocatedblocks() - before


def test_invalid_state_errors_leave_nothing_behind():
    async def main():
        f = xa.Future()
        f.set_result(1)
        c = xfutures.Future()
        c.set_result(1)
        p = xa.Future()

        def second_outcomes():
            for call in (lambda: f.set_result(2), lambda: f.set_exception(ValueError),
                         p.result, p.exception, lambda: c.set_result(2)):
                try:
                    call()
                except (asyncio.InvalidStateError, xfutures.InvalidStateError):
                    pass
        # Each raise used to leave its message string behind.
        assert _blocks_left_by(second_outcomes) < 500

    run(main())

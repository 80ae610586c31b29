"""Callbacks (Python functions as C function pointers) and queue policies."""
import asyncio
import ctypes
import threading
import time

import pytest

import xfutures


def test_callback_without_a_loop_runs_in_the_calling_thread():
    seen = []

    def add(a, b):
        seen.append(threading.get_ident())
        return a + b

    cb = xfutures.callback("int64(int64, int64)", add)
    assert cb.signature == "int64(int64, int64)"
    assert cb.address == cb.pointer == int(cb) != 0
    fn = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64, ctypes.c_int64)(cb.address)
    assert fn(2, 40) == 42
    assert seen == [threading.get_ident()]
    with xfutures.ThreadPoolExecutor(2) as ex:
        assert ex.submit_native(cb, cb.signature, 5, 6).result(timeout=5) == 11
    assert len(seen) == 2 and seen[1] != threading.get_ident()
    assert cb.get_loop() is None


def test_callback_calls_land_on_the_asyncio_loop_thread():
    async def main():
        main_thread = threading.get_ident()
        seen = []

        def scale(x, f):
            seen.append(threading.get_ident())
            return x * f

        cb = xfutures.callback("double(int32, double)", scale)
        assert cb.get_loop() is asyncio.get_running_loop()
        with xfutures.ThreadPoolExecutor(2) as ex:
            futs = [ex.submit_native(cb, cb.signature, i, 1.5) for i in range(4)]
            values = [await xfutures.asyncio.wrap_future(f) for f in futs]
        assert values == [0.0, 1.5, 3.0, 4.5]
        assert seen == [main_thread] * 4
        cb.close()

    asyncio.run(main())


def test_callback_from_a_foreign_thread_through_ctypes():
    async def main():
        main_thread = threading.get_ident()
        got = []
        cb = xfutures.callback("void(string)", lambda s: got.append((s, threading.get_ident())))
        fn = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(cb.address)
        t = threading.Thread(target=fn, args=(b"hello",))
        t.start()
        t.join()
        # The call is posted to the loop: look until it has landed (the
        # bound only ends a hang).
        for _ in range(3000):
            if got:
                break
            await asyncio.sleep(0.01)
        assert got == [("hello", main_thread)]

    asyncio.run(main())


def test_callback_exception_goes_to_the_loop_handler():
    async def main():
        loop = asyncio.get_running_loop()
        reported = []
        loop.set_exception_handler(lambda _l, ctx: reported.append(ctx))
        err = ValueError("boom")

        def fail(a, b):
            raise err

        cb = xfutures.callback("int64(int64, int64)", fail)
        with xfutures.ThreadPoolExecutor(1) as ex:
            f = ex.submit_native(cb, cb.signature, 1, 2)
            assert await xfutures.asyncio.wrap_future(f) == 0
        for _ in range(3000):  # the report is posted to the loop
            if reported:
                break
            await asyncio.sleep(0.01)
        assert reported and reported[0]["exception"] is err

    asyncio.run(main())


def test_callback_bad_arguments():
    with pytest.raises(ValueError):
        xfutures.callback("int33(int)", lambda x: x)
    with pytest.raises(TypeError):
        xfutures.callback("int(int)", 3)


def test_reject_policy_raises_queue_full():
    started, release = threading.Event(), threading.Event()

    def hold():
        started.set()
        release.wait(30)

    with xfutures.ThreadPoolExecutor(1, max_queue=1, queue_policy="reject") as ex:
        a = ex.submit(hold)
        assert started.wait(30)  # a is running; the queue is empty
        b = ex.submit(time.sleep, 0.01)
        with pytest.raises(xfutures.QueueFull) as info:
            ex.submit(time.sleep, 0.01)
        assert isinstance(info.value, RuntimeError)
        release.set()
        assert b.result(timeout=30) is None and a.done()


def test_block_policy_waits_for_room():
    with xfutures.ThreadPoolExecutor(1, max_queue=1, queue_policy="block") as ex:
        a = ex.submit(time.sleep, 0.1)
        time.sleep(0.03)
        ex.submit(time.sleep, 0.01)
        c = ex.submit(time.sleep, 0.01)  # waits until a is done
        assert a.done()
        assert c.result(timeout=5) is None


def test_bad_queue_policy():
    with pytest.raises(ValueError):
        xfutures.ThreadPoolExecutor(1, max_queue=1, queue_policy="drop")

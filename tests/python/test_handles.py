"""Future.from_handle and Future.handle(): a C future passed by address."""
import gc
import threading

import pytest

import xfutures


def test_handle_is_a_stable_nonzero_int():
    f = xfutures.Future()
    h = f.handle()
    assert isinstance(h, int) and h != 0
    assert f.handle() == h


def test_from_handle_shares_the_future():
    f = xfutures.Future()
    g = xfutures.Future.from_handle(f.handle())
    assert isinstance(g, xfutures.Future) and g is not f
    assert g.handle() == f.handle()
    assert not g.done()
    g.set_result([1, "two"])
    assert f.done() and f.result() == [1, "two"]
    with pytest.raises(xfutures.InvalidStateError):
        f.set_result(3)


def test_the_adopted_future_holds_its_own_reference():
    f = xfutures.Future()
    g = xfutures.Future.from_handle(f.handle())
    del f
    gc.collect()
    g.set_result(7)
    assert g.result() == 7


def test_a_future_of_the_pool_can_be_adopted_and_finished_elsewhere():
    with xfutures.ThreadPoolExecutor(max_workers=1) as pool:
        src = pool.submit(lambda: 6 * 7)
        assert xfutures.Future.from_handle(src.handle()).result(timeout=10) == 42
    f = xfutures.Future()
    seen = []
    f.add_done_callback(lambda fut: seen.append(fut.result()))
    h = f.handle()
    t = threading.Thread(target=lambda: xfutures.Future.from_handle(h).set_result("x"))
    t.start()
    t.join()
    assert f.result(timeout=10) == "x" and seen == ["x"]


@pytest.mark.parametrize("bad", ["0x1234", 1.5, None, True])
def test_from_handle_wants_an_int(bad):
    with pytest.raises(TypeError):
        xfutures.Future.from_handle(bad)


def test_from_handle_refuses_null():
    with pytest.raises(ValueError):
        xfutures.Future.from_handle(0)

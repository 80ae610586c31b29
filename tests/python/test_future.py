"""xfutures.Future: the concurrent.futures.Future API over the C future."""
import concurrent.futures as cf
import logging
import threading
import time

import pytest

import xfutures


def test_is_a_concurrent_future_and_starts_pending():
    f = xfutures.Future()
    assert isinstance(f, cf.Future)
    assert not f.done() and not f.running() and not f.cancelled()
    assert "pending" in repr(f)


def test_set_result_then_result():
    f = xfutures.Future()
    f.set_result(42)
    assert f.done() and f.result() == 42 and f.exception() is None
    assert "finished" in repr(f)


def test_identity_round_trip():
    obj, big, text = object(), 10**30, "x" * 100
    for value in (obj, big, text, [1, 2], None, True, 1.5):
        f = xfutures.Future()
        f.set_result(value)
        assert f.result() is value


def test_exception_is_the_same_object_with_its_traceback():
    def raiser():
        raise KeyError("k")

    try:
        raiser()
    except KeyError as e:
        exc = e
    f = xfutures.Future()
    f.set_exception(exc)
    assert f.exception() is exc
    with pytest.raises(KeyError) as info:
        f.result()
    assert info.value is exc
    assert any(fr.name == "raiser" for fr in info.traceback)


def test_set_exception_accepts_a_class_and_rejects_non_exceptions():
    f = xfutures.Future()
    f.set_exception(ValueError)
    assert isinstance(f.exception(), ValueError)
    with pytest.raises(TypeError):
        xfutures.Future().set_exception(3)


def test_stdlib_exceptions():
    f = xfutures.Future()
    with pytest.raises(cf.TimeoutError):
        f.result(timeout=0.01)
    with pytest.raises(TimeoutError):
        f.exception(timeout=0)
    assert f.cancel() and f.cancelled() and f.done()
    with pytest.raises(cf.CancelledError):
        f.result()
    with pytest.raises(cf.CancelledError):
        f.exception()
    with pytest.raises(cf.InvalidStateError):
        f.set_result(1)
    g = xfutures.Future()
    g.set_result(1)
    with pytest.raises(cf.InvalidStateError):
        g.set_exception(ValueError())
    assert not g.cancel()


def test_set_running_or_notify_cancel():
    f = xfutures.Future()
    assert f.set_running_or_notify_cancel() is True
    assert f.running() and not f.cancel()
    g = xfutures.Future()
    g.cancel()
    assert g.set_running_or_notify_cancel() is False
    with pytest.raises(RuntimeError):
        f.set_running_or_notify_cancel()


def test_result_waits_for_another_thread():
    f = xfutures.Future()
    t0 = time.monotonic()  # before the timer starts, so at least 0.05 s pass
    threading.Timer(0.05, f.set_result, ("late",)).start()
    assert f.result(timeout=5) == "late"
    assert time.monotonic() - t0 >= 0.04


def test_callbacks_run_once_in_order_in_the_finishing_thread():
    f = xfutures.Future()
    calls = []
    for i in range(3):
        f.add_done_callback(lambda fut, i=i: calls.append((i, fut, threading.get_ident())))
    th = threading.Thread(target=f.set_result, args=(1,))
    th.start()
    th.join()
    assert [c[0] for c in calls] == [0, 1, 2]
    assert all(c[1] is f and c[2] == th.ident for c in calls)


def test_callback_on_done_future_runs_at_once():
    f = xfutures.Future()
    f.set_result(1)
    seen = []
    f.add_done_callback(seen.append)
    assert seen == [f]


def test_remove_done_callback():
    f = xfutures.Future()
    seen = []
    f.add_done_callback(seen.append)
    f.add_done_callback(seen.append)
    f.add_done_callback(print)
    assert f.remove_done_callback(seen.append) == 2
    assert f.remove_done_callback(seen.append) == 0
    f.set_result(None)
    assert seen == []


def test_raising_callback_is_logged_and_others_still_run(caplog):
    f = xfutures.Future()
    seen = []
    f.add_done_callback(lambda fut: 1 / 0)
    f.add_done_callback(seen.append)
    with caplog.at_level(logging.ERROR, logger="concurrent.futures"):
        f.set_result(1)
    assert seen == [f]
    assert "exception calling callback" in caplog.text
    assert "ZeroDivisionError" in caplog.text


def test_bad_input_is_an_exception():
    with pytest.raises(TypeError):
        xfutures.wait([1, 2])
    with pytest.raises(ValueError):
        xfutures.wait([], return_when="NEVER")

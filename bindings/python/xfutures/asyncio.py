"""xfutures.asyncio: the C event loop inside the running asyncio loop.

Each asyncio loop that meets xfutures gets one C loop embedded in it: asyncio
watches the C loop's backend descriptor with ``add_reader`` and runs it
without waiting when the descriptor is readable or its next timer is due
(``call_later``). Futures of that C loop are this module's ``Future``, which
asyncio accepts as its own (``asyncio.isfuture``, ``await``, ``gather``,
``wait_for``, ``shield``, ``cancel(msg)``). Their callbacks run on the loop's
thread whichever thread finishes them.
"""

from __future__ import annotations

import asyncio as _aio
import asyncio.base_futures as _base_futures
import asyncio.format_helpers as _format_helpers
import contextvars as _contextvars
import functools as _functools
import types as _types
import weakref as _weakref

from . import _xfutures as _raw
from . import _check, _default_executor, ThreadPoolExecutor as _Pool
from . import Future as _ConcurrentFuture

__all__ = ["Future", "run_in_executor", "to_thread", "wait_for", "sleep", "shield",
           "gather", "wrap_future", "add_reader", "remove_reader"]

_PENDING, _CANCELLED, _FINISHED = "PENDING", "CANCELLED", "FINISHED"


class _Bridge:
    """One C loop driven by one asyncio loop."""

    def __init__(self, aloop):
        self._aref = _weakref.ref(aloop)
        self.xloop = _raw.loop_new()
        _raw.loop_set_exception_handler(self.xloop, self._exception)
        self.fd = _raw.loop_backend_fd(self.xloop)
        _check(self.fd)
        self._timer = None
        self._kicked = False
        aloop.add_reader(self.fd, self._drive)

    def _exception(self, message, exc):
        aloop = self._aref()
        if aloop is None or aloop.is_closed():
            return
        context = {"message": message}
        if exc is not None:
            context["exception"] = exc
        aloop.call_exception_handler(context)

    # How many passes of the C loop one turn of asyncio's may run: work that
    # the callbacks of a pass make ready (a chain of futures) runs in the
    # same turn, without a round trip through asyncio's queue, and asyncio's
    # own callbacks still get their turn after at most this many passes.
    _PASSES = 16

    def _drive(self):
        # Kicks made while the C loop runs are covered by the passes below.
        self._kicked = True
        xloop = self.xloop
        run, timeout, nowait = _raw.loop_run, _raw.loop_backend_timeout, _raw.RUN_NOWAIT
        for _ in range(self._PASSES):
            run(xloop, nowait)
            if timeout(xloop) != 0:
                break
        self._kicked = False
        self.arm()

    def arm(self):
        """Schedule the next run for the C loop's next timer."""
        aloop = self._aref()
        if aloop is None or aloop.is_closed():
            return
        t = _raw.loop_backend_timeout(self.xloop)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if t > 0:
            self._timer = aloop.call_later(t / 1e9, self._drive)
        elif t == 0:
            # Work is ready now (a timer already due, as sleep(0)'s): the
            # backend fd is not readable for that, so run it soon.
            self.kick()

    def kick(self):
        """Run the C loop soon: called on the loop's thread after an operation
        that queued callbacks, so that they run in the order asyncio would run
        them rather than after the next poll."""
        if not self._kicked:
            aloop = self._aref()
            if aloop is not None and _aio._get_running_loop() is aloop:
                self._kicked = True
                aloop.call_soon(self._drive)

    def close(self):
        aloop = self._aref()
        if aloop is not None and not aloop.is_closed():
            aloop.remove_reader(self.fd)
        _raw.loop_close(self.xloop)


_bridges = _weakref.WeakKeyDictionary()


def _bridge(aloop):
    """The bridge of an asyncio loop, made on first use (on the loop's thread)."""
    b = _bridges.get(aloop)
    if b is None:
        b = _bridges[aloop] = _Bridge(aloop)
    return b


def _callback_error(exc, fn, fut):
    """A done callback of a Future raised exc: the loop's exception handler
    hears of it, as asyncio's Handle does."""
    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        raise exc
    fut._loop.call_exception_handler({
        "message": "Exception in callback %r" % (fn,),
        "exception": exc,
        "future": fut,
    })


class _FutureMembers:
    """What xfutures.asyncio.Future (the C type) has in Python: the members
    asyncio's helpers read (_state, _callbacks, repr, ...), called once per
    future at most. They are defined on the C type below."""

    # asyncio's repr helpers read these.
    @property
    def _state(self):
        # Read without the raw handle, which would make a lazy future's core
        # future.
        if self.cancelled():
            return _CANCELLED
        return _FINISHED if self.done() else _PENDING

    @property
    def _callbacks(self):
        if self.done() or not self._cbs:
            return []
        return [(d[0], d[2]) for d in self._cbs]

    @property
    def _result(self):
        if _raw.future_state(self._h) != _raw.FINISHED:
            return None
        if _raw.future_outcome(self._h)[2] is not None:
            return None
        return self.result()

    @property
    def _exception(self):
        if _raw.future_state(self._h) != _raw.FINISHED:
            return None
        return _raw.future_outcome(self._h)[2]

    def __repr__(self):
        return _base_futures._future_repr(self)

    def _make_cancelled_error(self):
        msg = self._cancel_message
        return _aio.CancelledError() if msg is None else _aio.CancelledError(msg)

    @property
    def _cancel_message(self):
        if not self.cancelled():
            return None
        # The core's error of a cancelled future carries the message; without
        # one it has the code's default text.
        exc = _raw.future_outcome(self._h)[2]
        msg = exc.args[0] if exc is not None and exc.args else None
        return None if not msg or msg == _raw.strerror(_raw.ECANCELLED) else msg

    def cancel(self, msg=None):
        # As asyncio's: cancelling, even too late, silences the report of an
        # exception nobody retrieved.
        self._log_traceback = False
        if self.done():
            if not self.cancelled():
                self.exception()  # retrieved, also for the core
            return False
        ok = _raw.future_cancel_msg(self._h, None if msg is None else str(msg)) == 0
        if ok:
            self._bridge.kick()
        return ok

    def remove_done_callback(self, fn):
        removed = 0
        keep = []
        for data in self._cbs or ():
            if data[0] == fn:
                removed += max(0, _raw.future_remove_done_callback(self._h, data))
            else:
                keep.append(data)
        self._cbs = keep
        return removed

    __class_getitem__ = classmethod(_types.GenericAlias)


# xfutures.asyncio.Future is the C type CLoopFuture itself, not a Python
# subclass of it: making a future then costs what asyncio's C Future costs.
# It behaves as asyncio.Future: callbacks run on the loop in the order
# added, result()/exception() raise asyncio's InvalidStateError and
# CancelledError (with the cancel message), repr is asyncio's, and an
# exception nobody retrieved is reported to the loop's exception handler.
# Unlike asyncio.Future, it may be finished from any thread.
for _name, _member in list(vars(_FutureMembers).items()):
    if _name not in ("__module__", "__qualname__", "__doc__", "__dict__", "__weakref__"):
        _raw.py_loop_future_define(_name, _member)
del _name, _member
Future = _raw.CLoopFuture

_raw.py_set_loop_glue(_bridge, _callback_error, _aio.get_event_loop,
                      _format_helpers.extract_stack, _aio.CancelledError,
                      _aio.InvalidStateError, _aio.BaseEventLoop.get_debug)


def _running():
    aloop = _aio.get_running_loop()
    return aloop, _bridge(aloop)


def _await_concurrent(fut):
    """An asyncio future of the running loop that follows an xfutures.Future
    (asyncio.wrap_future; cancellation flows both ways)."""
    aloop, b = _running()
    af = Future._wrap(_raw.loop_create_future(b.xloop), aloop)
    _raw.future_chain(fut._h, af._h)
    return af


def wrap_future(fut, *, loop=None):
    """asyncio.wrap_future for xfutures futures (others go to asyncio's)."""
    if isinstance(fut, Future):
        return fut
    if isinstance(fut, _ConcurrentFuture):
        return _await_concurrent(fut)
    return _aio.wrap_future(fut, loop=loop)


def run_in_executor(executor, func, *args):
    """loop.run_in_executor for the running loop: func(*args) on executor (an
    xfutures.ThreadPoolExecutor; None: the shared default pool) and a Future
    of the loop that follows it; cancelling it cancels the job if it has not
    started."""
    aloop, b = _running()
    if executor is None:
        executor = _default_executor()
    if not isinstance(executor, _Pool):
        return aloop.run_in_executor(executor, func, *args)
    cell = []
    return Future._wrap(_raw.loop_run_in_executor(b.xloop, executor._h, (func, args, None, cell)),
                        aloop, cell)


async def to_thread(func, /, *args, **kwargs):
    """asyncio.to_thread on the C pool: func runs in a worker thread with the
    caller's context variables."""
    ctx = _contextvars.copy_context()
    call = _functools.partial(ctx.run, func, *args, **kwargs)
    return await run_in_executor(None, call)


def _as_future(aw):
    if isinstance(aw, Future):
        return aw
    if isinstance(aw, _ConcurrentFuture):
        return _await_concurrent(aw)
    return None


async def wait_for(aw, timeout):
    """asyncio.wait_for; on xfutures futures the timeout is the C loop's."""
    fut = _as_future(aw)
    if fut is None:
        return await _aio.wait_for(aw, timeout)
    aloop, b = _running()
    out = Future._wrap(_raw.future_timeout(b.xloop, fut._h, timeout), aloop)
    b.arm()
    return await out


async def sleep(delay, result=None):
    """asyncio.sleep on the C loop's timers."""
    aloop, b = _running()
    fut = Future._wrap(_raw.loop_sleep(b.xloop, max(0.0, float(delay))), aloop)
    b.arm()
    await fut
    return result


def _fileno(fd):
    if not isinstance(fd, int) and hasattr(fd, "fileno"):
        fd = fd.fileno()
    if not isinstance(fd, int) or isinstance(fd, bool):
        raise TypeError("expected a file descriptor or an object with fileno()")
    return fd


def add_reader(fd, callback, *args):
    """loop.add_reader on the C loop of the running asyncio loop (the core's
    fd readiness): callback(*args) on the loop each time fd (an integer or an
    object with fileno()) is readable, or has an error or hang-up, until
    remove_reader(fd). One reader per fd: adding another replaces it. The
    loop does not own fd: remove the reader before closing it. An exception
    of the callback goes to the asyncio loop's exception handler."""
    aloop, b = _running()

    def on_error(exc, fn):
        aloop.call_exception_handler({"message": "Exception in a reader callback %r"
                                      % (callback,), "exception": exc})

    _raw.loop_add_reader(b.xloop, _fileno(fd), (lambda _fd: callback(*args), on_error))


def remove_reader(fd):
    """Stop watching fd; True if a reader was removed."""
    aloop, b = _running()
    return _raw.loop_remove_reader(b.xloop, _fileno(fd)) == 1


def shield(aw):
    """asyncio.shield; on xfutures futures the shield is the core's."""
    fut = _as_future(aw)
    if fut is None:
        return _aio.shield(aw)
    return Future._wrap(_raw.future_shield(fut._h), fut._loop)


def gather(*aws, return_exceptions=False):
    """asyncio.gather over xfutures futures with the core's gather (a Future
    of the list of values); other awaitables go to asyncio.gather."""
    futs = [_as_future(a) for a in aws]
    if not futs or any(f is None for f in futs):
        return _aio.gather(*aws, return_exceptions=return_exceptions)
    loop = futs[0]._loop
    return Future._wrap(_raw.future_all(
        [f._h for f in futs], _raw.ALL_COLLECT if return_exceptions else 0), loop)

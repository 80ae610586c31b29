"""xfutures: concurrent.futures-compatible futures and executors over a C core.

Replace ``concurrent.futures`` with ``xfutures`` and keep the code: the
futures, the thread pool, ``wait`` and ``as_completed`` keep the stdlib's
API and raise the stdlib's own exceptions, while the states, the callbacks,
the waiting and the worker threads are the C library's. ``xfutures.asyncio``
integrates the C event loop into a running asyncio loop.

This module only translates: every operation is one call into the raw SWIG
module ``xfutures._xfutures``.
"""

from __future__ import annotations

import asyncio as _aio
import builtins as _builtins
import collections as _collections
import concurrent.futures as _cf
import concurrent.futures._base as _cfb
import concurrent.futures.thread as _cft
import itertools as _itertools
import logging as _logging
import os as _os
import threading as _threading
import weakref as _weakref

from . import _xfutures as _raw

__all__ = [
    "Future", "ThreadPoolExecutor", "Executor", "wait", "as_completed",
    "all", "any", "first", "gather", "shield", "chain",
    "FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED",
    "CancelledError", "TimeoutError", "InvalidStateError", "BrokenExecutor",
    "BrokenThreadPool", "Error", "DoneAndNotDoneFutures", "version",
    "QueueFull", "DeadlockError", "Callback", "callback",
    "ProcessPoolExecutor", "BrokenProcessPool", "core_repr",
]


def __getattr__(name):
    # The process pool is imported on first use: it brings in
    # concurrent.futures.process (multiprocessing) and pickling, which a
    # program of threads and loops (and the process pool's own worker) need
    # not load.
    if name in ("ProcessPoolExecutor", "BrokenProcessPool"):
        from . import process
        return getattr(process, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


# The stdlib's own names, so that existing ``except`` clauses keep working.
FIRST_COMPLETED = _cf.FIRST_COMPLETED
FIRST_EXCEPTION = _cf.FIRST_EXCEPTION
ALL_COMPLETED = _cf.ALL_COMPLETED
CancelledError = _cf.CancelledError
TimeoutError = _cf.TimeoutError
InvalidStateError = _cf.InvalidStateError
BrokenExecutor = _cf.BrokenExecutor
BrokenThreadPool = _cft.BrokenThreadPool
Executor = _cf.Executor
DoneAndNotDoneFutures = _cf._base.DoneAndNotDoneFutures

LOGGER = _logging.getLogger("concurrent.futures")

_RETURN_WHEN = {
    FIRST_COMPLETED: _raw.FIRST_COMPLETED,
    FIRST_EXCEPTION: _raw.FIRST_EXCEPTION,
    ALL_COMPLETED: _raw.ALL_COMPLETED,
}


def version() -> str:
    """The C library's version, "major.minor.patch"."""
    return _raw.version()


class Error(Exception):
    """An error of the C core that carries no Python exception: ``code`` is the
    core's XF_E* code and ``type_name`` the type name it gave."""

    def __init__(self, message, code=_raw.EFAILED, type_name="RuntimeError"):
        super().__init__(message)
        self.code = code
        self.type_name = type_name


class QueueFull(RuntimeError):
    """A ThreadPoolExecutor with ``queue_policy="reject"`` refused a
    submission: its bounded queue (``max_queue``) was full."""


class DeadlockError(RuntimeError):
    """A blocking wait was refused because it would never end: the future can
    only be finished by the xfutures loop that the calling thread is running
    (await it instead). The core's XF_EDEADLK."""


def _error_factory(code, type_name, message, traceback=None):
    """The exception for a core error that did not come from Python."""
    if code == _raw.EAGAIN:
        return QueueFull("the thread pool's queue is full")
    if code == _raw.ECANCELLED:
        return CancelledError(message)
    if code == _raw.ETIMEDOUT:
        return TimeoutError(message)
    if code == _raw.EDEADLK:
        return DeadlockError(message)
    if code == _raw.ESTATE:
        return InvalidStateError(message)
    if code == _raw.EBROKEN and type_name == "BrokenProcessPool":
        from .process import _broken
        return _broken(message, traceback)
    if code == _raw.EBROKEN and type_name == "BrokenExecutor":
        # The MPI executor's: the job is being torn down, or a rank failed
        # to start (its initializer's error and traceback).
        from .process import _broken
        return BrokenExecutor(str(_broken(message, traceback)))
    if code == _raw.EBROKEN:
        return BrokenThreadPool(
            "The thread pool is not usable anymore: a thread initializer failed, "
            "or the pool was inherited across os.fork()")
    if code == _raw.ESHUTDOWN:
        return RuntimeError("cannot schedule new futures after shutdown")
    builtin = getattr(_builtins, type_name or "", None)
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        try:
            return builtin(message)
        except Exception:
            pass
    exc = Error(message, code, type_name)
    if traceback:
        exc.add_note(traceback)
    return exc


_raw.py_set_error_factory(_error_factory)
_raw.py_set_exceptions(CancelledError, TimeoutError, InvalidStateError)


def _check(rc):
    """Raise the exception for a core code; return it when it is not an error."""
    if rc < 0:
        raise _error_factory(rc, _raw.err_name(rc), _raw.strerror(rc))
    return rc


def _log_callback_error(exc, fn, future):
    # concurrent.futures logs a failing done callback and goes on.
    LOGGER.error("exception calling callback for %r", future,
                 exc_info=(type(exc), exc, exc.__traceback__))


def _running_bridge():
    """The xf loop embedded in the asyncio loop running in this thread, or None."""
    aloop = _aio._get_running_loop()
    if aloop is None:
        return None
    from . import asyncio as _xa
    return _xa._bridge(aloop)


_CF_STATES = {_raw.PENDING: _cfb.PENDING, _raw.RUNNING: _cfb.RUNNING,
              _raw.FINISHED: _cfb.FINISHED}

_STATE_NAMES = {_raw.PENDING: "pending", _raw.RUNNING: "running",
                _raw.FINISHED: "finished", _raw.CANCELLED: "cancelled"}


class Future(_raw.CFuture, _cf.Future):
    """A future with the concurrent.futures.Future API, backed by a C future.

    Done callbacks added from a thread that runs an asyncio loop run on that
    loop's thread; added elsewhere, they run in the thread that finishes the
    future (or at once when it is done), as concurrent.futures does.
    ``await fut`` works inside a running asyncio loop.

    The methods called per future (done, result, set_result, cancel, ...)
    are the C type CFuture's; concurrent.futures.Future.__init__ is not
    called, as the state lives in C. A value set through this future comes
    back as the very same object (README, "The value policy").
    """

    @classmethod
    def from_handle(cls, address):
        """Adopt the C future at address (an int: an ``xf_future_t *`` made in
        C, or another binding's ``handle()``), taking a new reference of its
        own. The future must be alive when this is called; it then stays alive
        for as long as the returned Future does."""
        if not isinstance(address, int) or isinstance(address, bool):
            raise TypeError("Future.from_handle: expected an int address, got %s"
                            % type(address).__name__)
        return cls._wrap(_raw.py_future_from_handle(address))

    def handle(self):
        """The address of the C future (an int), to pass to C or to another
        language's binding (Lua: ``xf.future_from_handle``). It is valid while
        this Future, or another reference, keeps the C future alive."""
        return int(self._h)

    def __repr__(self):
        state = _raw.future_state(self._h)
        name = _STATE_NAMES.get(state, "?")
        if state == _raw.FINISHED:
            _, v, exc = _raw.future_outcome(self._h)
            if exc is not None:
                return "<%s at %#x state=%s raised %s>" % (
                    self.__class__.__name__, id(self), name, exc.__class__.__name__)
            return "<%s at %#x state=%s returned %s>" % (
                self.__class__.__name__, id(self), name, v.__class__.__name__)
        return "<%s at %#x state=%s>" % (self.__class__.__name__, id(self), name)

    def add_done_callback(self, fn):
        """Call fn(future) once the future is done (see the class docstring
        for the thread it runs on)."""
        bridge = _running_bridge()
        data = (fn, self, None, _log_callback_error)
        _raw.future_add_done_callback(self._h, data,
                                      bridge.xloop if bridge is not None else None)
        if self._cbs is None:
            self._cbs = []
        self._cbs.append(data)

    def remove_done_callback(self, fn):
        """Remove every registration of fn that has not run; returns how many."""
        if not self._cbs:
            return 0
        removed = 0
        keep = []
        for data in self._cbs:
            if data[0] == fn:
                removed += max(0, _raw.future_remove_done_callback(self._h, data))
            else:
                keep.append(data)
        self._cbs = keep
        return removed

    # concurrent.futures.wait and as_completed of the stdlib read a future's
    # _condition, _state and _waiters under that condition. These give them
    # what they expect, so that they work over a mix of stdlib and xfutures
    # futures: the state in the stdlib's names, and waiters told by an inline
    # done callback of the C future.
    @property
    def _condition(self):
        cond = self.__dict__.get("_xf_condition")
        if cond is None:
            cond = self.__dict__.setdefault("_xf_condition", _threading.Condition())
        return cond

    @property
    def _state(self):
        state = _raw.future_state(self._h)
        if state == _raw.CANCELLED:
            name = _cfb.CANCELLED_AND_NOTIFIED if self._notified else _cfb.CANCELLED
        else:
            name = _CF_STATES[state]
        # What the stdlib was told, for _Waiters.append (it installs a
        # waiter only for a future it counted as not done).
        self.__dict__["_xf_told_done"] = name in (_cfb.FINISHED, _cfb.CANCELLED_AND_NOTIFIED)
        return name

    @property
    def _waiters(self):
        w = self.__dict__.get("_xf_waiters")
        if w is None:
            w = self.__dict__.setdefault("_xf_waiters", _Waiters(self))
        return w

    def __await__(self):
        from . import asyncio as _xa
        # The value is read from this future, not the loop's copy of it, so
        # that the object comes back as itself.
        yield from _xa._await_concurrent(self).__await__()
        return self.result(0)

    __iter__ = __await__


class _Waiters:
    """The _waiters list of a Future as the stdlib's wait and as_completed use
    it: append(waiter) tells the waiter once the future is done (at once if
    it is done already but the stdlib counted it as pending); remove(waiter)
    withdraws it."""

    def __init__(self, fut):
        self._fut = _weakref.ref(fut)
        self._data = {}

    def append(self, waiter):
        fut = self._fut()
        if fut is None or fut.__dict__.get("_xf_told_done"):
            return

        def tell(f, waiter=waiter):
            if f.cancelled():
                waiter.add_cancelled(f)
            elif f.exception() is not None:
                waiter.add_exception(f)
            else:
                waiter.add_result(f)
        data = (tell, fut, None, _log_callback_error)
        self._data[id(waiter)] = data
        _raw.future_add_done_callback(fut._h, data, None)

    def remove(self, waiter):
        data = self._data.pop(id(waiter), None)
        fut = self._fut()
        if data is not None and fut is not None:
            _raw.future_remove_done_callback(fut._h, data)


def core_repr(fut):
    """What the C core holds for a done future's outcome, as the other
    runtimes see it: (kind, text), the core's kind name ("int", "string",
    "list", "map", "object", "error", ...) and the core's canonical rendering
    of the value (xf_value_repr). fut is an xfutures.Future or an
    xfutures.asyncio.Future; a future that is not done is InvalidStateError."""
    h = getattr(fut, "_h", None)
    if h is None:
        raise TypeError("core_repr: expected an xfutures future, got %s"
                        % type(fut).__name__)
    return _raw.py_core_repr(h)


def _handles(fs):
    try:
        return [f._h for f in fs]
    except AttributeError:
        raise TypeError("expected xfutures futures") from None


def _wrap_like(fs):
    """A map from handle address to the Python futures given."""
    return {int(f._h): f for f in fs}


def wait(fs, timeout=None, return_when=ALL_COMPLETED):
    """concurrent.futures.wait for xfutures futures.

    As the stdlib's, a future made by Future() and cancelled does not count
    as done until set_running_or_notify_cancel() was called on it; unlike
    the stdlib's, wait does not wait for that call: it returns once the
    other futures meet return_when, with that future in not_done."""
    fs = set(fs)
    if return_when not in _RETURN_WHEN:
        raise ValueError("Invalid return condition: %r" % (return_when,))
    order = list(fs)
    flags = _raw.py_wait(_handles(order), _RETURN_WHEN[return_when], timeout)
    done = {f for f, d in zip(order, flags) if d and (f._notified or not f.cancelled())}
    return DoneAndNotDoneFutures(done, fs - done)


def as_completed(fs, timeout=None):
    """Yield the futures as they complete (those already done first); raise
    TimeoutError if some are still pending when timeout seconds have passed
    since the call."""
    fs = set(fs)
    total = len(fs)
    # The futures not yielded yet: a yielded future is dropped from here, so
    # that the caller's reference is the only one left.
    by_id = _wrap_like(fs)
    it = _raw.py_as_completed_new(_handles(list(fs)), timeout)
    del fs
    yielded = 0
    try:
        while True:
            h = _raw.py_as_completed_next(it)
            if h is None:
                return
            if h is False:
                raise TimeoutError("%d (of %d) futures unfinished" % (
                    total - yielded, total))
            yielded += 1
            yield by_id.pop(int(h))
    finally:
        it = None


def all(fs, return_exceptions=False):  # noqa: A001 - the issue's name
    """A future of the list of the values, in order (asyncio.gather). It fails
    with the first failure, unless return_exceptions: then failures appear in
    the list as their exceptions."""
    return Future._wrap(_raw.future_all(
        _handles(list(fs)), _raw.ALL_COLLECT if return_exceptions else 0))


gather = all


def any(fs, cancel_rest=True):  # noqa: A001 - the issue's name
    """A future of the first successful value; if every future fails, it fails
    with an Error named "AggregateError"."""
    return Future._wrap(_raw.future_any(_handles(list(fs)), bool(cancel_rest)))


def first(fs, cancel_rest=True):
    """A future with the outcome of whichever future is done first; the others
    are cancelled if cancel_rest."""
    return Future._wrap(_raw.future_first(_handles(list(fs)), bool(cancel_rest)))


def shield(fut):
    """A future that follows fut, whose cancellation does not cancel fut."""
    return Future._wrap(_raw.future_shield(fut._h))


def chain(src, dst):
    """Copy src's outcome into dst when src is done; cancellation flows both
    ways."""
    _raw.future_chain(src._h, dst._h)


# ---- The thread pool ---------------------------------------------------------

_pools = _weakref.WeakSet()
_orphans = []  # (handle, initializer) of pools dropped while running
_shutting_down = False


def _join_pools_at_exit():
    # As concurrent.futures does: pools still running are joined before the
    # interpreter finalizes, so no worker needs Python after that.
    global _shutting_down
    _shutting_down = True
    for pool in list(_pools):
        pool.shutdown(wait=True)
    while _orphans:
        h, _init = _orphans.pop()
        _raw.executor_shutdown(h, True, False)


if hasattr(_threading, "_register_atexit"):
    _threading._register_atexit(_join_pools_at_exit)
else:  # pragma: no cover
    import atexit as _atexit
    _atexit.register(_join_pools_at_exit)

_pool_counter = _itertools.count().__next__


_QUEUE_POLICIES = {"block": _raw.QUEUE_BLOCK, "reject": _raw.QUEUE_REJECT}


class ThreadPoolExecutor(_cft.ThreadPoolExecutor):
    """concurrent.futures.ThreadPoolExecutor over the C thread pool.

    It is an instance of the stdlib's class (so that asyncio's
    loop.set_default_executor takes it), whose __init__ is not called: the
    queue and the threads are the C pool's. Worker threads are named
    "<thread_name_prefix>_<n>" in threading, as the stdlib names them.

    max_queue > 0 bounds the queue of waiting tasks; when it is full, submit
    waits for room (queue_policy="block", the default) or raises QueueFull
    (queue_policy="reject"). submit_native runs a C function on the pool with
    no GIL held.
    """

    def __init__(self, max_workers=None, thread_name_prefix="", initializer=None,
                 initargs=(), max_queue=0, queue_policy="block"):
        if max_workers is None:
            max_workers = min(32, (_os.cpu_count() or 1) + 4)
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_queue < 0:
            raise ValueError("max_queue must be 0 or more")
        policy = _QUEUE_POLICIES.get(queue_policy)
        if policy is None:
            raise ValueError("queue_policy must be 'block' or 'reject', not %r" % (queue_policy,))
        self._max_workers = max_workers
        self._thread_name_prefix = (thread_name_prefix or
                                    ("ThreadPoolExecutor-%d" % _pool_counter()))
        def init(initializer=initializer, initargs=tuple(initargs),
                 name=self._thread_name_prefix + "_%d", count=_itertools.count().__next__):
            _threading.current_thread().name = name % count()
            if initializer is None:
                return True
            try:
                initializer(*initargs)
                return True
            except BaseException:
                LOGGER.critical("Exception in initializer:", exc_info=True)
                return False
        self._h = _raw.py_thread_pool_new(max_workers, self._thread_name_prefix, init,
                                          max_queue, policy)
        # Kept after _h, so that it outlives the pool when the executor is
        # dropped (attributes are released in insertion order).
        self._init = init
        self._may_block = max_queue > 0 and policy == _raw.QUEUE_BLOCK
        self._shutdown = False
        _pools.add(self)

    def submit(self, fn, /, *args, **kwargs):
        """Schedule fn(*args, **kwargs); returns a Future."""
        if not callable(fn):
            raise TypeError("%r is not callable" % (fn,))
        if _shutting_down:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")
        return _raw.py_executor_submit(self._h, fn, args, kwargs or None, Future,
                                       self._may_block)

    submit.__doc__ = _cf.Executor.submit.__doc__

    def submit_native(self, fn, signature, *args):
        """Run the C function fn (a ctypes function, a Callback or an address)
        of the given signature, such as "double(int32, pointer)", on the pool
        with the GIL released; its return value becomes the future's result."""
        if isinstance(fn, Callback):
            address = fn.address
        elif isinstance(fn, int):
            address = fn
        else:
            import ctypes
            address = ctypes.cast(fn, ctypes.c_void_p).value
        if not address:
            raise ValueError("NULL function pointer")
        fut = Future._wrap(_raw.executor_submit_native_sig(
            self._h, address, signature, list(args)))
        if isinstance(fn, Callback):
            # The closure stays alive until the call is over.
            fut.add_done_callback(lambda _f, _keep=fn: None)
        return fut

    def shutdown(self, wait=True, *, cancel_futures=False):
        self._shutdown = True
        rc = _raw.executor_shutdown(self._h, bool(wait), bool(cancel_futures))
        if wait:
            self._joined = True
        # A pool inherited across os.fork() has no threads in the child: there
        # is nothing to stop or wait for, as with the standard pool.
        if rc != _raw.EBROKEN:
            _check(rc)

    shutdown.__doc__ = _cf.Executor.shutdown.__doc__

    def __del__(self):
        # As the stdlib's: dropping a pool does not wait for its tasks. The
        # pool is told to stop, and its handle (whose release joins the
        # workers) is kept until the interpreter exits, when it is joined.
        h = self.__dict__.get("_h")
        if h is None or _shutting_down or self.__dict__.get("_joined"):
            return
        if not self._shutdown:
            _raw.executor_shutdown(h, False, False)
        _orphans.append((h, self.__dict__.get("_init")))

    def stats(self):
        """A snapshot of the pool's counters, as a dict."""
        keys = ("queued", "running", "completed", "cancelled", "threads", "max_workers")
        return dict(zip(keys, _raw.executor_stats(self._h)))


_default_pool = None
_default_pool_lock = _threading.Lock()


def _default_executor():
    """The pool used when no executor is given (run_in_executor, to_thread)."""
    global _default_pool
    with _default_pool_lock:
        if _default_pool is None:
            _default_pool = ThreadPoolExecutor(thread_name_prefix="xfutures-default")
        return _default_pool


# ---- Callbacks: Python functions as C function pointers ----------------------

class Callback:
    """A C function pointer of a given signature that calls a Python function.

    Made by ``callback()``. ``address`` (also ``pointer``) is the pointer as
    an int: hand it to ctypes (``ctypes.CFUNCTYPE(...)(cb.address)``), to
    ``submit_native``, or to any C library. The function runs on the thread
    of the owner loop, whichever thread calls the pointer; it must stay
    referenced (or not be called any more) once ``close()`` is called or the
    object is dropped.
    """

    def __init__(self, signature, fn, *, loop=None):
        if not isinstance(signature, str):
            raise TypeError("callback: signature must be a string")
        if loop is None:
            loop = _aio._get_running_loop()
        xloop = None
        if loop is not None:
            from . import asyncio as _xa
            xloop = _xa._bridge(loop).xloop
        self._h = _raw.closure_new_sig(signature, fn, xloop)
        self._loop = loop
        self.fn = fn
        self.signature = _raw.signature_text(_raw.closure_signature(self._h))
        self.address = _raw.closure_code(self._h)

    @property
    def pointer(self):
        """The C function pointer, as an int (the same as ``address``)."""
        return self.address

    def __int__(self):
        return self.address

    def get_loop(self):
        """The asyncio loop whose thread runs the calls, or None (the caller's)."""
        return self._loop

    def close(self):
        """Release the closure: no C code may call the pointer afterwards."""
        self._h = None
        self.address = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<xfutures.Callback %s at %#x>" % (self.signature, self.address)


def callback(signature, fn, *, loop=None):
    """A C function pointer of the given signature, such as
    "int64(int64, int64)", that calls fn(*args) and returns its result.

    Inside a running asyncio loop (or with ``loop=`` an asyncio loop), every
    call runs on that loop's thread: a call from another thread is posted to
    the loop and, for a non-void signature, the calling thread waits for the
    answer. Without a loop, fn runs in the thread that calls the pointer. An
    exception raised by fn goes to the loop's exception handler and the C
    caller receives zero. A non-void call made on the loop's own thread while
    the loop is not running cannot be answered (it would deadlock): the C
    caller receives zero and the loop's exception handler is told.
    """
    return Callback(signature, fn, loop=loop)

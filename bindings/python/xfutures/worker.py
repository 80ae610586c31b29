"""The worker program of ``xfutures.ProcessPoolExecutor``: ``python3 -m xfutures.worker``.

Design notes
------------
The core's process pool (core/src/process_pool.c) spawns this program with
its end of a socketpair as file descriptor 3 and speaks the frames of
docs/wire-protocol.md with it; this module is the "python" language of that
protocol, as core/worker/xfworker.c is the "c" one:

    -> HELLO      [0, 1, pid, ["python"], "xfutures.worker"]
    <- INIT       [1, 1, ["python", payload]]   (the pool always sends one)
    -> READY      [2, null or error]
    <- TASK       [3, id, "python", payload]    -> RESULT [4, id, value]
                                                 or ERROR [5, id, error]
    <- SHUTDOWN   [6] (or end of file): exit with status 0

Frames are encoded and decoded by the core's codec through the binding
(``py_wire_encode``, ``py_wire_decode``); only the 4-byte length prefix is
written here. A payload is an opaque value of runtime "python" holding
``pickle.dumps((fn, args, kwargs))``, pickled in the parent by pickle's C
pickler where that is enough and by cloudpickle (when it is importable) for
what it is not: lambdas, closures and functions of ``__main__`` (see
``_dumps``). It is read here with ``pickle.loads``, which needs cloudpickle
only for what cloudpickle wrote.

Results. A result that is exactly None, a bool, an int within int64, a float,
a str (valid UTF-8) or bytes is sent as the core's own value: it comes back
to Python as an equal object of the same type, and a C or Lua caller of the
pool can read it too. Every other result (a tuple, a dict, an int subclass,
a big int, any object) is sent pickled as an opaque "python" payload and
comes back as itself; one that cannot be pickled fails its own task with the
pickling error.

Exceptions. An exception becomes an error with the exception's type name,
its message, its formatted traceback, a code chosen by type name
(xf_error_code_of_type; a cancellation raised by user code is a plain
failure, never the core's cancellation) and the pickled exception as payload,
so that it comes back to Python as itself (with the remote traceback as its
``__cause__``, as in concurrent.futures). An exception that does not survive
a pickling round trip here crosses without payload, as its type, message and
traceback.

The initializer. The pool's INIT payload calls ``_initialize`` with the
parent's ``sys.path`` (so that functions pickled by reference import here as
they did there) and the user's pickled initializer; an initializer that
raises answers READY with its error, printed to stderr too, and the worker
exits with status 1: the pool is broken.

Signals. SIGINT is ignored (Ctrl-C is for the parent to handle, which
decides), and the worker asks for SIGKILL when its parent's thread dies
(PR_SET_PDEATHSIG), leaving at once if the parent is gone already.
"""

from __future__ import annotations

import functools
import os
import pickle
import signal
import socket
import struct
import sys
import traceback

HELLO, INIT, READY, TASK, RESULT, ERROR, SHUTDOWN = range(7)
VERSION = 1
FD = 3
FRAME_MAX = 1 << 30

try:
    import cloudpickle as _cloudpickle
    _cloud_dumps = _cloudpickle.dumps
    _by_value = getattr(_cloudpickle, "list_registry_pickle_by_value", None)
except ImportError:  # pragma: no cover - Debian ships python3-cloudpickle
    _cloud_dumps = _by_value = None


def _dumps(obj):
    """obj pickled: by pickle's C pickler when that works and what it wrote
    names neither ``__main__`` (which the other side cannot import) nor a
    module registered with cloudpickle.register_pickle_by_value, else by
    cloudpickle, which takes lambdas, closures and those modules' objects by
    value. cloudpickle alone would do, but its pickler calls back into
    Python for every object it writes: several times slower for a small
    task, and for a chunk of map's arguments."""
    if _cloud_dumps is None:
        return pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
    if _by_value is None:  # pragma: no cover - cloudpickle before 2.0
        return _cloud_dumps(obj)
    if type(obj) is tuple and obj:
        fn = obj[0]
        if type(fn) is functools.partial and fn.func is _process_chunk and fn.args:
            fn = fn.args[0]  # a chunk of map: the user's function
        if getattr(fn, "__module__", None) == "__main__":
            return _cloud_dumps(obj)  # a task of __main__: no need to try pickle first
    try:
        data = pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
    except Exception:
        return _cloud_dumps(obj)
    if b"__main__" in data or any(m.encode() in data for m in _by_value()):
        return _cloud_dumps(obj)
    return data


class Opaque:
    """An opaque payload of the wire: a runtime's serialization of an object."""

    __slots__ = ("runtime", "data")

    def __init__(self, runtime, data):
        self.runtime = runtime
        self.data = data

    def __repr__(self):
        return "Opaque(%r, <%d bytes>)" % (self.runtime, len(self.data))


class WireError:
    """An error of the wire: code, type name, message, traceback, payload."""

    __slots__ = ("code", "type", "message", "traceback", "payload")

    def __init__(self, code, type, message, traceback=None, payload=None):  # noqa: A002
        self.code = code
        self.type = type
        self.message = message
        self.traceback = traceback
        self.payload = payload

    def __repr__(self):
        return "WireError(%d, %r, %r)" % (self.code, self.type, self.message)


def _load(data, tb=None):
    """The object a "python" payload pickled; an exception gets the remote
    traceback text tb as its cause, as concurrent.futures gives it."""
    obj = pickle.loads(data)
    if tb and isinstance(obj, BaseException) and obj.__cause__ is None:
        from concurrent.futures.process import _RemoteTraceback
        obj.__cause__ = _RemoteTraceback('\n"""\n%s"""' % tb)
    return obj


def _process_chunk(fn, chunk):
    """One task of ProcessPoolExecutor.map: fn over a chunk of argument tuples."""
    return [fn(*args) for args in chunk]


def _initialize(sys_path, init):
    """The INIT payload: the parent's sys.path first, then the user's
    initializer, init = pickled (fn, args, kwargs), or None."""
    sys.path[:] = list(sys_path) + [p for p in sys.path if p not in sys_path]
    if init is not None:
        fn, args, kwargs = pickle.loads(init)
        fn(*args, **kwargs)


# ---- Values and errors of the wire ---------------------------------------------

_INT64 = (-(1 << 63), (1 << 63) - 1)


def _plain(value):
    """True when value crosses as a core value and comes back equal and of the
    same type (see the design notes)."""
    t = type(value)
    if value is None or t is bool or t is float or t is bytes:
        return True
    if t is int:
        return _INT64[0] <= value <= _INT64[1]
    if t is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    return False


def _error_code(type_name):
    from . import _xfutures as raw
    code = raw.error_code_of_type(type_name)
    if code in (raw.ECANCELLED, raw.EINVAL) and type_name != "ValueError":
        return raw.EFAILED
    return code


def _wire_error(exc):
    """The wire error for an exception (see the design notes)."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    payload = None
    try:
        data = _dumps(exc)
        pickle.loads(data)  # what does not load there is not sent
        payload = Opaque("python", data)
    except BaseException:
        pass
    try:
        message = str(exc)
    except BaseException:
        message = "<exception str() failed>"
    message = message.replace("\0", "\\0")
    name = type(exc).__name__
    return WireError(_error_code(name), name, message, tb, payload)


def _call(payload):
    """Run the pickled (fn, args, kwargs) of a payload: (True, result) or
    (False, exception)."""
    try:
        if not isinstance(payload, Opaque) or payload.runtime != "python":
            raise ValueError("a python task's payload is an opaque \"python\" payload")
        fn, args, kwargs = pickle.loads(payload.data)
        return True, fn(*args, **(kwargs or {}))
    except BaseException as exc:
        return False, exc


# ---- Frames ----------------------------------------------------------------------

class _Channel:
    """Frames over the socket on fd 3, one at a time, blocking."""

    def __init__(self, fd):
        os.set_inheritable(fd, False)  # not for the task's own subprocesses
        self.sock = socket.socket(fileno=fd)
        from . import _xfutures as raw
        self.raw = raw

    def _read(self, n):
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = self.sock.recv_into(view[got:])
            if k == 0:
                return None
            got += k
        return buf

    def recv(self):
        """The next frame as a list, or None at end of file or when it is
        malformed (either way the conversation is over)."""
        try:
            head = self._read(4)
            if head is None:
                return None
            (n,) = struct.unpack(">I", head)
            if n == 0 or n > FRAME_MAX:
                return None
            body = self._read(n)
            if body is None:
                return None
            frame = self.raw.py_wire_decode(body)
        except (OSError, ValueError, TypeError, OverflowError):
            return None
        if not isinstance(frame, list) or not frame or type(frame[0]) is not int:
            return None
        return frame

    def encode(self, frame):
        body = self.raw.py_wire_encode(frame)
        if len(body) > FRAME_MAX:
            raise OverflowError("the task's result is larger than a frame (1 GiB)")
        return struct.pack(">I", len(body)) + body

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False


def _answer(chan, task_id, ok, value):
    """The RESULT or ERROR frame of a task, as bytes."""
    if ok:
        try:
            if not _plain(value):
                value = Opaque("python", _dumps(value))
            return chan.encode([RESULT, task_id, value])
        except BaseException as exc:  # a result that cannot be pickled or sent
            value = exc
    try:
        return chan.encode([ERROR, task_id, _wire_error(value)])
    except BaseException as exc:
        err = _wire_error(exc)
        err.payload = None
        return chan.encode([ERROR, task_id, err])


def _parent_death_signal():
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def main():
    _parent_death_signal()
    parent = os.environ.get("XF_PARENT_PID")
    if parent and parent.isdigit() and int(parent) != os.getppid():
        return 1  # the pool is gone already
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from . import _xfutures as raw
    raw.py_wire_set_types(Opaque, WireError, _load)
    chan = _Channel(FD)

    if not chan.send(chan.encode([HELLO, VERSION, os.getpid(), ["python"],
                                  "xfutures.worker"])):
        return 1
    frame = chan.recv()
    if frame is None or frame[0] != INIT:
        return 1
    err = None
    if len(frame) < 2 or frame[1] != VERSION:
        err = WireError(raw.EINVAL, "ValueError", "unsupported protocol version")
    elif len(frame) > 2 and frame[2] is not None:
        init = frame[2]
        if not isinstance(init, list) or len(init) < 2 or init[0] != "python":
            err = WireError(raw.EINVAL, "ValueError",
                            "xfutures.worker runs initializers of language \"python\" only")
        else:
            ok, exc = _call(init[1])
            if not ok:
                sys.stderr.write("Exception in initializer:\n")
                traceback.print_exception(type(exc), exc, exc.__traceback__)
                sys.stderr.flush()
                err = _wire_error(exc)
    if not chan.send(chan.encode([READY, err])) or err is not None:
        return 1

    while True:
        frame = chan.recv()
        if frame is None or frame[0] == SHUTDOWN:
            break
        if frame[0] != TASK or len(frame) < 4 or type(frame[1]) is not int:
            break  # not a frame this version knows: the pool sees us leave
        task_id, language, payload = frame[1], frame[2], frame[3]
        frame = None
        if language != "python":
            ok, value = False, ValueError(
                "xfutures.worker runs tasks of language \"python\" only, not %r" % (language,))
        else:
            ok, value = _call(payload)
        payload = None
        data = _answer(chan, task_id, ok, value)
        value = None
        if not chan.send(data):
            break
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""xfutures.ProcessPoolExecutor: concurrent.futures.ProcessPoolExecutor over
the core's process pool (core/include/xf/process.h).

The pool, its workers, the dispatch, the recycling, the deaths and the
termination are the core's; this module pickles the task, hands it to
``xf_process_pool_submit_payload`` as an opaque "python" payload and wraps
the core's future. The worker is ``python3 -m xfutures.worker`` (its design
notes say what crosses and how).
"""

from __future__ import annotations

import concurrent.futures as _cf
import concurrent.futures.process as _cfp
import functools as _functools
import os as _os
import pickle as _pickle
import sys as _sys

import xfutures as _pkg

from . import _xfutures as _raw
from . import worker as _worker

__all__ = ["ProcessPoolExecutor", "BrokenProcessPool"]

BrokenProcessPool = _cfp.BrokenProcessPool

# pickle where it does, cloudpickle where it must (worker.py says why).
_dumps = _worker._dumps

# Results and exceptions pickled by a worker come back as themselves.
_raw.py_wire_set_types(_worker.Opaque, _worker.WireError, _worker._load)


def _broken(message, traceback=None):
    """The exception of a core error of type "BrokenProcessPool": a worker's
    death (its pid, signal or exit status, and the tail of its stderr) or a
    failed initializer (its error and traceback)."""
    if traceback:
        message = "%s\n%s" % (message, traceback.rstrip("\n"))
    return BrokenProcessPool(message)


def _drop_tracebacks(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__


def _interrupted():
    """True when the interpreter exits because the main program raised
    KeyboardInterrupt (the exception it printed is kept in sys.last_exc, or
    sys.last_value before Python 3.12). Never in the interactive
    interpreter, where an earlier Ctrl-C leaves the same trace."""
    if hasattr(_sys, "ps1") or _sys.flags.interactive:
        return False
    exc = getattr(_sys, "last_exc", None) or getattr(_sys, "last_value", None)
    return isinstance(exc, KeyboardInterrupt)


def _cpu_count():
    count = getattr(_os, "process_cpu_count", _os.cpu_count)()
    return count or 1


class ProcessPoolExecutor(_cf.Executor):
    """concurrent.futures.ProcessPoolExecutor over the C process pool.

    Each worker is a fresh interpreter, ``sys.executable -m xfutures.worker``,
    spawned by the core (never forked from this process) that imports
    xfutures from the environment's PYTHONPATH and then receives this
    process's ``sys.path``. Functions, arguments and results cross pickled,
    with cloudpickle when it is importable, so lambdas and functions of
    ``__main__`` work. ``submit`` returns an ``xfutures.Future``.

    max_workers: the number of worker processes at most (default:
    os.process_cpu_count(), else os.cpu_count()); they start lazily.
    mp_context is accepted for compatibility and not used: the pool always
    spawns fresh interpreters, also when the context's start method is
    "fork" (so, unlike the stdlib, a "fork" context is allowed together
    with max_tasks_per_child). initializer(*initargs) runs in each worker
    before its first task; if it raises, the pool is broken. A worker
    retires after max_tasks_per_child tasks (default: never) and a new one
    replaces it.

    A worker that dies while it runs a task (a signal, os._exit) breaks the
    pool, as in the stdlib: the tasks not finished fail with
    BrokenProcessPool (concurrent.futures.process.BrokenProcessPool) whose
    message names the worker's pid, its signal or exit status and the last
    lines of its stderr, and later submissions raise it. A callable or
    argument that cannot be pickled fails its own future with the pickling
    error; the pool goes on.

    on_worker_death: "break" (the default, as the stdlib: a worker's death
    fails every pending future with BrokenProcessPool and breaks the pool) or
    "replace" (only the task that worker ran fails; a new worker takes its
    place and the other tasks go on). An extension of the stdlib's API.

    Ctrl-C: when KeyboardInterrupt leaves a ``with`` block of the pool, or
    ends the program while the pool runs, the workers are terminated
    (terminate_workers) rather than joined, so that a task that never ends
    cannot hang the exit; the workers ignore SIGINT themselves.
    """

    def __init__(self, max_workers=None, mp_context=None, initializer=None, initargs=(),
                 *, max_tasks_per_child=None, on_worker_death="break"):
        if max_workers is None:
            max_workers = _cpu_count()
        elif max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_tasks_per_child is not None:
            if not isinstance(max_tasks_per_child, int) or isinstance(max_tasks_per_child, bool):
                raise TypeError("max_tasks_per_child must be an integer")
            if max_tasks_per_child <= 0:
                raise ValueError("max_tasks_per_child must be >= 1")
        deaths = {"break": _raw.WORKER_DEATH_BREAK, "replace": _raw.WORKER_DEATH_REPLACE}
        if on_worker_death not in deaths:
            raise ValueError("on_worker_death must be 'break' or 'replace'")
        self._max_workers = max_workers
        self._mp_context = mp_context
        self._max_tasks_per_child = max_tasks_per_child
        user_init = None
        if initializer is not None:
            user_init = _dumps((initializer, tuple(initargs), {}))
        # Always an initializer: the worker first takes this process's
        # sys.path, so that what is pickled by reference imports there.
        init = _pickle.dumps((_worker._initialize, (list(_sys.path), user_init), {}),
                             _pickle.HIGHEST_PROTOCOL)
        argv = [_sys.executable, "-m", "xfutures.worker"]
        self._h = _raw.py_process_pool_new(max_workers, argv, max_tasks_per_child or 0, init,
                                           deaths[on_worker_death])
        self._shutdown = False
        _pkg._pools.add(self)

    def submit(self, fn, /, *args, **kwargs):
        """Schedule fn(*args, **kwargs) in a worker; returns an xfutures.Future.
        A task that cannot be pickled gets a future failed with the pickling
        error. Raises BrokenProcessPool on a broken pool and RuntimeError
        after shutdown."""
        return self._submit(None, fn, args, kwargs)

    def submit_with_timeout(self, timeout, fn, /, *args, **kwargs):
        """As submit, with a limit of timeout seconds on the task's run in its
        worker (an extension of the stdlib's API): a task still running then
        fails with TimeoutError, and its worker is killed and replaced, so
        the pool goes on."""
        if timeout is None or timeout < 0:
            raise ValueError("timeout must be a number of seconds, >= 0")
        return self._submit(float(timeout), fn, args, kwargs)

    def _submit(self, timeout, fn, args, kwargs):
        if not callable(fn):
            raise TypeError("%r is not callable" % (fn,))
        if _pkg._shutting_down:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        try:
            data = _dumps((fn, args, kwargs))
        except Exception as exc:
            # The future keeps the exception in the core, out of the cycle
            # collector's sight, and a traceback keeps every frame of the
            # stack alive, this one (which refers to the future) included:
            # the exception is kept without its traceback.
            _drop_tracebacks(exc)
            fut = _pkg.Future()
            fut.set_exception(exc)
            return fut
        h = _raw.process_pool_submit_payload(self._h, "python", _worker.Opaque("python", data),
                                            timeout)
        if h == _raw.EBROKEN:
            raise BrokenProcessPool(
                "A process in the process pool was terminated abruptly or its "
                "initializer failed; the process pool is not usable anymore "
                "(the failed futures say why)")
        if h == _raw.ESHUTDOWN:
            raise RuntimeError("cannot schedule new futures after shutdown")
        return _pkg.Future._wrap(h)

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """As Executor.map; chunksize arguments at a time make one task each,
        and the results come in order. timeout as the stdlib's: the iterator
        raises TimeoutError if a result is not there timeout seconds after the
        call to map."""
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        results = super().map(_functools.partial(_worker._process_chunk, fn),
                              _cfp._get_chunks(*iterables, chunksize=chunksize),
                              timeout=timeout)
        return _cfp._chain_from_iterable_of_lists(results)

    def __exit__(self, exc_type, exc_val, exc_tb):
        # Ctrl-C inside the block: joining the tasks that run, as the stdlib
        # does, may wait for ever (a task that never ends hangs the program);
        # the workers are stopped instead and their tasks fail.
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self.terminate_workers()
        else:
            self.shutdown(wait=True)
        return False

    def shutdown(self, wait=True, *, cancel_futures=False):
        if wait and _pkg._shutting_down and _interrupted():
            # The interpreter exits because the program raised
            # KeyboardInterrupt: the exit hook's join would wait for tasks
            # that may never end, so the workers are stopped instead.
            self.terminate_workers()
            return
        self._shutdown = True
        rc = _raw.executor_shutdown(self._h, bool(wait), bool(cancel_futures))
        if rc != _raw.EBROKEN:
            _pkg._check(rc)

    shutdown.__doc__ = _cf.Executor.shutdown.__doc__

    def terminate_workers(self):
        """Stop the pool now (Python 3.14's name): queued tasks are cancelled,
        every worker gets SIGTERM and, a second later, SIGKILL; the tasks they
        ran fail with BrokenProcessPool. Returns once the workers are gone."""
        self._shutdown = True
        _pkg._check(_raw.process_pool_terminate(self._h, None))

    def kill_workers(self):
        """As terminate_workers, with SIGKILL at once."""
        self._shutdown = True
        _pkg._check(_raw.process_pool_kill(self._h))

    def stats(self):
        """A snapshot of the pool's counters, as a dict: the executor's
        (queued, running, completed, cancelled, threads: the workers alive,
        max_workers) and the process pool's (spawned, deaths, retired,
        timeouts, broken), and "workers": one dict per live worker process,
        with its pid, the tasks it finished and those it runs now."""
        keys = ("queued", "running", "completed", "cancelled", "threads", "max_workers")
        out = dict(zip(keys, _raw.executor_stats(self._h)))
        w = _raw.py_process_pool_stats(self._h)
        out.update(spawned=w[2], deaths=w[3], retired=w[4], timeouts=w[5], broken=w[6])
        out["workers"] = [dict(pid=pid, tasks_done=done, running=running)
                          for pid, done, running in w[7]]
        return out

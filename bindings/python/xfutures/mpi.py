"""xfutures.mpi: the process pool's tasks on the ranks of an MPI job.

``MPIPoolExecutor`` is a ``concurrent.futures.Executor`` over the core's MPI
executor (core/include/xf/mpi.h), as mpi4py.futures has one: the same
``submit``, ``map`` (with ``chunksize``) and ``shutdown`` as
``xfutures.ProcessPoolExecutor``, whose task encoding it shares (the
function, its arguments and its result cross pickled, with cloudpickle
when it is importable), and whose worker loop (``xfutures.worker``) runs on
every serving rank. The ranks are found in one of two ways:

- **SPMD**, ``mpirun -n N python3 -m xfutures.mpi script.py [args]``: rank 0
  runs the script as ``__main__``; ranks 1..N-1 serve the tasks of the
  executors it makes, one after another, until it exits. Under Slurm the
  same command is ``srun -n N python3 -m xfutures.mpi script.py``. An
  ``MPIPoolExecutor()`` in the script uses those ranks (``max_workers``
  cannot exceed N-1).
- **Spawn**, anywhere else (``python3 script.py``, or under ``mpirun -n
  1``): the executor starts ``max_workers`` interpreters running
  ``python3 -m xfutures.mpi --worker`` with ``MPI_Comm_spawn``.

MPI gives no crash isolation: a rank that dies takes the job down with it
(mpirun ends every process). Use ProcessPoolExecutor for tasks that may
crash. When the job is being torn down, or the program exits with tasks
pending, the futures fail with ``concurrent.futures.BrokenExecutor``.
"""

from __future__ import annotations

import concurrent.futures as _cf
import os as _os
import pickle as _pickle
import runpy as _runpy
import sys as _sys

import xfutures as _pkg

from . import _xfutures as _raw
from . import process as _process
from . import worker as _worker

__all__ = ["MPIPoolExecutor", "available", "world", "serve"]

# Set by `python3 -m xfutures.mpi script.py` on rank 0: the executors of the
# script use the other ranks of the world.
_spmd_root = None


def available():
    """Whether this build of xfutures has MPI."""
    return bool(_raw.mpi_available())


def world():
    """(rank, size) of MPI_COMM_WORLD; initializes MPI if nobody has."""
    return tuple(_raw.mpi_world()[1:])


def serve(root=0):
    """Serve, with the worker loop of xfutures.worker, the tasks of the
    executors that rank root of the world makes, one after another, until
    that rank releases the others (at the end of its program). root < 0:
    serve the parent that spawned this process, once. Returns 0."""
    while True:
        fd = _raw.mpi_serve_open(root)[1]
        # The worker loop reads its socket at worker.FD (3 in a process
        # pool's worker); here the core's relay is at the other end.
        _worker.FD = fd
        try:
            _worker.main()
        finally:
            # Also when the loop raised (a task's SystemExit): the relay
            # ends, and tells the root if the loop ended before SHUTDOWN.
            rc = _raw.mpi_serve_wait()
        if rc == _raw.ESHUTDOWN:
            return 0
        _pkg._check(rc)
        # A loop that broke off (a failed initializer) has told the root:
        # the rank goes on to the next executor, and a spawned worker leaves
        # with status 0, since a non-zero one would make mpirun end the job.
        if root < 0:
            return 0


class MPIPoolExecutor(_process.ProcessPoolExecutor):
    """concurrent.futures.Executor over the ranks of an MPI job.

    max_workers: in SPMD mode the ranks other than the root serve (all of
    them; a smaller max_workers is accepted, a larger one is a ValueError);
    in spawn mode, the number of worker processes to spawn (default: the
    CPUs of this machine). initializer(*initargs) runs on every serving rank
    before its first task; if it raises, the executor is broken.
    max_in_flight: tasks sent to one rank before its answers (default 1).
    submit, map, shutdown and the context manager behave as
    ProcessPoolExecutor's; there is no terminate_workers (MPI cannot stop
    one rank), and a future fails with BrokenExecutor when the job is torn
    down.
    """

    def __init__(self, max_workers=None, initializer=None, initargs=(), *, max_in_flight=1):
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if not available():
            raise RuntimeError("this build of xfutures has no MPI")
        user_init = None
        if initializer is not None:
            user_init = _process._dumps((initializer, tuple(initargs), {}))
        init = _pickle.dumps((_worker._initialize, (list(_sys.path), user_init), {}),
                             _pickle.HIGHEST_PROTOCOL)
        self._mp_context = None
        self._max_tasks_per_child = None
        if _spmd_root is not None:
            rank, size = world()
            if max_workers is not None and max_workers > size - 1:
                raise ValueError("max_workers=%d, but the job has %d serving ranks"
                                 % (max_workers, size - 1))
            self._max_workers = size - 1
            self._h = _raw.py_mpi_executor_new(_spmd_root, max_in_flight, init)
        else:
            if max_workers is None:
                max_workers = _process._cpu_count()
            self._max_workers = max_workers
            argv = [_sys.executable, "-m", "xfutures.mpi", "--worker"]
            self._h = _raw.py_mpi_pool_new(max_workers, argv, max_in_flight, init)
        self._shutdown = False
        _pkg._pools.add(self)

    def _submit(self, timeout, fn, args, kwargs):
        try:
            return super()._submit(timeout, fn, args, kwargs)
        except _process.BrokenProcessPool:
            raise _cf.BrokenExecutor(
                "the MPI executor is broken: a rank failed to start or the job is "
                "being torn down (the failed futures say why)") from None

    def submit_with_timeout(self, timeout, fn, /, *args, **kwargs):
        raise NotImplementedError("MPI cannot stop a task that runs too long")

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.shutdown(wait=True, cancel_futures=exc_type is not None)
        return False

    def shutdown(self, wait=True, *, cancel_futures=False):
        self._shutdown = True
        rc = _raw.executor_shutdown(self._h, bool(wait), bool(cancel_futures))
        if rc != _raw.EBROKEN:
            _pkg._check(rc)

    shutdown.__doc__ = _cf.Executor.shutdown.__doc__

    def terminate_workers(self):
        """MPI cannot stop a rank: this is shutdown(cancel_futures=True)."""
        self.shutdown(wait=True, cancel_futures=True)

    kill_workers = terminate_workers

    def stats(self):
        """A snapshot of the executor's counters, as a dict (threads: the
        ranks that serve)."""
        keys = ("queued", "running", "completed", "cancelled", "threads", "max_workers")
        return dict(zip(keys, _raw.executor_stats(self._h)))


def _main(argv):
    global _spmd_root
    if argv[:1] == ["--worker"]:
        return serve(-1)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: mpirun -n N python3 -m xfutures.mpi script.py [args...]\n"
              "       (or srun -n N ...): rank 0 runs script.py, the others serve it")
        return 0 if argv else 2
    if not available():
        # No MPI in this build: every process runs the script by itself,
        # where MPIPoolExecutor() raises RuntimeError.
        print("xfutures.mpi: this build of xfutures has no MPI", file=_sys.stderr)
        _sys.argv = list(argv)
        _sys.path[0] = _os.path.dirname(_os.path.abspath(argv[0]))
        _runpy.run_path(argv[0], run_name="__main__")
        return 0
    rank, size = world()
    if rank != 0:
        return serve(0)
    _spmd_root = 0
    _sys.argv = list(argv)
    _sys.path[0] = _os.path.dirname(_os.path.abspath(argv[0]))
    try:
        _runpy.run_path(argv[0], run_name="__main__")
    finally:
        # The executors the script left open are shut down first: their
        # ranks are serving them. Then the ranks are released.
        for pool in list(_pkg._pools):
            if isinstance(pool, MPIPoolExecutor):
                pool.shutdown(wait=True)
        _pkg._check(_raw.mpi_world_release(0))
    return 0


if __name__ == "__main__":
    # Run as `-m xfutures.mpi`, this file is __main__ and not the module
    # xfutures.mpi that the script imports: the mode goes to the latter.
    import xfutures.mpi as _self
    _sys.exit(_self._main(_sys.argv[1:]))

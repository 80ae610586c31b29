"""The MPI executor from Python, SPMD: run as
    mpirun -n 3 python3 -m xfutures.mpi tests/mpi/py_spmd.py
Rank 0 runs this file; the other ranks serve it. Prints "py_mpi: ok"."""
import concurrent.futures as cf
import os
import sys

import xfutures
from xfutures.mpi import MPIPoolExecutor, world


def square(x):
    return x * x


def fail(message):
    raise KeyError(message)


def fail_init():
    raise OSError("no init")


def whoami():
    return os.getpid()


def set_env(key, value):
    os.environ[key] = value


def get_env(key):
    return os.environ.get(key)


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


def main():
    rank, size = world()
    assert rank == 0, rank

    # Results, of plain values and of pickled objects, and lambdas.
    with MPIPoolExecutor() as ex:
        assert ex.submit(square, 7).result(timeout=60) == 49
        assert ex.submit(lambda a, b: a + b, "x", "y").result(timeout=60) == "xy"
        p = ex.submit(Point, 1, 2).result(timeout=60)
        assert (p.x, p.y) == (1, 2)
        assert ex.submit(whoami).result(timeout=60) != os.getpid()
        assert isinstance(ex.submit(square, 3), xfutures.Future)
        st = ex.stats()
        assert st["max_workers"] == size - 1, st

    # Errors come back as themselves, and the executor goes on.
    with MPIPoolExecutor() as ex:
        f = ex.submit(fail, "boom")
        try:
            f.result(timeout=60)
            raise AssertionError("no error")
        except KeyError as exc:
            assert exc.args == ("boom",), exc.args
        assert ex.submit(square, 5).result(timeout=60) == 25

    # Many tasks: one at a time, pipelined, and map with chunks.
    with MPIPoolExecutor(max_in_flight=4) as ex:
        futs = [ex.submit(square, i) for i in range(500)]
        assert sum(f.result(timeout=60) for f in futs) == sum(i * i for i in range(500))
        assert list(ex.map(square, range(2000), chunksize=100)) == [i * i for i in range(2000)]
        done, _ = cf.wait([ex.submit(whoami) for _ in range(50)], timeout=60)
        assert len(done) == 50

    # Shutdown: with cancel_futures every future ends, and submit is refused.
    ex = MPIPoolExecutor()
    futs = [ex.submit(square, i) for i in range(200)]
    ex.shutdown(wait=True, cancel_futures=True)
    for i, f in enumerate(futs):
        assert f.done()
        assert f.cancelled() or f.result() == i * i
    try:
        ex.submit(square, 1)
        raise AssertionError("submit after shutdown")
    except RuntimeError:
        pass

    # An initializer runs on every serving rank first.
    with MPIPoolExecutor(initializer=set_env, initargs=("XFT_INIT", "yes")) as ex:
        assert ex.submit(get_env, "XFT_INIT").result(timeout=60) == "yes"

    # A failing initializer breaks that executor with its error; the ranks
    # go on serving the next one.
    ex = MPIPoolExecutor(initializer=fail_init)
    try:
        f = ex.submit(square, 2)
    except cf.BrokenExecutor:
        pass  # broken already: submit says so
    else:
        try:
            f.result(timeout=60)
            raise AssertionError("no error")
        except cf.BrokenExecutor as exc:
            assert "no init" in str(exc), str(exc)
    ex.shutdown()
    with MPIPoolExecutor() as ex:
        assert ex.submit(square, 4).result(timeout=60) == 16

    # Too many workers for the job.
    try:
        MPIPoolExecutor(max_workers=size)
        raise AssertionError("max_workers above the serving ranks")
    except ValueError:
        pass
    print("py_mpi: ok")


if __name__ == "__main__":
    main()
    sys.stdout.flush()

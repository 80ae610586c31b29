"""The MPI executor from Python, spawn mode: run as
    mpirun -n 1 python3 tests/mpi/py_spawn.py
The executor spawns two interpreters (python3 -m xfutures.mpi --worker)
with MPI_Comm_spawn. Prints "py_mpi_spawn: ok"."""
import concurrent.futures as cf
import os

from xfutures.mpi import MPIPoolExecutor


def square(x):
    return x * x


def fail_init():
    raise OSError("no init")


def main():
    with MPIPoolExecutor(max_workers=2) as ex:
        assert ex.submit(square, 9).result(timeout=60) == 81
        assert list(ex.map(square, range(100), chunksize=10)) == [i * i for i in range(100)]
        assert ex.submit(os.getpid).result(timeout=60) != os.getpid()
        assert ex.stats()["max_workers"] == 2
    # A failing initializer breaks the executor with its error.
    ex = MPIPoolExecutor(max_workers=1, initializer=fail_init)
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
    print("py_mpi_spawn: ok")


if __name__ == "__main__":
    main()

"""A rank that dies in the middle of a task: MPI has no crash isolation, so
the job ends, rank 0 included; what must not happen is a hang. Run as
    tests/mpi/fault.sh mpirun -n 3 python3 -m xfutures.mpi tests/mpi/py_fault.py
which expects the job to fail, and to fail within its time limit."""
import os

from xfutures.mpi import MPIPoolExecutor


def die():
    os._exit(3)


with MPIPoolExecutor() as ex:
    f = ex.submit(die)
    f.result(timeout=120)  # the job is torn down before this returns
print("py_fault: the job survived a dead rank")

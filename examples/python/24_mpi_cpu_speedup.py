"""CPU-bound work on the ranks of an MPI job (seed 004's four identical
workloads, past one machine): the primes below 100000, counted the slow
way, four times in this process and then on the worker ranks of an MPI
executor. Run it under MPI, here as the tour does:

    mpirun -n 3 python3 -m xfutures.mpi examples/python/24_mpi_cpu_speedup.py

or under Slurm as ``srun -n 3 python3 -m xfutures.mpi ...``. Rank 0 runs
this file; the other ranks serve the tasks of its MPIPoolExecutor, with the
same worker loop as ProcessPoolExecutor's workers.

What is printed holds on any machine: the results and the number of worker
ranks. The speed-up is not printed, since on a loaded two-core machine it
changes from run to run; with XF_EXAMPLE_TIMING set, the times and their
ratio go to stderr.
"""
import os
import sys
import time

from xfutures.mpi import MPIPoolExecutor, available

LIMIT = 100000
N = 4


def count_primes(limit):
    count = 0
    for n in range(2, limit):
        d = 2
        while d * d <= n and n % d != 0:
            d += 1
        if d * d > n:
            count += 1
    return count


def main():
    if not available():
        # Said once, by the first process of the job (or the only one).
        if os.environ.get("OMPI_COMM_WORLD_RANK", "0") == "0":
            print("this build of xfutures has no MPI")
        return
    with MPIPoolExecutor() as ex:
        t0 = time.perf_counter()
        counts = [count_primes(LIMIT) for _ in range(N)]
        sequential = time.perf_counter() - t0
        print("primes below %d, four times" % LIMIT)
        print("sequential:", *counts)
        t0 = time.perf_counter()
        futures = [ex.submit(count_primes, LIMIT) for _ in range(N)]
        counts = [f.result() for f in futures]
        pooled = time.perf_counter() - t0
        print("MPI executor, %d worker ranks:" % ex.stats()["max_workers"], *counts)
    if os.environ.get("XF_EXAMPLE_TIMING"):
        print("sequential %.3f s, MPI %.3f s, speed-up %.2fx"
              % (sequential, pooled, sequential / pooled), file=sys.stderr)


if __name__ == "__main__":
    main()

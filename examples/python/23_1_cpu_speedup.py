"""CPU-bound work in a process pool (seed 004, example 23.1): four identical
workloads (the primes below 100000, counted the slow way), run one after
another in this process and then at once in a pool of four worker processes,
each with its own interpreter and its own GIL.

What is printed is what holds on any machine: the results, and that the
four pooled workloads ran at the same time in four worker processes. The
tasks prove the latter by meeting: after its work each task leaves a file
and waits until all four files exist, which only tasks running at the same
time can do, and a worker runs one task at a time, so four that meet are
four processes. The speed-up is not printed: on a loaded two-core machine
four processes need not be faster than one, so a printed "faster" would be
a guess or a line that changes from run to run. With XF_EXAMPLE_TIMING set,
the times and their ratio go to stderr.

The code that makes the pool sits under the ``if __name__ == "__main__":``
guard, as every program that makes a process pool must. The workers of this
pool are fresh interpreters that get the functions of ``__main__`` by value
(cloudpickle) and never run this file; but the stdlib's spawning pool
imports the main module in each worker, and a worker that unpickles a
function by reference imports its module: without the guard, each such
import would make a pool again.
"""
import os
import sys
import tempfile
import time

import xfutures

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


def count_primes_and_meet(limit, base, index, parties):
    """count_primes, then meet the other tasks: leave base.index and wait
    until base.1 ... base.parties all exist. -1 when they did not come within
    30 seconds (a bound that only ends a hang)."""
    count = count_primes(limit)
    open("%s.%d" % (base, index), "w").close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(os.path.exists("%s.%d" % (base, i)) for i in range(1, parties + 1)):
            return count
        time.sleep(0.002)
    return -1


def main():
    t0 = time.perf_counter()
    counts = [count_primes(LIMIT) for _ in range(N)]
    sequential = time.perf_counter() - t0
    print("primes below %d, four times" % LIMIT)
    print("sequential:", *counts)

    fd, base = tempfile.mkstemp(prefix="xf_23_1_")
    os.close(fd)
    try:
        with xfutures.ProcessPoolExecutor(max_workers=N) as pool:
            t0 = time.perf_counter()
            futures = [pool.submit(count_primes_and_meet, LIMIT, base, i, N)
                       for i in range(1, N + 1)]
            counts = [f.result() for f in futures]
            pooled = time.perf_counter() - t0
        print("pool of 4 processes:", *counts)
        print("the four ran at the same time, in 4 worker processes:",
              all(c >= 0 for c in counts))
    finally:
        for path in [base] + ["%s.%d" % (base, i) for i in range(1, N + 1)]:
            if os.path.exists(path):
                os.remove(path)
    if os.environ.get("XF_EXAMPLE_TIMING"):
        print("sequential %.3f s, pool %.3f s, speed-up %.2fx"
              % (sequential, pooled, sequential / pooled), file=sys.stderr)


if __name__ == "__main__":
    main()

"""Tasks that randomly fail, in a process pool (seed 004, example 23.2):
each future gets a done callback, registered before its task is done, and
the futures are also taken as they complete (as_completed); both see the
same results and the same exceptions, raised in a worker process and
re-raised here.

The randomness is a seeded generator, a small LCG (state = 1664525 * state
+ 1013904223 mod 2**32, seed 23, a draw is (state >> 16) % 100) that every
language of the tour computes alike; the draws are made here and handed to
the tasks, and a task fails when its draw is below 30. What finishes first
depends on the machine, so nothing is printed in that order: the callbacks
(which run in the pool's thread when a task finishes) and the as_completed
loop note what they saw, and the program prints it in task order.
"""
import threading

import xfutures

N = 10


def lcg_draws(seed, count):
    state, draws = seed, []
    for _ in range(count):
        state = (1664525 * state + 1013904223) % 2**32
        draws.append((state >> 16) % 100)
    return draws


def risky_task(n, draw):
    if draw < 30:
        raise ValueError("task %d failed" % n)
    return n * n


def outcome(future):
    """What a finished future holds, as text."""
    error = future.exception()
    return 'error "%s"' % error if error else "result %d" % future.result()


def main():
    draws = lcg_draws(23, N)
    by_callback = {}
    lock = threading.Lock()
    all_called = threading.Event()

    def callback(future, n):  # in the pool's thread, as the task finishes
        with lock:
            by_callback[n] = outcome(future)
            if len(by_callback) == N:
                all_called.set()

    by_as_completed = {}
    with xfutures.ProcessPoolExecutor(max_workers=4) as pool:
        futures = {}
        for n in range(1, N + 1):
            future = pool.submit(risky_task, n, draws[n - 1])
            future.add_done_callback(lambda f, n=n: callback(f, n))
            futures[future] = n
        for future in xfutures.as_completed(futures):
            n = futures[future]
            try:
                by_as_completed[n] = "result %d" % future.result()
            except ValueError as e:
                by_as_completed[n] = 'error "%s"' % e
        all_called.wait()

    for n in range(1, N + 1):
        print("task %d (draw %d): %s" % (n, draws[n - 1], by_as_completed[n]))
    errors = sum(v.startswith("error") for v in by_callback.values())
    print("done callbacks: %d called, %d saw an exception" % (len(by_callback), errors))
    errors = sum(v.startswith("error") for v in by_as_completed.values())
    print("as_completed: %d yielded, %d raised" % (len(by_as_completed), errors))
    print("callbacks and as_completed agree:", by_callback == by_as_completed)


if __name__ == "__main__":
    main()

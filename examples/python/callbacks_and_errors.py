"""Seed 004: done callbacks and as_completed when some tasks fail; errors
travel through futures as the exceptions that were raised."""
import sys

import xfutures


def work(n):
    if n % 3 == 0:
        raise ValueError(f"task {n} failed")
    return n * n


def report(future):
    # Callbacks run in the worker that finished the task: one write per line
    # keeps lines from different threads whole.
    exc = future.exception()
    if exc is not None:
        sys.stdout.write(f"callback: error {exc}\n")
    else:
        sys.stdout.write(f"callback: result {future.result()}\n")


def main():
    with xfutures.ThreadPoolExecutor(max_workers=3) as pool:
        futures = {pool.submit(work, n): n for n in range(1, 7)}
        for f in futures:
            f.add_done_callback(report)
        ok, failed = [], []
        for f in xfutures.as_completed(futures):
            try:
                ok.append(f.result())
            except ValueError as e:
                failed.append(str(e))
        print("results:", sorted(ok))
        print("errors:", sorted(failed))


if __name__ == "__main__":
    main()

"""Seed 000: ThreadPoolExecutor with as_completed; results print as the tasks
finish, shortest sleep first (1, 2, ... 10)."""
import time

import xfutures


def task(i):
    time.sleep(i * 0.02)
    return i


def main():
    with xfutures.ThreadPoolExecutor(max_workers=10) as executor:
        futures = [executor.submit(task, i) for i in range(10, 0, -1)]
        for future in xfutures.as_completed(futures):  # blocking, GIL released
            print(future.result())


if __name__ == "__main__":
    main()

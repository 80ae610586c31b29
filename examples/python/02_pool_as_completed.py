"""A thread pool with results as they complete (seed 000): ten tasks sleep
i * 30 ms and return i; submitted longest first, they come back 1, 2, ... 10."""
import time

import xfutures


def task(i):
    time.sleep(i * 0.03)
    return i


def main():
    with xfutures.ThreadPoolExecutor(max_workers=10) as executor:
        futures = [executor.submit(task, i) for i in range(10, 0, -1)]
        for future in xfutures.as_completed(futures):  # blocks, without the GIL
            print(future.result())


if __name__ == "__main__":
    main()

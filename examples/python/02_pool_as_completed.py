"""A thread pool with results as they complete (seed 000): ten tasks sleep
i * 30 ms and return i; submitted longest first, they come back 1, 2, ... 10.
Sleeps alone do not fix that order on a busy machine, so task i, after its
sleep, also waits until the result i - 1 has been handed out (a future the
main program sets as it prints): the order holds whatever the scheduling."""
import time

import xfutures


def task(i, after):
    time.sleep(i * 0.03)
    if after is not None:
        after.result()
    return i


def main():
    handed_out = [None] + [xfutures.Future() for _ in range(10)]  # [i]: i was printed
    with xfutures.ThreadPoolExecutor(max_workers=10) as executor:
        futures = [executor.submit(task, i, handed_out[i - 1]) for i in range(10, 0, -1)]
        for future in xfutures.as_completed(futures):  # blocks, without the GIL
            i = future.result()
            print(i)
            handed_out[i].set_result(None)


if __name__ == "__main__":
    main()

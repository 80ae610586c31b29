"""Process-pool work awaited in the event loop (seed 004, example 23.3):
loop.run_in_executor hands a function to an executor and gives back an
asyncio future to await, whichever the executor: here a blocking call goes
to a thread pool and four CPU-bound counts to a process pool, and one
gather awaits them all while the loop goes on running its other tasks.

That the loop kept running is shown by a task made before the work was
handed out: it runs on the loop's next turn, while this coroutine awaits,
and before the gathered result can reach it (the pools' results reach the
loop through call_soon_threadsafe, queued behind the task's first step).
The pool is made under the ``if __name__ == "__main__":`` guard, as every
program that makes a process pool must (see 23_1_cpu_speedup).
"""
import asyncio
import time

import xfutures

LIMITS = (10000, 20000, 30000, 40000)


def blocking_io(name):
    time.sleep(0.05)  # a blocking library call, in a worker thread
    return "Processed " + name


def count_primes(limit):
    count = 0
    for n in range(2, limit):
        d = 2
        while d * d <= n and n % d != 0:
            d += 1
        if d * d > n:
            count += 1
    return count


async def main():
    loop = asyncio.get_running_loop()
    ran = []

    async def heartbeat():
        ran.append(True)

    beat = asyncio.create_task(heartbeat())
    with xfutures.ThreadPoolExecutor(max_workers=2) as threads, \
            xfutures.ProcessPoolExecutor(max_workers=2) as processes:
        io = loop.run_in_executor(threads, blocking_io, "report.pdf")
        counts = [loop.run_in_executor(processes, count_primes, limit) for limit in LIMITS]
        text, *primes = await asyncio.gather(io, *counts)
        meanwhile = bool(ran)  # before this coroutine gave the loop a turn
    await beat
    print("thread pool:", text)
    for limit, count in zip(LIMITS, primes):
        print("process pool: %d primes below %d" % (count, limit))
    print("the loop ran another task meanwhile:", meanwhile)


if __name__ == "__main__":
    asyncio.run(main())

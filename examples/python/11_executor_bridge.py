"""Bridging executor work into the loop (seeds 003 and 004): run_in_executor;
the same bridge by hand (a pool future whose done callback resolves a loop
future through call_soon_threadsafe); and four blocking calls at once. The
four calls show that they run at once by meeting at a barrier after their
sleep, which only calls running at the same time can pass (the barrier's
timeout only ends a hang)."""
import asyncio
import threading
import time

import xfutures
import xfutures.asyncio as xa


def time_consuming_function(arg1, arg2):
    time.sleep(0.05)  # blocking, in a worker thread
    return f"Processed {arg1} and {arg2}"


def cpu_bound_work(x):
    result = 0
    for i in range(10**5):
        result += i * x
    return result


def blocking_sleep(barrier):
    time.sleep(0.15)
    try:
        barrier.wait(timeout=30)
        return True
    except threading.BrokenBarrierError:
        return False


async def run_in_thread_pool(pool, func, *args):
    loop = asyncio.get_running_loop()
    future = xa.Future()

    def callback(thread_future):
        try:
            loop.call_soon_threadsafe(future.set_result, thread_future.result())
        except Exception as exc:
            loop.call_soon_threadsafe(future.set_exception, exc)

    pool.submit(func, *args).add_done_callback(callback)
    return await future


async def main():
    with xfutures.ThreadPoolExecutor(max_workers=4) as pool:
        result = await xa.run_in_executor(pool, time_consuming_function, "arg1", "arg2")
        print(f"Thread result: {result}")
        print(f"Result: {await run_in_thread_pool(pool, cpu_bound_work, 2)}")
        barrier = threading.Barrier(4)
        met = await asyncio.gather(*(xa.run_in_executor(pool, blocking_sleep, barrier)
                                     for _ in range(4)))
        print(f"4 blocking calls ran concurrently: {all(met)}")


if __name__ == "__main__":
    asyncio.run(main())

"""Bridging executor work into the loop (seeds 003 and 004): run_in_executor;
the same bridge by hand (a pool future whose done callback resolves a loop
future through call_soon_threadsafe); and four blocking calls at once."""
import asyncio
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
        start = time.monotonic()
        await asyncio.gather(*(xa.run_in_executor(pool, time.sleep, 0.15) for _ in range(4)))
        print(f"4 blocking calls ran concurrently: {time.monotonic() - start < 0.45}")


if __name__ == "__main__":
    asyncio.run(main())

"""Error handling through futures (seeds 003 and 004): an exception set on a
future comes out of await and reaches done callbacks; a task that raises in a
worker thread fails its future with that exception."""
import asyncio

import xfutures
import xfutures.asyncio as xa


def work(n):
    if n % 2 == 0:
        raise ValueError(f"task {n} failed")
    return n * 10


async def main():
    future = xa.Future()
    future.set_exception(ValueError("Something went wrong"))
    try:
        await future
    except ValueError as e:
        print(f"Caught exception: {e}")

    def callback(fut):
        try:
            fut.result()
        except Exception as e:
            print(f"Callback caught: {e}")

    another = xa.Future()
    another.add_done_callback(callback)
    another.set_exception(RuntimeError("Another error"))
    await asyncio.sleep(0.01)

    with xfutures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(work, n) for n in range(1, 5)]
        for n, f in enumerate(futures, 1):
            try:
                print(f"Task {n} result: {await xa.wrap_future(f)}")
            except ValueError as e:
                print(f"Task {n} raised {type(e).__name__}: {e}")


if __name__ == "__main__":
    asyncio.run(main())

"""Seeds 000 and 002: a future resolved by one task after a sleep and awaited
by another, on the C loop embedded in asyncio."""
import asyncio

import xfutures.asyncio as xa


async def set_future_result(future, result, delay=0.1):
    await xa.sleep(delay)
    future.set_result(result)


async def bar(future):
    print("bar will sleep for 0.1 seconds")
    await asyncio.sleep(0.1)
    print("bar resolving the future")
    future.set_result("future is resolved")


async def foo(future):
    print("foo will await the future")
    await future
    print("foo finds the future resolved")


async def main():
    fut = xa.Future()
    asyncio.create_task(set_future_result(fut, "Finished!"))
    print(await fut)  # "Finished!"

    future = xa.Future()
    t1 = asyncio.create_task(bar(future))
    t2 = asyncio.create_task(foo(future))
    await t2
    await t1


if __name__ == "__main__":
    asyncio.run(main())
    print("main exiting")

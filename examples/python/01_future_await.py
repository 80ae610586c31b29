"""A future resolved by one task after a sleep and awaited by another
(seeds 000 and 002), on the C loop embedded in asyncio."""
import asyncio

import xfutures.asyncio as xa


async def bar(future):
    print("bar will sleep for 0.1 seconds")
    await xa.sleep(0.1)
    print("bar resolving the future")
    future.set_result("future is resolved")


async def foo(future):
    print("foo will await the future")
    result = await future
    print(f"foo finds the future resolved: {result}")


async def main():
    future = xa.Future()
    t1 = asyncio.create_task(bar(future))
    t2 = asyncio.create_task(foo(future))
    await t2
    await t1


if __name__ == "__main__":
    asyncio.run(main())
    print("main exiting")

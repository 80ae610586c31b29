"""Offloading blocking work to threads and gathering the results
(seed 000, asyncio.to_thread + gather), on the C thread pool."""
import asyncio

import xfutures.asyncio as xa


def parallelize(x):
    total = 0
    for i in range(x):
        for j in range(x):
            total += i + j
    return total


async def compute(x):
    return await xa.to_thread(parallelize, x)


async def main():
    nums = [1, 10, 100]
    results = await asyncio.gather(*(compute(num) for num in nums))
    print("[" + ", ".join(str(r) for r in results) + "]")


if __name__ == "__main__":
    asyncio.run(main())

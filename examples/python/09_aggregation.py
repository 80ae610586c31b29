"""Aggregation of results and exceptions (seed 003): wait for every future,
then sort the outcomes into results and exceptions."""
import asyncio

import xfutures.asyncio as xa


async def work(n):
    await xa.sleep(0.01 * n)
    if n == 3:
        raise ValueError(f"task {n} failed")
    return n * n


async def aggregate_futures(futures):
    await asyncio.wait(futures)
    results, exceptions = [], []
    for future in futures:  # in submission order, so the output is stable
        try:
            results.append(future.result())
        except Exception as e:
            exceptions.append(e)
    return results, exceptions


async def main():
    futures = [asyncio.create_task(work(n)) for n in range(1, 5)]
    results, exceptions = await aggregate_futures(futures)
    print(f"Aggregated results: [{', '.join(str(r) for r in results)}], "
          f"exceptions: [{', '.join(str(e) for e in exceptions)}]")


if __name__ == "__main__":
    asyncio.run(main())

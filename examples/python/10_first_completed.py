"""First-completed with cancellation of the rest (seed 003)."""
import asyncio

import xfutures.asyncio as xa


async def first_completed(futures):
    done, pending = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    for future in pending:
        future.cancel()
    return next(iter(done)).result()


def job(name, seconds):
    future = xa.Future()
    asyncio.get_running_loop().call_later(seconds, future.set_result, name)
    return future


async def main():
    slow, fast, medium = job("slow", 2), job("fast", 0.02), job("medium", 1)
    print(f"First completed: {await first_completed([slow, fast, medium])}")
    print(f"slow cancelled: {slow.cancelled()}")
    print(f"medium cancelled: {medium.cancelled()}")


if __name__ == "__main__":
    asyncio.run(main())

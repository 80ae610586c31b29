"""Timeout (seed 003): wait_for gives up on a slow future and cancels it."""
import asyncio

import xfutures.asyncio as xa


async def future_with_timeout(future, timeout):
    try:
        return await xa.wait_for(future, timeout)
    except asyncio.TimeoutError:
        print(f"Future timed out after {timeout} seconds")
        print(f"The original future was cancelled: {future.cancelled()}")
        return None


async def main():
    slow = xa.Future()
    await future_with_timeout(slow, 0.05)
    quick = xa.Future()
    asyncio.get_running_loop().call_later(0.02, quick.set_result, "in time")
    print(f"Result: {await future_with_timeout(quick, 30)}")  # the bound only ends a hang


if __name__ == "__main__":
    asyncio.run(main())

"""Shield (seed 003): cancelling a shielded waiter leaves the future alone."""
import asyncio

import xfutures.asyncio as xa


async def main():
    future = xa.Future()

    async def shielded_waiter():
        try:
            return await xa.shield(future)
        except asyncio.CancelledError:
            print("Shielded waiter was cancelled")
            print(f"But future was not: {not future.cancelled()}")
            raise

    task = asyncio.create_task(shielded_waiter())
    await xa.sleep(0.02)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    print(f"Future cancelled: {future.cancelled()}")
    future.set_result("Still usable!")
    print(f"Future result: {future.result()}")


if __name__ == "__main__":
    asyncio.run(main())

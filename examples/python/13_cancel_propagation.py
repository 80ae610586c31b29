"""Cancellation propagation (seed 003): cancelling the task that awaits a
future; the waiter cancels the future on its way out."""
import asyncio

import xfutures.asyncio as xa


async def main():
    future = xa.Future()

    async def waiter():
        try:
            return await future
        except asyncio.CancelledError:
            print("Waiter was cancelled")
            future.cancel()
            raise

    task = asyncio.create_task(waiter())
    await xa.sleep(0.02)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    print(f"Future cancelled: {future.cancelled()}")


if __name__ == "__main__":
    asyncio.run(main())

"""Nested futures (seed 003): the outer future's result is the inner future.
asyncio does not unwrap it by itself, so the program awaits twice."""
import asyncio

import xfutures.asyncio as xa


async def set_after_delay(future, result, delay):
    await xa.sleep(delay)
    future.set_result(result)


async def main():
    outer, inner = xa.Future(), xa.Future()
    outer.set_result(inner)
    print(f"outer result is a future: {isinstance(outer.result(), xa.Future)}")
    asyncio.create_task(set_after_delay(inner, "Nested result", 0.05))
    result = await outer
    if isinstance(result, xa.Future):
        result = await result
    print(result)


if __name__ == "__main__":
    asyncio.run(main())

"""Custom awaitables vs. futures (seed 003): an object with __await__ that
delegates to a sleep can be awaited like a future, and gathered beside one;
but only the future holds its outcome: awaiting it again gives the stored
result at once, while awaiting the custom object runs it again."""
import asyncio

import xfutures.asyncio as xa


class CustomAwaitable:
    def __init__(self, result=None, delay=1):
        self.result = result
        self.delay = delay
        self.runs = 0

    def __await__(self):
        self.runs += 1
        # Yield control back to the event loop, then return our result.
        yield from xa.sleep(self.delay).__await__()
        return self.result


async def main():
    print("Awaiting a custom awaitable")
    print(f"Result: {await CustomAwaitable('Custom result', 0.02)}")

    print("Gathering a custom awaitable beside a future")
    custom = CustomAwaitable("Custom result 2", 0.01)
    future = xa.Future()
    asyncio.get_running_loop().call_later(0.02, future.set_result, "Future result")
    results = await xa.gather(custom, future)
    print(f"Gathered: {', '.join(results)}")

    print(f"The custom awaitable is a future: {asyncio.isfuture(custom)}")
    print(f"Awaiting the done future again: {await future}")
    again = await custom
    print(f"Awaiting the custom awaitable again runs it again: {again} (runs: {custom.runs})")


if __name__ == "__main__":
    asyncio.run(main())

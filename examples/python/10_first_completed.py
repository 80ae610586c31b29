"""First-completed with cancellation of the rest (seed 003). The slower jobs
start their clocks when the fast one is done, so however late the loop runs,
the fast one is the only one done when the wait returns."""
import asyncio

import xfutures.asyncio as xa


async def first_completed(futures):
    done, pending = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    for future in pending:
        future.cancel()
    return next(iter(done)).result()


def job(name, seconds, after=None):
    future = xa.Future()
    loop = asyncio.get_running_loop()

    def finish():
        if not future.done():  # cancelled meanwhile
            future.set_result(name)

    if after is None:
        loop.call_later(seconds, finish)
    else:
        after.add_done_callback(lambda _: loop.call_later(seconds, finish))
    return future


async def main():
    fast = job("fast", 0.02)
    slow, medium = job("slow", 2, after=fast), job("medium", 1, after=fast)
    print(f"First completed: {await first_completed([slow, fast, medium])}")
    print(f"slow cancelled: {slow.cancelled()}")
    print(f"medium cancelled: {medium.cancelled()}")


if __name__ == "__main__":
    asyncio.run(main())

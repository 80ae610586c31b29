"""call_later resolving a future (seed 002): a coroutine makes a future,
schedules a resolver on the loop and awaits the future."""
import asyncio
import threading
import time

import xfutures.asyncio as xa


def loop_running():
    try:
        return asyncio.get_running_loop().is_running()
    except RuntimeError:
        return False


def resolver(future):
    on_main = threading.current_thread() is threading.main_thread()
    print(f"resolver: on the main thread = {on_main}")
    time.sleep(0.02)  # blocks the loop for a moment, as the seed's resolver does
    future.set_result(None)


async def coro():
    future = xa.Future()
    asyncio.get_running_loop().call_later(0.05, resolver, future)
    print(f"coro: inside a running loop = {loop_running()}")
    await future
    print("coro exiting")


if __name__ == "__main__":
    print(f"main: inside a running loop = {loop_running()}")
    asyncio.run(coro())
    print("main exiting")

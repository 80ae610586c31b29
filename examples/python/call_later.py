"""Seed 002: loops in several threads and a future resolved by a callback
scheduled with call_later; each thread's callbacks run on its own loop."""
import asyncio
import threading
import time
from threading import current_thread

import xfutures.asyncio as xa


def resolver(future):
    print(f"Is loop running in thread {current_thread().name} = "
          f"{asyncio.get_event_loop().is_running()}")
    time.sleep(0.02)
    future.set_result(None)


async def coro():
    future = xa.Future()
    asyncio.get_running_loop().call_later(0.05, resolver, future)
    print(f"Is loop running in thread {current_thread().name} = "
          f"{asyncio.get_running_loop().is_running()}")
    await future
    print("coro exiting")


async def do_something_important(sleep_for):
    fut = xa.Future()
    owner = threading.get_ident()
    fut.add_done_callback(lambda f: print(
        f"callback ran on its loop's thread = {threading.get_ident() == owner}"))
    # Finished from another thread; the callback still runs on this loop.
    threading.Timer(sleep_for, fut.set_result, (None,)).start()
    await fut
    await asyncio.sleep(0.01)


def launch_event_loop(delay):
    asyncio.run(do_something_important(delay))


if __name__ == "__main__":
    threads = [threading.Thread(target=launch_event_loop, args=(d,)) for d in (0.02, 0.04)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    asyncio.run(coro())
    print("main exiting")

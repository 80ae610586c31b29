"""Seed 004: offloading blocking work with run_in_executor and gathering it;
four 0.2 s calls finish in about 0.2 s, not 0.8 s."""
import asyncio
import threading
import time

import xfutures
import xfutures.asyncio as xa


def blocking_io(n):
    time.sleep(0.2)
    return f"call {n} done in {threading.current_thread().name}"


async def main():
    with xfutures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="io") as pool:
        start = time.monotonic()
        results = await asyncio.gather(*(xa.run_in_executor(pool, blocking_io, n)
                                         for n in range(4)))
        elapsed = time.monotonic() - start
        for line in results:
            print(line.split(" in ")[0])
        print(f"4 blocking calls took {'under' if elapsed < 0.6 else 'over'} 0.6 s")


if __name__ == "__main__":
    asyncio.run(main())

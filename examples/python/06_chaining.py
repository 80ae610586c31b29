"""Future chaining (seed 003): each future's done callback resolves the next."""
import asyncio

import xfutures.asyncio as xa


async def main():
    future1, future2, future3 = xa.Future(), xa.Future(), xa.Future()
    future1.add_done_callback(lambda f: future2.set_result(f.result() + " -> Future 2"))
    future2.add_done_callback(lambda f: future3.set_result(f.result() + " -> Future 3"))
    future1.set_result("Future 1")
    print(await future3)


if __name__ == "__main__":
    asyncio.run(main())

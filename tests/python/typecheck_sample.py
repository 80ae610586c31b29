"""Checked by mypy against the stubs (CTest python_mypy): generics flow through."""
import asyncio

import xfutures
import xfutures.asyncio as xa


def square(x: int) -> int:
    return x * x


def sync_use() -> int:
    with xfutures.ThreadPoolExecutor(2) as pool:
        f: xfutures.Future[int] = pool.submit(square, 3)
        total: int = f.result(timeout=1.0)
        for g in xfutures.as_completed([f]):
            total += g.result()
        done, _ = xfutures.wait([f], return_when=xfutures.FIRST_COMPLETED)
        return total + len(done)


async def async_use() -> str:
    fut: xa.Future[str] = xa.Future()
    fut.set_result("ok")
    value: str = await fut
    n: int = await xa.to_thread(square, 4)
    return value + str(n)


if __name__ == "__main__":
    print(sync_use(), asyncio.run(async_use()))

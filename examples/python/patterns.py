"""Seed 003: chaining, error handling, timeout, aggregation, first-completed
with cancellation of the rest, cancellation propagation and shield, on
xfutures.asyncio futures."""
import asyncio

import xfutures.asyncio as xa


async def set_after(fut, value, delay):
    await asyncio.sleep(delay)
    if not fut.done():
        fut.set_result(value)


async def future_composition():
    future1, future2, future3 = xa.Future(), xa.Future(), xa.Future()
    future1.add_done_callback(lambda f: future2.set_result(f.result() + " -> Future 2"))
    future2.add_done_callback(lambda f: future3.set_result(f.result() + " -> Future 3"))
    future1.set_result("Future 1")
    print(await future3)


async def future_error_handling():
    future = xa.Future()
    future.set_exception(ValueError("Something went wrong"))
    try:
        await future
    except ValueError as e:
        print(f"Caught exception: {e}")

    def callback(fut):
        try:
            fut.result()
        except Exception as e:
            print(f"Callback caught: {e}")

    another = xa.Future()
    another.add_done_callback(callback)
    another.set_exception(RuntimeError("Another error"))
    await asyncio.sleep(0.01)


async def future_with_timeout(future, timeout):
    try:
        return await xa.wait_for(future, timeout)
    except asyncio.TimeoutError:
        print(f"Future timed out after {timeout} seconds")
        future.cancel()
        return None


async def aggregate(futures):
    done, _ = await asyncio.wait(futures)
    results, exceptions = [], []
    for f in done:
        try:
            results.append(f.result())
        except Exception as e:
            exceptions.append(e)
    return sorted(results), [str(e) for e in exceptions]


async def first_completed(futures):
    done, pending = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    for f in pending:
        f.cancel()
    return next(iter(done)).result(), len(pending)


async def cancellation_propagation():
    future = xa.Future()

    async def waiter():
        try:
            return await future
        except asyncio.CancelledError:
            print("Waiter was cancelled")
            future.cancel()
            raise

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    print(f"Future cancelled: {future.cancelled()}")


async def shield_example():
    future = xa.Future()

    async def shielded_waiter():
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            print("Shielded waiter was cancelled")
            print(f"But future was not: {not future.cancelled()}")
            raise

    task = asyncio.create_task(shielded_waiter())
    await asyncio.sleep(0.01)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    print(f"Future cancelled: {future.cancelled()}")
    future.set_result("Still usable!")
    print(f"Future result: {future.result()}")


async def main():
    await future_composition()
    await future_error_handling()
    await future_with_timeout(xa.Future(), 0.05)

    futs = [xa.Future() for _ in range(3)]
    futs[0].set_result(1)
    futs[1].set_result(2)
    futs[2].set_exception(ValueError("three failed"))
    results, errors = await aggregate(futs)
    print(f"Aggregated results: {results}, exceptions: {errors}")

    racers = [xa.Future() for _ in range(3)]
    for i, f in enumerate(racers):
        asyncio.create_task(set_after(f, f"racer {i}", 0.01 + 0.05 * i))
    winner, cancelled = await first_completed(racers)
    print(f"First completed: {winner}; cancelled the other {cancelled}")

    await cancellation_propagation()
    await shield_example()


if __name__ == "__main__":
    asyncio.run(main())

"""Using futures with context managers (seed 003): an async resource is
acquired and released around the resolution of a future (async with). The
release happens even when the work inside fails, and the future's outcome
is still there to read after the release."""
import asyncio

import xfutures.asyncio as xa


class AsyncResource:
    def __init__(self, name):
        self.name = name
        self.released = False

    async def __aenter__(self):
        print(f"Acquiring {self.name}")
        await xa.sleep(0.01)  # acquire_resource()
        print(f"Acquired {self.name}")
        return self

    async def __aexit__(self, exc_type, exc, tb):
        # Release the resource, even if there was an exception.
        after = f" after {exc_type.__name__}: {exc}" if exc else ""
        print(f"Releasing {self.name}{after}")
        await xa.sleep(0.01)  # release_resource()
        self.released = True
        print(f"Released {self.name}")
        return False


async def process_with_resource(resource, result_future, fail):
    print(f"Processing with {resource.name}")
    await xa.sleep(0.01)
    if fail:
        error = ValueError("the job failed")
        result_future.set_exception(error)
        raise error
    result_future.set_result(f"processed by {resource.name}")


async def future_with_context_manager(name, fail=False):
    result_future = xa.Future()
    resource = AsyncResource(name)
    try:
        async with resource:
            await process_with_resource(resource, result_future, fail)
    except ValueError as e:
        print(f"Caught {type(e).__name__}: {e}")
    print(f"The resource is released: {resource.released}")
    # The resource has been released, but the future still has the outcome.
    try:
        print(f"The future's result after the release: {await result_future}")
    except ValueError as e:
        print(f"The future's error after the release: {type(e).__name__}: {e}")


async def main():
    await future_with_context_manager("connection-1")
    await future_with_context_manager("connection-2", fail=True)


if __name__ == "__main__":
    asyncio.run(main())

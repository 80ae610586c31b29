"""Event loops in two threads (seed 002): each thread runs its own loop and
a task on it; the main thread runs none. Each thread's report is printed by
the main thread after the joins, so the order of the lines is fixed."""
import asyncio
import threading

import xfutures.asyncio as xa


def loop_running():
    try:
        return asyncio.get_running_loop().is_running()
    except RuntimeError:
        return False


async def do_something_important(sleep_for, report):
    name = threading.current_thread().name
    report.append(f"Is event loop running in thread {name} = {loop_running()}")
    await xa.sleep(sleep_for)
    report.append(f"{name} slept {sleep_for} seconds")


def launch_event_loop(sleep_for, report):
    asyncio.run(do_something_important(sleep_for, report))


if __name__ == "__main__":
    reports = [[], []]
    threads = [threading.Thread(target=launch_event_loop, args=(0.05 * (i + 1), reports[i]),
                                name=f"Thread-{i + 1}") for i in range(2)]
    for t in threads:
        t.start()
    print(f"Is event loop running in thread {threading.current_thread().name} = "
          f"{loop_running()}")
    for t in threads:
        t.join()
    for report in reports:
        print("\n".join(report))

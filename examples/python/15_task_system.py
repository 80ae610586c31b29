"""A small distributed-style task system (seed 003): tasks are submitted
with a future each, worker coroutines take unassigned tasks and resolve
their futures, and the caller gathers the results in submission order."""
import asyncio

import xfutures.asyncio as xa


class DistributedTaskSystem:
    def __init__(self):
        self.tasks = {}  # task id -> {"future", "function", "args"}
        self.next_id = 0
        self.workers = []

    def submit_task(self, work_function, *args):
        task_id = self.next_id
        self.next_id += 1
        future = xa.Future()
        self.tasks[task_id] = {"future": future, "function": work_function, "args": args}
        print(f"Submitted task {task_id}")
        return task_id, future

    async def start_worker(self, worker_id):
        while True:
            task_id = next((t for t, v in self.tasks.items() if "assigned" not in v), None)
            if task_id is None:
                await xa.sleep(0.005)  # nothing to do: look again soon
                continue
            task = self.tasks[task_id]
            task["assigned"] = worker_id
            try:
                await xa.sleep(0.01 * (task_id % 3 + 1))  # variable processing time
                task["future"].set_result(await task["function"](*task["args"]))
            except Exception as e:
                task["future"].set_exception(e)
            del self.tasks[task_id]

    def start(self, num_workers):
        for i in range(num_workers):
            self.workers.append(asyncio.create_task(self.start_worker(f"worker-{i}")))
        print(f"Started {num_workers} workers")

    async def stop(self):
        for w in self.workers:
            w.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)


async def compute_task(x, y):
    return x * y


async def slow_task(name):
    await xa.sleep(0.03)
    return f"Slow task {name} completed"


async def main():
    system = DistributedTaskSystem()
    system.start(3)
    futures = []
    for i in range(6):
        if i % 2 == 0:
            _, future = system.submit_task(compute_task, i, i * 2)
        else:
            _, future = system.submit_task(slow_task, f"task-{i}")
        futures.append(future)
    results = await asyncio.gather(*futures)
    print("All tasks completed!")
    for i, result in enumerate(results):
        print(f"Task {i} result: {result}")
    await system.stop()


if __name__ == "__main__":
    asyncio.run(main())

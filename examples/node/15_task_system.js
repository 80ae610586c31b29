// A small distributed-style task system (seed 003): tasks are submitted
// with a future each, worker async functions take unassigned tasks and
// resolve their futures, and the caller gathers the results in submission
// order.
const xf = require('xfutures');

class DistributedTaskSystem {
  constructor() {
    this.tasks = new Map(); // task id -> { future, fn, args }
    this.nextId = 0;
    this.workers = [];
    this.running = true;
  }

  submitTask(fn, ...args) {
    const taskId = this.nextId++;
    const future = new xf.Future();
    this.tasks.set(taskId, { future, fn, args });
    console.log(`Submitted task ${taskId}`);
    return [taskId, future];
  }

  async startWorker(workerId) {
    while (this.running) {
      const entry = [...this.tasks].find(([, t]) => !t.assigned);
      if (!entry) {
        await xf.sleep(5); // nothing to do: look again soon
        continue;
      }
      const [taskId, task] = entry;
      task.assigned = workerId;
      try {
        await xf.sleep(10 * ((taskId % 3) + 1)); // variable processing time
        task.future.setResult(await task.fn(...task.args));
      } catch (e) {
        task.future.setError(e);
      }
      this.tasks.delete(taskId);
    }
  }

  start(numWorkers) {
    for (let i = 0; i < numWorkers; i++) this.workers.push(this.startWorker(`worker-${i}`));
    console.log(`Started ${numWorkers} workers`);
  }

  async stop() {
    this.running = false;
    await Promise.all(this.workers);
  }
}

async function computeTask(x, y) {
  return x * y;
}

async function slowTask(name) {
  await xf.sleep(30);
  return `Slow task ${name} completed`;
}

async function main() {
  const system = new DistributedTaskSystem();
  system.start(3);
  const futures = [];
  for (let i = 0; i < 6; i++) {
    const [, future] = i % 2 === 0
      ? system.submitTask(computeTask, i, i * 2)
      : system.submitTask(slowTask, `task-${i}`);
    futures.push(future);
  }
  const results = await xf.all(futures);
  console.log('All tasks completed!');
  results.forEach((result, i) => console.log(`Task ${i} result: ${result}`));
  await system.stop();
}

main();

// A thread pool with results as they complete (seed 000). JavaScript runs
// only on the main thread, so the tasks are native: usleep(i * 30 ms) in C
// on the pool's workers; each future is mapped back to its i.
const xf = require('xfutures');

async function main() {
  const pool = new xf.ThreadPool({ maxWorkers: 10 });
  const usleep = xf.symbol('usleep');
  const which = new Map();
  for (let i = 10; i >= 1; i--) {
    which.set(pool.submitNative(usleep, 'int(uint32)', i * 30000), i);
  }
  for await (const future of xf.asCompleted(which.keys())) {
    future.result(); // rethrows a failure
    console.log(which.get(future));
  }
  pool.close();
}

main();

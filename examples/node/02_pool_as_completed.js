// A thread pool with results as they complete (seed 000). JavaScript runs
// only on the main thread, so the tasks are native: usleep(i * 30 ms) in C
// on the pool's workers. Sleeps alone do not fix the order of completion on
// a busy machine, so task i is done when its sleep is over and the result
// i - 1 has been handed out (a future the main program sets as it prints):
// the order holds whatever the scheduling. Each future is mapped back to i.
const xf = require('xfutures');

async function main() {
  const pool = new xf.ThreadPool({ maxWorkers: 10 });
  const usleep = xf.symbol('usleep');
  const handedOut = [null]; // [i]: i was printed
  for (let i = 1; i <= 10; i++) handedOut.push(new xf.Future());
  const which = new Map();
  for (let i = 10; i >= 1; i--) {
    const sleep = pool.submitNative(usleep, 'int(uint32)', i * 30000);
    which.set(i > 1 ? xf.all([sleep, handedOut[i - 1]]) : sleep, i);
  }
  for await (const future of xf.asCompleted(which.keys())) {
    future.result(); // rethrows a failure
    const i = which.get(future);
    console.log(i);
    handedOut[i].setResult(undefined);
  }
  pool.close();
}

main();

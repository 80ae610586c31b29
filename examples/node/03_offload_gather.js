// Offloading blocking work to threads and gathering the results (seed 000,
// asyncio.to_thread + gather). JavaScript cannot run on the pool's threads,
// so the blocking part of each call is native (usleep, 50 ms, in C on a
// worker) and the seed's arithmetic runs when it returns, on the main thread.
const xf = require('xfutures');

function parallelize(x) {
  let total = 0;
  for (let i = 0; i < x; i++) for (let j = 0; j < x; j++) total += i + j;
  return total;
}

function compute(pool, x) {
  return pool.submitNative(xf.symbol('usleep'), 'int(uint32)', 50000).then(() => parallelize(x));
}

async function main() {
  const pool = new xf.ThreadPool({ maxWorkers: 3 });
  const results = await xf.all([1, 10, 100].map((x) => compute(pool, x)));
  console.log(`[${results.join(', ')}]`);
  pool.close();
}

main();

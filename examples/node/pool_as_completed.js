// Seed 000: a pool of native tasks (usleep in C, no JavaScript on the
// workers), their results printed as they complete.
const xf = require('xfutures');

async function main() {
  const pool = new xf.ThreadPool({ maxWorkers: 10 });
  const usleep = xf.symbol('usleep');
  const which = new Map();
  // Submitted in reverse so that completion order differs from submission order.
  for (let i = 10; i >= 1; i--) {
    which.set(pool.submitNative(usleep, 'int(uint32)', i * 30000), i);
  }
  for await (const future of xf.asCompleted(which.keys())) {
    future.result(); // rethrows a failure; usleep returns 0
    console.log(which.get(future));
  }
  await pool.shutdown();
  pool.close();
}

main();

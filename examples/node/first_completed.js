// Seed 003, the first-completed pattern: take the first result and cancel
// the rest (native jobs still queued are never run).
const xf = require('xfutures');

async function main() {
  const pool = new xf.ThreadPool({ maxWorkers: 1 });
  const usleep = xf.symbol('usleep');
  const slow = xf.sleep(1000, 'slow');
  const fast = xf.sleep(50, 'fast');
  const queued = pool.submitNative(usleep, 'int(uint32)', 1000000);
  const never = pool.submitNative(usleep, 'int(uint32)', 1000000);
  const result = await xf.first([slow, fast, never]);
  console.log(`first completed: ${result}`);
  console.log(`slow cancelled: ${slow.cancelled}`);
  console.log(`queued native job cancelled: ${never.cancelled}`);
  queued.cancel();
  await pool.shutdown({ cancelFutures: true });
  pool.close();
}

main();

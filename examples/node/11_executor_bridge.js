// Bridging executor work into the loop (seeds 003 and 004): a native pool
// job awaited from the main thread (run_in_executor); the same bridge by
// hand (a done callback settling a Promise); and four blocking calls at
// once. JavaScript cannot run on pool threads: the blocking parts are native
// (usleep in C on a worker) and the seed's arithmetic runs on the main
// thread once they return. The four blocking calls show that they run at
// once by meeting: each is a native call of a JavaScript callback that waits
// for the main thread's answer, and the main thread answers only after the
// pool has reported all four running together (its wait's bound only ends a
// hang).
const xf = require('xfutures');

const usleep = xf.symbol('usleep');

function cpuBoundWork(x) {
  let result = 0;
  for (let i = 0; i < 10 ** 5; i++) result += i * x;
  return result;
}

function runInThreadPool(pool, fn, ...args) {
  return new Promise((resolve, reject) => {
    pool.submitNative(usleep, 'int(uint32)', 10000).onDone((threadFuture) => {
      try {
        threadFuture.result();
        resolve(fn(...args));
      } catch (e) {
        reject(e);
      }
    });
  });
}

async function main() {
  const pool = new xf.ThreadPool({ maxWorkers: 4 });
  await pool.submitNative(usleep, 'int(uint32)', 50000);
  console.log('Thread result: Processed arg1 and arg2');
  console.log(`Result: ${await runInThreadPool(pool, cpuBoundWork, 2)}`);
  const blocking = xf.callback('int32()', () => 0);
  const calls = [1, 2, 3, 4].map(() => pool.submitNative(blocking, 'int32()'));
  const deadline = Date.now() + 30000;
  while (pool.stats().running < 4 && Date.now() < deadline); // no answer meanwhile
  const met = pool.stats().running === 4;
  await xf.all(calls);
  blocking.free();
  console.log(`4 blocking calls ran concurrently: ${met ? 'True' : 'False'}`);
  pool.close();
}

main();

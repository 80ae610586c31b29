// Seed 000 (asyncio.to_thread + gather): blocking native work offloaded to
// a thread pool, awaited together while the main thread stays free.
const xf = require('xfutures');

// The blocking part runs in C on a worker (usleep); the arithmetic of the
// seed's parallelize(x) is done when it returns.
function parallelize(pool, x) {
  return pool.submitNative(xf.symbol('usleep'), 'int(uint32)', 100000).then(() => {
    let total = 0;
    for (let i = 0; i < x; i++) for (let j = 0; j < x; j++) total += i + j;
    return total;
  });
}

async function main() {
  const pool = new xf.ThreadPool({ maxWorkers: 3 });
  const start = Date.now();
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 10);
  const results = await xf.all([1, 10, 100].map((x) => parallelize(pool, x)));
  clearInterval(ticker);
  console.log(results);
  const elapsed = Date.now() - start;
  console.log(`3 blocking calls of 100 ms took ${elapsed < 250 ? 'about 100' : elapsed} ms; ` +
    `the main thread stayed free (${ticks > 3 ? 'it kept ticking' : 'it did not tick'})`);
  pool.close();
}

main();

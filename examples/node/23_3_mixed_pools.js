// Process-pool work awaited in the event loop (seed 004, example 23.3): an
// async function awaits the futures of two kinds of pool, whichever the
// pool: a blocking call goes to a thread pool and four CPU-bound counts to
// a process pool, and one all() awaits them all while the event loop goes
// on running other work. JavaScript cannot run on pool threads, so the
// blocking call is native (usleep in C, as in 11_executor_bridge) and its
// text is made once it returns; the counts are an export of this file,
// which the workers load (the program runs only under
// require.main === module).
//
// That the loop kept running is shown by another async function started
// before the work was handed out: it resumes as soon as main awaits, and
// before the gathered result can reach main (the pools' completions come in
// later, as events of the loop).
const xf = require('xfutures');

const LIMITS = [10000, 20000, 30000, 40000];

function countPrimes(limit) { // in a worker process
  let count = 0;
  for (let n = 2; n < limit; n++) {
    let d = 2;
    while (d * d <= n && n % d !== 0) d++;
    if (d * d > n) count++;
  }
  return count;
}

async function blockingIo(threads, name) {
  await threads.submitNative(xf.symbol('usleep'), 'int(uint32)', 50000); // a blocking call
  return `Processed ${name}`;
}

async function main() {
  const threads = new xf.ThreadPool({ maxWorkers: 2 });
  const processes = new xf.ProcessPool({ maxWorkers: 2 });
  let ran = false;
  const beat = (async () => {
    await Promise.resolve();
    ran = true;
  })();
  const io = blockingIo(threads, 'report.pdf');
  const counts = LIMITS.map((limit) => processes.submit(__filename, 'countPrimes', limit));
  const [text, primes] = await Promise.all([io, xf.all(counts)]);
  const meanwhile = ran; // before this function gave the loop a turn
  await beat;
  await processes.shutdown();
  threads.close();
  console.log(`thread pool: ${text}`);
  LIMITS.forEach((limit, i) => console.log(`process pool: ${primes[i]} primes below ${limit}`));
  console.log(`the loop ran another task meanwhile: ${meanwhile ? 'True' : 'False'}`);
}

module.exports = { countPrimes };

if (require.main === module) main();

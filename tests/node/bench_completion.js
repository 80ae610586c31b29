// The cost of delivering a completion from a worker thread to JavaScript:
// N native no-op jobs (abs) on a pool, each observed by an onDone callback
// on the main thread, and the same through await (Promise reactions).
// Not a test: run it by hand.
//   NODE_PATH=build/default/bindings/node node tests/node/bench_completion.js [N]
const xf = require('xfutures');

const N = Number(process.argv[2] || 100000);
const abs = xf.symbol('abs');

async function round(label, observe) {
  const pool = new xf.ThreadPool({ maxWorkers: 4 });
  const t0 = process.hrtime.bigint();
  await new Promise((resolve) => {
    let left = N;
    const done = () => { if (--left === 0) resolve(); };
    for (let i = 0; i < N; i++) observe(pool.submitNative(abs, 'int(int)', -i), done);
  });
  const ns = Number(process.hrtime.bigint() - t0);
  console.log(`${label}: ${N} completions in ${(ns / 1e6).toFixed(1)} ms, ` +
    `${(ns / N).toFixed(0)} ns each (submit + run + deliver)`);
  pool.close();
}

(async () => {
  await round('onDone', (f, done) => f.onDone(done));
  await round('await ', (f, done) => f.then(done));
})();

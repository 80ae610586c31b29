'use strict';
// Workloads 7 and 9 (Node.js): the Node binding against its anchors.
//
// Each measurement runs xfutures and its anchor in this one process, each
// repeated REPS times after a warm-up; the value is the median. Prints one
// JSON line per measurement in the format of bench/bench.h (everything else
// on stderr). Run by bench/run.py with node and NODE_PATH set to the
// binding's build directory; --quick (or XF_BENCH_QUICK=1) shrinks sizes.
//
//   node_await       await of a future that is already done, against await
//                    of a resolved Promise (the same one each time).
//   node_create_await  create a future, finish it, await it: new xf.Future()
//                    + setResult + await, against a native Promise
//                    (Promise.resolve(i) + await); 100,000 in the full run.
//   node_submit_all  10,000 pool.submitNative(labs) on 2 native workers and
//                    one Promise.all of them, against 10,000 promises each
//                    resolved from a setImmediate callback.
//   node_delivery    completions made on worker threads and delivered to
//                    JavaScript: pool.submitNative(labs) on 2 native
//                    workers, each future's result read by a then callback
//                    on the main thread (1,000,000 in the full run, 10,000
//                    in flight at most), against a worker_threads Worker
//                    posting as many messages to the main thread.
//   crossing_node    a no-op call into the core: xf.native.version(), and
//                    Future.done() on a finished future, against a C++
//                    builtin of Node (process.uptime()).
const xf = require('xfutures');
const { Worker } = require('worker_threads');

const QUICK = process.argv.includes('--quick') ||
  !['', '0', undefined].includes(process.env.XF_BENCH_QUICK);
const REPS = QUICK ? 3 : 5;
const ONLY = process.env.XF_BENCH_ONLY || '';
const size = (full, quick) => (QUICK ? quick : full);
const selected = (impl) => !ONLY || impl.includes(ONLY);
const now = () => Number(process.hrtime.bigint());

function emit(workload, impl, unit, vals, n, extra) {
  vals = vals.slice().sort((a, b) => a - b);
  const m = vals.length;
  const median = m % 2 ? vals[(m - 1) / 2] : (vals[m / 2 - 1] + vals[m / 2]) / 2;
  const obj = Object.assign({
    program: 'node_bench', suite: 'node', workload, impl, unit, value: median,
    min: vals[0], max: vals[m - 1], n, reps: m, lower_is_better: true, quick: QUICK,
    node: process.version,
  }, extra || {});
  process.stdout.write(JSON.stringify(obj) + '\n');
  process.stderr.write(`${workload.padEnd(22)} ${impl.padEnd(44)} ` +
    `${median.toFixed(1).padStart(12)} ${unit}\n`);
}

async function measure(fn, n) {
  await fn(Math.max(1, Math.floor(n / 10)));
  const vals = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = now();
    await fn(n);
    vals.push((now() - t0) / n);
  }
  return vals;
}

async function benchAwait() {
  const n = size(1000000, 20000);
  const f = new xf.Future();
  f.setResult(1);
  const p = Promise.resolve(1);
  const awaitAll = (x) => async (k) => {
    let total = 0;
    for (let i = 0; i < k; i++) total += await x;
    if (total !== k) throw new Error('await: wrong total');
  };
  const cases = [
    ['xfutures', awaitAll(f), 'await of a done xf.Future'],
    ['native Promise', awaitAll(p), 'await of a resolved Promise'],
  ];
  for (const [impl, fn, note] of cases) {
    if (selected(impl)) emit('node_await', impl, 'ns/await', await measure(fn, n), n, { note });
  }
}

async function benchCreateAwait() {
  const n = size(100000, 10000);
  const cases = [
    ['xfutures', async (k) => {
      let total = 0;
      for (let i = 0; i < k; i++) {
        const f = new xf.Future();
        f.setResult(i);
        total += await f;
      }
      if (total !== k * (k - 1) / 2) throw new Error('xfutures await: wrong total');
    }, 'new xf.Future() + setResult + await'],
    ['native Promise', async (k) => {
      let total = 0;
      for (let i = 0; i < k; i++) total += await Promise.resolve(i);
      if (total !== k * (k - 1) / 2) throw new Error('Promise await: wrong total');
    }, 'Promise.resolve(i) + await'],
  ];
  for (const [impl, fn, note] of cases) {
    if (selected(impl)) {
      emit('node_create_await', impl, 'ns/future', await measure(fn, n), n, { note });
    }
  }
}

async function benchSubmitAll() {
  const n = 10000;
  const reps = size(20, 3);
  const pool = new xf.ThreadPool({ maxWorkers: 2 });
  const labs = xf.symbol('labs');
  const cases = [
    ['xfutures', async () => {
      const fs = [];
      for (let i = 0; i < n; i++) fs.push(pool.submitNative(labs, 'int64(int64)', -1));
      const got = await Promise.all(fs);
      if (got.length !== n || got[n - 1] !== 1) throw new Error('submit_all: wrong result');
    }, `${n} submitNative(labs) on 2 workers + Promise.all`],
    ['setImmediate promises', async () => {
      const ps = [];
      for (let i = 0; i < n; i++) ps.push(new Promise((r) => setImmediate(() => r(Math.abs(-1)))));
      const got = await Promise.all(ps);
      if (got.length !== n || got[n - 1] !== 1) throw new Error('submit_all: wrong result');
    }, `${n} promises resolved from setImmediate + Promise.all`],
  ];
  for (const [impl, fn, note] of cases) {
    if (!selected(impl)) continue;
    await fn();
    const vals = [];
    for (let r = 0; r < reps; r++) {
      const t0 = now();
      await fn();
      vals.push((now() - t0) / n);
    }
    emit('node_submit_all', impl, 'ns/job', vals, n, { note });
  }
  await pool.shutdown();
}

async function benchDelivery() {
  const n = size(1000000, 10000);
  const window = Math.min(10000, n);
  const pool = new xf.ThreadPool({ maxWorkers: 2 });
  const labs = xf.symbol('labs');
  await xf.all([0, 1, 2, 3].map(() => pool.submitNative(labs, 'int64(int64)', -1)));

  const viaPool = (k) => new Promise((resolve, reject) => {
    let sent = 0, delivered = 0, sum = 0;
    const onValue = (v) => {
      sum += Number(v);
      delivered++;
      if (sent < k) submit();
      else if (delivered === k) {
        if (sum !== k) reject(new Error(`delivery: sum ${sum} != ${k}`));
        else resolve();
      }
    };
    const submit = () => {
      sent++;
      pool.submitNative(labs, 'int64(int64)', -1).then(onValue, reject);
    };
    for (let i = 0; i < Math.min(window, k); i++) submit();
  });

  const worker = new Worker(`
    const { parentPort } = require('worker_threads');
    parentPort.on('message', (k) => { for (let i = 0; i < k; i++) parentPort.postMessage(1); });
  `, { eval: true });
  const viaWorker = (k) => new Promise((resolve) => {
    let got = 0;
    const on = () => {
      if (++got === k) {
        worker.off('message', on);
        resolve();
      }
    };
    worker.on('message', on);
    worker.postMessage(k);
  });

  const cases = [
    ['xfutures', viaPool, `submitNative(labs) on 2 workers, ${window} in flight; ` +
      'then() on the main thread'],
    ['worker_threads postMessage', viaWorker, 'one Worker posting to the main thread'],
  ];
  for (const [impl, fn, note] of cases) {
    if (selected(impl)) {
      emit('node_delivery', impl, 'ns/delivery', await measure(fn, n), n,
        { note, sends: n, deliveries: n });
    }
  }
  await worker.terminate();
  await pool.shutdown();
}

async function benchCrossing() {
  const n = size(10000000, 50000);
  const f = new xf.Future();
  f.setResult(1);
  const version = xf.native.version;
  const loop = (g) => async (k) => { for (let i = 0; i < k; i++) g(); };
  const cases = [
    ['xfutures', loop(() => version()), 'xf.native.version(): the SWIG function'],
    ['xfutures Future.done', loop(() => f.done), 'the getter, on a finished xf.Future'],
    ['Node builtin process.uptime()', loop(() => process.uptime()), 'a C++ binding of Node'],
  ];
  for (const [impl, fn, note] of cases) {
    if (selected(impl)) {
      emit('crossing_node', impl, 'ns/call', await measure(fn, n), n,
        { note: note + '; includes the for-loop' });
    }
  }
}

(async () => {
  const t0 = now();
  await benchCrossing();
  await benchAwait();
  await benchCreateAwait();
  await benchSubmitAll();
  await benchDelivery();
  process.stderr.write(`node_bench: ${((now() - t0) / 1e9).toFixed(1)} s\n`);
})().catch((e) => {
  process.stderr.write(`node_bench: ${e && e.stack || e}\n`);
  process.exit(1);
});

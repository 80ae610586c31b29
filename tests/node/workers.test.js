// xfutures in worker_threads: the addon is loaded by the main thread and by
// Workers, each with its own state (its owner loop in its own libuv loop),
// and a Worker that ends while its work is pending takes its state with it
// and leaves the rest of the process running.
//
// Each scenario runs in a child process, because what is checked is how
// that process ends: with exit code 0 and every line it must print.
const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');

function run(code) {
  const r = spawnSync(process.execPath, ['-e', code], {
    env: process.env, timeout: 90000, encoding: 'utf8',
  });
  return { status: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

// What every thread does with the module: a pool job, a JavaScript callback
// called from a pool thread, a future finished from JavaScript, a sleep.
const USE = `
async function use(xf, tag) {
  const pool = new xf.ThreadPool({ maxWorkers: 2 });
  const labs = xf.symbol('labs');
  const cb = xf.callback('int32(int32)', (i) => i * 2);
  const jobs = [];
  for (let i = 0; i < 20; i++) {
    jobs.push(pool.submitNative(labs, 'int64(int64)', -(i + 1)));
    jobs.push(pool.submitNative(cb, 'int32(int32)', i));
  }
  const got = await xf.all(jobs);
  let sum = 0;
  for (const v of got) sum += Number(v);
  const f = new xf.Future();
  setImmediate(() => f.setResult(tag));
  if ((await f) !== tag) throw new Error('wrong result in ' + tag);
  await xf.sleep(1);
  return { pool, cb, sum };
}
`;

test('the module works in the main thread and in 4 Workers at once', () => {
  const r = run(`
    const { Worker } = require('worker_threads');
    ${USE}
    const xf = require('xfutures');
    (async () => {
      const mine = await use(xf, 'main');
      const workers = [1, 2, 3, 4].map((i) => new Worker(\`
        const { parentPort } = require('worker_threads');
        ${USE.replace(/`/g, '\\`').replace(/\$/g, '\\$')}
        use(require('xfutures'), 'w${'${i}'}').then(({ pool, sum }) => {
          pool.close();
          parentPort.postMessage(sum);
        });
      \`, { eval: true }));
      const exits = workers.map((w) => new Promise((res) => w.once('exit', res)));
      const sums = await Promise.all(workers.map((w) => new Promise((res, rej) => {
        w.once('message', res);
        w.once('error', rej);
      })));
      await Promise.all(exits);
      // The main thread's state is untouched by the Workers that went.
      const again = await use(xf, 'again');
      console.log('sums', JSON.stringify([mine.sum, ...sums, again.sum]));
      mine.pool.close();
      again.pool.close();
    })().catch((e) => { console.error(e); process.exit(3); });
  `);
  assert.strictEqual(r.signal, null, r.err);
  assert.strictEqual(r.status, 0, r.err);
  // Each thread: labs of -1..-20 is 210, the callback doubles 0..19 to 380.
  assert.match(r.out, /sums \[590,590,590,590,590,590\]/, r.err);
});

test('Workers ended while their work is pending: the process runs on and exits 0', () => {
  const r = run(`
    const { Worker } = require('worker_threads');
    ${USE}
    const xf = require('xfutures');
    (async () => {
      const mine = await use(xf, 'main');
      // Each Worker leaves work pending: jobs that sleep on pool threads, a
      // job blocked in a call of a JavaScript callback that the Worker will
      // never answer, a loop timer and a future only JavaScript would finish.
      // It says so once its jobs are running, then waits to be ended.
      const workers = [1, 2, 3, 4].map((i) => new Worker(\`
        const { parentPort } = require('worker_threads');
        ${USE.replace(/`/g, '\\`').replace(/\$/g, '\\$')}
        const xf = require('xfutures');
        use(xf, 'w${'${i}'}').then(({ pool, cb }) => {
          const usleep = xf.symbol('usleep');
          const held = [pool.submitNative(usleep, 'int(uint32)', 200000)];
          const never = xf.callback('int32()', () => 0);
          held.push(pool.submitNative(never, 'int32()'));
          held.push(xf.sleep(100000));
          held.push(new xf.Future().then(() => 0));
          for (const f of held) if (f.onDone) f.onDone(() => {});
          // Both workers are busy: one sleeps, one waits for 'never', whose
          // answer this thread can only give from its event loop. It spins
          // instead, after saying that both run, so the call stays pending.
          while (pool.stats().running < 2);
          parentPort.postMessage('busy');
          while (true);
        });
      \`, { eval: true }));
      await Promise.all(workers.map((w) => new Promise((res, rej) => {
        w.once('message', res);
        w.once('error', rej);
      })));
      await Promise.all(workers.map((w) => w.terminate()));
      // The main thread still has a working module.
      const again = await use(xf, 'after');
      console.log('after', again.sum);
      mine.pool.close();
      again.pool.close();
    })().catch((e) => { console.error(e); process.exit(3); });
  `);
  assert.strictEqual(r.signal, null, r.err);
  assert.strictEqual(r.status, 0, r.err);
  assert.match(r.out, /after 590/);
});

test('a Worker alone loads the module, ends with pending work, and the process exits 0', () => {
  const r = run(`
    const { Worker } = require('worker_threads');
    const w = new Worker(\`
      const { parentPort } = require('worker_threads');
      const xf = require('xfutures');
      const pool = new xf.ThreadPool({ maxWorkers: 1 });
      const f = pool.submitNative(xf.symbol('usleep'), 'int(uint32)', 100000);
      f.onDone(() => {});
      xf.sleep(100000).onDone(() => {});
      parentPort.postMessage('pending');
    \`, { eval: true });
    w.once('message', () => w.terminate().then(() => console.log('ended')));
  `);
  assert.strictEqual(r.signal, null, r.err);
  assert.strictEqual(r.status, 0, r.err);
  assert.match(r.out, /ended/);
});

test("a Worker's thread pools stop with it: their threads end", () => {
  const r = run(`
    const fs = require('fs');
    const { Worker } = require('worker_threads');
    const named = () => fs.readdirSync('/proc/self/task').filter((t) => {
      try { return fs.readFileSync('/proc/self/task/' + t + '/comm', 'utf8').startsWith('xfwt'); }
      catch (e) { return false; }
    }).length;
    const w = new Worker(\`
      const { parentPort } = require('worker_threads');
      const xf = require('xfutures');
      // A listener keeps the Worker alive until it is terminated: with an
      // empty event loop it would end by itself, and its pool with it,
      // before the threads are counted.
      parentPort.on('message', () => {});
      const pool = new xf.ThreadPool({ maxWorkers: 2, threadNamePrefix: 'xfwt' });
      const labs = xf.symbol('labs');
      xf.all([1, 2, 3, 4].map((i) => pool.submitNative(labs, 'int64(int64)', -i)))
        .then(() => parentPort.postMessage('ready'));
    \`, { eval: true });
    w.once('message', async () => {
      // The pool's threads are seen once they have named themselves; the
      // bounds only end a hang.
      let deadline = Date.now() + 30000;
      while (named() === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
      const before = named();
      await w.terminate();
      // The threads end on their own once the pool is shut down.
      deadline = Date.now() + 30000;
      while (named() > 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
      console.log('threads', before, named());
    });
  `);
  assert.strictEqual(r.status, 0, r.err);
  assert.match(r.out, /threads [1-9]\d* 0/, r.out + r.err);
});

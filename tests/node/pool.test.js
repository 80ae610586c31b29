// Native work: the thread pool, submitNative, callbacks from C threads, and
// the combinators over native futures.
const test = require('node:test');
const assert = require('node:assert');
const xf = require('xfutures');

const usleep = xf.symbol('usleep');
const gettid = xf.symbol('gettid');

// A job that holds its worker until the main thread next runs its event
// loop: it calls a JavaScript callback and waits for the answer.
function hold(pool) {
  const cb = xf.callback('int32()', () => 0);
  const f = pool.submitNative(cb, 'int32()');
  f.onDone(() => cb.free());
  return f;
}

// Spin on the main thread (so no held job can end) until n jobs run at
// once; the bound only ends a hang. Returns how many run.
function untilRunning(pool, n) {
  const deadline = Date.now() + 30000;
  while (pool.stats().running < n && Date.now() < deadline);
  return pool.stats().running;
}

test('submitNative runs in parallel on worker threads', async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 4 });
  // Four held jobs are all running at once only if four workers run them.
  const fs = [1, 2, 3, 4].map(() => hold(pool));
  assert.strictEqual(untilRunning(pool, 4), 4);
  assert.deepStrictEqual(await xf.all(fs), [0, 0, 0, 0]);
  const tid = await pool.submitNative(gettid, 'int32()');
  assert.notStrictEqual(tid, process.pid);
  assert.strictEqual(pool.stats().maxWorkers, 4);
  await pool.shutdown();
  assert.throws(() => pool.submitNative(usleep, 'int(uint32)', 1), { code: 'XF_ESHUTDOWN' });
  pool.close();
});

test('callbacks of futures finished on workers run on the main thread', async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 4 });
  const threads = new Set();
  const fs = [];
  for (let i = 0; i < 50; i++) {
    const f = pool.submitNative(usleep, 'int(uint32)', 1000);
    f.onDone(() => threads.add(xf.native.js_thread_id()));
    fs.push(f);
  }
  await xf.all(fs);
  await xf.sleep(1);
  assert.deepStrictEqual([...threads], [process.pid]);
  pool.close();
});

test('xf.callback: C worker threads call a JS function that runs on the main thread', async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 4 });
  const seen = [];
  const cb = xf.callback('double(int32, double)', (a, b) => {
    seen.push(xf.native.js_thread_id());
    return a * b;
  });
  assert.strictEqual(cb.signature, 'double(int32, double)');
  assert.strictEqual(typeof cb.address, 'bigint');
  const rs = await xf.all([1, 2, 3, 4, 5].map((i) => pool.submitNative(cb, cb.signature, i, 0.5)));
  assert.deepStrictEqual(rs, [0.5, 1, 1.5, 2, 2.5]);
  assert.strictEqual(seen.length, 5);
  assert.ok(seen.every((t) => t === process.pid));
  const str = xf.callback('string(string)', (s) => s.toUpperCase());
  assert.strictEqual(await pool.submitNative(str, 'string(string)', 'abc'), 'ABC');
  cb.free();
  str.close();
  assert.strictEqual(cb.pointer, null);
  pool.close();
});

test('bad input is a clear error, never a crash', () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1 });
  assert.throws(() => pool.submitNative(usleep, 'int(uint33)', 1), /bad signature/);
  assert.throws(() => pool.submitNative(usleep, 'int(uint32)'), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', errno: -1 });
  assert.throws(() => pool.submitNative(usleep, 'int(uint32)', 'x'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', errno: -10 });
  assert.throws(() => pool.submitNative(usleep, 'int(uint8)', 300), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', errno: -14 });
  assert.throws(() => pool.submitNative(42, 'int(uint32)', 1), TypeError);
  assert.throws(() => pool.submitNative(usleep, 5, 1), TypeError);
  assert.throws(() => xf.callback('int(int)', 'not a function'), TypeError);
  assert.throws(() => xf.callback('int(', () => 1), /bad signature/);
  assert.throws(() => xf.symbol('no_such_symbol_xf'), /no native symbol/);
  assert.throws(() => new xf.ThreadPool({ maxWorkers: -1 }), RangeError);
  assert.throws(() => xf.all(5), TypeError);
  pool.close();
});

test('a bad signature names the call and the place', () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1 });
  assert.throws(() => xf.callback('int33(int)', () => 1), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_VALUE',
    message: 'callback: bad signature: expected a type at offset 0: "int33"',
  });
  assert.throws(() => pool.submitNative(usleep, 'int(uint33)', 1), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_VALUE',
    message: 'submitNative: bad signature: expected a type at offset 4: "uint33"',
  });
  pool.close();
});

test('shutdown with cancelFutures cancels queued native jobs', async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1 });
  const running = hold(pool);
  assert.strictEqual(untilRunning(pool, 1), 1); // the rest stays queued
  const queued = [1, 2, 3].map(() => pool.submitNative(usleep, 'int(uint32)', 100000));
  await pool.shutdown({ cancelFutures: true });
  assert.strictEqual(await running, 0);
  assert.ok(queued.every((f) => f.cancelled));
  pool.close();
});

test('combinators: all, any, first (cancelling the rest), race, asCompleted, withTimeout, shield', async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 4 });
  const job = (ms) => pool.submitNative(usleep, 'int(uint32)', ms * 1000);
  await assert.rejects(xf.all([xf.sleep(1), Promise.reject(new Error('x'))]).toPromise(), /x/);
  const bad = new xf.Future();
  bad.setError(new Error('e1'));
  assert.strictEqual(await xf.any([bad, xf.sleep(5, 'ok')]), 'ok');
  // The slow ones are futures nobody finishes: the fast one is the only
  // possible winner, and a timeout the only possible outcome.
  const slow = new xf.Future();
  assert.strictEqual(await xf.first([slow, xf.sleep(5, 'fast')]), 'fast');
  assert.strictEqual(slow.cancelled, true);
  const slow2 = new xf.Future();
  assert.strictEqual(await xf.race([slow2, xf.sleep(5, 'fast')]), 'fast');
  assert.strictEqual(slow2.cancelled, false);
  slow2.cancel();
  // Jobs of different lengths, whose order the sleeps alone do not fix on a
  // busy machine: each is also done only once the one before it has been
  // handed out.
  const order = [];
  const handedOut = new Map([[10, new xf.Future()], [80, new xf.Future()]]);
  const jobs = new Map([[xf.all([job(150), handedOut.get(80)]), 150], [job(10), 10],
    [xf.all([job(80), handedOut.get(10)]), 80]]);
  for await (const f of xf.asCompleted(jobs.keys())) {
    const ms = jobs.get(f);
    order.push(ms);
    if (handedOut.has(ms)) handedOut.get(ms).setResult(undefined);
  }
  assert.deepStrictEqual(order, [10, 80, 150]);
  await assert.rejects(async () => {
    for await (const f of xf.asCompleted([new xf.Future()], { timeout: 20 })) f.result();
  }, xf.TimeoutError);
  const inner = new xf.Future();
  await assert.rejects(xf.withTimeout(xf.shield(inner), 10).toPromise(), xf.TimeoutError);
  assert.strictEqual(inner.cancelled, false);
  inner.cancel();
  const t = xf.withTimeout(job(10), 30000); // the bound only ends a hang
  assert.strictEqual(await t, 0);
  pool.close();
});

test('a pool closes after one of its job futures was freed', async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1 });
  const job = pool.submitNative(usleep, 'int(uint32)', 1000);
  const other = pool.submitNative(usleep, 'int(uint32)', 1000);
  job.free();
  // Past 1,024 jobs the pool forgets the done ones, the freed one among them.
  const labs = xf.symbol('labs');
  const many = [];
  for (let i = 0; i < 1100; i++) many.push(pool.submitNative(labs, 'int64(int64)', -1 - i));
  assert.strictEqual((await xf.all(many))[1099], 1100);
  await pool.shutdown({ wait: true });
  assert.strictEqual(other.done, true);
  pool.close();
});

// A JavaScript callback run as a pool job (submitNative(callback, ...)):
// what it throws is the job's failure, as a Promise's executor makes it.
const test = require('node:test');
const assert = require('node:assert');
const xf = require('xfutures');

// Runs fn with a listener that records uncaught exceptions, then lets the
// loop and the microtask queue run (an uncaught exception is thrown from a
// nextTick of a loop turn), and returns what it recorded.
async function uncaughtDuring(fn) {
  const seen = [];
  const on = (e) => seen.push(e);
  process.on('uncaughtException', on);
  try {
    await fn();
    await xf.sleep(1);
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('uncaughtException', on);
  }
  return seen;
}

test('a callback that throws on a pool thread fails its future with the thrown error', async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 2 });
  const err = new RangeError('from the callback');
  const cb = xf.callback('int32(int32)', () => { throw err; });
  const seen = await uncaughtDuring(async () => {
    const f = pool.submitNative(cb, 'int32(int32)', 7);
    await assert.rejects(f.toPromise(), (e) => e === err);
    assert.strictEqual(f.exception(), err);
  });
  assert.deepStrictEqual(seen, []);
  // The callback still works for calls that do not throw.
  const ok = xf.callback('int32(int32)', (i) => i + 1);
  assert.strictEqual(await pool.submitNative(ok, 'int32(int32)', 1), 2);
  cb.free();
  ok.free();
  pool.close();
});

test('a void callback that throws on a pool thread fails its future too', async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1 });
  const cb = xf.callback('void(int32)', (i) => { throw new TypeError(`bad ${i}`); });
  const seen = await uncaughtDuring(async () => {
    const f = pool.submitNative(cb, 'void(int32)', 3);
    await assert.rejects(f.toPromise(), { name: 'TypeError', message: 'bad 3' });
  });
  assert.deepStrictEqual(seen, []);
  cb.free();
  pool.close();
});

test('a thrown non-Error value is the failure as it is', async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1 });
  const cb = xf.callback('double()', () => { throw 'plain string'; }); // eslint-disable-line no-throw-literal
  await assert.rejects(pool.submitNative(cb, 'double()').toPromise(), (e) => e === 'plain string');
  cb.free();
  pool.close();
});

test('many jobs of one throwing callback each fail with their own error', async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 4 });
  const cb = xf.callback('int64(int64)', (i) => {
    if (i % 2) throw new Error(`odd ${i}`);
    return i;
  });
  const fs = [];
  for (let i = 0; i < 200; i++) fs.push(pool.submitNative(cb, 'int64(int64)', i));
  const out = await Promise.allSettled(fs.map((f) => f.toPromise()));
  out.forEach((r, i) => {
    if (i % 2) assert.strictEqual(r.reason.message, `odd ${i}`);
    else assert.strictEqual(r.value, i);
  });
  cb.free();
  pool.close();
});

test('a callback freed while its jobs are queued still runs them', async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1 });
  const cb = xf.callback('int32(int32)', (i) => i * 3);
  const fs = [1, 2, 3].map((i) => pool.submitNative(cb, 'int32(int32)', i));
  cb.free();
  assert.deepStrictEqual(await xf.all(fs), [3, 6, 9]);
  pool.close();
});

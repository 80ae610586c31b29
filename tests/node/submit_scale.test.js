// Submission to a pool costs O(1) however many jobs are pending: the pools
// keep what they wait for without scanning it on each submit.
const test = require('node:test');
const assert = require('node:assert');
const xf = require('xfutures');

// A job that holds its worker until the main thread next runs its event
// loop: it calls a JavaScript callback and waits for the answer.
function hold(pool) {
  const cb = xf.callback('int32()', () => 0);
  const f = pool.submitNative(cb, 'int32()');
  f.onDone(() => cb.free());
  return f;
}

test('submission costs O(1): a million jobs pending at once', async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1 });
  const abs = xf.symbol('abs');
  // The worker is held by the first job until this test yields, so every
  // other job stays pending while the next ones are submitted.
  const first = hold(pool);
  const n = 1000000;
  const fs = new Array(n);
  for (let i = 0; i < n; i++) fs[i] = pool.submitNative(abs, 'int(int)', -i - 1);
  assert.strictEqual(pool.stats().queued + pool.stats().running, n + 1);
  const every = xf.all(fs);
  assert.strictEqual(await first, 0);
  const values = await every;
  assert.strictEqual(values.length, n);
  assert.strictEqual(values[n - 1], n);
  await pool.shutdown();
  pool.close();
});

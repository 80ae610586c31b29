// Bounded pools (maxQueue with the 'reject' and 'block' policies) and chain.
const test = require('node:test');
const assert = require('node:assert');
const xf = require('xfutures');

const usleep = xf.symbol('usleep');

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

test("a full 'reject' pool throws QueueFull", async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1, maxQueue: 1, queuePolicy: 'reject' });
  assert.strictEqual(pool.queuePolicy, 'reject');
  assert.strictEqual(pool.maxQueue, 1);
  const a = hold(pool);
  assert.strictEqual(untilRunning(pool, 1), 1); // the queue's one place is free
  const b = pool.submitNative(usleep, 'int(uint32)', 1000);
  assert.throws(() => pool.submitNative(usleep, 'int(uint32)', 1000),
    (e) => e instanceof xf.QueueFull && e.name === 'QueueFull' && e.code === 'XF_EAGAIN');
  assert.deepStrictEqual(await xf.all([a, b]), [0, 0]);
  await pool.shutdown();
});

test("a full 'block' pool parks jobs without blocking and keeps their order", async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1, maxQueue: 1 });
  assert.strictEqual(pool.queuePolicy, 'block');
  const order = [];
  const cb = xf.callback('int32(int32)', (i) => { order.push(i); return i; });
  const a = hold(pool);
  assert.strictEqual(untilRunning(pool, 1), 1);
  // a ends only once the main thread runs its event loop: a submitNative
  // that blocked the main thread for room would never return.
  const fs = [1, 2, 3, 4].map((i) => pool.submitNative(cb, 'int32(int32)', i));
  assert.strictEqual(fs[3].state, 'pending');
  assert.strictEqual(a.done, false);
  await pool.accepted();
  assert.deepStrictEqual(await xf.all(fs), [1, 2, 3, 4]);
  assert.deepStrictEqual(order, [1, 2, 3, 4]);
  assert.ok(a.done);
  await pool.shutdown();
  cb.free();
});

test('cancelling a parked job drops it; shutdown settles the rest', async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1, maxQueue: 1, queuePolicy: 'block' });
  hold(pool);
  assert.strictEqual(untilRunning(pool, 1), 1);
  pool.submitNative(usleep, 'int(uint32)', 1000);
  const dropped = pool.submitNative(usleep, 'int(uint32)', 1000);
  const parked = pool.submitNative(usleep, 'int(uint32)', 1000);
  assert.ok(dropped.cancel());
  await pool.shutdown({ cancelFutures: true });
  assert.ok(dropped.cancelled);
  assert.ok(parked.cancelled);
});

test('bad queue options are rejected', () => {
  assert.throws(() => new xf.ThreadPool({ maxQueue: -1 }), RangeError);
  assert.throws(() => new xf.ThreadPool({ maxQueue: 1, queuePolicy: 'drop' }), RangeError);
});

test('chain copies the outcome and lets cancellation flow back', async () => {
  const a = new xf.Future();
  const b = new xf.Future();
  xf.chain(a, b);
  a.setResult([1, 2]);
  assert.deepStrictEqual(await b, [1, 2]);
  const c = new xf.Future();
  const d = new xf.Future();
  xf.chain(c, d);
  assert.ok(d.cancel());
  assert.strictEqual(c.state, 'cancelled');
  const e = new xf.Future();
  xf.chain(Promise.resolve(7), e);
  assert.strictEqual(await e, 7);
  assert.throws(() => xf.chain(a, 3), TypeError);
});

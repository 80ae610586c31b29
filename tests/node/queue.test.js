// Bounded pools (maxQueue with the 'reject' and 'block' policies) and chain.
const test = require('node:test');
const assert = require('node:assert');
const xf = require('xfutures');

const usleep = xf.symbol('usleep');

test("a full 'reject' pool throws QueueFull", async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1, maxQueue: 1, queuePolicy: 'reject' });
  assert.strictEqual(pool.queuePolicy, 'reject');
  assert.strictEqual(pool.maxQueue, 1);
  const a = pool.submitNative(usleep, 'int(uint32)', 150000);
  await xf.sleep(40);
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
  const a = pool.submitNative(usleep, 'int(uint32)', 100000);
  await xf.sleep(30);
  const t0 = Date.now();
  const fs = [1, 2, 3, 4].map((i) => pool.submitNative(cb, 'int32(int32)', i));
  assert.ok(Date.now() - t0 < 50, 'submitNative did not block the main thread');
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
  pool.submitNative(usleep, 'int(uint32)', 80000);
  await xf.sleep(20);
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

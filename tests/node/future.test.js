// Futures from JavaScript: states, outcomes, callbacks, Promises/A+
// behaviour, Promise interop, errors and values.
const test = require('node:test');
const assert = require('node:assert');
const xf = require('xfutures');

test('a new future is pending; setResult finishes it once', async () => {
  const f = new xf.Future();
  assert.strictEqual(f.state, 'pending');
  assert.strictEqual(f.done, false);
  f.setResult(42);
  assert.strictEqual(f.done, true);
  assert.strictEqual(f.state, 'finished');
  assert.strictEqual(f.result(), 42);
  assert.throws(() => f.setResult(1), { name: 'InvalidStateError' });
  assert.strictEqual(await f, 42);
});

test('a blocking wait on the main thread is refused, not frozen', () => {
  const f = new xf.Future();
  assert.throws(() => f.result(), (e) => e instanceof xf.DeadlockError &&
    /would deadlock/.test(e.message) && e.code === 'XF_EDEADLK');
  assert.throws(() => f.exception(), xf.DeadlockError);
});

test('cancel works while pending only and rejects awaiters with CancelledError', async () => {
  const f = new xf.Future();
  assert.strictEqual(f.cancel('stop'), true);
  assert.strictEqual(f.cancelled, true);
  await assert.rejects(f.toPromise(), (e) => e instanceof xf.CancelledError && e.name === 'CancelledError');
  const g = new xf.Future();
  g.setResult(1);
  assert.strictEqual(g.cancel(), false);
});

test('onDone runs asynchronously, in order, once; offDone removes', async () => {
  const f = new xf.Future();
  const seen = [];
  const a = () => seen.push('a');
  const b = () => seen.push('b');
  f.onDone(a).onDone(b).onDone(a);
  assert.strictEqual(f.offDone(a), 2);
  f.onDone(() => seen.push('c'));
  f.setResult(undefined);
  assert.deepStrictEqual(seen, []);
  await f;
  await xf.sleep(1);
  assert.deepStrictEqual(seen, ['b', 'c']);
  const late = [];
  f.onDone((g) => late.push(g === f));
  assert.deepStrictEqual(late, []);
  await xf.sleep(1);
  assert.deepStrictEqual(late, [true]);
});

test('Promises/A+: then is asynchronous, chains, assimilates thenables, rejects with any value', async () => {
  const f = new xf.Future();
  let called = false;
  const p = f.then((v) => { called = true; return { then(res) { res(v + 1); } }; });
  f.setResult(1);
  assert.strictEqual(called, false);
  assert.strictEqual(await p, 2);
  const g = new xf.Future();
  g.setError(42);
  await assert.rejects(g.toPromise(), (e) => e === 42);
  assert.strictEqual(await g.catch((e) => e + 1), 43);
  let fin = 0;
  await assert.rejects(g.finally(() => fin++), (e) => e === 42);
  assert.strictEqual(fin, 1);
  const h = new xf.Future();
  const thenable = new xf.Future();
  h.setResult(thenable);
  thenable.setResult('inner');
  assert.strictEqual(await h, 'inner');
});

test('Promise interop: Promise.all, Promise.race, fromPromise, toPromise', async () => {
  const a = xf.sleep(20, 'a');
  const b = xf.sleep(5, 'b');
  assert.deepStrictEqual(await Promise.all([a, b, 3]), ['a', 'b', 3]);
  assert.strictEqual(await Promise.race([xf.sleep(50, 'slow'), xf.sleep(1, 'quick')]), 'quick');
  const f = xf.Future.fromPromise(Promise.resolve('p'));
  assert.ok(f instanceof xf.Future);
  assert.strictEqual(await f, 'p');
  const r = xf.Future.fromPromise(Promise.reject(new RangeError('no')));
  await assert.rejects(r.toPromise(), RangeError);
  assert.strictEqual(f.toPromise(), f.toPromise());
  assert.ok(f.toPromise() instanceof Promise);
});

test('errors: JS errors keep identity; core errors have name, message, code, traceback', async () => {
  const e = new TypeError('bad');
  const f = new xf.Future();
  f.setError(e);
  assert.strictEqual(f.exception(), e);
  assert.throws(() => f.result(), (x) => x === e);
  const t = xf.withTimeout(new xf.Future(), 1);
  await assert.rejects(t.toPromise(), (x) => x instanceof xf.TimeoutError &&
    x.name === 'TimeoutError' && x.code === 'XF_ETIMEDOUT' && typeof x.message === 'string');
  // An error that went through a list (collect) keeps its identity too.
  const g = new xf.Future();
  g.setError(e);
  const all = await xf.all([g, xf.sleep(1, 7)], { collect: true });
  assert.strictEqual(all[0], e);
  assert.strictEqual(all[1], 7);
});

test('values cross as documented', () => {
  const obj = { a: 1 };
  const fn = () => 1;
  const cases = [
    [undefined, undefined], [null, null], [true, true], [false, false], [3, 3],
    [1.5, 1.5], [-0.25, -0.25], [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    [2n ** 60n, 2n ** 60n], [5n, 5], [-(2n ** 63n), -(2n ** 63n)], [2n ** 64n - 1n, -1],
    ['héllo', 'héllo'], ['', ''], [[1, [2, 'x']], [1, [2, 'x']]], [NaN, NaN], [Infinity, Infinity],
  ];
  for (const [input, expected] of cases) {
    const f = new xf.Future();
    f.setResult(input);
    assert.deepStrictEqual(f.result(), expected, `value ${String(input)}`);
  }
  // A view given back is the same object (values.test.js has the rest).
  const bytes = new Uint8Array([0, 1, 255]);
  const b = new xf.Future();
  b.setResult(bytes);
  assert.strictEqual(b.result(), bytes);
  for (const same of [obj, fn, Symbol.for('s')]) {
    const f = new xf.Future();
    f.setResult(same);
    assert.strictEqual(f.result(), same);
  }
  assert.throws(() => new xf.Future().setResult(2n ** 64n), RangeError);
  // An array that contains itself crosses as an opaque handle.
  const cyc = [];
  cyc.push(cyc);
  assert.strictEqual(new xf.Future().setResult(cyc).result(), cyc);
});

test('free releases the handle; using it afterwards is an error, not a crash', () => {
  const f = new xf.Future();
  f.free();
  f.free();
  assert.throws(() => f.done, xf.InvalidStateError);
  assert.throws(() => xf.native.js_future_set_result(null, 1), /closed/);
});

test('waiting on a pending future of the owner loop gives the core\'s DeadlockError at once', async () => {
  // withTimeout's future belongs to the owner loop, which only this thread
  // runs: reading it while pending can never be answered by waiting.
  const inner = new xf.Future();
  const t = xf.withTimeout(inner, 3600 * 1000);
  assert.throws(() => t.result(), (e) => e instanceof xf.DeadlockError &&
    e.name === 'DeadlockError' && e.code === 'XF_EDEADLK' &&
    e.message.includes('waiting would deadlock'));
  assert.throws(() => t.exception(), xf.DeadlockError);
  inner.cancel();
  await assert.rejects(t, xf.CancelledError);
});

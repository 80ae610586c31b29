// The module as a Node user expects it to behave: unhandled rejections,
// AbortSignal, AggregateError, stacks that reach the user's code, Node's
// error classes and codes, and deferred-style settling.
const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const xf = require('xfutures');

// Run a script in a node of its own (flags first); its status and output.
function runNode(flags, script) {
  const r = spawnSync(process.execPath, [...flags, '-e', script],
    { env: process.env, encoding: 'utf8', timeout: 60000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const PRELUDE = "const xf = require('xfutures');" +
  "process.on('unhandledRejection', (e, p) => console.log('unhandled', e.name, e.message, p instanceof Promise));";

// ---- Unhandled rejections ----------------------------------------------------

test('a failed future nobody observes is an unhandled rejection: setError, withTimeout, all', () => {
  const cases = {
    setError: "new xf.Future().setError(new RangeError('lost'));",
    // The timeout is due before the sleep that keeps the process alive (one
    // timer heap, ordered by deadline).
    withTimeout: 'xf.withTimeout(new xf.Future(), 1); xf.sleep(50).then(() => {});',
    all: "const a = new xf.Future(); xf.all([a, new xf.Future()]); a.setError(new Error('one failed'));",
  };
  const expected = {
    setError: 'unhandled RangeError lost true',
    withTimeout: 'unhandled TimeoutError timed out true',
    all: 'unhandled Error one failed true',
  };
  for (const [name, script] of Object.entries(cases)) {
    const r = runNode([], PRELUDE + script);
    assert.strictEqual(r.status, 0, `${name}: ${r.stderr}`);
    assert.strictEqual(r.stdout.trim(), expected[name], name);
    const strict = runNode(['--unhandled-rejections=strict'], `const xf = require('xfutures'); ${script}`);
    assert.notStrictEqual(strict.status, 0, `${name} under --unhandled-rejections=strict`);
  }
});

test('an observed failure is not reported: then, catch, await, result, exception, onDone, combinators', () => {
  const script = PRELUDE + `
    const e = () => new Error('seen');
    new xf.Future().setError(e()).catch(() => {});
    new xf.Future().setError(e()).then(null, () => {});
    const a = new xf.Future().setError(e()); try { a.result(); } catch (_) {}
    new xf.Future().setError(e()).exception();
    new xf.Future().setError(e()).onDone(() => {});
    xf.all([new xf.Future().setError(e())]).catch(() => {});
    (async () => { try { await new xf.Future().setError(e()); } catch (_) {} })();
    const c = new xf.Future(); c.cancel();
    xf.withTimeout(new xf.Future(), 1).catch(() => {});
    xf.sleep(30).then(() => console.log('end'));`;
  const r = runNode(['--unhandled-rejections=strict'], script);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(r.stdout.trim(), 'end');
});

test('a failure handled late is reported, then rejectionHandled, as a Promise', () => {
  const script = PRELUDE + `
    process.on('rejectionHandled', () => console.log('handled'));
    const f = new xf.Future().setError(new Error('late'));
    setImmediate(() => { f.catch(() => {}); setImmediate(() => {}); });`;
  const r = runNode([], script);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.deepStrictEqual(r.stdout.trim().split('\n'), ['unhandled Error late true', 'handled']);
});

// ---- AbortSignal ---------------------------------------------------------------

function isAbort(reason) {
  return (e) => e instanceof xf.AbortError && e.name === 'AbortError' && e.code === 'ABORT_ERR' &&
    e.cause === reason;
}

test('sleep takes { signal }: it resolves with undefined, or rejects with AbortError when aborted', async () => {
  const ac = new AbortController();
  assert.strictEqual(await xf.sleep(1, { signal: ac.signal }), undefined);
  assert.strictEqual(await xf.sleep(1, 'v', { signal: ac.signal }), 'v');
  const f = xf.sleep(1e7, { signal: ac.signal });
  const reason = new Error('stop');
  ac.abort(reason);
  await assert.rejects(f, isAbort(reason));
  await assert.rejects(xf.sleep(1, { signal: ac.signal }), isAbort(reason));
  const gone = AbortSignal.abort();
  await assert.rejects(xf.sleep(1, undefined, { signal: gone }),
    (e) => e instanceof xf.AbortError && e.cause === gone.reason && e.cause.name === 'AbortError');
  assert.throws(() => xf.sleep(1, undefined, { signal: 'no' }), TypeError);
});

test('withTimeout takes { signal }: abort rejects and cancels the future it follows', async () => {
  const inner = new xf.Future();
  const ac = new AbortController();
  const f = xf.withTimeout(inner, 1e7, { signal: ac.signal });
  ac.abort('why');
  await assert.rejects(f, isAbort('why'));
  assert.strictEqual(inner.cancelled, true);
  assert.strictEqual(await xf.withTimeout(xf.sleep(1, 3), 1e7, { signal: ac.signal }).catch((e) => e.cause), 'why');
  assert.strictEqual(await xf.withTimeout(xf.sleep(1, 3), 1e7, { signal: new AbortController().signal }), 3);
});

test('submitNative takes { signal } last: a queued job is dropped, its future rejects', async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1 });
  const gate = new xf.Future();
  const cb = xf.callback('int32()', () => 0);
  // The first job holds the worker until the main thread answers its call,
  // which it cannot do before this test yields.
  const first = pool.submitNative(cb, 'int32()');
  const ac = new AbortController();
  const queued = pool.submitNative(xf.symbol('abs'), 'int(int)', -4, { signal: ac.signal });
  ac.abort();
  await assert.rejects(queued, isAbort(ac.signal.reason));
  assert.strictEqual(await first, 0);
  assert.strictEqual(await pool.submitNative(xf.symbol('abs'), 'int(int)', -4,
    { signal: new AbortController().signal }), 4);
  await pool.shutdown();
  cb.free();
  gate.cancel();
  pool.close();
});

test('ProcessPool.submit takes { signal } last', async () => {
  const pool = new xf.ProcessPool({ maxWorkers: 1 });
  const ac = new AbortController();
  ac.abort(new Error('before'));
  await assert.rejects(pool.submit('os', 'cpus', { signal: ac.signal }), (e) => e instanceof xf.AbortError &&
    e.cause.message === 'before');
  assert.strictEqual(typeof (await pool.submit('os', 'hostname', { signal: new AbortController().signal })), 'string');
  await pool.close();
});

// ---- AggregateError --------------------------------------------------------------

test('any failing gives a real AggregateError with .errors', async () => {
  const a = new Error('a');
  const b = new TypeError('b');
  const e = await xf.any([Promise.reject(a), Promise.reject(b)]).catch((x) => x);
  assert.ok(e instanceof AggregateError, String(e));
  assert.strictEqual(e.name, 'AggregateError');
  assert.deepStrictEqual(e.errors, [a, b]);
  assert.strictEqual(e.errors[0], a);
  assert.strictEqual(await xf.any([Promise.reject(a), xf.sleep(1, 'ok')]), 'ok');
});

// ---- Stacks ------------------------------------------------------------------------

test('asynchronous errors carry the stack of the call that made the future', async () => {
  function userTimeoutSite() { return xf.withTimeout(new xf.Future(), 1); }
  function userSleepSite() { return xf.sleep(1e7); }
  const t = await userTimeoutSite().catch((e) => e);
  assert.strictEqual(t.name, 'TimeoutError');
  assert.match(t.stack, /^TimeoutError: timed out\n/);
  assert.match(t.stack, /at userTimeoutSite \(.*idioms\.test\.js/);
  const s = userSleepSite();
  s.cancel();
  const c = await s.catch((e) => e);
  assert.ok(c instanceof xf.CancelledError);
  assert.match(c.stack, /userSleepSite/);
});

test("a native job's error shows the async functions that await it", async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1 });
  const cb = xf.callback('int32()', () => 0);
  const first = pool.submitNative(cb, 'int32()');
  const queued = pool.submitNative(xf.symbol('abs'), 'int(int)', 1);
  async function userAwaitSite() { await queued; }
  const awaited = userAwaitSite().catch((e) => e);
  pool.shutdown({ cancelFutures: true });
  const q = await awaited;
  assert.ok(q instanceof xf.CancelledError);
  assert.match(q.stack, /at async userAwaitSite \(.*idioms\.test\.js/);
  // Read synchronously, the error's stack is the reader's.
  assert.throws(() => queued.result(), (e) => /idioms\.test\.js/.test(e.stack) && !/at makeError/.test(e.stack));
  await first.catch(() => {}); // it may have been queued still, and cancelled
  cb.free();
  pool.close();
  // A synchronous error starts at the caller, not inside the module.
  assert.throws(() => xf.sleep(-1), (e) => !/at makeError/.test(e.stack));
});

// ---- Node's error classes --------------------------------------------------------

test("the core's own errors are TypeError, RangeError or Error with a code", async () => {
  const pool = new xf.ThreadPool({ maxWorkers: 1 });
  assert.throws(() => xf.sleep(NaN), (e) => e instanceof TypeError && e.name === 'TypeError' &&
    e.code === 'ERR_INVALID_ARG_VALUE' && e.errno === -1 && /sleep: ms must be/.test(e.message));
  assert.throws(() => pool.submitNative(xf.symbol('abs'), 'int(int8)', 1000), (e) => e instanceof RangeError &&
    e.code === 'ERR_OUT_OF_RANGE' && e.errno === -14);
  assert.throws(() => pool.submitNative(xf.symbol('abs'), 'int(int)', 'x'), (e) => e instanceof TypeError &&
    e.code === 'ERR_INVALID_ARG_TYPE');
  assert.throws(() => xf.symbol('no_such_symbol_xf'), (e) => e instanceof TypeError &&
    e.code === 'ERR_INVALID_ARG_VALUE');
  await pool.shutdown();
  assert.throws(() => pool.submitNative(xf.symbol('abs'), 'int(int)', 1), (e) => e.name === 'Error' &&
    e.constructor === Error && e.code === 'XF_ESHUTDOWN');
  pool.close();
  assert.throws(() => pool.submitNative(xf.symbol('abs'), 'int(int)', 1), (e) => e.name === 'Error' &&
    e.code === 'XF_ECLOSED');
  // Another runtime's error keeps its type name, as one set from JavaScript does.
  const v = new Error('py');
  v.name = 'ValueError';
  assert.strictEqual(await new xf.Future().setError(v).catch((e) => e), v);
  const pp = new xf.ProcessPool({ maxWorkers: 1 });
  const fromTask = await pp.submit(`${__dirname}/../matrix/runners/process_tasks.js`, 'fail', 'bad')
    .catch((e) => e);
  assert.strictEqual(fromTask.name, 'ValueError', String(fromTask));
  await pp.close();
});

// ---- resolve / reject ----------------------------------------------------------------

test('resolve and reject settle once and are no-ops afterwards; setResult still throws', async () => {
  const f = new xf.Future();
  assert.strictEqual(f.resolve(1), true);
  assert.strictEqual(f.resolve(2), false);
  assert.strictEqual(f.reject(new Error('late')), false);
  assert.strictEqual(await f, 1);
  assert.throws(() => f.setResult(3), { name: 'InvalidStateError' });
  assert.throws(() => f.setError(new Error('x')), { name: 'InvalidStateError' });
  const g = new xf.Future();
  g.cancel();
  assert.strictEqual(g.reject(new Error('x')), false);
  const { future, resolve, reject } = xf.Future.withResolvers();
  setImmediate(() => { resolve('later'); reject(new Error('ignored')); resolve('ignored'); });
  assert.strictEqual(await future, 'later');
  const r = xf.Future.withResolvers();
  r.reject(new Error('no'));
  await assert.rejects(r.future, /no/);
});

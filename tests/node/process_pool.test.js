// The process pool: tasks run in `node worker.js` processes. Results of each
// kind, errors, async and ES module exports, a worker killed mid-task,
// recycling, shutdown with cancellation, and nothing left behind (no child,
// no fd, no handle keeping the process alive). Every rendezvous with a task
// goes through a FIFO; every wait is bounded by the test's timeout.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const xf = require('xfutures');

const T = { timeout: 30000 };

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xf-process-pool-'));
const tasks = path.join(dir, 'tasks.js');
fs.writeFileSync(tasks, `
const fs = require('fs');
class Point { constructor(x) { this.x = x; } }
exports.echo = (x) => x;
exports.add = (a, b) => a + b;
exports.pid = () => process.pid;
exports.kinds = () => ({ int: 42, double: 2.5, str: 'héllo', bool: true, nil: null,
  big: 2n ** 62n, bytes: Buffer.from([0, 1, 255]), list: [1, [2, 'x']], nested: { a: { b: 1 } } });
exports.fail = (msg) => { throw new RangeError(msg); };
exports.failCustom = () => { class QuotaError extends Error {} QuotaError.prototype.name = 'QuotaError';
  throw new QuotaError('over quota'); };
exports.throwString = () => { throw 'just a string'; };
exports.later = async (x) => { await new Promise((r) => setImmediate(r)); return x * 2; };
exports.rejects = async () => { throw new TypeError('async failure'); };
exports.instance = () => new Point(1);
exports.func = () => () => 1;
exports.systemError = () => fs.readFileSync('/nonexistent/xf');
// Whether a process the task spawns inherits the pool's socket (fd 3).
exports.childSeesFd3 = () => require('child_process').execFileSync('sh',
  ['-c', 'if [ -e /proc/self/fd/3 ]; then echo open; else echo closed; fi'], { encoding: 'utf8' }).trim();
let setting = 'unset';
exports.init = (v) => { setting = v; };
exports.setting = () => setting;
exports.initFails = () => { throw new SyntaxError('bad configuration'); };
// Tell the pid through the FIFO ready, then wait for the FIFO go: the test
// holds the task there (or kills it).
exports.hold = (ready, go) => {
  fs.writeFileSync(ready, String(process.pid));
  return fs.readFileSync(go, 'utf8');
};
`);
const esm = path.join(dir, 'tasks.mjs');
fs.writeFileSync(esm, 'export const triple = async (x) => 3 * x;\nexport default (x) => -x;\n');

let fifos = 0;
function fifo() {
  const p = path.join(dir, `fifo${fifos++}`);
  execFileSync('mkfifo', [p]);
  return p;
}

// A task held in its worker: its future and the worker's pid once it runs.
async function held(pool) {
  const ready = fifo();
  const go = fifo();
  const f = pool.submit(tasks, 'hold', ready, go);
  const pid = Number(await fs.promises.readFile(ready, 'utf8'));
  // Let the task return text; if its worker died instead, open the FIFO
  // ourselves so that our writer is not left waiting for a reader.
  const release = async (text) => {
    const w = fs.promises.writeFile(go, text).then(() => false, () => false);
    const dead = f.then(() => false, () => true);
    if (await Promise.race([w, dead])) {
      const fd = fs.openSync(go, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      await w;
      fs.closeSync(fd);
    }
    await w;
  };
  return { f, pid, release };
}

function fdCount() {
  return fs.readdirSync('/proc/self/fd').length;
}

function children() {
  const out = [];
  for (const t of fs.readdirSync('/proc/self/task')) {
    const c = fs.readFileSync(`/proc/self/task/${t}/children`, 'utf8').trim();
    if (c) out.push(...c.split(/\s+/).map(Number));
  }
  return out;
}

// The baseline, once Node has opened what it opens lazily (a child process,
// a FIFO, the fs thread pool).
let baseFds;
test('baseline', async () => {
  spawnSync(process.execPath, ['-e', '0']);
  await fs.promises.readFile(__filename);
  const r = fifo();
  await Promise.all([fs.promises.writeFile(r, 'x'), fs.promises.readFile(r)]);
  baseFds = fdCount();
});

test('results of each kind come back as they went', T, async () => {
  const pool = new xf.ProcessPool({ maxWorkers: 2 });
  const values = [42, -7, 2.5, 'text', '', true, false, [1, 'two', [3]], { a: 1, b: 'x' },
    Buffer.from('bytes'), 2n ** 60n];
  const got = await Promise.all(values.map((v) => pool.submit(tasks, 'echo', v)));
  assert.deepStrictEqual(got.slice(0, 9), values.slice(0, 9));
  assert.ok(Buffer.isBuffer(got[9]) && got[9].equals(values[9]));
  assert.strictEqual(got[10], 2n ** 60n);
  assert.strictEqual(await pool.submit(tasks, 'echo', undefined), undefined);
  assert.strictEqual(await pool.submit(tasks, 'echo', null), undefined);
  assert.strictEqual(await pool.submit(tasks, 'echo', new Uint8Array([9])).then((b) => b[0]), 9);
  const m = await pool.submit(tasks, 'echo', new Map([[1, 'one'], [true, 'yes']]));
  assert.ok(m instanceof Map && m.get(1) === 'one' && m.get(true) === 'yes');
  assert.deepStrictEqual(await pool.submit(tasks, 'kinds'), {
    int: 42, double: 2.5, str: 'héllo', bool: true, nil: undefined, big: 2n ** 62n,
    bytes: Buffer.from([0, 1, 255]), list: [1, [2, 'x']], nested: { a: { b: 1 } } });
  const proto = await pool.submit(tasks, 'echo', JSON.parse('{"__proto__": 1}'));
  assert.strictEqual(Object.getPrototypeOf(proto), Object.prototype);
  assert.strictEqual(Object.getOwnPropertyDescriptor(proto, '__proto__').value, 1);
  // Through the combinators too.
  assert.deepStrictEqual(await xf.all([pool.submit(tasks, 'echo', { a: [{ b: 2 }] }), pool.submit(tasks, 'add', 1, 1)]),
    [{ a: [{ b: 2 }] }, 2]);
  assert.strictEqual(await pool.submit(tasks, 'add', 2, 3), 5);
  const f = pool.submit(tasks, 'add', 20, 22);
  assert.ok(f instanceof xf.Future);
  await f;
  assert.strictEqual(f.result(), 42);
  await pool.shutdown();
  assert.strictEqual(pool.stats().workers, 0);
  await pool.close();
});

test('an error thrown by the task comes back with its name, message and stack', T, async () => {
  const pool = new xf.ProcessPool({ maxWorkers: 1 });
  await assert.rejects(pool.submit(tasks, 'fail', 'out of range'), (e) => {
    assert.ok(e instanceof RangeError);
    assert.strictEqual(e.name, 'RangeError');
    assert.strictEqual(e.message, 'out of range');
    assert.match(e.traceback, /tasks\.js/);
    return true;
  });
  await assert.rejects(pool.submit(tasks, 'failCustom'), { name: 'QuotaError', message: 'over quota' });
  // A Node system error's errno is the OS's: it crosses as a plain failure.
  await assert.rejects(pool.submit(tasks, 'systemError'), (e) => {
    assert.strictEqual(e.name, 'Error');
    assert.match(e.message, /ENOENT/);
    assert.strictEqual(e.code, 'XF_EFAILED');
    return true;
  });
  await assert.rejects(pool.submit(tasks, 'throwString'), { name: 'Error', message: 'just a string' });
  await assert.rejects(pool.submit(tasks, 'nope'), { name: 'TypeError', message: /no function export named "nope"/ });
  await assert.rejects(pool.submit(path.join(dir, 'missing.js'), 'x'), { name: 'Error', message: /Cannot find module/ });
  // The worker goes on after each of them.
  assert.strictEqual(await pool.submit(tasks, 'add', 1, 1), 2);
  assert.strictEqual(pool.stats().spawned, 1);
  await pool.close();
});

test('values that cannot cross fail their own task only', T, async () => {
  const pool = new xf.ProcessPool({ maxWorkers: 1 });
  await assert.rejects(pool.submit(tasks, 'echo', () => 1), { name: 'TypeError', message: /a function/ });
  await assert.rejects(pool.submit(tasks, 'echo', new (class Foo {})()), { name: 'TypeError', message: /an instance of Foo/ });
  await assert.rejects(pool.submit(tasks, 'echo', 2n ** 64n), { name: 'RangeError' });
  await assert.rejects(pool.submit(tasks, 'instance'), { name: 'TypeError', message: /an instance of Point/ });
  await assert.rejects(pool.submit(tasks, 'func'), { name: 'TypeError', message: /a function/ });
  assert.strictEqual(await pool.submit(tasks, 'add', 1, 2), 3);
  assert.strictEqual(pool.stats().deaths, 0);
  await pool.close();
});

test("a task's own child processes do not inherit the pool's socket", T, async () => {
  const pool = new xf.ProcessPool({ maxWorkers: 1 });
  assert.strictEqual(await pool.submit(tasks, 'childSeesFd3'), 'closed');
  await pool.close();
});

test('async and ES module exports are awaited', T, async () => {
  const pool = new xf.ProcessPool({ maxWorkers: 1 });
  assert.strictEqual(await pool.submit(tasks, 'later', 21), 42);
  await assert.rejects(pool.submit(tasks, 'rejects'), { name: 'TypeError', message: 'async failure' });
  assert.strictEqual(await pool.submit(esm, 'triple', 5), 15);
  assert.strictEqual(await pool.submit(esm, 'default', 5), -5);
  assert.strictEqual(await pool.submit('node:os', 'platform'), os.platform());
  await pool.close();
});

test('an initializer runs in each worker first; one that throws breaks the pool', T, async () => {
  let pool = new xf.ProcessPool({ maxWorkers: 1, maxTasksPerChild: 1, initializer: [tasks, 'init', 'configured'] });
  assert.deepStrictEqual(await Promise.all([pool.submit(tasks, 'setting'), pool.submit(tasks, 'setting')]),
    ['configured', 'configured']);
  await pool.close();
  pool = new xf.ProcessPool({ maxWorkers: 1, initializer: [tasks, 'initFails'] });
  await assert.rejects(pool.submit(tasks, 'setting'), (e) => {
    assert.strictEqual(e.name, 'BrokenProcessPool');
    assert.match(e.message, /bad configuration/);
    return true;
  });
  assert.strictEqual(pool.stats().broken, true);
  await pool.close();
});

test('a worker killed mid-task fails it with BrokenProcessPool and breaks the pool', T, async () => {
  const pool = new xf.ProcessPool({ maxWorkers: 1 });
  const { f, pid } = await held(pool);
  const queued = pool.submit(tasks, 'add', 1, 2);
  // Observed from now on, as a Promise would have to be: it fails while f
  // is awaited.
  const queuedFails = assert.rejects(queued, { name: 'BrokenProcessPool' });
  process.kill(pid, 'SIGKILL');
  await assert.rejects(f, (e) => {
    assert.ok(e instanceof xf.BrokenProcessPool);
    assert.ok(e instanceof xf.BrokenExecutor);
    assert.strictEqual(e.name, 'BrokenProcessPool');
    assert.match(e.message, new RegExp(`${pid}`));
    assert.match(e.message, /SIGKILL|signal 9/);
    return true;
  });
  await queuedFails;
  assert.throws(() => pool.submit(tasks, 'add', 1, 2), { name: 'BrokenProcessPool' });
  assert.strictEqual(pool.stats().broken, true);
  // The counters are final once the pool is shut down (the manager joined).
  await pool.shutdown();
  assert.strictEqual(pool.stats().deaths, 1);
  await pool.close();
});

test('a worker ignores SIGINT: Ctrl-C is for the parent', T, async () => {
  const pool = new xf.ProcessPool({ maxWorkers: 1 });
  const { f, pid, release } = await held(pool);
  process.kill(pid, 'SIGINT');
  await release('still here');
  assert.strictEqual(await f, 'still here');
  assert.strictEqual(await pool.submit(tasks, 'pid'), pid);
  await pool.close();
});

test("onWorkerDeath 'replace': only the running task fails", T, async () => {
  const pool = new xf.ProcessPool({ maxWorkers: 1, onWorkerDeath: 'replace' });
  const { f, pid } = await held(pool);
  const queued = pool.submit(tasks, 'pid');
  process.kill(pid, 'SIGKILL');
  await assert.rejects(f, { name: 'BrokenProcessPool' });
  const other = await queued;
  assert.notStrictEqual(other, pid);
  assert.strictEqual(await pool.submit(tasks, 'add', 2, 2), 4);
  assert.strictEqual(pool.stats().broken, false);
  await pool.close();
});

test('a task past its timeout fails with TimeoutError and its worker is replaced', T, async () => {
  const pool = new xf.ProcessPool({ maxWorkers: 1 });
  // Held and never released: the timeout is the only way the task ends.
  const ready = fifo();
  const f = pool.submitWithTimeout(200, tasks, 'hold', ready, fifo());
  const pid = Number(await fs.promises.readFile(ready, 'utf8'));
  await assert.rejects(f, { name: 'TimeoutError' });
  assert.notStrictEqual(await pool.submit(tasks, 'pid'), pid);
  assert.strictEqual(await pool.submitWithTimeout(60000, tasks, 'add', 2, 3), 5);
  assert.throws(() => pool.submitWithTimeout(-1, tasks, 'add', 1, 1), RangeError);
  await pool.close();
});

test('maxTasksPerChild recycles workers', T, async () => {
  const pool = new xf.ProcessPool({ maxWorkers: 1, maxTasksPerChild: 2 });
  const pids = [];
  for (let i = 0; i < 5; i++) pids.push(await pool.submit(tasks, 'pid'));
  assert.strictEqual(pids[0], pids[1]);
  assert.strictEqual(pids[2], pids[3]);
  assert.notStrictEqual(pids[1], pids[2]);
  assert.notStrictEqual(pids[3], pids[4]);
  assert.strictEqual(new Set(pids).size, 3);
  await pool.shutdown();
  const st = pool.stats();
  assert.strictEqual(st.retired, 2, JSON.stringify(st));
  assert.strictEqual(st.spawned, 3);
  assert.strictEqual(st.deaths, 0);
  await pool.close();
});

test('shutdown with cancelFutures cancels the queued tasks and lets the running one finish', T, async () => {
  const pool = new xf.ProcessPool({ maxWorkers: 1 });
  const { f, release } = await held(pool);
  const queued = [1, 2, 3].map((i) => pool.submit(tasks, 'add', i, i));
  const done = pool.shutdown({ cancelFutures: true });
  for (const q of queued) {
    assert.strictEqual(q.cancelled, true);
    await assert.rejects(q, { name: 'CancelledError' });
  }
  assert.strictEqual(done.done, false);
  assert.throws(() => pool.submit(tasks, 'add', 1, 1), { code: 'XF_ESHUTDOWN' });
  await release('released');
  assert.strictEqual(await f, 'released');
  await done;
  assert.strictEqual(pool.stats().workers, 0);
  assert.strictEqual(pool.stats().cancelled, 3);
  await pool.close();
});

test('terminate and kill stop the workers now', T, async () => {
  for (const how of ['terminate', 'kill']) {
    const pool = new xf.ProcessPool({ maxWorkers: 1 });
    const { f } = await held(pool);
    const queued = pool.submit(tasks, 'add', 1, 1);
    if (how === 'terminate') pool.terminate({ graceMs: 100 });
    else pool.kill();
    await assert.rejects(f, { name: 'BrokenProcessPool' });
    await assert.rejects(queued, { name: 'CancelledError' });
    assert.strictEqual(pool.stats().workers, 0);
    await pool.close();
  }
});

// A child node process: it must exit on its own (a hang fails the test), and
// in its last 'exit' listener (after the pool's) it has no child left.
function runChild(code) {
  const script = `
    const xf = require('xfutures');
    const fs = require('fs');
    const tasks = ${JSON.stringify(tasks)};
    const children = ${children.toString()};
    ${code}
    process.on('exit', () => console.log('children:' + JSON.stringify(children())));
  `;
  const r = spawnSync(process.execPath, ['-e', script], { env: process.env, timeout: 20000, encoding: 'utf8' });
  assert.strictEqual(r.error, undefined, `child did not exit on its own: ${r.error}`);
  return r;
}

test('the process exits by itself with idle workers, and leaves none', T, () => {
  const r = runChild(`
    const pool = new xf.ProcessPool({ maxWorkers: 2 });
    Promise.all([pool.submit(tasks, 'pid'), pool.submit(tasks, 'add', 1, 2)]).then((v) => console.log('got', v[1]));
  `);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /got 3/);
  assert.match(r.stdout, /children:\[\]/);
});

test('process.exit() with a task running leaves no worker behind', T, () => {
  const r = runChild(`
    const pool = new xf.ProcessPool({ maxWorkers: 1 });
    const ready = ${JSON.stringify(fifo())};
    pool.submit(tasks, 'hold', ready, ${JSON.stringify(fifo())});
    fs.promises.readFile(ready, 'utf8').then((pid) => { console.log('running', pid); process.exit(3); });
  `);
  assert.strictEqual(r.status, 3, r.stderr);
  assert.match(r.stdout, /running \d+/);
  assert.match(r.stdout, /children:\[\]/);
});

test('a pool with nothing pending does not keep the process alive', T, () => {
  const r = runChild(`
    const pool = new xf.ProcessPool({ maxWorkers: 1 });
    pool.submit(tasks, 'pid'); // nobody waits for it
  `);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /children:\[\]/);
});

test('the wire codec is the core\'s', () => {
  const e = xf.native.js_wire_decode(xf.native.js_wire_encode_error(new TypeError('bad')));
  assert.strictEqual(e.name, 'TypeError');
  assert.strictEqual(e.message, 'bad');
  // A RESULT frame's body as docs/wire-protocol.md spells it (a double is a float64).
  assert.strictEqual(xf.native.js_wire_encode([4, 1, 1.5]).toString('hex'), '830401fb3ff8000000000000');
  assert.deepStrictEqual(xf.native.js_wire_decode(Buffer.from('830401fb3ff0000000000000', 'hex')), [4, 1, 1]);
  assert.throws(() => xf.native.js_wire_decode(Buffer.from('83', 'hex')), { code: 'ERR_INVALID_ARG_VALUE', errno: -1 });
});

test('nothing is left behind: no child process, no fd', T, () => {
  assert.deepStrictEqual(children(), []);
  assert.strictEqual(fdCount(), baseFds);
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('stats count the tasks of each worker', T, async () => {
  const pool = new xf.ProcessPool({ maxWorkers: 1 });
  for (let i = 0; i < 5; i++)
    assert.strictEqual(await pool.submit(tasks, 'add', i, 1), i + 1);
  const per = pool.stats().perWorker;
  assert.strictEqual(per.length, 1);
  assert.ok(per[0].pid > 0 && per[0].pid !== process.pid);
  assert.strictEqual(per[0].tasksDone, 5);
  assert.strictEqual(per[0].running, 0);
  await pool.close();
});

// The process lives exactly as long as observed native work is pending: a
// child node process must exit on its own (a hang fails the test).
const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');

function run(code, timeout = 60000) {
  const r = spawnSync(process.execPath, ['-e', code], { env: process.env, timeout, encoding: 'utf8' });
  assert.strictEqual(r.error, undefined, `child did not exit on its own: ${r.error}`);
  return r;
}

test('stays alive while a native job is awaited, then exits by itself', () => {
  const t0 = Date.now();
  const r = run(`
    const xf = require('xfutures');
    const pool = new xf.ThreadPool({ maxWorkers: 2 });
    pool.submitNative(xf.symbol('usleep'), 'int(uint32)', 300000).then((v) => console.log('done', v));
  `);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(r.stdout.trim(), 'done 0');
  assert.ok(Date.now() - t0 >= 300);
});

test('exits at once when nothing is pending, pool and callbacks left open', () => {
  const r = run(`
    const xf = require('xfutures');
    const pool = new xf.ThreadPool({ maxWorkers: 2 });
    const cb = xf.callback('int(int)', (x) => x);
    const f = new xf.Future();
    f.then(() => console.log('never'));
    console.log('bye');
  `);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(r.stdout.trim(), 'bye'); // a child that waited would hit run's timeout
});

test('a sleep and a timeout keep it alive until they fire', () => {
  const r = run(`
    const xf = require('xfutures');
    xf.sleep(100, 'slept').then(console.log);
    xf.withTimeout(xf.sleep(3600 * 1000), 150).catch((e) => console.log(e.name));
  `);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.deepStrictEqual(r.stdout.trim().split('\n'), ['slept', 'TimeoutError']);
});

test('an exception thrown by a JS callback called from C is an uncaught exception', () => {
  const r = run(`
    const xf = require('xfutures');
    const pool = new xf.ThreadPool({ maxWorkers: 1 });
    const cb = xf.callback('void(int)', () => { throw new Error('from callback'); });
    pool.submitNative(cb, 'void(int)', 1).then(() => setTimeout(() => {}, 200));
  `);
  assert.notStrictEqual(r.status, 0);
  assert.match(r.stderr, /from callback/);
});

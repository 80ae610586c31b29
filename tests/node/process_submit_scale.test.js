// Submission to a process pool costs O(1) however many tasks are pending:
// the pool keeps what it waits for without scanning it on each submit.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const xf = require('xfutures');

test('ProcessPool submission costs O(1): 100,000 tasks pending at once', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xf-submit-scale-'));
  const tasks = path.join(dir, 'tasks.js');
  // hold(ready, go) says it runs, then keeps the only worker busy until the
  // test writes the FIFO go.
  fs.writeFileSync(tasks, "const fs = require('fs');\n" +
    "exports.hold = (ready, go) => { fs.writeFileSync(ready, 'running'); return fs.readFileSync(go, 'utf8'); };\n");
  const ready = path.join(dir, 'ready');
  const fifo = path.join(dir, 'go');
  execFileSync('mkfifo', [ready, fifo]);
  const pool = new xf.ProcessPool({ maxWorkers: 1 });
  const held = pool.submit(tasks, 'hold', ready, fifo);
  assert.strictEqual(await fs.promises.readFile(ready, 'utf8'), 'running');
  const n = 100000;
  const queued = new Array(n);
  for (let i = 0; i < n; i++) queued[i] = pool.submit('os', 'cpus');
  const down = pool.shutdown({ cancelFutures: true });
  await fs.promises.writeFile(fifo, 'done'); // opens once the task reads it
  assert.strictEqual(await held, 'done');
  await down;
  assert.ok(queued.every((f) => f.cancelled));
  await pool.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

// The MPI executor from Node: run as
//   mpirun -n 3 node tests/mpi/node_mpi.js        (SPMD)
//   mpirun -n 1 node tests/mpi/node_mpi.js        (spawn: 2 workers)
// Every rank runs this file; on rank 0 new xf.MPIPool() is the pool and the
// checks run, on the other ranks it serves rank 0 until its exit. Prints
// "node_mpi: ok" on rank 0.
const assert = require('node:assert');
const path = require('node:path');
const xf = require('xfutures');

const TASKS = path.join(__dirname, 'node_tasks.js');

async function main() {
  const [rank, size] = xf.MPIPool.world();
  const spawn = size === 1;
  const pool = new xf.MPIPool(spawn ? { maxWorkers: 2 } : {});
  assert.strictEqual(rank, 0); // the other ranks never get here

  // Results, of plain and async exports, and errors as themselves.
  assert.strictEqual(await pool.submit(TASKS, 'square', 7), 49);
  assert.deepStrictEqual(await pool.submit(TASKS, 'later', 4), { x: 4, twice: 8 });
  assert.notStrictEqual(await pool.submit(TASKS, 'pid'), process.pid);
  await assert.rejects(pool.submit(TASKS, 'fail', 'boom'), (e) => e.name === 'KeyError' &&
    e.message === 'boom');
  assert.ok(pool.submit(TASKS, 'square', 1) instanceof xf.Future);
  assert.strictEqual(pool.stats().maxWorkers, spawn ? 2 : size - 1);

  // Many tasks.
  const fs = [];
  for (let i = 1; i <= 300; i++) fs.push(pool.submit(TASKS, 'square', i));
  const values = await xf.all(fs);
  assert.strictEqual(values.reduce((a, b) => a + b, 0), (300 * 301 * 601) / 6);
  assert.ok(pool.stats().completed >= 304);

  // Abort: a task not started is dropped.
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(pool.submit(TASKS, 'square', 2, { signal: ac.signal }), { name: 'AbortError' });

  // Shutdown with cancelFutures: every future ends; submit is refused.
  const more = [];
  for (let i = 1; i <= 100; i++) more.push(pool.submit(TASKS, 'square', i));
  await pool.shutdown({ cancelFutures: true });
  more.forEach((f, i) => {
    assert.ok(f.done);
    assert.ok(f.cancelled || f.result() === (i + 1) * (i + 1));
  });
  assert.throws(() => pool.submit(TASKS, 'square', 1), { code: 'XF_ESHUTDOWN' });
  await pool.close();

  if (!spawn) {
    // The ranks serve the next pool; an initializer runs on each first.
    const p2 = new xf.MPIPool({ maxInFlight: 4, initializer: [TASKS, 'setEnv', 'XFT_INIT', 'yes'] });
    assert.strictEqual(await p2.submit(TASKS, 'getEnv', 'XFT_INIT'), 'yes');
    await p2.close();
    assert.throws(() => new xf.MPIPool({ maxWorkers: size }), RangeError);
    // A pool left open at exit is shut down before the ranks are released.
    const open = new xf.MPIPool();
    assert.strictEqual(await open.submit(TASKS, 'square', 3), 9);
  }
  console.log('node_mpi: ok');
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});

// Tasks that randomly fail, in a process pool (seed 004, example 23.2):
// each future gets a done callback, registered before its task is done, and
// the futures are also taken as they complete (asCompleted); both see the
// same results and the same errors, thrown in a worker process and thrown
// again here.
//
// The randomness is a seeded generator, a small LCG (state = 1664525 *
// state + 1013904223 mod 2^32, seed 23, a draw is (state >> 16) % 100) that
// every language of the tour computes alike; the draws are made here and
// handed to the tasks, and a task fails when its draw is below 30. What
// finishes first depends on the machine, so nothing is printed in that
// order: the callbacks and the asCompleted loop note what they saw, and the
// program prints it in task order. The tasks are exports of this file,
// which the workers load: the program runs only under
// require.main === module.
const xf = require('xfutures');

const N = 10;

function lcgDraws(state, count) {
  const draws = [];
  for (let i = 0; i < count; i++) {
    state = (Math.imul(1664525, state) + 1013904223) >>> 0; // mod 2^32
    draws.push((state >>> 16) % 100);
  }
  return draws;
}

class ValueError extends Error {}
ValueError.prototype.name = 'ValueError';

function riskyTask(n, draw) {
  if (draw < 30) throw new ValueError(`task ${n} failed`);
  return n * n;
}

// What a finished future holds, as text.
function outcome(future) {
  try {
    return `result ${future.result()}`;
  } catch (e) {
    return `error "${e.message}"`;
  }
}

async function main() {
  const draws = lcgDraws(23, N);
  const byCallback = new Map();
  const byAsCompleted = new Map();
  let allCalled;
  const called = new Promise((resolve) => { allCalled = resolve; });
  const pool = new xf.ProcessPool({ maxWorkers: 4 });
  const taskOf = new Map();
  for (let n = 1; n <= N; n++) {
    const future = pool.submit(__filename, 'riskyTask', n, draws[n - 1]);
    future.onDone((f) => { // on the main thread, as the task finishes
      byCallback.set(n, outcome(f));
      if (byCallback.size === N) allCalled();
    });
    taskOf.set(future, n);
  }
  for await (const future of xf.asCompleted([...taskOf.keys()])) {
    byAsCompleted.set(taskOf.get(future), outcome(future));
  }
  await called;
  await pool.shutdown();

  let agree = true;
  for (let n = 1; n <= N; n++) {
    console.log(`task ${n} (draw ${draws[n - 1]}): ${byAsCompleted.get(n)}`);
    agree = agree && byCallback.get(n) === byAsCompleted.get(n);
  }
  const errors = (m) => [...m.values()].filter((v) => v.startsWith('error')).length;
  console.log(`done callbacks: ${byCallback.size} called, ${errors(byCallback)} saw an exception`);
  console.log(`as_completed: ${byAsCompleted.size} yielded, ${errors(byAsCompleted)} raised`);
  console.log(`callbacks and as_completed agree: ${agree ? 'True' : 'False'}`);
}

module.exports = { riskyTask };

if (require.main === module) main();

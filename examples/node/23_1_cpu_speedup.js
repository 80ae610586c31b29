// CPU-bound work in a process pool (seed 004, example 23.1): four identical
// workloads (the primes below 100000, counted the slow way), run one after
// another in this process and then at once in a pool of four worker
// processes, each a node of its own.
//
// What is printed is what holds on any machine: the results, and that the
// four pooled workloads ran at the same time in four worker processes. The
// tasks prove the latter by meeting: after its work each task leaves a file
// and waits until all four files exist, which only tasks running at the
// same time can do, and a worker runs one task at a time, so four that meet
// are four processes. The speed-up is not printed: on a loaded two-core
// machine four processes need not be faster than one, so a printed "faster"
// would be a guess or a line that changes from run to run. With
// XF_EXAMPLE_TIMING set, the times and their ratio go to stderr.
//
// A task is an export of a module, which the worker loads with require:
// here this file itself. So the code that makes the pool runs only when the
// file is the program (require.main === module), not when a worker loads
// it, which would make pools again: Python's `if __name__ == "__main__"`.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const xf = require('xfutures');

const LIMIT = 100000;
const N = 4;

function countPrimes(limit) {
  let count = 0;
  for (let n = 2; n < limit; n++) {
    let d = 2;
    while (d * d <= n && n % d !== 0) d++;
    if (d * d > n) count++;
  }
  return count;
}

// countPrimes, then meet the other tasks: leave base.index and wait until
// base.1 ... base.parties all exist. -1 when they did not come within 30
// seconds (a bound that only ends a hang).
async function countPrimesAndMeet(limit, base, index, parties) {
  const count = countPrimes(limit);
  fs.writeFileSync(`${base}.${index}`, '');
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    let here = 0;
    for (let i = 1; i <= parties; i++) if (fs.existsSync(`${base}.${i}`)) here++;
    if (here === parties) return count;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return -1;
}

async function main() {
  let t0 = performance.now();
  let counts = [];
  for (let i = 0; i < N; i++) counts.push(countPrimes(LIMIT));
  const sequential = (performance.now() - t0) / 1000;
  console.log(`primes below ${LIMIT}, four times`);
  console.log(`sequential: ${counts.join(' ')}`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xf_23_1_'));
  const base = path.join(dir, 'meeting'); // the meeting's files: base.1 ...
  const pool = new xf.ProcessPool({ maxWorkers: N });
  t0 = performance.now();
  const futures = [];
  for (let i = 1; i <= N; i++) futures.push(pool.submit(__filename, 'countPrimesAndMeet', LIMIT, base, i, N));
  counts = await xf.all(futures);
  const pooled = (performance.now() - t0) / 1000;
  await pool.shutdown();
  fs.rmSync(dir, { recursive: true });
  console.log(`pool of 4 processes: ${counts.join(' ')}`);
  const met = counts.every((c) => c >= 0);
  console.log(`the four ran at the same time, in 4 worker processes: ${met ? 'True' : 'False'}`);
  if (process.env.XF_EXAMPLE_TIMING) {
    console.error(`sequential ${sequential.toFixed(3)} s, pool ${pooled.toFixed(3)} s, `
      + `speed-up ${(sequential / pooled).toFixed(2)}x`);
  }
}

module.exports = { countPrimesAndMeet };

if (require.main === module) main();

// CPU-bound work on the ranks of an MPI job (seed 004's four identical
// workloads, past one machine): the primes below 100000, counted the slow
// way, four times in this process and then on the worker ranks of an MPI
// pool. Run it under MPI, here as the tour does:
//
//   mpirun -n 3 node examples/node/24_mpi_cpu_speedup.js
//
// or under Slurm as `srun -n 3 node ...`. Every rank runs this file: on rank
// 0, new xf.MPIPool() is the pool; on every other rank it serves rank 0's
// tasks until rank 0 exits, and the rest of the file runs on rank 0 only.
// The task is this module's export countPrimes, which the serving ranks load
// as the process pool's workers do (require, so main() does not run there).
//
// What is printed holds on any machine: the results and the number of worker
// ranks. The speed-up is not printed, since on a loaded two-core machine it
// changes from run to run; with XF_EXAMPLE_TIMING set, the times and their
// ratio go to stderr.
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
exports.countPrimes = countPrimes;

async function main() {
  if (!xf.MPIPool.available()) {
    // Said once, by the first process of the job (or the only one).
    if ((process.env.OMPI_COMM_WORLD_RANK || '0') === '0') console.log('this build of xfutures has no MPI');
    return;
  }
  const pool = new xf.MPIPool();
  let t0 = process.hrtime.bigint();
  const counts = [];
  for (let i = 0; i < N; i++) counts.push(countPrimes(LIMIT));
  const sequential = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`primes below ${LIMIT}, four times`);
  console.log(`sequential: ${counts.join(' ')}`);
  t0 = process.hrtime.bigint();
  const futures = [];
  for (let i = 0; i < N; i++) futures.push(pool.submit(__filename, 'countPrimes', LIMIT));
  const pooled = await xf.all(futures);
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`MPI executor, ${pool.stats().maxWorkers} worker ranks: ${pooled.join(' ')}`);
  await pool.close();
  if (process.env.XF_EXAMPLE_TIMING) {
    process.stderr.write(`sequential ${sequential.toFixed(3)} s, MPI ${elapsed.toFixed(3)} s, ` +
      `speed-up ${(sequential / elapsed).toFixed(2)}x\n`);
  }
}

if (require.main === module) main();

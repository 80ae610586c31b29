// The seed programs (examples/node) run as a user would run them and print
// what the seeds say they print.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const dir = path.join(__dirname, '..', '..', 'examples', 'node');

function example(name) {
  // An example that needs a client (a server) runs under its driver.
  const driver = path.join(dir, '..', 'drivers', name.replace(/\.js$/, '.sh'));
  const command = [process.execPath, path.join(dir, name)];
  if (require('node:fs').existsSync(driver)) command.unshift(driver);
  const r = spawnSync(command[0], command.slice(1), {
    env: process.env, timeout: 20000, encoding: 'utf8',
  });
  assert.strictEqual(r.error, undefined, `${name} hung`);
  assert.strictEqual(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

const expected = {
  '01_future_await': [
    'bar will sleep for 0.1 seconds',
    'foo will await the future',
    'bar resolving the future',
    'foo finds the future resolved: future is resolved',
    'main exiting',
  ],
  '02_pool_as_completed': ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'],
  '03_offload_gather': ['[0, 900, 990000]'],
  '06_chaining': ['Future 1 -> Future 2 -> Future 3'],
  '10_first_completed': ['First completed: fast', 'slow cancelled: True', 'medium cancelled: True'],
  '14_shield': [
    'Shielded waiter was cancelled', 'But future was not: True', 'Future cancelled: False',
    'Future result: Still usable!',
  ],
  // Under mpirun -n 3 (its driver): rank 0 prints, ranks 1 and 2 serve.
  '24_mpi_cpu_speedup': [
    'primes below 100000, four times',
    'sequential: 9592 9592 9592 9592',
    'MPI executor, 2 worker ranks: 9592 9592 9592 9592',
  ],
};

// Every example (scripts/demo.sh checks that each prints the same lines in
// every language); a few against what the seeds say they print.
const fs = require('node:fs');

// The MPI example needs mpirun, and says so when this build has no MPI.
const hasMpirun = spawnSync('sh', ['-c', 'command -v mpirun'], { encoding: 'utf8' }).status === 0;
if (!require('xfutures').MPIPool.available()) {
  expected['24_mpi_cpu_speedup'] = ['this build of xfutures has no MPI'];
}

for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.js')).sort()) {
  const name = file.slice(0, -3);
  const skip = name.startsWith('24_mpi') && !hasMpirun ? 'mpirun is not installed' : false;
  test(`seed example ${name}`, { skip }, () => {
    const out = example(file);
    if (expected[name]) assert.deepStrictEqual(out, expected[name]);
    else assert.ok(out.length > 0 && out[0] !== '');
  });
}

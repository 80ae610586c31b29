// The seed programs (examples/node) run as a user would run them and print
// what the seeds say they print.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const dir = path.join(__dirname, '..', '..', 'examples', 'node');

function example(name) {
  const r = spawnSync(process.execPath, [path.join(dir, name)], {
    env: process.env, timeout: 20000, encoding: 'utf8',
  });
  assert.strictEqual(r.error, undefined, `${name} hung`);
  assert.strictEqual(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

test('000/002: a future resolved by one async function, awaited by another', () => {
  assert.deepStrictEqual(example('future_await.js'), [
    'foo will await the future',
    'bar will sleep for 0.3 seconds',
    'bar resolving the future',
    'foo finds the future resolved: future is resolved',
    'main exiting',
  ]);
});

test('000: native pool results as they complete', () => {
  assert.deepStrictEqual(example('pool_as_completed.js'), ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
});

test('000: offloaded blocking work, gathered', () => {
  const out = example('offload_gather.js');
  assert.strictEqual(out[0], '[ 0, 900, 990000 ]');
  assert.match(out[1], /about 100 ms; the main thread stayed free \(it kept ticking\)/);
});

test('003: timeout', () => {
  assert.deepStrictEqual(example('timeout.js'), [
    'fast enough', 'Future timed out after 0.05 seconds', 'the future was cancelled: true',
    'TimeoutError: timed out',
  ]);
});

test('003: first completed, the rest cancelled', () => {
  assert.deepStrictEqual(example('first_completed.js'), [
    'first completed: fast', 'slow cancelled: true', 'queued native job cancelled: true',
  ]);
});

test('003: errors through futures', () => {
  const out = example('errors.js');
  assert.strictEqual(out[0], 'Caught exception: Something went wrong (ValueError, same object: true)');
  assert.strictEqual(out[1], 'Callback caught: Another error');
  assert.match(out[2], /^ValueError: submitNative: bad signature/);
});

test('003: shield', () => {
  assert.deepStrictEqual(example('shield.js'), [
    'Shielded waiter was cancelled', 'But future was not: true', 'Future cancelled: false',
    'Future result: Still usable!',
  ]);
});

test('003: chaining, and a JS callback called by a C worker', () => {
  assert.deepStrictEqual(example('chain.js'), [
    'Future 1 -> Future 2 -> Future 3', 'add(2, 3) runs on the main thread: true', 'C worker got 5',
  ]);
});

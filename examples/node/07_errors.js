// Error handling through futures (seeds 003 and 004): an error set on a
// future comes out of await and reaches done callbacks; a task that throws
// fails its future with that error. JavaScript cannot run on pool threads,
// so the four tasks are async functions on the main thread, each after a
// short xfutures sleep, turned into futures.
const xf = require('xfutures');

class ValueError extends Error {}
ValueError.prototype.name = 'ValueError';
class RuntimeError extends Error {}
RuntimeError.prototype.name = 'RuntimeError';

async function work(n) {
  await xf.sleep(10);
  if (n % 2 === 0) throw new ValueError(`task ${n} failed`);
  return n * 10;
}

async function main() {
  const future = new xf.Future();
  future.setError(new ValueError('Something went wrong'));
  try {
    await future;
  } catch (e) {
    console.log(`Caught exception: ${e.message}`);
  }

  const another = new xf.Future();
  another.onDone((f) => {
    try {
      f.result();
    } catch (e) {
      console.log(`Callback caught: ${e.message}`);
    }
  });
  another.setError(new RuntimeError('Another error'));
  await xf.sleep(10);

  const futures = [1, 2, 3, 4].map((n) => xf.Future.fromPromise(work(n)));
  // They are awaited one by one below: one that fails before its turn would
  // otherwise be an unhandled rejection, as a Promise's is.
  for (const f of futures) f.catch(() => {});
  for (const [i, f] of futures.entries()) {
    try {
      console.log(`Task ${i + 1} result: ${await f}`);
    } catch (e) {
      console.log(`Task ${i + 1} raised ${e.name}: ${e.message}`);
    }
  }
}

main();

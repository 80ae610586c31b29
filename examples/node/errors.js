// Seed 003, error handling: an error set on a future comes out of await and
// reaches done callbacks; errors from the core carry their type name.
const xf = require('xfutures');

class ValueError extends Error {}
ValueError.prototype.name = 'ValueError';

async function main() {
  const future = new xf.Future();
  const original = new ValueError('Something went wrong');
  future.setError(original);
  try {
    await future;
  } catch (e) {
    console.log(`Caught exception: ${e.message} (${e.name}, same object: ${e === original})`);
  }

  const another = new xf.Future();
  another.onDone((f) => {
    try {
      f.result();
    } catch (e) {
      console.log(`Callback caught: ${e.message}`);
    }
  });
  another.setError(new Error('Another error'));
  await another.catch(() => {});

  const pool = new xf.ThreadPool({ maxWorkers: 1 });
  try {
    pool.submitNative(xf.symbol('usleep'), 'int(uint33)', 1);
  } catch (e) {
    console.log(`${e.name}: ${e.message}`);
  }
  pool.close();
}

main();

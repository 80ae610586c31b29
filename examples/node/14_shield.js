// Shield (seed 003): cancelling a shielded waiter leaves the future alone.
const xf = require('xfutures');

const yes = (b) => (b ? 'True' : 'False');

async function main() {
  const future = new xf.Future();
  const shielded = xf.shield(future);
  const waiter = (async () => {
    try {
      return await shielded;
    } catch (e) {
      if (e instanceof xf.CancelledError) {
        console.log('Shielded waiter was cancelled');
        console.log(`But future was not: ${yes(!future.cancelled)}`);
      }
      throw e;
    }
  })();
  await xf.sleep(20);
  shielded.cancel();
  await waiter.catch(() => {});
  console.log(`Future cancelled: ${yes(future.cancelled)}`);
  future.setResult('Still usable!');
  console.log(`Future result: ${future.result()}`);
}

main();

// Cancellation propagation (seed 003): cancelling the waiter; the waiter
// cancels the future on its way out. JavaScript has no cancellable tasks:
// the waiter awaits its own handle on the future (a shield of it), and
// cancelling that handle is cancelling the waiter.
const xf = require('xfutures');

async function main() {
  const future = new xf.Future();
  const task = xf.shield(future);
  const waiter = (async () => {
    try {
      return await task;
    } catch (e) {
      if (e instanceof xf.CancelledError) {
        console.log('Waiter was cancelled');
        future.cancel();
      }
      throw e;
    }
  })();
  await xf.sleep(20);
  task.cancel();
  await waiter.catch(() => {});
  console.log(`Future cancelled: ${future.cancelled ? 'True' : 'False'}`);
}

main();

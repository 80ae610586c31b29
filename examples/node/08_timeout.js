// Timeout (seed 003): wait_for gives up on a slow future and cancels it.
const xf = require('xfutures');

const yes = (b) => (b ? 'True' : 'False');

async function futureWithTimeout(future, seconds) {
  try {
    return await xf.withTimeout(future, seconds * 1000);
  } catch (e) {
    if (!(e instanceof xf.TimeoutError)) throw e;
    console.log(`Future timed out after ${seconds} seconds`);
    console.log(`The original future was cancelled: ${yes(future.cancelled)}`);
    return null;
  }
}

async function main() {
  const slow = new xf.Future(); // nothing resolves it in time
  await futureWithTimeout(slow, 0.05);
  const quick = new xf.Future();
  xf.sleep(20).onDone(() => quick.setResult('in time'));
  console.log(`Result: ${await futureWithTimeout(quick, 30)}`); // the bound only ends a hang
}

main();

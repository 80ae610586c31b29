// Seed 003, the timeout pattern: wait for a future at most so long.
const xf = require('xfutures');

async function futureWithTimeout(future, seconds) {
  try {
    return await xf.withTimeout(future, seconds * 1000);
  } catch (e) {
    if (e instanceof xf.TimeoutError) {
      console.log(`Future timed out after ${seconds} seconds`);
      console.log(`the future was cancelled: ${future.cancelled}`);
    }
    throw e;
  }
}

async function main() {
  console.log(await futureWithTimeout(xf.sleep(10, 'fast enough'), 0.5));
  try {
    await futureWithTimeout(xf.sleep(2000, 'too slow'), 0.05);
  } catch (e) {
    console.log(`${e.name}: ${e.message}`);
  }
}

main();

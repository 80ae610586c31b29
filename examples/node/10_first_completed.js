// First-completed with cancellation of the rest (seed 003).
const xf = require('xfutures');

const yes = (b) => (b ? 'True' : 'False');

async function main() {
  const slow = xf.sleep(2000, 'slow');
  const fast = xf.sleep(20, 'fast');
  const medium = xf.sleep(1000, 'medium');
  console.log(`First completed: ${await xf.first([slow, fast, medium], { cancelRest: true })}`);
  console.log(`slow cancelled: ${yes(slow.cancelled)}`);
  console.log(`medium cancelled: ${yes(medium.cancelled)}`);
}

main();

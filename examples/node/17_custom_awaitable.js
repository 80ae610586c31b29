// Custom awaitables vs. futures (seed 003): a thenable that delegates to a
// sleep can be awaited like a future, and gathered beside one; but only the
// future holds its outcome: awaiting it again gives the stored result at
// once, while awaiting the custom object runs it again.
const xf = require('xfutures');

const yes = (b) => (b ? 'True' : 'False');

class CustomAwaitable {
  constructor(result, delayMs) {
    this.result = result;
    this.delayMs = delayMs;
    this.runs = 0;
  }

  // `await` calls then(): sleep, then give our result.
  then(resolve, reject) {
    this.runs += 1;
    xf.sleep(this.delayMs).then(() => resolve(this.result), reject);
  }
}

async function main() {
  console.log('Awaiting a custom awaitable');
  console.log(`Result: ${await new CustomAwaitable('Custom result', 20)}`);

  console.log('Gathering a custom awaitable beside a future');
  const custom = new CustomAwaitable('Custom result 2', 10);
  const future = new xf.Future();
  xf.sleep(20).onDone(() => future.setResult('Future result'));
  const results = await xf.all([custom, future]);
  console.log(`Gathered: ${results.join(', ')}`);

  console.log(`The custom awaitable is a future: ${yes(custom instanceof xf.Future)}`);
  console.log(`Awaiting the done future again: ${await future}`);
  const again = await custom;
  console.log(`Awaiting the custom awaitable again runs it again: ${again} (runs: ${custom.runs})`);
}

main();

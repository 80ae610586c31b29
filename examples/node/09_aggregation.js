// Aggregation of results and exceptions (seed 003): wait for every future,
// then sort the outcomes into results and exceptions.
const xf = require('xfutures');

class ValueError extends Error {}
ValueError.prototype.name = 'ValueError';

async function work(n) {
  await xf.sleep(10 * n);
  if (n === 3) throw new ValueError(`task ${n} failed`);
  return n * n;
}

async function aggregateFutures(futures) {
  await xf.all(futures, { collect: true }); // waits for all, failures included
  const results = [];
  const exceptions = [];
  for (const f of futures) {
    try {
      results.push(f.result());
    } catch (e) {
      exceptions.push(e);
    }
  }
  return [results, exceptions];
}

async function main() {
  const futures = [1, 2, 3, 4].map((n) => xf.Future.fromPromise(work(n)));
  const [results, exceptions] = await aggregateFutures(futures);
  console.log(`Aggregated results: [${results.join(', ')}], ` +
    `exceptions: [${exceptions.map((e) => e.message).join(', ')}]`);
}

main();

// A future resolved by one async function after a sleep and awaited by
// another (seeds 000 and 002).
const xf = require('xfutures');

async function bar(future) {
  console.log('bar will sleep for 0.1 seconds');
  await xf.sleep(100);
  console.log('bar resolving the future');
  future.setResult('future is resolved');
}

async function foo(future) {
  console.log('foo will await the future');
  const result = await future;
  console.log(`foo finds the future resolved: ${result}`);
}

async function main() {
  const future = new xf.Future();
  await Promise.all([bar(future), foo(future)]);
}

main().then(() => console.log('main exiting'));

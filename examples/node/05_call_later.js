// call_later resolving a future (seed 002): a coroutine makes a future,
// schedules a resolver and awaits the future. JavaScript cannot ask whether
// the loop runs: the script's top level runs before Node's event loop starts
// and coro is started from it (setImmediate), so those two answers are
// known, not queried. The resolver is scheduled on an xfutures timer.
const xf = require('xfutures');

const mainTid = process.pid; // the main thread's id is the process id
const yes = (b) => (b ? 'True' : 'False');

function resolver(future) {
  console.log(`resolver: on the main thread = ${yes(xf.native.js_thread_id() === mainTid)}`);
  const until = Date.now() + 20;
  while (Date.now() < until); // blocks the loop for 20 ms, as the seed's resolver does
  future.setResult(null);
}

function callLater(seconds, fn, ...args) {
  xf.sleep(seconds * 1000).onDone(() => fn(...args));
}

async function coro() {
  const future = new xf.Future();
  callLater(0.05, resolver, future);
  console.log(`coro: inside a running loop = ${yes(true)}`);
  await future;
  console.log('coro exiting');
}

console.log(`main: inside a running loop = ${yes(false)}`);
setImmediate(() => coro().then(() => console.log('main exiting')));

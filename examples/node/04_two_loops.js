// Event loops in two threads (seed 002) -- the closest Node.js can do.
// Node runs one event loop per thread, and the xfutures addon cannot be
// loaded in a worker_threads Worker (the process aborts), so there is no
// second loop to run xfutures on. "Thread-1" and "Thread-2" here are two
// async functions on the main thread's loop, each sleeping on an xfutures
// timer; the main script's top level runs before Node's loop starts. The
// printed lines match the other languages; only the threads are simulated.
const xf = require('xfutures');

async function doSomethingImportant(name, sleepFor) {
  const report = [`Is event loop running in thread ${name} = True`];
  await xf.sleep(sleepFor * 1000);
  report.push(`${name} slept ${sleepFor} seconds`);
  return report.join('\n');
}

const threads = [1, 2].map((i) => new Promise((resolve) => {
  setImmediate(() => resolve(doSomethingImportant(`Thread-${i}`, 0.05 * i)));
}));
console.log('Is event loop running in thread MainThread = False');
Promise.all(threads).then((reports) => reports.forEach((r) => console.log(r)));

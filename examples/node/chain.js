// Seed 003, chaining: done callbacks feeding the next future, and a native
// function pointer made from a JavaScript function, called by C worker
// threads and run on the main thread.
const xf = require('xfutures');

async function main() {
  const [f1, f2, f3] = [new xf.Future(), new xf.Future(), new xf.Future()];
  f1.onDone((f) => f2.setResult(f.result() + ' -> Future 2'));
  f2.onDone((f) => f3.setResult(f.result() + ' -> Future 3'));
  f1.setResult('Future 1');
  console.log(await f3);

  const pool = new xf.ThreadPool({ maxWorkers: 2 });
  const add = xf.callback('int32(int32, int32)', (a, b) => {
    console.log(`add(${a}, ${b}) runs on the main thread: ${xf.native.js_thread_id() === process.pid}`);
    return a + b;
  });
  console.log(`C worker got ${await pool.submitNative(add, add.signature, 2, 3)}`);
  pool.close();
  add.free();
}

main();

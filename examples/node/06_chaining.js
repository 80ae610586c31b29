// Future chaining (seed 003): each future's done callback resolves the next.
const xf = require('xfutures');

async function main() {
  const [future1, future2, future3] = [new xf.Future(), new xf.Future(), new xf.Future()];
  future1.onDone((f) => future2.setResult(`${f.result()} -> Future 2`));
  future2.onDone((f) => future3.setResult(`${f.result()} -> Future 3`));
  future1.setResult('Future 1');
  console.log(await future3);
}

main();

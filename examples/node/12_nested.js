// Nested futures (seed 003): the outer future's result is the inner future.
// (Awaiting a thenable in JavaScript unwraps it, so `await outer` alone
// would give the inner result; the check below makes the nesting visible.)
const xf = require('xfutures');

async function main() {
  const outer = new xf.Future();
  const inner = new xf.Future();
  outer.setResult(inner);
  console.log(`outer result is a future: ${outer.result() instanceof xf.Future ? 'True' : 'False'}`);
  xf.sleep(50).onDone(() => inner.setResult('Nested result'));
  let result = outer.result();
  if (result instanceof xf.Future) result = await result;
  console.log(result);
}

main();

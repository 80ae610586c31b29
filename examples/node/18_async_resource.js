// Using futures with context managers (seed 003): an async resource is
// acquired and released around the resolution of a future, with try/finally
// and await. The release happens even when the work inside fails, and the
// future's outcome is still there to read after the release.
const xf = require('xfutures');

const yes = (b) => (b ? 'True' : 'False');

class ValueError extends Error {}
ValueError.prototype.name = 'ValueError';

class AsyncResource {
  constructor(name) {
    this.name = name;
    this.released = false;
  }

  async acquire() {
    console.log(`Acquiring ${this.name}`);
    await xf.sleep(10); // acquireResource()
    console.log(`Acquired ${this.name}`);
    return this;
  }

  // Called from finally: with the error when the block is left by one.
  async release(error) {
    const after = error ? ` after ${error.name}: ${error.message}` : '';
    console.log(`Releasing ${this.name}${after}`);
    await xf.sleep(10); // releaseResource()
    this.released = true;
    console.log(`Released ${this.name}`);
  }
}

async function processWithResource(resource, resultFuture, fail) {
  console.log(`Processing with ${resource.name}`);
  await xf.sleep(10);
  if (fail) {
    const error = new ValueError('the job failed');
    resultFuture.setError(error);
    throw error;
  }
  resultFuture.setResult(`processed by ${resource.name}`);
}

async function futureWithContextManager(name, fail = false) {
  const resultFuture = new xf.Future();
  // Its outcome is read only after the release: say now that it will be,
  // or a failure would be an unhandled rejection, as a Promise's is.
  resultFuture.catch(() => {});
  const resource = new AsyncResource(name);
  try {
    await resource.acquire();
    let error = null;
    try {
      await processWithResource(resource, resultFuture, fail);
    } catch (e) {
      error = e;
      throw e;
    } finally {
      await resource.release(error);
    }
  } catch (e) {
    if (!(e instanceof ValueError)) throw e;
    console.log(`Caught ${e.name}: ${e.message}`);
  }
  console.log(`The resource is released: ${yes(resource.released)}`);
  // The resource has been released, but the future still has the outcome.
  try {
    console.log(`The future's result after the release: ${await resultFuture}`);
  } catch (e) {
    console.log(`The future's error after the release: ${e.name}: ${e.message}`);
  }
}

async function main() {
  await futureWithContextManager('connection-1');
  await futureWithContextManager('connection-2', true);
}

main();

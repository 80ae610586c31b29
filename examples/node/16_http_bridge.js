// HTTP server with future-based request handling (seed 003): an `http`
// server accepts GET /request/<id>, starts an async handler that awaits an
// xfutures future under withTimeout, and answers 202 at once.
// GET /response/<id>?text=... resolves that future (404 for an unknown id),
// GET /cancel/<id> withdraws a request and GET /shutdown stops the server.
//
// The server binds 127.0.0.1 on an ephemeral port and prints it; its client
// is examples/drivers/16_http_bridge.sh. It logs each request it serves, in
// the order it serves them, and once every handler has ended it prints
// their outcomes sorted by request id.
const http = require('http');
const xf = require('xfutures');

const DEFAULT_TIMEOUT_MS = 300000; // as in the seed

const requestFutures = new Map(); // request id -> the future of its response
const outcomes = new Map(); // request id -> outcome
const handlers = []; // the handlers' promises

async function handleRequest(requestId, future, ms) {
  try {
    const result = await xf.withTimeout(future, ms);
    outcomes.set(requestId, `completed with: ${result}`);
  } catch (e) {
    if (e instanceof xf.TimeoutError) outcomes.set(requestId, 'timed out');
    else if (e instanceof xf.CancelledError) outcomes.set(requestId, 'was cancelled');
    else throw e;
  } finally {
    requestFutures.delete(requestId);
  }
}

function serve(req, res, stop) {
  const reply = (status, text) => {
    console.log(`GET ${req.url} -> ${status} ${text}`);
    res.writeHead(status, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end(text);
  };
  const url = new URL(req.url, 'http://127.0.0.1');
  const parts = url.pathname.split('/');
  if (parts.length === 3 && parts[1] === 'request') {
    const requestId = parts[2];
    const ms = Number(url.searchParams.get('timeout_ms') ?? DEFAULT_TIMEOUT_MS);
    const future = new xf.Future();
    requestFutures.set(requestId, future);
    handlers.push(handleRequest(requestId, future, ms));
    reply(202, 'Request accepted');
  } else if (parts.length === 3 && (parts[1] === 'response' || parts[1] === 'cancel')) {
    // Taken out of the map, so that a second answer finds nothing.
    const future = requestFutures.get(parts[2]);
    requestFutures.delete(parts[2]);
    if (!future) {
      reply(404, 'Request not found');
    } else if (parts[1] === 'response') {
      future.setResult(url.searchParams.get('text') ?? '');
      reply(200, 'Response delivered');
    } else {
      future.cancel();
      reply(200, 'Request cancelled');
    }
  } else if (url.pathname === '/shutdown') {
    reply(200, 'Shutting down');
    stop();
  } else {
    reply(404, 'Unknown path');
  }
}

async function main() {
  let stopped;
  const closed = new Promise((resolve) => { stopped = resolve; });
  const server = http.createServer((req, res) => serve(req, res, () => server.close(stopped)));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  console.log(`Serving on http://127.0.0.1:${server.address().port}/`);
  await closed;
  // Every handler ends by itself now: resolved, cancelled or timed out.
  await Promise.all(handlers);
  const ids = [...outcomes.keys()].sort();
  for (const id of ids) console.log(`Request ${id} ${outcomes.get(id)}`);
  const count = (k) => [...outcomes.values()].filter((o) => o.startsWith(k)).length;
  console.log(`Server stopped: ${count('completed')} completed, ${count('timed out')} timed out, ` +
    `${count('was cancelled')} cancelled`);
}

main();

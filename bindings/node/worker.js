'use strict';
/*
 * The worker program of xf.ProcessPool: `node worker.js`.
 *
 * Design notes
 * ------------
 * The core's process pool (core/src/process_pool.c) spawns this program
 * with its end of a socketpair as file descriptor 3 and speaks the frames
 * of docs/wire-protocol.md with it; this file is the "node" language of
 * that protocol, as core/worker/xfworker.c is the "c" one:
 *
 *   -> HELLO      [0, 1, pid, ["node"], "xfutures/worker.js"]
 *   <- INIT       [1, 1, null or ["node", payload]]
 *   -> READY      [2, null or error]
 *   <- TASK       [3, id, "node", [module, export, [arg...]]]
 *                  -> RESULT [4, id, value] or ERROR [5, id, error]
 *   <- SHUTDOWN   [6] (or end of file): exit with status 0
 *
 * Frames are encoded and decoded by the core's codec through the binding
 * (native.js_wire_encode, js_wire_decode); only the 4-byte length prefix is
 * handled here. The module is an absolute path (the parent resolved it), or
 * a name that `require` finds (a built-in module); it is loaded with
 * `require`, or with `import()` when it is an ES module, and cached as
 * `require` caches it. The export is called with the arguments and an async
 * export is awaited. Tasks run one after the other, in the order they came.
 *
 * Results and arguments cross as the core's plain kinds (see the notes of
 * process.js). A result that cannot cross (a function, an instance of a class)
 * fails its own task with the TypeError that says so; a thrown value
 * crosses as an error with its name, message and stack.
 *
 * MPI. `node worker.js --mpi` is the worker program of an MPIPool in spawn
 * mode (started by MPI_Comm_spawn): it asks the core for the descriptor of
 * the relay to its parent (xf_mpi_serve_open), speaks the same protocol on
 * it, and when the loop is over waits for the relay to finish
 * (xf_mpi_serve_wait) and leaves with status 0 (a non-zero one would make
 * mpirun end the job). A serving rank of an SPMD job runs this program as
 * a process pool does, with the relay as its descriptor 3 (process.js).
 *
 * Signals. Node resets the signal dispositions it inherits, so SIGINT is
 * ignored here with a listener (Ctrl-C is for the parent, which decides);
 * the listener's handle does not keep the process alive. The worker asks
 * for SIGKILL when its parent goes (PR_SET_PDEATHSIG), and leaves at once
 * if the parent is gone already.
 */
const net = require('net');
const { pathToFileURL } = require('url');
const xf = require('./index.js');

const native = xf.native;
const [HELLO, INIT, READY, TASK, RESULT, ERROR, SHUTDOWN] = [0, 1, 2, 3, 4, 5, 6];
const VERSION = 1;
const FD = 3;
const FRAME_MAX = 2 ** 30;

function frame(items) {
  const body = native.js_wire_encode(items);
  if (body.length > FRAME_MAX) {
    throw new RangeError("the task's result is larger than a frame (1 GiB)");
  }
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

// An Error for anything thrown: a thrown string or object crosses as an Error
// whose message is its text.
function asError(e) {
  if (e instanceof Error) return e;
  const err = new Error(typeof e === 'string' ? e : String(e));
  return err;
}

// The answer to a task, as bytes: RESULT, or ERROR when the task threw or its
// result cannot cross.
function answer(id, ok, value) {
  if (ok) {
    try {
      return frame([RESULT, id, value]);
    } catch (e) {
      value = e;
    }
  }
  try {
    return frame([ERROR, id, asError(value)]);
  } catch (e) {
    return frame([ERROR, id, new TypeError(`the task's error cannot cross: ${e && e.message}`)]);
  }
}

const loaded = new Map();

async function load(module) {
  if (loaded.has(module)) return loaded.get(module);
  let mod;
  if (/\.mjs$/.test(module)) {
    mod = await import(pathToFileURL(module).href);
  } else {
    try {
      mod = require(module);
    } catch (e) {
      if (!e || e.code !== 'ERR_REQUIRE_ESM') throw e;
      mod = await import(pathToFileURL(module).href);
    }
  }
  loaded.set(module, mod);
  return mod;
}

async function call(payload) {
  if (!Array.isArray(payload) || typeof payload[0] !== 'string' ||
      typeof payload[1] !== 'string' || !Array.isArray(payload[2])) {
    throw new TypeError('a node task is [module, export, [args...]]');
  }
  const [module, name, args] = payload;
  const mod = await load(module);
  let fn = mod == null ? undefined : mod[name];
  if (fn === undefined && name === 'default' && typeof mod === 'function') fn = mod;
  if (typeof fn !== 'function') {
    throw new TypeError(`${module} has no function export named ${JSON.stringify(name)}`);
  }
  return await fn(...args);
}

function main() {
  if (!native.js_worker_setup()) process.exit(1); // the pool is gone already
  process.on('SIGINT', () => {});
  const mpi = process.argv.includes('--mpi');
  const fd = mpi ? native.js_mpi_serve_open(-1) : FD;
  const exit = (status) => {
    if (!mpi) process.exit(status);
    native.js_mpi_serve_wait();
    process.exit(0);
  };

  const sock = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
  let buffered = Buffer.alloc(0);
  let state = 'init';
  let chain = Promise.resolve();
  let leaving = false;

  const leave = (status) => {
    if (leaving) return;
    leaving = true;
    sock.end(() => exit(status));
  };

  const onFrame = (msg) => {
    if (!Array.isArray(msg) || typeof msg[0] !== 'number') return leave(1);
    if (state === 'init') {
      if (msg[0] !== INIT) return leave(1);
      state = 'ready';
      let err = null;
      if (msg[1] !== VERSION) {
        err = new RangeError(`unsupported protocol version ${msg[1]}`);
      } else if (msg[2] != null) {
        const init = msg[2];
        if (!Array.isArray(init) || init[0] !== 'node') {
          err = new TypeError('xfutures/worker.js runs initializers of language "node" only');
        } else {
          chain = chain.then(() => call(init[1])).then(
            () => { sock.write(frame([READY, null])); },
            (e) => {
              process.stderr.write(`Exception in initializer:\n${asError(e).stack}\n`);
              sock.write(frame([READY, asError(e)]));
              leave(1);
            });
          return undefined;
        }
      }
      sock.write(frame([READY, err]));
      if (err) leave(1);
      return undefined;
    }
    if (msg[0] === SHUTDOWN) {
      chain = chain.then(() => leave(0));
      return undefined;
    }
    if (msg[0] !== TASK || typeof msg[1] !== 'number') return leave(1);
    const [, id, language, payload] = msg;
    chain = chain.then(async () => {
      let ok = true;
      let value;
      try {
        if (language !== 'node') {
          throw new TypeError(`xfutures/worker.js runs tasks of language "node" only, not ${JSON.stringify(language)}`);
        }
        value = await call(payload);
      } catch (e) {
        ok = false;
        value = e;
      }
      if (!leaving) sock.write(answer(id, ok, value));
    });
    return undefined;
  };

  sock.on('data', (chunk) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    while (buffered.length >= 4 && !leaving) {
      const n = buffered.readUInt32BE(0);
      if (n === 0 || n > FRAME_MAX) return leave(1);
      if (buffered.length < 4 + n) break;
      const body = buffered.subarray(4, 4 + n);
      buffered = buffered.subarray(4 + n);
      let msg;
      try {
        msg = native.js_wire_decode(body);
      } catch (e) {
        return leave(1); // malformed: the conversation is over
      }
      onFrame(msg);
    }
    return undefined;
  });
  // The end of the socket is SHUTDOWN; the tasks under way finish first.
  sock.on('end', () => { chain = chain.then(() => leave(0)); });
  sock.on('error', () => exit(1));

  sock.write(frame([HELLO, VERSION, process.pid, ['node'], 'xfutures/worker.js']));
}

main();

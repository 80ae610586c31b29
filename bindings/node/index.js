'use strict';
/*
 * xfutures for Node.js: the idiomatic layer over the generated addon
 * (xfutures_native.node). Futures, pools, closures and combinators are the
 * C core's; this file gives them JavaScript's shape: thenables, classes,
 * options objects, Error subclasses, async iterators.
 *
 * Values cross as the value policy of the README says (its table, "The
 * value policy"), in short:
 *   undefined              <-> void
 *   null                   <-> the null pointer (C's NULL, Lua's xf.null); as
 *                              a native argument or a callback's result, void
 *                              (NULL for a pointer or string parameter)
 *   boolean                <-> bool
 *   number                 --> int when it is a safe integer other than -0,
 *                              double otherwise (-0, fractions, NaN, ±Infinity,
 *                              beyond 2^53 - 1)
 *   int                    --> number when |i| <= 2^53 - 1, BigInt beyond
 *                              (exact: 2^53 + 1 reads as 9007199254740993n)
 *   BigInt                 --> int (int64; values in [2^63, 2^64) take the
 *                              uint64 bits, for native uint64 arguments),
 *                              RangeError outside
 *   double                 <-> number (-0, NaN and the infinities as they are)
 *   string                 <-> string (UTF-8, NUL bytes included)
 *   ArrayBuffer and views  --> bytes --> Buffer
 *   Array                  --> list (holes as undefined, other properties
 *                              stay behind) --> Array
 *   plain object, Map      --> map (own enumerable string keys in order; a
 *                              Map's keys as values) --> plain object when
 *                              every key is a string or an int, Map otherwise
 *   native pointer         <-> External (xf.symbol(), Callback.pointer)
 *   Error                  --> error; an error comes back as the very same
 *                              Error when it started in JavaScript
 *   anything else, and an array or object that contains itself or nests
 *   deeper than 64 levels  <-> object: the same JavaScript value comes back
 * An array, plain object, Map or bytes view given back to JavaScript is the
 * very same object, as a Promise would give it, while it has not changed
 * since it was set. xf.coreRepr(fut) shows what the core holds.
 */
const path = require('path');

function loadNative() {
  const candidates = [
    path.join(__dirname, 'xfutures_native.node'),
    path.join(__dirname, 'build', 'bindings', 'node', 'xfutures', 'xfutures_native.node'),
    path.join(__dirname, '..', '..', 'build', 'default', 'bindings', 'node', 'xfutures',
      'xfutures_native.node'),
  ];
  const fs = require('fs');
  for (const c of candidates) {
    if (fs.existsSync(c)) return require(c);
  }
  throw new Error('xfutures: the native module is not built; run `make build` in the ' +
    'repository, or `npm install ./bindings/node`');
}

const native = loadNative();

// ---- Errors -----------------------------------------------------------------

class CancelledError extends Error {}
class TimeoutError extends Error {}
class InvalidStateError extends Error {}
class BrokenExecutor extends Error {}
class DeadlockError extends Error {}
/** A ThreadPool with queuePolicy 'reject' refused a job: its queue was full. */
class QueueFull extends Error {}
/**
 * An operation given { signal } was aborted: code 'ABORT_ERR' and the
 * signal's reason as its cause, as Node's own timers/promises reject.
 */
class AbortError extends Error {
  constructor(message = 'The operation was aborted', options = undefined) {
    super(message, options);
    this.code = 'ABORT_ERR';
  }
}
const errorClasses = {
  CancelledError, TimeoutError, InvalidStateError, BrokenExecutor, DeadlockError, QueueFull,
  AbortError, TypeError, RangeError,
};
for (const [name, cls] of Object.entries(errorClasses)) {
  if (!Object.prototype.hasOwnProperty.call(cls.prototype, 'name') || cls.prototype.name !== name) {
    Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
  }
}

// The type name the core gives an error it makes itself, by code (the table
// of core/include/xf/common.h), for the codes whose name is not one of ours.
// Such an error (that name for that code, and no traceback of another
// runtime) becomes what a Node user expects: a TypeError or RangeError with
// Node's code for a bad argument, else an Error that keeps the core's code.
// An error raised by another runtime (a Python ValueError in a task) keeps
// its own name.
const CORE_TYPES = {
  XF_EINVAL: 'ValueError', XF_ENOMEM: 'MemoryError', XF_EFAILED: 'RuntimeError',
  XF_ESHUTDOWN: 'RuntimeError', XF_EWRONGTHREAD: 'RuntimeError', XF_ETYPE: 'TypeError',
  XF_ECLOSED: 'RuntimeError', XF_EBUSY: 'RuntimeError', XF_ERANGE: 'OverflowError',
  XF_ESYS: 'OSError',
};
const NODE_ERRORS = {
  XF_EINVAL: [TypeError, 'ERR_INVALID_ARG_VALUE'],
  XF_ETYPE: [TypeError, 'ERR_INVALID_ARG_TYPE'],
  XF_ERANGE: [RangeError, 'ERR_OUT_OF_RANGE'],
};

// Errors made here from the core's: their own stack shows only this module
// (they are made when the outcome is read), so a future puts the stack of
// the call that made it in its place (Future#_fix).
const coreErrors = new WeakSet();

function makeError(type, message, traceback, code, errno) {
  let e;
  if (traceback === undefined && CORE_TYPES[code] === type) {
    const [Cls, nodeCode] = NODE_ERRORS[code] || [Error, code];
    e = new Cls(message);
    e.code = nodeCode;
  } else {
    const Cls = Object.prototype.hasOwnProperty.call(errorClasses, type) ? errorClasses[type] : Error;
    e = new Cls(message);
    if (e.name !== type) e.name = type;
    if (traceback !== undefined) e.traceback = traceback;
    e.code = code;
  }
  e.errno = errno;
  Error.captureStackTrace(e, makeError);
  coreErrors.add(e);
  return e;
}

// The stack of the caller of fn, for the errors of the future it makes.
function callSite(fn) {
  const site = {};
  Error.captureStackTrace(site, fn);
  return site;
}

function abortError(signal) {
  return new AbortError(undefined, { cause: signal.reason });
}

// options.signal, checked: undefined or an AbortSignal.
function signalOf(options, what) {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object') throw new TypeError(`${what}: options must be an object`);
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`${what}: options.signal must be an AbortSignal`);
  }
  return signal;
}

// A trailing argument that is options rather than data: a plain object whose
// signal is an AbortSignal (no native parameter takes a plain object, and an
// AbortSignal cannot cross to a worker, so it is never a task's argument).
function isSignalOptions(v) {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return (proto === Object.prototype || proto === null) && v.signal instanceof AbortSignal;
}

// ---- Done callbacks: one dispatcher for every registration -------------------

const registrations = new Map(); // id -> [fn, future]

function dispatch(ids) {
  for (const id of ids) {
    const entry = registrations.get(id);
    if (!entry) continue;
    registrations.delete(id);
    const [fn, fut] = entry;
    if (fut._regs) fut._regs.delete(id);
    try {
      fn(fut);
    } catch (e) {
      process.nextTick(() => { throw e; });
    }
  }
}

function report(error, fatal, message) {
  if (fatal) {
    process.nextTick(() => { throw error; });
  } else {
    process.emitWarning(`${message}${error ? `: ${error.message}` : ''}`, 'XfuturesWarning');
  }
}

native.js_init(dispatch, makeError, report);

const futureRegistry = new FinalizationRegistry((h) => native.future_unref(h));
const poolRegistry = new FinalizationRegistry((h) => native.executor_unref(h));
const closureRegistry = new FinalizationRegistry((h) => native.closure_unref(h));

const STATES = ['pending', 'running', 'finished', 'cancelled'];
const WRAP = Symbol('xfutures.wrap');
const noop = () => {};

// The internal registration that reports a failure nobody observes.
function reportUnobserved(fut) {
  fut._failedUnobserved();
}

// Native futures made in this turn, to be tracked if still unobserved.
let untracked = [];
function trackUnobserved() {
  const list = untracked;
  untracked = [];
  for (const f of list) {
    if (!f._observed && f._h !== null) f._onDone(reportUnobserved, false);
  }
}

// ---- Future -----------------------------------------------------------------

/*
 * Unhandled rejections. A future that fails while nobody observes it is
 * reported as a Promise's rejection is: at that point it gets a rejected
 * Promise with no handler (its toPromise()), so Node emits
 * 'unhandledRejection' (and, under --unhandled-rejections=strict, the
 * process fails), and 'rejectionHandled' when it is observed later. Its
 * user observes a future by then/catch/finally/await/toPromise, result(),
 * exception(), onDone, or by giving it to a combinator, withTimeout,
 * shield, chain or asCompleted. A JavaScript future fails in setError; a
 * future that native code finishes (a pool's job, a combinator's, a
 * timeout's) has a registration that does not keep the process alive and
 * looks when it is done. A cancellation is never reported: whoever
 * cancelled knows.
 */
class Future {
  /**
   * new Future(): a pending future for JavaScript to finish. Futures that
   * native work finishes come from ThreadPool.submitNative, sleep,
   * withTimeout and the combinators.
   */
  constructor(token, handle, keepAlive) {
    if (token === WRAP) {
      this._h = handle;
      this._keepAlive = keepAlive;
    } else {
      this._h = native.js_future_new();
      this._keepAlive = false; // only JavaScript can finish it
    }
    this._regs = null;
    this._promise = null;
    this._observed = false;
    this._site = null; // the stack of the call that made it, for its errors
    this._inputs = null; // any's inputs, for its AggregateError
    futureRegistry.register(this, this._h, this);
  }

  static _wrap(handle, keepAlive = true) {
    return new Future(WRAP, handle, keepAlive);
  }

  /**
   * { future, resolve, reject }: a pending future and its settling
   * functions, which may be called detached, as Promise.withResolvers gives.
   */
  static withResolvers() {
    const future = new Future();
    return { future, resolve: (v) => future.resolve(v), reject: (e) => future.reject(e) };
  }

  /** A future that follows a Promise (or any thenable, or a plain value). */
  static fromPromise(p) {
    if (p instanceof Future) return p;
    const f = new Future();
    Promise.resolve(p).then((v) => { f.resolve(v); }, (e) => { f.reject(e); });
    return f;
  }

  get _handle() {
    if (this._h === null) throw makeError('InvalidStateError', 'the future was freed', undefined, 'XF_ECLOSED', -12);
    return this._h;
  }

  get state() { return STATES[native.future_state(this._handle)]; }
  get done() { return native.future_done(this._handle); }
  get cancelled() { return native.future_cancelled(this._handle); }
  get running() { return native.future_running(this._handle); }

  /** Cancel while pending; true if the future is (now) cancelled. */
  cancel(msg) {
    const h = this._handle;
    if (this._site === null) this._site = callSite(this.cancel);
    return native.js_future_cancel(h, msg === undefined || msg === null ? '' : String(msg));
  }

  /** Finish with value; InvalidStateError once the future is done. */
  setResult(value) { native.js_future_set_result(this._handle, value); return this; }

  /** Fail with error; InvalidStateError once the future is done. */
  setError(error) {
    native.js_future_set_error(this._handle, error);
    this._failedUnobserved();
    return this;
  }

  /**
   * As setResult, but a no-op on a future that is done (as a Promise's
   * resolve function is); true if this call finished it.
   */
  resolve(value) {
    if (this.done) return false;
    this.setResult(value);
    return true;
  }

  /** As setError, but a no-op on a future that is done; true if this call failed it. */
  reject(error) {
    if (this.done) return false;
    this.setError(error);
    return true;
  }

  /**
   * The value of a done future, or its error thrown. A pending future throws
   * a DeadlockError: blocking JavaScript's only thread would freeze the
   * process, so await the future instead.
   */
  result() {
    const h = this._handle;
    this._observe();
    try {
      return this._read(h);
    } catch (e) {
      throw this._fix(e);
    }
  }

  /** The error of a done future (CancelledError when cancelled), or null. */
  exception() {
    const h = this._handle;
    this._observe();
    const e = native.js_future_exception(h);
    return e === undefined ? null : this._fix(e);
  }

  /**
   * Call fn(future) on the main thread once the future is done, whichever
   * thread finishes it; never synchronously. Returns the future.
   */
  onDone(fn) {
    if (typeof fn !== 'function') throw new TypeError('onDone expects a function');
    const id = native.js_future_add_done(this._handle, this._keepAlive);
    this._observe();
    registrations.set(id, [fn, this]);
    (this._regs || (this._regs = new Map())).set(id, fn);
    return this;
  }

  // onDone for this module's own use: it neither observes the future nor
  // shows in offDone. keep: whether it keeps the process alive.
  _onDone(fn, keep = this._keepAlive) {
    registrations.set(native.js_future_add_done(this._handle, keep), [fn, this]);
    return this;
  }

  // Report a failure if nobody observes this future when it fails. Most
  // futures are observed in the turn that made them (awaited, given to a
  // combinator), so the registration is made only for those still
  // unobserved once the turn is over: one setImmediate per batch.
  _track() {
    if (untracked.length === 0) setImmediate(trackUnobserved);
    untracked.push(this);
    return this;
  }

  _observe() {
    if (this._observed) return;
    this._observed = true;
    // A rejection reported already is handled now ('rejectionHandled').
    if (this._promise !== null) this._promise.catch(noop);
  }

  _failedUnobserved() {
    if (this._observed || this._promise !== null || this._h === null) return;
    if (native.future_cancelled(this._h)) return;
    const e = native.js_future_exception(this._h);
    if (e !== undefined) this._promise = Promise.reject(this._fix(e));
  }

  // An error read from the core, made whole: any's AggregateError with its
  // inputs' errors, and the stack of the call that made the future.
  _fix(e) {
    if (e === null || typeof e !== 'object' || !coreErrors.has(e)) return e;
    if (this._inputs !== null && e.name === 'AggregateError') {
      const agg = new AggregateError(this._inputs.map((f) => (f._h === null
        ? makeError('CancelledError', 'the future was freed', undefined, 'XF_ECANCELLED', -5)
        : f.exception())), e.message);
      agg.code = e.code;
      agg.errno = e.errno;
      coreErrors.add(agg);
      e = agg;
    }
    if (this._site !== null) {
      const frames = this._site.stack;
      const at = frames.indexOf('\n');
      e.stack = `${e.name}: ${e.message}${at < 0 ? '' : frames.slice(at)}`;
    }
    return e;
  }

  /** Remove every registration of fn not run yet; returns how many. */
  offDone(fn) {
    if (!this._regs) return 0;
    let n = 0;
    for (const [id, f] of this._regs) {
      if (f !== fn) continue;
      n += native.js_future_remove_done(this._handle, id);
      this._regs.delete(id);
      registrations.delete(id);
    }
    return n;
  }

  /**
   * A Promise settled with the future's outcome (cached). A future already
   * done settles it at once (its reactions still run asynchronously, as
   * Promises/A+ requires), without a trip through the core's loop.
   */
  toPromise() {
    this._observe();
    if (!this._promise) {
      const h = this._handle;
      // An error is made inside a reaction of the promise its awaiter waits
      // for, so that V8 gives its stack the awaiting async functions ("at
      // async f"), as for Node's own promises.
      const read = () => {
        try {
          return this._read(h);
        } catch (e) {
          throw this._fix(e);
        }
      };
      if (!native.future_done(h)) {
        this._promise = new Promise((resolve) => { this._onDone(() => resolve()); }).then(read);
      } else {
        try {
          this._promise = Promise.resolve(this._read(h));
        } catch (e) {
          this._promise = Promise.resolve().then(read);
        }
      }
    }
    return this._promise;
  }

  /** The value of a done future (a subclass may read it otherwise). */
  _read(h) {
    return native.js_future_result(h);
  }

  // Promises/A+: the reactions are the Promise's, so they are asynchronous,
  // chain, assimilate thenables and take any rejection value.
  then(onFulfilled, onRejected) { return this.toPromise().then(onFulfilled, onRejected); }
  catch(onRejected) { return this.toPromise().catch(onRejected); }
  finally(onFinally) { return this.toPromise().finally(onFinally); }

  /** Drop the native reference now (GC does it otherwise). */
  free() {
    if (this._h === null) return;
    futureRegistry.unregister(this);
    native.future_unref(this._h);
    this._h = null;
  }

  close() { this.free(); }

  get [Symbol.toStringTag]() { return 'Future'; }
}

// A native future made by the call fn: tracked for unhandled failures, and
// with fn's call site as the stack of its errors (when fn is given: a
// thread pool's jobs go without, since the capture would cost more than the
// submission; an await of one still shows the awaiting functions).
function made(handle, keepAlive, fn, Cls = Future) {
  const f = new Cls(WRAP, handle, keepAlive);
  if (fn !== null) f._site = callSite(fn);
  return f._track();
}

// A future that follows inner until signal aborts: then it fails with an
// AbortError and inner is cancelled (and onAbort called).
function abortable(inner, signal, onAbort = noop) {
  if (signal === undefined) return inner;
  const out = new inner.constructor();
  out._keepAlive = inner._keepAlive;
  out._site = inner._site;
  const abort = () => {
    if (!out.done) out.setError(abortError(signal));
    inner.cancel();
    onAbort();
  };
  if (signal.aborted) {
    abort();
    return out;
  }
  signal.addEventListener('abort', abort, { once: true });
  chain(inner, out);
  inner._onDone(() => signal.removeEventListener('abort', abort), false);
  return out;
}

// A job's future that its user freed can no longer be waited for (its job
// still finishes before the native pool goes): the pool counts it as done.
function doneOrFreed(f) {
  return f._h === null || native.future_done(f._h);
}

function toFuture(x) {
  if (x instanceof Future) return x;
  return Future.fromPromise(x);
}

function futures(list, what) {
  if (list == null || typeof list[Symbol.iterator] !== 'function') {
    throw new TypeError(`${what} expects an iterable of futures, promises or values`);
  }
  return Array.from(list, toFuture);
}

// ---- Combinators ------------------------------------------------------------

// The core's combinator kind over fs, made by the call fn. The inputs are
// observed (the result carries their outcome) unless mine: this module's
// own waits, which leave the inputs to their users.
function combined(kind, fs, flag, fn, mine = false) {
  const handles = fs.map((f) => f._handle);
  const keep = fs.some((f) => f._keepAlive);
  const out = Future._wrap(native.js_combine(kind, handles, flag), keep);
  if (mine) {
    out._observed = true;
    return out;
  }
  for (const f of fs) f._observe();
  out._site = callSite(fn);
  return out._track();
}

/** A future of the array of values (fail fast; collect: errors in place). */
function all(fs, { collect = false } = {}) {
  return combined(0, futures(fs, 'all'), !!collect, all);
}

/** The first value to succeed; an AggregateError (its .errors: every input's) if all fail. */
function any(fs, { cancelRest = true } = {}) {
  const list = futures(fs, 'any');
  const out = combined(1, list, !!cancelRest, any);
  out._inputs = list;
  return out;
}

/** The outcome of whichever is done first; the others are cancelled. */
function first(fs, { cancelRest = true } = {}) {
  return combined(2, futures(fs, 'first'), !!cancelRest, first);
}

/** Promise.race for futures: first() that leaves the others running. */
function race(fs) {
  return combined(2, futures(fs, 'race'), false, race);
}

/**
 * Follows fut unless ms pass first: then fut is cancelled and the result
 * fails with TimeoutError. options.signal: aborting it fails the result with
 * an AbortError and cancels fut.
 */
function withTimeout(fut, ms, options) {
  const signal = signalOf(options, 'withTimeout');
  const f = toFuture(fut);
  f._observe();
  if (signal !== undefined && signal.aborted) {
    f.cancel();
    return new Future().setError(abortError(signal));
  }
  const out = made(native.js_timeout(f._handle, Number(ms)), true, withTimeout);
  return abortable(out, signal, () => f.cancel());
}

/**
 * Copy src's outcome into dst (a Future) when src is done, if dst is still
 * pending. Cancellation flows both ways: cancelling dst cancels src, and a
 * cancelled src cancels dst.
 */
function chain(src, dst) {
  const s = toFuture(src);
  if (!(dst instanceof Future)) throw new TypeError('chain: dst must be a Future');
  native.js_future_chain(s._handle, dst._handle);
  s._observe();
  dst._track();
  if (s._keepAlive) dst._keepAlive = true;
}

/** A future whose cancellation does not cancel fut. */
function shield(fut) {
  const f = toFuture(fut);
  f._observe();
  return made(native.js_shield(f._handle), f._keepAlive, shield);
}

/**
 * A future that gets `value` (default undefined) after ms milliseconds, as
 * Node's timers/promises setTimeout(ms, value, { signal }). options.signal:
 * aborting it fails the future with an AbortError (whose cause is the
 * signal's reason) and stops the timer. sleep(ms, { signal }) is
 * sleep(ms, undefined, { signal }): a second argument that is a plain
 * object whose signal is an AbortSignal is taken as the options.
 */
function sleep(ms, value, options) {
  if (options === undefined && arguments.length === 2 && isSignalOptions(value)) {
    options = value;
    value = undefined;
  }
  const signal = signalOf(options, 'sleep');
  if (signal !== undefined && signal.aborted) return new Future().setError(abortError(signal));
  let f = Future._wrap(native.js_sleep(Number(ms)), true);
  f._site = callSite(sleep);
  if (value !== undefined) {
    const timer = f;
    f = new Future();
    f._keepAlive = true;
    f._site = timer._site;
    timer._onDone(() => { if (timer.cancelled) f.cancel(); else f.resolve(value); });
    f._onDone(() => { if (f.cancelled) timer.cancel(); }, false);
  }
  return abortable(f, signal);
}

/**
 * An async iterator over the futures as they complete (already done ones
 * first): `for await (const f of asCompleted(fs))` gives each Future itself
 * (not its value: read it with f.result()). With timeout (ms), next()
 * rejects with a TimeoutError when it passes before the next one is done.
 * (Written by hand rather than as an async generator, which would await the
 * futures it yields, since they are thenables.)
 */
function asCompleted(fs, { timeout } = {}) {
  const list = [...new Set(futures(fs, 'asCompleted'))];
  const ready = [];
  let left = list.length;
  let waiter = null;
  const wake = () => { if (waiter) { const w = waiter; waiter = null; w(); } };
  for (const f of list) f.onDone(() => { ready.push(f); wake(); });
  const timer = timeout === undefined || timeout === null || timeout < 0 ? null : sleep(timeout);
  if (timer) timer._onDone(wake);
  const finish = () => {
    left = 0;
    if (timer && !timer.done) timer.cancel();
    return Promise.resolve({ value: undefined, done: true });
  };
  const it = {
    async next() {
      if (left === 0) return finish();
      while (ready.length === 0) {
        if (timer && timer.done) {
          throw makeError('TimeoutError', `${left} (of ${list.length}) futures unfinished`,
            undefined, 'XF_ETIMEDOUT', -4);
        }
        await new Promise((r) => { waiter = r; });
      }
      left--;
      const value = ready.shift();
      if (left === 0 && timer && !timer.done) timer.cancel();
      return { value, done: false };
    },
    return() { return finish(); },
    [Symbol.asyncIterator]() { return this; },
  };
  return it;
}

// ---- Executors --------------------------------------------------------------

function pointerOf(fn) {
  if (fn instanceof Callback) return fn.pointer;
  return fn;
}

const QUEUE_POLICIES = ['block', 'reject'];

class ThreadPool {
  /**
   * A pool of native threads: { maxWorkers = min(32, cpus + 4),
   * threadNamePrefix, maxQueue = 0, queuePolicy = 'block' }. maxQueue > 0
   * bounds the queue of jobs waiting for a worker. When it is full,
   * submitNative throws a QueueFull error (queuePolicy 'reject') or, with
   * 'block', the job waits for room without blocking the main thread: the
   * returned future stays pending until the pool accepts the job (jobs are
   * accepted in submission order; cancelling the future drops the job), and
   * `await pool.accepted()` waits for that, as a blocking submit would.
   */
  constructor({ maxWorkers = 0, threadNamePrefix = 'xfnode', maxQueue = 0, queuePolicy = 'block' } = {}) {
    if (!Number.isInteger(maxWorkers) || maxWorkers < 0) {
      throw new RangeError('maxWorkers must be an integer >= 0 (0: the default)');
    }
    if (!Number.isSafeInteger(maxQueue) || maxQueue < 0) {
      throw new RangeError('maxQueue must be an integer >= 0 (0: unbounded)');
    }
    if (!QUEUE_POLICIES.includes(queuePolicy)) {
      throw new RangeError("queuePolicy must be 'block' or 'reject'");
    }
    this._h = maxQueue > 0
      ? native.js_thread_pool_bounded(maxWorkers, String(threadNamePrefix), maxQueue)
      : native.js_thread_pool_new(maxWorkers, String(threadNamePrefix));
    this._submitted = new Set();
    this._prune = 1024;
    this._inflight = 0; // jobs of a bounded 'block' pool not done yet
    this._maxQueue = maxQueue;
    this._policy = queuePolicy;
    this._waiting = []; // jobs waiting for room: { fn, signature, args, out }
    this._acceptWaiters = [];
    this._retry = null;
    poolRegistry.register(this, this._h, this);
  }

  /** The bounded queue's policy ('block' or 'reject') and size (0: unbounded). */
  get queuePolicy() { return this._policy; }
  get maxQueue() { return this._maxQueue; }

  get _handle() {
    if (this._h === null) throw makeError('RuntimeError', 'the pool was closed', undefined, 'XF_ECLOSED', -12);
    return this._h;
  }

  /**
   * Run the C function fn (xf.symbol(name), a Callback, or a BigInt address)
   * of the given signature, e.g. 'int32(int32, double)', on a worker thread.
   * A last argument { signal } (a plain object whose signal is an
   * AbortSignal) is the options: aborting the signal fails the future with
   * an AbortError and drops the job if it has not started.
   */
  submitNative(fn, signature, ...args) {
    if (typeof signature !== 'string') throw new TypeError('submitNative: signature must be a string');
    const h = this._handle;
    const signal = args.length > 0 && isSignalOptions(args[args.length - 1]) ? args.pop().signal : undefined;
    if (signal !== undefined && signal.aborted) return new Future().setError(abortError(signal));
    let f;
    if (this._waiting.length > 0) {
      f = this._defer(fn, signature, args);
    } else {
      try {
        f = this._submitNow(h, fn, signature, args);
      } catch (e) {
        if (!e || e.code !== 'XF_EAGAIN') throw e;
        if (this._policy === 'reject') {
          throw makeError('QueueFull', "submitNative: the thread pool's queue is full", undefined,
            'XF_EAGAIN', -11);
        }
        f = this._defer(fn, signature, args);
      }
    }
    return abortable(f, signal);
  }

  _submitNow(h, fn, signature, args) {
    const f = made(native.js_submit_native(h, pointerOf(fn), signature, args), true, null);
    // The futures shutdown waits for: the done ones are dropped each time the
    // set has doubled since, so that a submission costs O(1) amortized.
    if (this._submitted.size >= this._prune) {
      for (const s of this._submitted) if (doneOrFreed(s)) this._submitted.delete(s);
      this._prune = Math.max(1024, 2 * this._submitted.size);
    }
    this._submitted.add(f);
    if (fn instanceof Callback) f._onDone(() => fn); // the closure outlives the call
    // A job of a bounded pool that is done makes room for a waiting one.
    if (this._maxQueue > 0 && this._policy === 'block') {
      this._inflight++;
      f._onDone(() => { this._inflight--; this._pump(); });
    }
    return f;
  }

  // Park a job until the queue has room (the 'block' policy, asynchronously).
  _defer(fn, signature, args) {
    const out = new Future();
    out._keepAlive = true;
    this._waiting.push({ fn, signature, args, out });
    this._armRetry();
    return out;
  }

  // Hand waiting jobs to the pool, in order, while it has room.
  _pump() {
    while (this._waiting.length > 0 && this._h !== null) {
      const job = this._waiting[0];
      if (job.out.done) { this._waiting.shift(); continue; } // cancelled meanwhile
      let f;
      try {
        f = this._submitNow(this._h, job.fn, job.signature, job.args);
      } catch (e) {
        if (e && e.code === 'XF_EAGAIN') break;
        this._waiting.shift();
        job.out.setError(e);
        continue;
      }
      this._waiting.shift();
      chain(f, job.out);
    }
    if (this._waiting.length === 0) {
      const ws = this._acceptWaiters;
      this._acceptWaiters = [];
      for (const w of ws) w.setResult(undefined);
    } else {
      this._armRetry();
    }
  }

  // With nothing of ours in flight to signal room (all done already, or
  // jobs submitted by other threads), look again shortly.
  _armRetry() {
    if (this._retry || this._inflight > 0) return;
    this._retry = sleep(1);
    this._retry._onDone(() => { this._retry = null; this._pump(); });
  }

  /**
   * A future done once every job waiting for room (queuePolicy 'block') has
   * been accepted by the pool (at once if none waits).
   */
  accepted() {
    const f = new Future();
    if (this._waiting.length === 0) {
      f.setResult(undefined);
    } else {
      f._keepAlive = true;
      this._acceptWaiters.push(f);
    }
    return f;
  }

  /**
   * Stop accepting work (cancelFutures: drop the queued jobs). Returns a
   * future that is done when every accepted job has finished (wait) or at
   * once; the main thread never blocks on the workers.
   */
  shutdown({ wait = true, cancelFutures = false } = {}) {
    native.js_executor_shutdown(this._handle, false, !!cancelFutures);
    // Jobs still waiting for room: cancelled, or refused as submissions
    // after shutdown are.
    const waiting = this._waiting;
    this._waiting = [];
    for (const job of waiting) {
      if (job.out.done) continue;
      if (cancelFutures) job.out.cancel();
      else {
        job.out.setError(makeError('RuntimeError', 'submitNative: the pool was shut down before the job found room',
          undefined, 'XF_ESHUTDOWN', -7));
      }
    }
    const ws = this._acceptWaiters;
    this._acceptWaiters = [];
    for (const w of ws) w.setResult(undefined);
    const pending = [...this._submitted].filter((f) => !doneOrFreed(f));
    this._submitted.clear();
    if (!wait || pending.length === 0) {
      const f = new Future();
      f.setResult(undefined);
      return f;
    }
    const out = new Future();
    out._keepAlive = true;
    combined(0, pending, true, null, true)._onDone(() => out.setResult(undefined));
    return out;
  }

  stats() { return native.js_executor_stats(this._handle); }

  /** Shut down and drop the native pool once its jobs are done. */
  close() {
    if (this._h === null) return;
    const h = this._h;
    poolRegistry.unregister(this);
    this.shutdown({ wait: true })._onDone(() => native.executor_unref(h));
    this._h = null;
  }

  free() { this.close(); }
}

// ---- Process pool (process.js) ---------------------------------------------

const { ProcessPool, BrokenProcessPool, MPIPool } = require('./process.js')({
  native, Future, WRAP, makeError, errorClasses, BrokenExecutor, chain, poolRegistry, made, combined,
  abortable, abortError, isSignalOptions,
});

// ---- Callbacks: JavaScript functions as C function pointers ------------------

class Callback {
  constructor(signature, fn) {
    if (typeof signature !== 'string') throw new TypeError('callback: signature must be a string');
    this._h = native.js_closure_new(signature, fn);
    /** The C function pointer (an External), for submitNative or any C code. */
    this.pointer = native.js_closure_pointer(this._h);
    /** The canonical signature text. */
    this.signature = native.js_closure_signature(this._h);
    closureRegistry.register(this, this._h, this);
  }

  /** The pointer as a BigInt address. */
  get address() { return native.js_pointer_address(this.pointer); }

  /** Release the closure: no C code may call the pointer afterwards. */
  free() {
    if (this._h === null) return;
    closureRegistry.unregister(this);
    native.closure_unref(this._h);
    this._h = null;
    this.pointer = null;
  }

  close() { this.free(); }
}

/**
 * A C function pointer of the given signature that calls fn on the main
 * thread, from whichever thread C calls it.
 */
function callback(signature, fn) {
  return new Callback(signature, fn);
}

// ---- File descriptors -------------------------------------------------------

/**
 * Call fn(fd) on the main thread each time the file descriptor fd is
 * readable, or has an error or hang-up, until removeReader(fd): the core
 * loop's fd readiness. One reader per fd: adding another replaces it. A
 * reader keeps the process alive until it is removed. The loop does not own
 * fd: remove the reader before closing it.
 */
function addReader(fd, fn) {
  if (!Number.isInteger(fd)) throw new TypeError('addReader expects an integer fd');
  if (typeof fn !== 'function') throw new TypeError('addReader expects a function');
  native.js_add_reader(fd, fn);
}

/** Stop watching fd; true if a reader was removed. */
function removeReader(fd) {
  if (!Number.isInteger(fd)) throw new TypeError('removeReader expects an integer fd');
  return native.js_remove_reader(fd);
}

/** The address of a native function of the process (dlsym), as an External. */
function symbol(name) {
  return native.js_symbol(String(name));
}

/**
 * [kind, text]: the kind of value the core holds for the done future fut
 * ('void', 'bool', 'int', 'double', 'string', 'bytes', 'list', 'map',
 * 'pointer', 'object' or 'error' for a failed or cancelled one) and the
 * core's canonical text of it, the same in every language.
 */
function coreRepr(fut) {
  if (!(fut instanceof Future)) throw new TypeError('coreRepr expects a Future');
  return native.js_core_repr(fut._handle);
}

/** Errors by code name, for matching e.code. */
const version = native.version();

module.exports = {
  Future,
  ThreadPool,
  ProcessPool,
  MPIPool,
  Callback,
  callback,
  symbol,
  all,
  any,
  first,
  race,
  asCompleted,
  withTimeout,
  shield,
  sleep,
  CancelledError,
  TimeoutError,
  InvalidStateError,
  BrokenExecutor,
  BrokenProcessPool,
  DeadlockError,
  QueueFull,
  AbortError,
  chain,
  addReader,
  removeReader,
  coreRepr,
  version,
  native,
};

'use strict';
/*
 * xf.ProcessPool: the core's process pool (core/include/xf/process.h)
 * running worker.js, for index.js, which calls this module's function once
 * with the internals a pool needs and exports what it returns.
 *
 * Design notes
 * ------------
 * The pool, its workers, their deaths and the recycling are the core's;
 * this layer translates options, resolves the module path (in the parent,
 * so a relative path means the caller's current directory whatever the
 * worker's) and keeps track of what JavaScript waits for.
 *
 * Values cross as data, through the core's codec (the wire conversions of
 * the process-pool section of xfutures.i): undefined and null -> void (back
 * as undefined), booleans, safe integers -> int, other numbers -> double,
 * BigInt within int64 -> int (back as a number when safe), strings, Buffer
 * and any ArrayBufferView -> bytes (back as Buffer), arrays -> lists, plain
 * objects and Maps -> maps (back as plain objects when every key is a
 * string or a number, as Maps otherwise), Errors -> errors. Anything else
 * (a function, an instance of a class) fails its own task with a TypeError.
 * A task's future is a ProcessFuture, whose value is read with the wire's
 * conversion so that a map comes back as an object.
 *
 * Lifetime. A submitted task's future keeps Node alive while it is awaited,
 * as every native future does; idle workers do not. Every pool not yet
 * joined is in livePools, so that at exit its idle workers are shut down
 * and its busy ones terminated, and the manager joined: no worker outlives
 * the process. shutdown({wait}) joins the manager once every task is done,
 * which is quick (idle workers leave as soon as they are told to), so the
 * main thread never waits for a task.
 */
const path = require('path');
const url = require('url');

module.exports = function processPool({ native, Future, WRAP, makeError, errorClasses, BrokenExecutor,
  all, chain, poolRegistry }) {
  /** A worker of a ProcessPool died; its task (with 'break': every pending task) failed. */
  class BrokenProcessPool extends BrokenExecutor {}
  Object.defineProperty(BrokenProcessPool.prototype, 'name',
    { value: 'BrokenProcessPool', writable: true, configurable: true });
  errorClasses.BrokenProcessPool = BrokenProcessPool;

  const DEATH_POLICIES = { break: 0, replace: 1 };
  const WORKER_JS = path.join(__dirname, 'worker.js');
  const livePools = new Set(); // pools whose manager has not been joined yet
  let exitHook = false;

  /** A Future of a ProcessPool task: its value is read as the wire converts it. */
  class ProcessFuture extends Future {
    result() { return native.js_process_future_result(this._handle); }

    _doneValue() { return native.js_process_future_result(this._h); }
  }

  // The module as the worker will load it: an absolute path (relative paths
  // against the current directory, file: URLs converted), or what require
  // resolves a bare name to from the current directory (a built-in module
  // stays a name).
  function resolveModule(modulePath) {
    let p = modulePath instanceof URL ? url.fileURLToPath(modulePath) : modulePath;
    if (typeof p !== 'string' || p === '') {
      throw new TypeError('submit: modulePath must be a non-empty string or a file URL');
    }
    if (p.startsWith('file:')) p = url.fileURLToPath(p);
    if (path.isAbsolute(p)) return p;
    if (p === '.' || p === '..' || p.startsWith('./') || p.startsWith('../')) return path.resolve(p);
    try {
      return require.resolve(p, { paths: [process.cwd()] });
    } catch (e) {
      return p;
    }
  }

  function failedWith(e) {
    const f = new ProcessFuture();
    f.setError(e);
    return f;
  }

  class ProcessPool {
    /**
     * A pool of worker processes: { maxWorkers = the number of CPUs,
     * maxTasksPerChild = 0 (unlimited), onWorkerDeath = 'break' | 'replace',
     * initializer: [modulePath, exportName, ...args] run by each worker before
     * its first task (one that throws breaks the pool with its error),
     * execArgv = [] (node options for the workers) }. Workers start lazily.
     */
    constructor({ maxWorkers = 0, maxTasksPerChild = 0, onWorkerDeath = 'break', initializer, execArgv = [] } = {}) {
      if (!Number.isInteger(maxWorkers) || maxWorkers < 0 || maxWorkers > 0xffff) {
        throw new RangeError('maxWorkers must be an integer >= 0 (0: the number of CPUs)');
      }
      if (!Number.isInteger(maxTasksPerChild) || maxTasksPerChild < 0 || maxTasksPerChild > 0x7fffffff) {
        throw new RangeError('maxTasksPerChild must be an integer >= 0 (0: unlimited)');
      }
      if (!Object.prototype.hasOwnProperty.call(DEATH_POLICIES, onWorkerDeath)) {
        throw new RangeError("onWorkerDeath must be 'break' or 'replace'");
      }
      if (!Array.isArray(execArgv) || !execArgv.every((a) => typeof a === 'string')) {
        throw new TypeError('execArgv must be an array of strings');
      }
      let init;
      if (initializer !== undefined && initializer !== null) {
        if (!Array.isArray(initializer) || typeof initializer[1] !== 'string') {
          throw new TypeError('initializer must be [modulePath, exportName, ...args]');
        }
        init = [resolveModule(initializer[0]), initializer[1], initializer.slice(2)];
      }
      const argv = [process.execPath, ...execArgv, WORKER_JS];
      this._h = native.js_process_pool_new(maxWorkers, argv, maxTasksPerChild,
        DEATH_POLICIES[onWorkerDeath], init);
      this._raw = this._h; // kept after close() until the manager is joined
      this._submitted = new Set();
      this._joined = false;
      livePools.add(this);
      // Once joined (no longer held by livePools), a pool nobody closed is
      // released by the collector.
      poolRegistry.register(this, this._raw, this);
      if (!exitHook) {
        exitHook = true;
        process.on('exit', () => { for (const p of [...livePools]) p._atExit(); });
      }
    }

    get _handle() {
      if (this._h === null) throw makeError('RuntimeError', 'the pool was closed', undefined, 'XF_ECLOSED', -12);
      return this._h;
    }

    /**
     * Run the export exportName of the module modulePath (loaded in the worker
     * with require, or import() for an ES module) with args; an async export
     * is awaited. A Future of its result. Arguments that cannot cross fail
     * the returned future (TypeError); a pool shut down or broken throws.
     */
    submit(modulePath, exportName, ...args) {
      return this._submit(-1, modulePath, exportName, args);
    }

    /**
     * As submit, with a limit of timeoutMs milliseconds on the task's run in
     * its worker: a task still running then fails with a TimeoutError, and
     * its worker is killed and replaced, so the pool goes on.
     */
    submitWithTimeout(timeoutMs, modulePath, exportName, ...args) {
      if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0) || !Number.isFinite(timeoutMs)) {
        throw new RangeError('submitWithTimeout: timeoutMs must be a number of milliseconds, >= 0');
      }
      return this._submit(timeoutMs, modulePath, exportName, args);
    }

    _submit(timeoutMs, modulePath, exportName, args) {
      if (typeof exportName !== 'string' || exportName === '') {
        throw new TypeError('submit: exportName must be a non-empty string');
      }
      const h = this._handle;
      const resolved = resolveModule(modulePath);
      let raw;
      try {
        raw = native.js_process_pool_submit(h, resolved, exportName, args, timeoutMs);
      } catch (e) {
        if (e && e.code === undefined) return failedWith(e); // an argument that cannot cross
        if (e && e.code === 'XF_EBROKEN') {
          throw makeError('BrokenProcessPool', 'submit: the process pool is broken (a worker died)',
            undefined, e.code, e.errno);
        }
        throw e;
      }
      const f = new ProcessFuture(WRAP, raw, true);
      if (this._submitted.size >= 1024) {
        for (const s of this._submitted) if (s.done) this._submitted.delete(s);
      }
      this._submitted.add(f);
      return f;
    }

    // Wait for the manager (and so every worker) to be gone: quick once every
    // task is done, since idle workers leave as soon as they are told to.
    _join() {
      if (this._joined) return;
      native.js_executor_shutdown(this._raw, true, false);
      this._joined = true;
      livePools.delete(this);
    }

    // At exit nothing can be delivered any more: idle workers are shut down,
    // busy ones terminated, and the manager joined, so no child outlives us.
    _atExit() {
      if (this._joined) return;
      const busy = [...this._submitted].some((f) => !f.done);
      if (busy) native.js_process_pool_terminate(this._raw, 200);
      native.js_executor_shutdown(this._raw, true, true);
      this._joined = true;
      livePools.delete(this);
    }

    /**
     * Stop accepting tasks (cancelFutures: cancel the queued ones). Returns a
     * Future done, with wait, once every task has finished and every worker
     * has left (at once without); the main thread never waits for a task.
     */
    shutdown({ wait = true, cancelFutures = false } = {}) {
      const h = this._handle;
      native.js_executor_shutdown(h, false, !!cancelFutures);
      const pending = [...this._submitted].filter((f) => !f.done);
      this._submitted = new Set(pending);
      const out = new Future();
      if (!wait) {
        out.setResult(undefined);
        return out;
      }
      const join = () => { this._join(); out.setResult(undefined); };
      if (pending.length === 0) {
        join();
        return out;
      }
      out._keepAlive = true;
      all(pending, { collect: true }).onDone(join);
      return out;
    }

    /** Stop now: queued tasks cancelled, workers SIGTERMed then (after graceMs, default 1000) SIGKILLed; their tasks fail with BrokenProcessPool. */
    terminate({ graceMs = -1 } = {}) {
      native.js_process_pool_terminate(this._handle, Number(graceMs));
      this._join();
    }

    /** terminate() with no grace: SIGKILL at once. */
    kill() {
      native.js_process_pool_kill(this._handle);
      this._join();
    }

    /** Counters: queued, running, completed, cancelled, workers, maxWorkers, spawned, deaths, retired, timeouts, broken. */
    stats() { return native.js_process_pool_stats(this._handle); }

    /**
     * Shut down and drop the native pool once its tasks are done and its
     * workers gone. Returns a Future done once the pool's last descriptor is
     * closed.
     */
    close() {
      const out = new Future();
      if (this._h === null) {
        if (this._closed) chain(this._closed, out);
        else out.setResult(undefined);
        return out;
      }
      const done = this.shutdown({ wait: true });
      this._h = null;
      this._closed = out;
      out._keepAlive = true;
      poolRegistry.unregister(this);
      done.onDone(() => {
        native.executor_unref(this._raw);
        out.setResult(undefined);
      });
      return out;
    }

    free() { return this.close(); }
  }

  return { ProcessPool, BrokenProcessPool };
};

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
 *
 * xf.MPIPool is the same pool over the core's MPI executor: the same task
 * frames and futures (ProcessFuture), made by xf_mpi_world_executor_new on
 * rank 0 of an SPMD job or xf_mpi_pool_new (spawn) in a job of one rank. A
 * serving rank must not run the rest of the user's script, so its
 * constructor never returns: it serves rank 0's pools one after another,
 * each by a `node worker.js` of its own (spawnSync, the relay's socket as
 * its descriptor 3, so that async exports have an event loop while the
 * rank's main thread waits), and the process leaves once rank 0 releases
 * the ranks at its exit (process 'exit': the pools left open are joined
 * first).
 */
const childProcess = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const url = require('url');

module.exports = function processPool({ native, Future, WRAP, makeError, errorClasses, BrokenExecutor,
  chain, poolRegistry, made, combined, abortable, abortError, isSignalOptions }) {
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
    _read(h) { return native.js_process_future_result(h); }
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
    return new ProcessFuture().setError(e);
  }

  // The waits of shutdown: done once every future of fs is, whatever their
  // outcomes, which stay their users' to observe.
  function allDone(fs) {
    return combined(0, fs, true, null, true);
  }

  // The futures a pool may still have to wait for: the done ones are dropped
  // each time the set has doubled since, so that a submission costs O(1)
  // amortized.
  function remember(pool, f) {
    if (pool._submitted.size >= pool._prune) {
      for (const s of pool._submitted) if (s._h === null || s.done) pool._submitted.delete(s);
      pool._prune = Math.max(1024, 2 * pool._submitted.size);
    }
    pool._submitted.add(f);
  }

  // Submit the task [module, export, args] to pool (a process pool or an MPI
  // executor); broken(e) is the error that says the pool is broken.
  function submitTask(pool, timeoutMs, modulePath, exportName, args, site, broken) {
    if (typeof exportName !== 'string' || exportName === '') {
      throw new TypeError('submit: exportName must be a non-empty string');
    }
    const h = pool._handle;
    const signal = signalArg(args);
    const resolved = resolveModule(modulePath);
    if (signal !== undefined && signal.aborted) return failedWith(abortError(signal));
    let raw;
    try {
      raw = native.js_process_pool_submit(h, resolved, exportName, args, timeoutMs);
    } catch (e) {
      if (e && e.code === undefined) return failedWith(e); // an argument that cannot cross
      if (e && e.code === 'XF_EBROKEN') throw broken(e);
      throw e;
    }
    const f = made(raw, true, site, ProcessFuture);
    remember(pool, f);
    return abortable(f, signal);
  }

  // Split a trailing { signal } off a task's arguments.
  function signalArg(args) {
    return args.length > 0 && isSignalOptions(args[args.length - 1]) ? args.pop().signal : undefined;
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
      this._prune = 1024;
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
     * the returned future (TypeError); a pool shut down or broken throws. A
     * last argument { signal } (a plain object whose signal is an
     * AbortSignal) is the options: aborting it fails the future with an
     * AbortError and drops the task if it has not started.
     */
    submit(modulePath, exportName, ...args) {
      return this._submit(-1, modulePath, exportName, args, this.submit);
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
      return this._submit(timeoutMs, modulePath, exportName, args, this.submitWithTimeout);
    }

    _submit(timeoutMs, modulePath, exportName, args, site) {
      return submitTask(this, timeoutMs, modulePath, exportName, args, site, (e) => makeError(
        'BrokenProcessPool', 'submit: the process pool is broken (a worker died)', undefined, e.code, e.errno));
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
      allDone(pending)._onDone(join);
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
      done._onDone(() => {
        native.executor_unref(this._raw);
        out.setResult(undefined);
      });
      return out;
    }

    free() { return this.close(); }
  }

  // ---- The MPI executor ------------------------------------------------------

  const XF_ESHUTDOWN = -7;
  const liveMPI = new Set(); // MPI pools whose executor has not been joined yet
  let mpiWorld = null; // [rank, size] of MPI_COMM_WORLD, once asked
  let mpiRoot = false; // rank 0 of a job of several ranks, which made a pool
  let mpiExitHook = false;

  function world() {
    if (mpiWorld === null) mpiWorld = native.js_mpi_world();
    return mpiWorld;
  }

  // A rank other than 0: serve the executors that rank 0 makes, one after
  // another, until it releases the ranks at its exit; then leave. Each is
  // served by a worker program of its own (node worker.js, the relay as its
  // descriptor 3), which has an event loop for async exports while this
  // thread waits for it; the library's MPI thread relays meanwhile.
  function serveRank(execArgv) {
    for (;;) {
      const fd = native.js_mpi_serve_open(0);
      childProcess.spawnSync(process.execPath, [...execArgv, WORKER_JS], {
        stdio: ['ignore', 'inherit', 'inherit', fd],
        env: { ...process.env, XF_PARENT_PID: String(process.pid) },
      });
      fs.closeSync(fd);
      if (native.js_mpi_serve_wait() === XF_ESHUTDOWN) process.exit(0);
    }
  }

  // At exit nothing can be delivered any more: the executors left open are
  // joined (what is still pending fails), then the ranks are released.
  function mpiAtExit() {
    for (const p of [...liveMPI]) p._atExit();
    if (mpiRoot) {
      mpiRoot = false;
      native.js_mpi_world_release(0);
    }
  }

  /**
   * A pool over the ranks of an MPI job (the core's MPI executor,
   * core/include/xf/mpi.h), with the ProcessPool's tasks: exports of
   * modules, run by `node worker.js` on the serving ranks.
   *
   * SPMD: under `mpirun -n N node script.js` (or `srun -n N ...`) every rank
   * runs the script. On rank 0, `new MPIPool()` is a pool whose workers are
   * ranks 1..N-1; on every other rank it serves rank 0's pools, one after
   * another, and the process leaves when rank 0 exits: the rest of the
   * script runs on rank 0 only. Spawn: in a job of one rank (`node
   * script.js`, or `mpirun -n 1`), the pool starts maxWorkers workers with
   * MPI_Comm_spawn (Open MPI can; some MPI builds cannot).
   *
   * Options: maxWorkers (spawn: default the number of CPUs; SPMD: at most
   * N-1, all of them serve), maxInFlight (tasks sent to one rank before its
   * answers, default 1), initializer [modulePath, exportName, ...args] (run
   * on every serving rank first; one that throws breaks the pool), execArgv
   * (node options of the workers). MPI gives no crash isolation: a rank that
   * dies ends the job. A future still pending when the job is torn down or
   * the process exits fails with BrokenExecutor.
   */
  class MPIPool {
    constructor({ maxWorkers = 0, maxInFlight = 1, initializer, execArgv = [] } = {}) {
      if (!Number.isInteger(maxWorkers) || maxWorkers < 0 || maxWorkers > 0xffff) {
        throw new RangeError('maxWorkers must be an integer >= 0 (0: every rank, or the number of CPUs)');
      }
      if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > 1e6) {
        throw new RangeError('maxInFlight must be an integer >= 1');
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
      if (!native.js_mpi_available()) {
        throw makeError('InvalidStateError', 'MPIPool: this build of xfutures has no MPI', undefined,
          'XF_ESTATE', -3);
      }
      const [rank, size] = world();
      if (size > 1) {
        if (rank !== 0) serveRank(execArgv); // does not return
        if (maxWorkers > size - 1) {
          throw new RangeError(`maxWorkers=${maxWorkers}, but the job has ${size - 1} serving ranks`);
        }
        this._h = native.js_mpi_executor_new(0, maxInFlight, init);
        mpiRoot = true;
      } else {
        const argv = [process.execPath, ...execArgv, WORKER_JS, '--mpi'];
        this._h = native.js_mpi_pool_new(maxWorkers || os.cpus().length, argv, maxInFlight, init);
      }
      this._raw = this._h;
      this._submitted = new Set();
      this._prune = 1024;
      this._joined = false;
      liveMPI.add(this);
      poolRegistry.register(this, this._raw, this);
      if (!mpiExitHook) {
        mpiExitHook = true;
        process.on('exit', mpiAtExit);
      }
    }

    /** Whether this build of xfutures has MPI. */
    static available() { return native.js_mpi_available(); }

    /** [rank, size] of MPI_COMM_WORLD (initializes MPI if nobody has). */
    static world() { return [...world()]; }

    get _handle() {
      if (this._h === null) throw makeError('RuntimeError', 'the pool was closed', undefined, 'XF_ECLOSED', -12);
      return this._h;
    }

    /**
     * Run the export exportName of the module modulePath with args on a
     * serving rank, as ProcessPool.submit does (a last { signal } included).
     */
    submit(modulePath, exportName, ...args) {
      return submitTask(this, -1, modulePath, exportName, args, this.submit, (e) => makeError(
        'BrokenExecutor', 'submit: the MPI executor is broken: a rank failed to start or the job is ' +
        'being torn down (the failed futures say why)', undefined, e.code, e.errno));
    }

    // Join the executor: quick once every task is done.
    _join(cancel = false) {
      if (this._joined) return;
      try {
        native.js_executor_shutdown(this._raw, true, cancel);
      } catch (e) {
        if (!e || e.code !== 'XF_EBROKEN') throw e;
      }
      this._joined = true;
      liveMPI.delete(this);
    }

    _atExit() { this._join(true); }

    /**
     * Stop accepting tasks (cancelFutures: cancel the queued ones). Returns a
     * Future done, with wait, once every task has finished and the ranks
     * were told (at once without); the main thread never waits for a task.
     */
    shutdown({ wait = true, cancelFutures = false } = {}) {
      const h = this._handle;
      try {
        native.js_executor_shutdown(h, false, !!cancelFutures);
      } catch (e) {
        if (!e || e.code !== 'XF_EBROKEN') throw e;
      }
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
      allDone(pending)._onDone(join);
      return out;
    }

    /** Counters: queued, running, completed, cancelled, threads (the serving ranks), maxWorkers. */
    stats() { return native.js_executor_stats(this._handle); }

    /** Shut down and release the pool; a Future done once its tasks are. */
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
      done._onDone(() => {
        native.executor_unref(this._raw);
        out.setResult(undefined);
      });
      return out;
    }

    free() { return this.close(); }
  }

  return { ProcessPool, BrokenProcessPool, MPIPool };
};

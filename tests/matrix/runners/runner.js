'use strict';
/*
 * The Node.js runner of the scenario matrix.
 *
 *   node runner.js SCENARIO.json
 *
 * Runs one scenario through the public API of require('xfutures') and prints
 * one JSON line with the observations, one per step, in the shared result
 * format (tests/matrix/README.md). JavaScript runs on the main thread only,
 * so every callback lands there; steps that wait await (the process never
 * blocks). The scenario is read with JSON.parse.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const xf = require('xfutures');

// The module of the process-pool tasks (add, fail, pid, block).
const TASKS = path.join(__dirname, 'process_tasks.js');

const usleep = xf.symbol('usleep');

class NotAvailable extends Error {}

const SPECIAL_DOUBLES = { nan: NaN, inf: Infinity, '-inf': -Infinity, '-0': -0 };

// JSON's null is void, which is undefined here (null is the null pointer).
function decode(v) {
  if (v === null) return undefined;
  if (Array.isArray(v)) return v.map(decode);
  if (typeof v === 'object') {
    if ('double' in v) return typeof v.double === 'string' ? SPECIAL_DOUBLES[v.double] : v.double;
    if ('int' in v) return BigInt(v.int);
    if ('bytes' in v) return Buffer.from(v.bytes, 'hex');
    if ('map' in v) {
      const pairs = v.map.map(([k, x]) => [decode(k), decode(x)]);
      // A plain object when every key is a string, a Map otherwise.
      if (pairs.every(([k]) => typeof k === 'string')) return Object.fromEntries(pairs);
      return new Map(pairs);
    }
    if ('pointer' in v) return null;
    if ('opaque' in v) { const tag = v.opaque; return () => tag; }
    throw new Error(`unknown value ${JSON.stringify(v)}`);
  }
  return v;
}

function encodeError(e) {
  if (e instanceof xf.CancelledError || e.name === 'CancelledError') return { cancelled: true };
  if (e.name === 'TimeoutError') return { error: { type: 'TimeoutError' } };
  return { error: { type: e.name, message: e.message } };
}

function encode(v) {
  if (v === undefined || v === null) return null;
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return { double: 'nan' };
    if (v === Infinity || v === -Infinity) return { double: v > 0 ? 'inf' : '-inf' };
    if (Object.is(v, -0)) return { double: '-0' };
    return Number.isInteger(v) && Number.isSafeInteger(v) ? v : { double: v };
  }
  if (typeof v === 'bigint') {
    const safe = v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER);
    return safe ? Number(v) : { int: v.toString() };
  }
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(encode);
  if (v instanceof Error) return encodeError(v);
  if (v instanceof Map) return { map: [...v].map(([k, x]) => [encode(k), encode(x)]) };
  if (typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
    return { map: Object.entries(v).map(([k, x]) => [k, encode(x)]) };
  }
  return { object: typeof v };
}

function errorOf(type, message) {
  const e = new Error(message);
  e.name = type;
  return e;
}

class Runner {
  constructor() {
    this.fs = new Map();
    this.pools = new Map();
    this.timers = new Map();
    this.cbs = new Map();
    this.tasks = new Set();
    this.log = [];
    this.blocked = new Map();
    this.fifoDir = null;
    this.setValues = new Map();
  }

  // A blocked task's FIFOs; its worker's pid comes once it has told it.
  newBlocked(name) {
    if (this.fifoDir === null) this.fifoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xf-matrix-'));
    const b = { ready: path.join(this.fifoDir, `${name}.ready`), go: path.join(this.fifoDir, `${name}.go`), pid: 0 };
    execFileSync('mkfifo', [b.ready, b.go]);
    this.blocked.set(name, b);
    return b;
  }

  f(name) {
    const f = this.fs.get(name);
    if (!f) throw new Error(`unknown future ${name}`);
    return f;
  }

  callback(fname, tag) {
    const key = `${fname}/${tag}`;
    if (!this.cbs.has(key)) this.cbs.set(key, () => this.log.push(tag));
    return this.cbs.get(key);
  }

  // Let the event loop run until f is done or timeoutMs passed.
  async settleOn(f, timeoutMs) {
    if (f.done) return;
    const timer = timeoutMs === undefined ? null : xf.sleep(timeoutMs);
    try {
      await (timer ? xf.race([f, timer]) : f);
    } catch (e) {
      // The outcome is read from f itself below.
    }
    if (timer && !timer.done) timer.cancel();
  }

  outcome(f) {
    if (!f.done) return { timeout: true };
    if (f.cancelled) return { cancelled: true };
    const e = f.exception();
    if (e !== null) return encodeError(e);
    return { value: encode(f.result()) };
  }

  submit(pool, ms) {
    return pool.submitNative(usleep, 'int32(uint32)', ms * 1000);
  }

  async step(s) {
    switch (s.op) {
      case 'future':
        this.fs.set(s.f, new xf.Future());
        break;
      case 'set_result':
      case 'set_error':
        try {
          if (s.op === 'set_result') {
            const value = decode(s.value);
            this.setValues.set(s.f, value);
            this.f(s.f).setResult(value);
          }
          else this.f(s.f).setError(errorOf(s.type, s.message));
        } catch (e) {
          if (e.name === 'InvalidStateError') return { raised: 'InvalidStateError' };
          throw e;
        }
        break;
      case 'cancel':
        if (this.tasks.has(s.f)) throw new NotAvailable('a Promise-based task cannot be cancelled');
        return this.f(s.f).cancel();
      case 'state':
        return this.f(s.f).state;
      case 'core_repr': {
        const [kind, text] = xf.coreRepr(this.f(s.f));
        return [kind, text.split('object(node)').join('object(own)')];
      }
      case 'same_value':
        return this.f(s.f).result() === this.setValues.get(s.f);
      case 'outcome': {
        const f = this.f(s.f);
        await this.settleOn(f, s.timeout_ms);
        return this.outcome(f);
      }
      case 'error_type': {
        const f = this.f(s.f);
        await this.settleOn(f, 2000);
        return f.exception().name;
      }
      case 'add_callback':
        this.f(s.f).onDone(this.callback(s.f, s.tag));
        break;
      case 'remove_callback':
        return this.f(s.f).offDone(this.callback(s.f, s.tag));
      case 'settle':
        await xf.sleep(s.ms);
        break;
      case 'log': {
        const out = this.log;
        this.log = [];
        return out;
      }
      case 'pool':
        this.pools.set(s.p, new xf.ThreadPool({
          maxWorkers: s.workers, maxQueue: s.max_queue || 0, queuePolicy: s.policy || 'block',
        }));
        break;
      case 'submit': {
        const pool = this.pools.get(s.p);
        try {
          this.fs.set(s.f, this.submit(pool, s.sleep_ms));
        } catch (e) {
          if (e.code === 'XF_ESHUTDOWN') return { raised: 'ShutdownError' };
          if (e instanceof xf.QueueFull) return { raised: 'QueueFull' };
          throw e;
        }
        // A full 'block' pool parks the job: wait (asynchronously) until it is
        // accepted, as a blocking submit would.
        await pool.accepted();
        break;
      }
      case 'shutdown': {
        const done = this.pools.get(s.p).shutdown({ wait: s.wait, cancelFutures: s.cancel_futures });
        if (s.wait) await done;
        break;
      }
      case 'map': {
        const pool = this.pools.get(s.p);
        return encode(await xf.all(s.sleeps_ms.map((ms) => this.submit(pool, ms))));
      }
      case 'wait': {
        // wait() in JavaScript's terms: the combinator that says when the
        // condition holds, raced against the timeout.
        const list = s.fs.map((n) => this.f(n));
        const target = s.return_when === 'FIRST_COMPLETED' ? xf.race(list)
          : xf.all(list, { collect: s.return_when === 'ALL_COMPLETED' });
        await this.settleOn(target, s.timeout_ms);
        const done = s.fs.filter((n) => this.f(n).done).sort();
        const notDone = s.fs.filter((n) => !this.f(n).done).sort();
        return { done, not_done: notDone };
      }
      case 'as_completed': {
        const names = new Map(s.fs.map((n) => [this.f(n), n]));
        const order = [];
        try {
          for await (const f of xf.asCompleted(names.keys(), { timeout: s.timeout_ms })) {
            order.push(names.get(f));
          }
        } catch (e) {
          if (!(e instanceof xf.TimeoutError)) throw e;
          order.push('TimeoutError');
        }
        return order;
      }
      case 'gather':
        this.fs.set(s.f, xf.all(s.fs.map((n) => this.f(n)), { collect: s.collect }));
        break;
      case 'first':
        this.fs.set(s.f, xf.first(s.fs.map((n) => this.f(n)), { cancelRest: s.cancel_rest }));
        break;
      case 'any':
        this.fs.set(s.f, xf.any(s.fs.map((n) => this.f(n)), { cancelRest: s.cancel_rest }));
        break;
      case 'then': {
        const add = s.add;
        this.fs.set(s.f, xf.Future.fromPromise(this.f(s.src).then((v) => v + add)));
        break;
      }
      case 'chain':
        xf.chain(this.f(s.src), this.f(s.dst));
        break;
      case 'shield':
        this.fs.set(s.f, xf.shield(this.f(s.src)));
        break;
      case 'timeout':
        this.fs.set(s.f, xf.withTimeout(this.f(s.src), s.timeout_ms));
        break;
      case 'timer': {
        const t = xf.sleep(s.ms);
        t.then(() => this.log.push(s.tag), () => {});
        if (s.h) this.timers.set(s.h, t);
        break;
      }
      case 'cancel_timer':
        this.timers.get(s.h).cancel();
        break;
      case 'thread_set':
        throw new NotAvailable('JavaScript has no threads that share futures');
      case 'closure_call': {
        const tag = s.tag;
        const cb = xf.callback('int64(int64, int64)', (a, b) => {
          this.log.push(tag);
          return a + b;
        });
        this.fs.set(s.f, this.pools.get(s.p).submitNative(cb, cb.signature, ...s.args));
        break;
      }
      case 'task': {
        const awaited = s.awaits.map((n) => this.f(n));
        const run = async () => {
          const got = [];
          for (const f of awaited) got.push(await f);
          return got;
        };
        this.fs.set(s.f, xf.Future.fromPromise(run()));
        this.tasks.add(s.f);
        break;
      }
      case 'process_pool':
        this.pools.set(s.p, new xf.ProcessPool({
          maxWorkers: s.workers, maxTasksPerChild: s.max_tasks_per_child || 0,
          onWorkerDeath: s.on_worker_death || 'break',
        }));
        break;
      case 'process_submit': {
        let args;
        if (s.task === 'add') args = s.args;
        else if (s.task === 'fail') args = [s.message];
        else if (s.task === 'pid') args = [];
        else if (s.task === 'block') {
          const b = this.newBlocked(s.f);
          args = [b.ready, b.go];
        } else throw new Error(`unknown task ${s.task}`);
        try {
          this.fs.set(s.f, this.pools.get(s.p).submit(TASKS, s.task, ...args));
        } catch (e) {
          if (e.name === 'BrokenProcessPool') return { raised: 'BrokenProcessPool' };
          if (e.code === 'XF_ESHUTDOWN') return { raised: 'ShutdownError' };
          throw e;
        }
        break;
      }
      case 'process_running': {
        const b = this.blocked.get(s.f);
        b.pid = Number(await fs.promises.readFile(b.ready, 'utf8'));
        break;
      }
      case 'process_release':
        await fs.promises.writeFile(this.blocked.get(s.f).go, 'go');
        break;
      case 'process_kill':
        process.kill(this.blocked.get(s.f).pid, 'SIGKILL');
        break;
      case 'same_worker': {
        const a = this.f(s.f);
        const b = this.f(s.g);
        await this.settleOn(a, 10000);
        await this.settleOn(b, 10000);
        return a.result() === b.result();
      }
      default:
        throw new Error(`unknown op ${s.op}`);
    }
    return 'ok';
  }

  async run(scenario) {
    const obs = [];
    for (const s of scenario.steps) obs.push(await this.step(s));
    for (const pool of this.pools.values()) await pool.shutdown({ wait: true, cancelFutures: true });
    if (this.fifoDir !== null) fs.rmSync(this.fifoDir, { recursive: true });
    return obs;
  }
}

async function main() {
  const scenario = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  let result;
  try {
    result = { status: 'ran', obs: await new Runner().run(scenario) };
  } catch (e) {
    if (!(e instanceof NotAvailable)) throw e;
    result = { status: 'na', reason: e.message };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ status: 'error', error: String(e && e.stack) })}\n`,
    () => process.exit(1));
});

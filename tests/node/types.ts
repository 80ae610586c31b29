// Compiled (not run) by check-types.sh: the declarations accept what the
// binding accepts and give the types a user expects.
import * as xf from 'xfutures';

declare const console: { log(...a: unknown[]): void };

async function main(): Promise<void> {
  const f = new xf.Future<string>();
  f.setResult('x');
  const s: string = await f;
  const st: xf.FutureState = f.state;
  f.onDone((g) => console.log(g.done, g.cancelled, g.exception()));
  const pool = new xf.ThreadPool({ maxWorkers: 2 });
  const n = pool.submitNative<number>(xf.symbol('abs'), 'int(int)', -3);
  const values: number[] = await xf.all([n, Promise.resolve(2), 3]);
  const cb: xf.Callback = xf.callback('int(int, int)', (a: number, b: number) => a + b);
  const r: number = await pool.submitNative<number>(cb, cb.signature, 1, 2n);
  const it = xf.asCompleted([n], { timeout: 100 });
  const step = await it.next();
  if (!step.done) console.log(step.value.result(), step.value.done);
  const t: string = await xf.withTimeout(xf.sleep(1, 'late'), 10).catch(() => 'timeout');
  const p: Promise<string> = f.toPromise();
  const back: xf.Future<number> = xf.Future.fromPromise(Promise.resolve(1));
  await pool.shutdown({ wait: true, cancelFutures: false });
  console.log(s, st, values, r, t, p, back, xf.shield(back), xf.first([back]), xf.any([back]),
    xf.race([back]), pool.stats().completed, cb.address, xf.version);
  xf.addReader(0, (fd: number) => console.log(fd));
  const removed: boolean = xf.removeReader(0);
  console.log(removed);
  // @ts-expect-error: a reader takes the fd, a number
  xf.addReader(0, (fd: string) => console.log(fd));
  // @ts-expect-error: maxWorkers is a number
  new xf.ThreadPool({ maxWorkers: 'two' });
  const bounded = new xf.ThreadPool({ maxWorkers: 1, maxQueue: 4, queuePolicy: 'reject' });
  const policy: 'block' | 'reject' = bounded.queuePolicy;
  await bounded.accepted();
  const dst = new xf.Future<number>();
  xf.chain(back, dst);
  const full: Error = new xf.QueueFull('full');
  console.log(policy, bounded.maxQueue, full);
  // @ts-expect-error: the policy is 'block' or 'reject'
  new xf.ThreadPool({ queuePolicy: 'drop' });
}
main();

// What the README and the doc comments show, as a user writes it.
declare const AbortController: { new(): { signal: xf.AbortSignalLike; abort(reason?: unknown): void } };

async function documented(): Promise<void> {
  const pool = new xf.ThreadPool();
  const fs = [1, 2, 3].map((n) => pool.submitNative<number>(xf.symbol('abs'), 'int(int)', -n));
  // for await gives each Future itself (done), not its value.
  for await (const f of xf.asCompleted(fs)) {
    const v: number = f.result();
    const done: boolean = f.done;
    console.log(v, done);
  }
  for await (const f of xf.asCompleted([xf.sleep(1, 'a'), Promise.resolve('b')], { timeout: 1000 })) {
    const s: string = f.result();
    console.log(s);
  }
  const ac = new AbortController();
  const slept: void = await xf.sleep(10, { signal: ac.signal });
  const v: string = await xf.sleep(10, 'v', { signal: ac.signal });
  const t: number = await xf.withTimeout(fs[0], 100, { signal: ac.signal });
  const n: number = await pool.submitNative<number>(xf.symbol('abs'), 'int(int)', -1, { signal: ac.signal });
  const e: xf.AbortError = new xf.AbortError('stop', { cause: 'why' });
  const { future, resolve, reject } = xf.Future.withResolvers<number>();
  const settled: boolean = resolve(1) || reject(new Error('no'));
  const again: boolean = future.resolve(2);
  console.log(slept, v, t, n, e.code, settled, again);
  if (xf.MPIPool.available()) {
    const mp = new xf.MPIPool({ maxInFlight: 2, initializer: ['./init.js', 'setup', 1] });
    const sq: number = await mp.submit<number>('./tasks.js', 'square', 3, { signal: ac.signal });
    const [rank, size]: [number, number] = xf.MPIPool.world();
    console.log(sq, rank, size, mp.stats().threads);
    await mp.close();
  }
  const agg = await xf.any(fs).catch((x: unknown) => x);
  if (agg instanceof AggregateError) console.log(agg.errors.length);
}
documented();

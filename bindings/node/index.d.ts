// Type declarations for require('xfutures').

/** A native pointer (a C function or data address), opaque to JavaScript. */
export type NativePointer = object;

/** Anything a future accepts: a Future, a Promise/thenable or a plain value. */
export type FutureLike<T> = Future<T> | PromiseLike<T> | T;

export type FutureState = 'pending' | 'running' | 'finished' | 'cancelled';

/**
 * What of an AbortSignal the module uses (a structural type, so that these
 * declarations need neither the DOM library nor @types/node).
 */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason: any;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Options of the calls that can be aborted, as Node's own APIs take them. */
export interface AbortOptions {
  /** Aborting it fails the operation's future with an AbortError (its cause: signal.reason). */
  signal?: AbortSignalLike;
}

/**
 * A future of the xfutures core. A thenable that follows Promises/A+, so
 * `await fut` works; its callbacks run on the main thread whichever thread
 * finishes it.
 */
export class Future<T = unknown> implements PromiseLike<T> {
  /** A pending future that JavaScript finishes with setResult/setError. */
  constructor();
  /** A future that follows a Promise, a thenable or a value. */
  static fromPromise<T>(p: FutureLike<T>): Future<Awaited<T>>;
  /** A pending future and settling functions that are no-ops once it is done. */
  static withResolvers<T = unknown>(): {
    future: Future<T>;
    resolve: (value: T) => boolean;
    reject: (error: unknown) => boolean;
  };
  readonly state: FutureState;
  readonly done: boolean;
  readonly cancelled: boolean;
  readonly running: boolean;
  /** Cancel while pending; true if the future is (now) cancelled. */
  cancel(msg?: string): boolean;
  /** Finish with value; throws InvalidStateError once the future is done. */
  setResult(value: T): this;
  /** Fail with error; throws InvalidStateError once the future is done. */
  setError(error: unknown): this;
  /** As setResult, but a no-op once done; true if this call finished the future. */
  resolve(value: T): boolean;
  /** As setError, but a no-op once done; true if this call failed the future. */
  reject(error: unknown): boolean;
  /** The value of a done future, or its error thrown; DeadlockError while pending. */
  result(): T;
  /** The error of a done future (CancelledError when cancelled), or null. */
  exception(): unknown;
  /** fn(future) on the main thread once done; never synchronously. */
  onDone(fn: (future: this) => void): this;
  /** Remove the registrations of fn not run yet; returns how many. */
  offDone(fn: (future: this) => void): number;
  toPromise(): Promise<T>;
  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: any) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2>;
  catch<R = never>(onRejected?: ((reason: any) => R | PromiseLike<R>) | null): Promise<T | R>;
  finally(onFinally?: (() => void) | null): Promise<T>;
  /** Drop the native reference now (the garbage collector does it otherwise). */
  free(): void;
  close(): void;
}

export interface ThreadPoolOptions {
  /** 0 or absent: min(32, cpus + 4). */
  maxWorkers?: number;
  threadNamePrefix?: string;
  /** Bound on the jobs waiting for a worker; 0 (default): unbounded. */
  maxQueue?: number;
  /**
   * When the bounded queue is full: 'block' (default) parks the job until
   * there is room, without blocking the main thread; 'reject' throws QueueFull.
   */
  queuePolicy?: 'block' | 'reject';
}

export interface ShutdownOptions {
  /** The returned future is done when every accepted job has finished (default true). */
  wait?: boolean;
  /** Cancel the jobs not started yet (default false). */
  cancelFutures?: boolean;
}

export interface ExecutorStats {
  queued: number;
  running: number;
  completed: number;
  cancelled: number;
  threads: number;
  maxWorkers: number;
}

/** A value a native argument accepts. */
export type NativeArg = number | bigint | boolean | string | null | undefined | NativePointer |
  Uint8Array | ArrayBufferView;

/** A pool of native threads running C functions. */
export class ThreadPool {
  constructor(options?: ThreadPoolOptions);
  /**
   * Run a C function of the given signature (e.g. "int32(int32, double)") on
   * a worker with the arguments converted to its parameter types.
   */
  submitNative<T = unknown>(fn: NativePointer | Callback | bigint, signature: string,
    ...args: NativeArg[]): Future<T>;
  /** With a last argument { signal }: aborting it fails the future and drops a job not started. */
  submitNative<T = unknown>(fn: NativePointer | Callback | bigint, signature: string,
    ...args: [...NativeArg[], AbortOptions]): Future<T>;
  shutdown(options?: ShutdownOptions): Future<void>;
  /** Done once every job waiting for room (queuePolicy 'block') was accepted. */
  accepted(): Future<void>;
  readonly maxQueue: number;
  readonly queuePolicy: 'block' | 'reject';
  stats(): ExecutorStats;
  /** Shut down and release the pool once its jobs are done. */
  close(): void;
  free(): void;
}

// ---- Process pool ------------------------------------------------------------

export interface ProcessPoolOptions {
  /** 0 or absent: the number of CPUs. */
  maxWorkers?: number;
  /** A worker leaves after so many tasks and a new one takes its place; 0 (default): never. */
  maxTasksPerChild?: number;
  /**
   * When a worker dies mid-task: 'break' (default) fails every pending task
   * and breaks the pool; 'replace' fails only the tasks of that worker.
   */
  onWorkerDeath?: 'break' | 'replace';
  /**
   * [modulePath, exportName, ...args]: run by each worker before its first
   * task; one that throws breaks the pool (BrokenProcessPool) with its error.
   */
  initializer?: [string | { readonly href: string }, string, ...ProcessValue[]];
  /** Options for the workers' node, before worker.js (e.g. ['--max-old-space-size=64']). */
  execArgv?: string[];
}

/**
 * What crosses to a worker and back: the core's plain kinds. Plain objects
 * and Maps are maps; a function or an instance of a class cannot cross.
 */
export type ProcessValue = undefined | null | boolean | number | bigint | string |
  Uint8Array | ArrayBufferView | Error | ProcessValue[] | Map<ProcessValue, ProcessValue> |
  { [key: string]: ProcessValue };

export interface ProcessPoolStats extends ExecutorStats {
  /** Worker processes alive now. */
  workers: number;
  /** Workers started so far. */
  spawned: number;
  /** Workers that died unexpectedly. */
  deaths: number;
  /** Workers that left after maxTasksPerChild tasks. */
  retired: number;
  timeouts: number;
  broken: boolean;
  /** The live workers, one by one. */
  perWorker: { pid: number; tasksDone: number; running: number }[];
}

/** A pool of worker processes (node worker.js) running exports of modules. */
export class ProcessPool {
  constructor(options?: ProcessPoolOptions);
  /**
   * Run exportName of the module modulePath (an absolute or ./relative path,
   * a file URL, or a package or built-in name) in a worker; an async export
   * is awaited. A worker's death fails the future with BrokenProcessPool.
   */
  submit<T = any>(modulePath: string | { readonly href: string }, exportName: string, ...args: ProcessValue[]): Future<T>;
  /** With a last argument { signal }: aborting it fails the future and drops a task not started. */
  submit<T = any>(modulePath: string | { readonly href: string }, exportName: string,
    ...args: [...ProcessValue[], AbortOptions]): Future<T>;
  /** As submit; a task still running after timeoutMs fails with TimeoutError and its worker is replaced. */
  submitWithTimeout<T = any>(timeoutMs: number, modulePath: string | { readonly href: string }, exportName: string,
    ...args: ProcessValue[]): Future<T>;
  /** With wait (default), done once every task has finished and every worker has left. */
  shutdown(options?: ShutdownOptions): Future<void>;
  /** Stop now: SIGTERM, then SIGKILL after graceMs (default 1000). */
  terminate(options?: { graceMs?: number }): void;
  /** Stop now with SIGKILL. */
  kill(): void;
  stats(): ProcessPoolStats;
  /** Shut down and release the pool; done once its workers and descriptors are gone. */
  close(): Future<void>;
  free(): Future<void>;
}

// ---- MPI pool ----------------------------------------------------------------

export interface MPIPoolOptions {
  /**
   * SPMD (mpirun -n N): at most N - 1, and every serving rank serves (0 or
   * absent: all). Spawn (a job of one rank): the workers to spawn (0 or
   * absent: the number of CPUs).
   */
  maxWorkers?: number;
  /** Tasks sent to one rank before its answers come (default 1). */
  maxInFlight?: number;
  /** [modulePath, exportName, ...args]: run on every serving rank first; one that throws breaks the pool. */
  initializer?: [string | { readonly href: string }, string, ...ProcessValue[]];
  /** Options for the workers' node. */
  execArgv?: string[];
}

/**
 * A pool over the ranks of an MPI job, with the ProcessPool's tasks. Under
 * `mpirun -n N node script.js` every rank runs the script: on rank 0 this is
 * the pool of ranks 1..N-1; on the others the constructor serves rank 0's
 * pools and the rank leaves when rank 0 exits, so the rest of the script
 * runs on rank 0 only. In a job of one rank it spawns its workers
 * (MPI_Comm_spawn). No crash isolation: a rank that dies ends the job.
 */
export class MPIPool {
  constructor(options?: MPIPoolOptions);
  /** Whether this build of xfutures has MPI. */
  static available(): boolean;
  /** [rank, size] of MPI_COMM_WORLD. */
  static world(): [number, number];
  /** Run exportName of modulePath on a serving rank, as ProcessPool.submit. */
  submit<T = any>(modulePath: string | { readonly href: string }, exportName: string, ...args: ProcessValue[]): Future<T>;
  submit<T = any>(modulePath: string | { readonly href: string }, exportName: string,
    ...args: [...ProcessValue[], AbortOptions]): Future<T>;
  /** With wait (default), done once every task has finished and the ranks were told. */
  shutdown(options?: ShutdownOptions): Future<void>;
  /** threads: the serving ranks. */
  stats(): ExecutorStats;
  close(): Future<void>;
  free(): Future<void>;
}

/** A JavaScript function as a C function pointer that any thread may call. */
export class Callback {
  constructor(signature: string, fn: (...args: any[]) => unknown);
  /** The C function pointer; null once freed. */
  readonly pointer: NativePointer | null;
  /** The canonical signature, e.g. "int32(int32, int32)". */
  readonly signature: string;
  /** The pointer's address. */
  readonly address: bigint;
  free(): void;
  close(): void;
}

/** fn runs on the main thread whichever thread calls the pointer. */
export function callback(signature: string, fn: (...args: any[]) => unknown): Callback;
/** The address of a native function of the process (dlsym). */
export function symbol(name: string): NativePointer;

export function all<T>(fs: Iterable<FutureLike<T>>, options?: { collect?: false }): Future<T[]>;
export function all<T>(fs: Iterable<FutureLike<T>>, options: { collect: true }): Future<(T | Error)[]>;
export function any<T>(fs: Iterable<FutureLike<T>>, options?: { cancelRest?: boolean }): Future<T>;
export function first<T>(fs: Iterable<FutureLike<T>>, options?: { cancelRest?: boolean }): Future<T>;
export function race<T>(fs: Iterable<FutureLike<T>>): Future<T>;
/**
 * A future that is done, as asCompleted gives it: every member of Future but
 * then, so that `for await` (which awaits a thenable) gives the future
 * itself, as it does at run time, and not its value.
 */
export type DoneFuture<T> = Omit<Future<T>, 'then'>;
export function asCompleted<T>(fs: Iterable<FutureLike<T>>, options?: { timeout?: number }):
  AsyncIterableIterator<DoneFuture<T>>;
export function withTimeout<T>(fut: FutureLike<T>, ms: number, options?: AbortOptions): Future<T>;
export function shield<T>(fut: FutureLike<T>): Future<T>;
/** Copy src's outcome into dst when src is done; cancellation flows both ways. */
export function chain<T>(src: FutureLike<T>, dst: Future<T>): void;
export function sleep(ms: number, options?: AbortOptions): Future<void>;
export function sleep<T>(ms: number, value: T, options?: AbortOptions): Future<T>;

/**
 * fn(fd) on the main thread each time fd is readable (or has an error or
 * hang-up), until removeReader(fd); the reader keeps the process alive.
 */
/** The kind of value the core holds for a done future ("void", "bool", "int", "double",
 * "string", "bytes", "list", "map", "pointer", "object", "error") and the core's canonical
 * text of it. Throws InvalidStateError while the future is pending. */
export type CoreKind = 'void' | 'bool' | 'int' | 'double' | 'string' | 'bytes' | 'list' | 'map' |
  'pointer' | 'object' | 'error';
export function coreRepr(fut: Future<unknown>): [CoreKind, string];
export function addReader(fd: number, fn: (fd: number) => void): void;
/** Stop watching fd; true if a reader was removed. */
export function removeReader(fd: number): boolean;

/** Errors made from core errors carry these, besides name and message. */
export interface XfError extends Error {
  /** The core's code name, e.g. "XF_ETIMEDOUT". */
  code?: string;
  /** The core's negative code. */
  errno?: number;
  /** The traceback text of the runtime that raised it, if any. */
  traceback?: string;
}

export class CancelledError extends Error {}
export class TimeoutError extends Error {}
export class InvalidStateError extends Error {}
export class BrokenExecutor extends Error {}
/** A worker of a ProcessPool died; its task (with 'break', every pending one) failed. */
export class BrokenProcessPool extends BrokenExecutor {}
export class DeadlockError extends Error {}
/** A ThreadPool with queuePolicy 'reject' refused a job: its queue was full. */
export class QueueFull extends Error {}
/** An operation given { signal } was aborted; cause is the signal's reason. */
export class AbortError extends Error {
  constructor(message?: string, options?: { cause?: unknown });
  readonly code: 'ABORT_ERR';
}

export const version: string;
/** The raw SWIG module. */
export const native: any;

/* xfutures — the process pool: an executor whose tasks run in worker
 * processes (Python's ProcessPoolExecutor).
 *
 * Workers are separate programs, spawned fresh (never forked from the
 * caller), each connected by one socketpair over which the pool and the
 * worker exchange length-prefixed CBOR frames (docs/wire-protocol.md). The
 * worker that ships with the library, xfworker, runs C functions: a shared
 * library, a symbol and its signature (xf/closure.h), called through libffi
 * with the task's arguments. A worker in another language speaks the same
 * protocol and receives its own kind of task (a pickled Python callable, a
 * dumped Lua function) as an opaque payload.
 *
 * Since a task must be named in a way that another process understands,
 * xf_executor_submit (a C function pointer and its data) cannot run on a
 * process pool: it returns XF_EINVAL there, and so does
 * xf_executor_submit_native. Use xf_process_pool_submit_symbol or
 * xf_process_pool_submit_payload. Everything else of the executor interface
 * works: shutdown, stats, reference counting, and the futures are ordinary
 * free-standing futures, finished by the pool's manager thread (so inline
 * done callbacks run there). xf_executor_stats counts tasks as for the
 * thread pool, with `threads` the worker processes alive.
 *
 * Failures. A worker that dies while it runs a task (a crash, a signal, a
 * call to exit) fails that task with an error of type "BrokenProcessPool"
 * (code XF_EBROKEN) whose message names the worker's pid and its signal or
 * exit status, and whose traceback holds the last lines the worker wrote to
 * its stderr. What happens next is the pool's on_worker_death policy. A
 * result that cannot be encoded fails its own task with XF_ETYPE and the
 * worker goes on. A task that runs past its timeout has its worker killed
 * (and replaced) and fails with XF_ETIMEDOUT.
 */
#ifndef XF_PROCESS_H
#define XF_PROCESS_H

#include "executor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a worker's unexpected death does to the pool. */
typedef enum xf_worker_death {
  /* Python's behaviour: the pool is broken. Every task not finished yet
   * (running in any worker or queued) fails with "BrokenProcessPool", the
   * other workers are stopped, and later submissions fail with XF_EBROKEN. */
  XF_WORKER_DEATH_BREAK = 0,
  /* Only the tasks that ran in the dead worker fail; a new worker starts
   * when there is work for it. */
  XF_WORKER_DEATH_REPLACE = 1
} xf_worker_death_t;

typedef struct xf_process_pool_options {
  size_t sz;            /* sizeof(xf_process_pool_options_t) */
  uint32_t max_workers; /* 0: the number of CPUs */
  /* The worker program. NULL: the environment variable XF_WORKER, else the
   * xfworker installed with the library. */
  const char *worker_path;
  /* The worker's whole argv, argv[0] included, NULL-terminated; NULL means
   * { worker_path, NULL }. Copied. */
  const char *const *worker_argv;
  uint32_t max_tasks_per_child; /* 0: unlimited; else a worker retires after so many */
  int on_worker_death;          /* xf_worker_death_t */
  uint32_t max_in_flight;       /* tasks sent to one worker at a time; 0: 1 */
  /* An initializer run by each worker before its first task: the C
   * function init_symbol of the shared library init_library, of signature
   * init_signature, called with init_nargs values init_args (copied when
   * the pool is made). It fails when it cannot be loaded or called, or when
   * it returns a non-zero integer; a failing initializer breaks the pool
   * (XF_EBROKEN, the initializer's error in the message and as the
   * payload). NULL init_symbol: none; NULL init_library: what the worker
   * has loaded already; NULL init_signature: "int32()". */
  const char *init_library;
  const char *init_symbol;
  const char *init_signature;
  xf_value_t *const *init_args;
  size_t init_nargs;
  /* Copy the workers' stderr to this process's stderr as it arrives (it is
   * always kept too, for the errors of a death). */
  bool forward_stderr;
  /* An initializer of another language, for a worker that runs it: a
   * payload as xf_process_pool_submit_payload takes (encoded when the pool
   * is made; the caller keeps its reference). Used when init_symbol is
   * NULL and init_language is not. */
  const char *init_language;
  xf_value_t *init_payload;
  /* Cancelling a task's future while the task runs (xf_future_cancel)
   * kills the worker that runs it with SIGKILL: the cancel returns XF_OK,
   * and the future ends cancelled once the worker is reaped, soon after.
   * Other tasks in that worker (max_in_flight > 1) fail with
   * "BrokenProcessPool". The worker is replaced as under
   * XF_WORKER_DEATH_REPLACE, whatever on_worker_death says, and its death
   * is not counted among the deaths: the pool chose it. A result that
   * arrives after the cancel is dropped: the future ends cancelled.
   * false (the default, as the stdlib): a running task cannot be
   * cancelled (XF_ESTATE). A caller built before this field existed passes
   * the smaller sz and gets false. */
  bool kill_on_cancel;
} xf_process_pool_options_t;
#define XF_PROCESS_POOL_OPTIONS_INIT                                                     \
  {                                                                                      \
    sizeof(xf_process_pool_options_t), 0, NULL, NULL, 0, XF_WORKER_DEATH_BREAK, 1, NULL, \
        NULL, NULL, NULL, 0, true, NULL, NULL, false                                     \
  }

/* A new process pool; opts may be NULL for the defaults. Workers start
 * lazily, one per task that finds none idle, up to max_workers. The pool
 * starts its manager thread at once. The caller owns the reference in *out.
 * Errors: XF_EINVAL (bad options: sz too small, an unknown death policy,
 * no worker program to be found, an initializer that does not encode or
 * whose signature does not parse), XF_ENOMEM, XF_ESYS. */
XF_API int xf_process_pool_new(const xf_process_pool_options_t *opts,
                               xf_executor_t **out);

/* Run the C function symbol of the shared library library (a path, a name
 * dlopen finds, or "" for what the worker has loaded already, such as
 * libc), whose signature is signature, in a worker, with nargs
 * values args (the caller keeps its references; they are encoded here).
 * timeout_ns: negative for none; else the worker is killed once the task
 * has run so long in it, and the future fails with XF_ETIMEDOUT. On XF_OK
 * *out is a new reference to the task's future. On error no task is
 * queued: XF_EINVAL (NULL or bad arguments; a signature that does not
 * parse, a wrong count), XF_ETYPE (an argument with no encoding, such as a
 * pointer or an object), XF_ERANGE (arguments nested too deeply, or a task
 * larger than a frame: 1 GiB), XF_ESHUTDOWN, XF_EBROKEN, XF_ENOMEM. A task whose
 * library or symbol cannot be found in the worker, or whose arguments do
 * not fit the signature, fails its future. */
XF_API int xf_process_pool_submit_symbol(xf_executor_t *ex, const char *library,
                                         const char *symbol, const char *signature,
                                         xf_value_t *const *args, size_t nargs,
                                         int64_t timeout_ns, xf_future_t **out);

/* Run a task of another language: language ("python", "lua", ...) and a
 * payload value that a worker of that language understands (for Python,
 * an opaque payload of runtime "python" holding a pickled callable and its
 * arguments). The worker program must be one that speaks the language; the
 * C worker fails such a task with an error saying so. Otherwise as
 * xf_process_pool_submit_symbol. */
XF_API int xf_process_pool_submit_payload(xf_executor_t *ex, const char *language,
                                          xf_value_t *payload, int64_t timeout_ns,
                                          xf_future_t **out);

/* Stop the pool now (Python 3.14's terminate_workers and kill_workers):
 * queued tasks are cancelled, every worker gets SIGTERM and, once grace_ns
 * has passed (negative: one second), SIGKILL; the tasks they were running
 * fail with "BrokenProcessPool". Waits for the workers to be gone unless
 * called from the pool's manager thread (a done callback). Later
 * submissions fail with XF_ESHUTDOWN. kill is terminate with no grace. */
XF_API int xf_process_pool_terminate(xf_executor_t *ex, int64_t grace_ns);
XF_API int xf_process_pool_kill(xf_executor_t *ex);

/* The pool's own counters, a snapshot. */
typedef struct xf_process_pool_stats {
  size_t sz;        /* set by the caller: sizeof(xf_process_pool_stats_t) */
  uint32_t workers; /* worker processes alive now */
  uint32_t max_workers;
  uint64_t spawned;  /* workers started so far */
  uint64_t deaths;   /* workers that died unexpectedly */
  uint64_t retired;  /* workers that left after max_tasks_per_child */
  uint64_t timeouts; /* tasks that ran past their timeout */
  bool broken;
} xf_process_pool_stats_t;
#define XF_PROCESS_POOL_STATS_INIT                                                       \
  { sizeof(xf_process_pool_stats_t), 0, 0, 0, 0, 0, 0, false }

/* Fill *out; XF_EINVAL for NULL, a small sz or an executor that is not a
 * process pool. Any thread. */
XF_API int xf_process_pool_stats(xf_executor_t *ex, xf_process_pool_stats_t *out);

/* One live worker process of a process pool, as xf_process_pool_workers
 * reports it. */
typedef struct xf_process_worker {
  int64_t pid;
  uint64_t tasks_done; /* tasks it finished, with a result or an error */
  uint32_t running;    /* tasks sent to it and not finished yet */
  uint32_t reserved;   /* zero */
} xf_process_worker_t;

/* The pool's live workers, in the order of their slots: the first
 * min(cap, count) of them are written to out, and *count gets their number,
 * which may exceed cap (out may be NULL when cap is 0, to count them). A
 * snapshot: a worker may start, finish a task or die right after. XF_EINVAL
 * for a NULL ex or count, out NULL with cap > 0, or an executor that is not
 * a process pool. Any thread. */
XF_API int xf_process_pool_workers(xf_executor_t *ex, xf_process_worker_t *out,
                                   size_t cap, size_t *count);

#ifdef __cplusplus
}
#endif
#endif /* XF_PROCESS_H */

/* xfutures — executors and the thread pool.
 *
 * An executor runs tasks and gives back futures. It is an interface:
 * the thread pool is one implementation, and others (a loop's executor, a
 * process pool) plug in behind the same calls through xf_executor_ops_t.
 * Every function here is safe to call from any thread.
 *
 * Fork. A process forked from one that has thread pools inherits them
 * without their threads. In the child such a pool is unusable: submit,
 * shutdown and stats return XF_EBROKEN at once, without waiting or touching
 * the parent's threads, and dropping the last reference frees the pool
 * without waiting; the tasks it had queued never run in the child. Pools
 * made in the child work as usual. A process that forks from inside a task
 * of a pool continues in that task; when it returns, the thread leaves the
 * pool (and, being the child's only thread, ends the child unless it called
 * exit first).
 *
 * Futures inherited across fork() keep the state they had: one that was
 * done may still be read (state, result, error, wait), and dropped with
 * xf_future_unref. One that was not done will never finish in the child
 * (its task, if running, runs in the parent): waiting for it without a
 * timeout never returns, and calls that change it or add callbacks may
 * block forever if a parent thread held its lock at the moment of the fork.
 * Drop such futures with xf_future_unref, which never blocks.
 */
#ifndef XF_EXECUTOR_H
#define XF_EXECUTOR_H

#include "future.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A task. It receives its data and its own future (borrowed; already
 * RUNNING). It finishes the future in one of these ways: by returning XF_OK
 * after xf_future_set_result / set_error (or, having done neither, the
 * result is void); by returning a negative code (the future fails with an
 * error of that code); or by xf_future_chain(other, future), which makes the
 * future follow another one. */
typedef int (*xf_task_fn)(void *data, xf_future_t *future);

/* Submit a task. On XF_OK *out is a new reference to its future, and
 * free_data (if not NULL) is called with data after the task ran or once it
 * is known it never will (cancelled, shut down). When this returns an error
 * the task will never run and data is not freed: the caller still owns it.
 * Errors: XF_ESHUTDOWN after shutdown, XF_EBROKEN for a broken pool (its
 * initializer failed, or it was inherited across fork()), XF_EAGAIN when a
 * bounded queue with the reject policy is full. */
XF_API int xf_executor_submit(xf_executor_t *ex, xf_task_fn fn, void *data,
                              xf_free_data_fn free_data, xf_future_t **out);

/* Stop accepting tasks. With cancel_futures, queued tasks are cancelled
 * (their futures become CANCELLED). With wait, block until every accepted
 * task has finished and the workers are gone; called from one of the
 * executor's own threads, the wait skips that thread. Calling it again is
 * harmless. A thread pool inherited across fork() returns XF_EBROKEN at once
 * (its threads are in the parent). */
XF_API int xf_executor_shutdown(xf_executor_t *ex, bool wait, bool cancel_futures);

/* Reference counting; any thread. NULL is a no-op. Dropping the last
 * reference shuts the executor down as shutdown(wait=true, cancel=false)
 * would (without joining when dropped from one of its own threads). */
XF_API xf_executor_t *xf_executor_ref(xf_executor_t *ex);
XF_API void xf_executor_unref(xf_executor_t *ex);

/* Diagnostics. Counters are a snapshot; they may be stale by the time the
 * caller reads them. */
typedef struct xf_executor_stats {
  size_t sz;          /* set by the caller: sizeof(xf_executor_stats_t) */
  uint64_t queued;    /* accepted, not started */
  uint64_t running;   /* running now */
  uint64_t completed; /* ran to completion (any outcome) */
  uint64_t cancelled; /* never ran because their future was cancelled */
  uint32_t threads;   /* worker threads alive */
  uint32_t max_workers;
} xf_executor_stats_t;
#define XF_EXECUTOR_STATS_INIT                                                           \
  { sizeof(xf_executor_stats_t), 0, 0, 0, 0, 0, 0 }
XF_API int xf_executor_stats(xf_executor_t *ex, xf_executor_stats_t *out);

/* ---- The thread pool -------------------------------------------------- */

/* An initializer runs once in each worker thread before it takes tasks. A
 * non-zero return breaks the pool: queued and later submissions fail with
 * XF_EBROKEN (Python's BrokenThreadPool). */
typedef int (*xf_thread_init_fn)(void *data);

typedef enum xf_queue_policy {
  XF_QUEUE_BLOCK = 0, /* submit waits for room in a full bounded queue */
  XF_QUEUE_REJECT = 1 /* submit fails with XF_EAGAIN */
} xf_queue_policy_t;

typedef struct xf_thread_pool_options {
  size_t sz;                      /* sizeof(xf_thread_pool_options_t) */
  uint32_t max_workers;           /* 0: min(32, cpus + 4) */
  const char *thread_name_prefix; /* NULL/"": "xfpool"; threads are "<prefix>-<n>" */
  xf_thread_init_fn initializer;  /* may be NULL */
  void *init_data;                /* passed to initializer; not freed */
  size_t max_queue;               /* 0: unbounded */
  int queue_policy;               /* xf_queue_policy_t */
} xf_thread_pool_options_t;
#define XF_THREAD_POOL_OPTIONS_INIT                                                      \
  { sizeof(xf_thread_pool_options_t), 0, NULL, NULL, NULL, 0, XF_QUEUE_BLOCK }

/* A new thread pool; opts may be NULL for the defaults. Threads start
 * lazily, one per submission that finds no idle worker, up to max_workers.
 * A queued task never waits for another one to finish while a started
 * worker is idle: blocking tasks submitted together run in parallel. Each
 * worker is named "<prefix>-<n>" before its initializer runs. The caller
 * owns the reference in *out. */
XF_API int xf_thread_pool_new(const xf_thread_pool_options_t *opts, xf_executor_t **out);

/* ---- Other executors -------------------------------------------------- */

/* The operations behind an executor. submit must either take the task
 * (returning XF_OK, finishing fut eventually and calling free_data) or
 * return an error having done neither. fut arrives PENDING; the
 * implementation calls xf_executor_run_task to run it. */
typedef struct xf_executor_ops {
  size_t sz; /* sizeof(xf_executor_ops_t) */
  const char *name;
  int (*submit)(void *impl, xf_future_t *fut);
  int (*shutdown)(void *impl, bool wait, bool cancel_futures);
  int (*stats)(void *impl, xf_executor_stats_t *out);
  void (*destroy)(void *impl); /* after the last reference is gone */
} xf_executor_ops_t;

/* A new executor over ops and impl; the caller owns the reference. ops must
 * outlive the executor. */
XF_API int xf_executor_new(const xf_executor_ops_t *ops, void *impl, xf_executor_t **out);

/* For implementations: run the task carried by a future passed to submit (in
 * the calling thread): moves it to RUNNING unless it was cancelled, runs it,
 * finishes the future and frees the task's data. Returns XF_OK if the task
 * ran, XF_ECANCELLED if it had been cancelled. */
XF_API int xf_executor_run_task(xf_future_t *fut);

/* For implementations: drop a task that will never run (shutdown): the
 * future fails with code (XF_ECANCELLED cancels it) and the data is freed.
 * XF_EINVAL, with the future left as it is, when fut carries no task (it
 * never had one, or its task already ran or was dropped) or code is not a
 * negative error code. */
XF_API int xf_executor_drop_task(xf_future_t *fut, int code);

#ifdef __cplusplus
}
#endif
#endif /* XF_EXECUTOR_H */

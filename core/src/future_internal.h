/* The future's layout, shared by the files that need more than the public
 * calls: executors (which carry their task inside the future, so a
 * submission costs one allocation) and the loop.
 *
 * Design notes: how a future flows through the core
 * -------------------------------------------------
 * Read the core in the order a submitted task travels:
 * 1. submit (executor.c): the task is stored in the future itself
 *    (task_fn, task_data), one allocation for both;
 * 2. queue (thread_pool.c): the future is pushed on the pool's inbox and a
 *    worker takes it;
 * 3. run (executor.c, xf_executor_run_task): the worker marks it running,
 *    calls the task, and finishes the future with what it returned;
 * 4. complete (future.c): the outcome is stored, then the done callbacks
 *    run: inline ones at once, loop-bound ones posted to their loop;
 * 5. dispatch (async.c, xf__loop_post_done): the posted record goes through
 *    the loop's incoming queue, waking the loop if it sleeps;
 * 6. loop iteration (loop.c): the loop drains the queue into its ready
 *    list and runs each callback on its own thread;
 * 7. foreign callback (closure.c): a callback written in another language
 *    is a closure, whose trampoline enters that runtime on its owner
 *    thread.
 * Nothing in the reactor (loop.c, timer.c, async.c, io.c) reaches up into
 * executors: the asyncio layer (loop_future.c) sits above both. */
#ifndef XF_FUTURE_INTERNAL_H
#define XF_FUTURE_INTERNAL_H

#include "internal.h"

/* The low two bits of the state word hold xf_future_state_t; this bit says
 * that some thread sleeps on the word and the finisher must wake it. */
#define XF__STATE_MASK 3u
#define XF__WAITERS    4u

/* Flags, written under the lock. */
#define XF__BOUND 1u /* chained to another future that will finish it */

typedef struct xf__cb {
  struct xf__cb *next;
  xf_done_fn fn;
  void *data;
  xf_free_data_fn free_data;
  xf_loop_t *loop; /* NULL: inline; else a reference to the target loop */
} xf__cb_t;

struct xf_future {
  _Atomic uint32_t refs;
  _Atomic uint32_t state;
  xf__lock_t lock;
  uint32_t flags;
  xf_value_t *value; /* owned; set once before the state becomes FINISHED */
  xf_error_t *error; /* owned; likewise */
  char *cancel_msg;  /* owned; set once before the state becomes CANCELLED */
  xf__cb_t *cb_head, *cb_tail;
  xf_loop_t *loop; /* a reference, for loop-bound futures */
  /* Under the lock: the future this one is bound to by chain, weakly (no
   * reference: the source holds this future, not the other way round). The
   * chain clears it before the source is freed. A cancel of this future
   * while it runs goes to the source. Cleared when this future is done. */
  struct xf_future *source;
  /* Someone read the outcome (result, error, or a combinator copying it);
   * a loop future freed with an error nobody read is reported to its loop,
   * as asyncio's "exception was never retrieved". */
  _Atomic bool retrieved;

  /* When set (before the future is shared), xf_future_cancel on a future
   * that is not done calls this instead of cancelling: a loop task turns the
   * request into a cancellation delivered to its step, which decides. The
   * hook finishes the future itself with xf__future_cancel_final. */
  int (*cancel_hook)(xf_future_t *f, const char *msg);
  void *hook_data;

  /* The task this future stands for, when an executor made it. */
  struct xf_future *task_next; /* an executor's intrusive queue link */
  xf_task_fn task_fn;
  void *task_data;
  xf_free_data_fn task_free;
};

/* A new pending future bound to loop (which gets a reference), or
 * free-standing with loop NULL. */
XF__HIDDEN int xf__future_new(xf_loop_t *loop, xf_future_t **out);

/* Fail f with a default error for code. If even that error cannot be
 * allocated, f fails with the preallocated out-of-memory error, so a future
 * that must finish always does. */
XF__HIDDEN int xf__future_fail_code(xf_future_t *f, int code);

/* After a task or continuation returned rc having been handed f: unless it
 * finished f or bound it to another future, finish f now — with a void
 * result for rc >= 0, else with an error of code rc. */
XF__HIDDEN void xf__future_finish_after(xf_future_t *f, int rc);

/* Add a done callback that runs inline in the finishing thread even when f
 * belongs to a loop: the combinators' internal plumbing. Same contract as
 * xf_future_add_done_callback otherwise. */
XF__HIDDEN int xf__future_add_inline(xf_future_t *f, xf_done_fn fn, void *data,
                                     xf_free_data_fn free_data);

/* Copy src's outcome (done) into dst. Returns what the setter returned. A
 * cancelled src cancels dst also while dst is running: dst was bound to
 * src, whose outcome is now its own. */
XF__HIDDEN int xf__future_copy_outcome(xf_future_t *src, xf_future_t *dst);

/* Mark f as bound: src will finish it. The first source is remembered
 * (weakly, see `source`) until f is done, so that cancelling f while it runs
 * cancels src. Returns whether f was bound already. */
XF__HIDDEN bool xf__future_bind(xf_future_t *f, xf_future_t *src);

/* Forget src as f's source (before src is freed, or when the chain failed);
 * with unmark, also clear the bound flag (it was not set before the bind). */
XF__HIDDEN void xf__future_unbind(xf_future_t *f, xf_future_t *src, bool unmark);

/* Cancel dst because the future it follows ended cancelled or can never
 * finish: also while dst runs (its outcome was the source's); a task's
 * future decides itself (its cancel hook). Falls back to no message when the
 * message cannot be copied. */
XF__HIDDEN int xf__future_cancel_follower(xf_future_t *dst, const char *msg);

/* Take a reference to f unless its last one is gone (f is being freed).
 * The caller must know that f's memory is still there, for example because
 * the free function of f's own registration, which f's last unref calls,
 * clears the pointer under a lock that the caller holds. */
XF__HIDDEN bool xf__future_tryref(xf_future_t *f);

/* Whether a blocking wait on f would deadlock: f is not done, belongs to a
 * loop, and the calling thread is running that loop. What finishes a loop
 * future is work of that loop (its callbacks, tasks and timers), which
 * cannot run while its only thread waits; asyncio refuses such a wait. */
XF__HIDDEN bool xf__future_wait_deadlocks(const xf_future_t *f);

/* Remove every registration of f not run yet whose function is fn and whose
 * data matches arg: match(data, arg) when match is given (it runs under f's
 * lock and must only look at data), else data == arg. Frees their data
 * outside the lock and returns how many went. */
XF__HIDDEN int xf__future_remove_done_if(xf_future_t *f, xf_done_fn fn,
                                         bool (*match)(const void *data, const void *arg),
                                         const void *arg);

/* Cancel f now, bypassing its cancel hook. Same codes as xf_future_cancel. */
XF__HIDDEN int xf__future_cancel_final(xf_future_t *f, const char *msg);

/* Call every done-callback record in list order: run inline ones, post loop
 * ones. Frees the records. */
XF__HIDDEN void xf__future_run_callbacks(xf_future_t *f, xf__cb_t *list);

/* Run one callback record now, in this thread, then free its data. */
static inline void xf__cb_invoke(xf_future_t *f, xf__cb_t *cb) {
  cb->fn(f, cb->data);
  if (cb->free_data)
    cb->free_data(cb->data);
}

/* Provided by the loop: post a done callback for f (done) to run on loop.
 * Takes over cb (the record, its data and its loop reference) in every case:
 * if the loop is closed, the callback is dropped, its data freed and the
 * loss reported to the loop's exception handler. */
XF__HIDDEN void xf__loop_post_done(xf_loop_t *loop, xf_future_t *f, xf__cb_t *cb);

/* Provided by the loop: references on loops, for callback records. */
XF__HIDDEN xf_loop_t *xf__loop_ref(xf_loop_t *loop);
XF__HIDDEN void xf__loop_unref(xf_loop_t *loop);

#endif /* XF_FUTURE_INTERNAL_H */

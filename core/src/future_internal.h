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
 * executors: the asyncio layer (loop_future.c) sits above both.
 *
 * Along the way, the queues are queue.h's intrusive FIFO (a future's
 * callbacks, the loop's incoming and ready lists), except the pool's inbox,
 * a lock-free FIFO of its own; and the memory of futures, callback records
 * and handles is recycled to the thread that allocated it (block_cache.c). */
#ifndef XF_FUTURE_INTERNAL_H
#define XF_FUTURE_INTERNAL_H

#include "internal.h"
#include "queue.h"

/* The low two bits of the state word hold xf_future_state_t; this bit says
 * that some thread sleeps on the word and the finisher must wake it. */
#define XF__STATE_MASK 3u
#define XF__WAITERS    4u

/* Flags, written under the lock. */
#define XF__BOUND 1u /* chained to another future that will finish it */

typedef struct xf__cb {
  xf__qnode_t link; /* in its future's list, then in a loop's queues */
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
  xf__queue_t cbs;   /* the done callbacks (xf__cb_t), under the lock */
  xf_loop_t *loop;   /* a reference, for loop-bound futures */
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
  /* An executor's intrusive queue link: the thread pool queues through
   * task_link (queue.h), the frame executors (task_frame.h) through
   * task_next; a future is in one executor's queue at most. */
  union {
    struct xf_future *task_next;
    xf__qnode_t task_link;
  };
  xf_task_fn task_fn;
  void *task_data;
  xf_free_data_fn task_free;
};

/* Small blocks recycled to the thread that allocated them (block_cache.c):
 * the memory of futures (XF__CACHE_BIG), done-callback records
 * (XF__CACHE_SMALL) and loop handles (XF__CACHE_BIG). A block of class cls
 * holds up to 48 (small) or 128 (big) bytes; a larger size, and every size
 * while an allocation hook other than the C library's is installed, goes
 * through the hook. NULL when memory runs out. Free with xf__cache_free
 * only, from any thread. */
#define XF__CACHE_SMALL   0
#define XF__CACHE_BIG     1
#define XF__CACHE_CLASSES 2
XF__HIDDEN void *xf__cache_alloc(int cls, size_t size);
XF__HIDDEN void xf__cache_free(void *p);

/* Adaptive spinning (future.c), for the waits that expect an event soon: a
 * waiter on a future and the pool's idle worker. A spin takes one of a
 * process-wide number of slots, as many as there are CPUs less one (at
 * least one): more spinners than that would take the cores from the
 * threads that produce the event they wait for. Its budget is the site's
 * own and adapts: a spin that saw its event doubles it (up to
 * XF__SPIN_NS), one that ended in a sleep halves it (down to
 * XF__SPIN_MIN_NS, so that a later success can grow it back). */
#define XF__SPIN_MIN_NS 1000

typedef struct xf__aspin {
  xf__spin_t spin;
  int64_t budget; /* this spin's budget, from the site's */
  bool slot;      /* holds a spin slot */
} xf__aspin_t;

/* Start a spin with the site's budget (an atomic word the site keeps,
 * 0 for the default; a NULL site always spins XF__SPIN_NS and learns
 * nothing); false if no slot is free, and then no spin. */
XF__HIDDEN bool xf__aspin_begin(xf__aspin_t *s, _Atomic uint32_t *site);
/* One step: false once the budget is spent. */
static inline bool xf__aspin_step(xf__aspin_t *s) {
  xf__cpu_relax();
  if ((++s->spin.n & 63) != 0)
    return true;
  int64_t now = xf_now();
  if (!s->spin.until)
    s->spin.until = now + s->budget;
  return now < s->spin.until;
}
/* End the spin, telling whether it saw its event, and free the slot. */
XF__HIDDEN void xf__aspin_end(xf__aspin_t *s, _Atomic uint32_t *site, bool seen);

/* Whether the allocation hook is the C library's own (common.c). */
XF__HIDDEN bool xf__alloc_is_default(void);

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

/* Call every done-callback record of a chain of links (xf__cb_t.link,
 * ending with NULL) in order: run inline ones, post loop ones. Frees the
 * records. */
XF__HIDDEN void xf__future_run_callbacks(xf_future_t *f, xf__qnode_t *list);

static inline xf__cb_t *xf__cb_of(xf__qnode_t *n) {
  return XF__CONTAINER_OF(n, xf__cb_t, link);
}

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

/* What the loop's own files share: the loop's and the handles' structs and
 * the calls between its parts. The loop is one object split by job:
 * - loop.c: its life cycle, threads and runs (the iteration);
 * - timer.c: handles, call_soon and the timer heap (over heap.h);
 * - async.c: the incoming queue, call_soon_threadsafe and the done
 *   callbacks that futures post (xf__loop_post_done);
 * - io.c: the fd table, over the backend (epoll.c);
 * - loop_future.c: the asyncio layer on top (loop futures, run_in_executor,
 *   the loop as an executor, sleep, xf_future_timeout), which uses the
 *   public calls of the others and this header only for the slot where it
 *   keeps the default executor.
 * Nothing outside these files includes this header.
 */
#ifndef XF_LOOP_PRIVATE_H
#define XF_LOOP_PRIVATE_H

#include "heap.h"
#include "loop_internal.h"

/* ---- The loop and its handles ------------------------------------------ */

/* fd events dispatched per poll. */
#define XF__LOOP_EVENTS 128

/* Where a handle is; written by the loop thread, or by the thread that
 * makes a handle before any other can see it. */
enum { XF__H_NEW, XF__H_HEAP, XF__H_QUEUED, XF__H_RUNNING, XF__H_DONE };

struct xf_handle {
  xf__cb_t node; /* its link in the loop's lists; node.fn marks a handle */
  _Atomic uint32_t refs;
  _Atomic uint32_t cancelled;
  uint8_t where;
  bool holds_loop; /* escaped to a caller: holds a loop reference */
  xf_loop_t *loop;
  xf_callback_fn fn;
  void *data;
  xf_free_data_fn free_data;
  int64_t when; /* timers: deadline on the loop clock */
  uint64_t seq; /* timers: scheduling order */
  xf__heap_node_t heap;
};

typedef struct xf__watcher {
  xf_io_fn fn;
  void *data;
  xf_free_data_fn free_data;
} xf__watcher_t;

typedef struct xf__io {
  xf__watcher_t reader, writer;
  unsigned mask;
} xf__io_t;

struct xf_loop {
  _Atomic uint32_t refs;
  _Atomic uint32_t handles;

  /* The incoming queue: any thread, under in_lock. in_any is 1 while it is
   * not empty, for the loop to look without the lock. */
  xf__lock_t in_lock;
  xf__queue_t in;
  _Atomic uint32_t in_any;
  _Atomic uint32_t polling;
  _Atomic uint32_t wake_sent;
  _Atomic bool closing; /* xf_loop_close has begun */
  _Atomic bool closed;  /* set under in_lock */
  uint32_t fork_gen;    /* the process generation it was made in (fork.c) */
  _Atomic bool stopping;
  _Atomic bool close_on_exit;
  _Atomic(const void *) owner; /* token of the running thread, or NULL */
  _Atomic(const void *) home;  /* the thread that last ran or made it */

  /* Loop thread. */
  xf__queue_t ready; /* of xf__cb_t links */
  xf__heap_t timers;
  uint64_t timer_seq;
  xf__io_t *ios;
  int nios;
  int nwatched; /* fds with a watcher */
  xf__link_t suspended;
  xf__io_event_t events[XF__LOOP_EVENTS];
  xf__backend_t backend;

  /* Under lock. */
  xf__lock_t lock;
  xf_exception_handler_fn handler;
  void *handler_data;
  xf_free_data_fn handler_free;
  /* What the asyncio layer keeps in the loop (its default executor), and
   * how the loop drops it when it closes: the reactor knows nothing of
   * executors. */
  void *attached;
  xf_free_data_fn attached_free;
};

/* A thread's identity (the address of its copy) and the loop it runs
 * (loop.c). */
XF__HIDDEN extern _Thread_local char xf__thread_token;
XF__HIDDEN extern _Thread_local xf_loop_t *xf__running;

static inline const void *xf__self(void) {
  return &xf__thread_token;
}

/* Closed, or inherited across fork(): in a child process a parent's loop
 * behaves as closed, and its locks, epoll set and threads (which may be held,
 * shared or gone) are never touched. */
static inline bool xf__loop_closed(const xf_loop_t *loop) {
  return atomic_load_explicit(&loop->closed, memory_order_acquire) ||
         xf__forked(loop->fork_gen);
}

/* ---- Handles (timer.c) ------------------------------------------------ */

/* The marker of a handle among the queues' items (its node.fn). */
XF__HIDDEN void xf__handle_tag(xf_future_t *f, void *data);

static inline bool xf__is_handle(const xf__cb_t *cb) {
  return cb->fn == xf__handle_tag;
}

static inline xf_handle_t *xf__handle_of(xf__cb_t *cb) {
  return XF__CONTAINER_OF(cb, xf_handle_t, node);
}

/* A new handle; escapes: it is handed to the caller, who holds a reference
 * and so the loop's memory. */
XF__HIDDEN int xf__handle_new(xf_loop_t *loop, xf_callback_fn fn, void *data,
                              xf_free_data_fn free_data, bool escapes, xf_handle_t **out);
/* Undo xf__handle_new for a handle that could not be scheduled: the caller
 * keeps its data. */
XF__HIDDEN void xf__handle_abandon(xf_handle_t *h);
/* The loop is done with the handle: free its data, drop its reference. */
XF__HIDDEN void xf__handle_retire(xf_handle_t *h);

/* Time until the first live timer (-1: none); drops cancelled timers that
 * reached the top. */
XF__HIDDEN int64_t xf__timers_timeout(xf_loop_t *loop, int64_t now);
/* Set the backend's timer to the first timer's deadline (a run ends). */
XF__HIDDEN void xf__timers_arm(xf_loop_t *loop);
/* Move the due timers to the ready list. */
XF__HIDDEN void xf__timers_run_due(xf_loop_t *loop, int64_t now);
/* Closing: retire every timer. */
XF__HIDDEN void xf__timers_drop_all(xf_loop_t *loop);

/* ---- Threads (loop.c) ------------------------------------------------- */

/* Whether this thread may touch the loop-thread structures for internal
 * bookkeeping (removing a cancelled timer): it runs the loop, or nobody does
 * and it is the loop's home thread, which then takes the loop for that
 * moment as a run takes it. Stricter than xf__loop_check_thread, because it
 * is used by calls that any thread may make. Taking matters because another
 * thread may close the loop at any moment (its last reference went there),
 * and closing takes the loop the same way, so the two never touch the
 * loop-thread structures at once. XF__TOUCH_NO: this thread may not touch
 * them now; XF__TOUCH_OWNER: it runs the loop; XF__TOUCH_TAKEN: it took the
 * loop and gives it back with xf__loop_give_back. */
enum { XF__TOUCH_NO, XF__TOUCH_OWNER, XF__TOUCH_TAKEN };

XF__HIDDEN int xf__loop_take(xf_loop_t *loop);
/* Give back a loop taken by xf__loop_take. A last reference dropped
 * meanwhile could not close a loop it saw taken: close it now, as the end
 * of a run does. */
XF__HIDDEN void xf__loop_give_back(xf_loop_t *loop);

/* ---- The incoming queue (async.c) ------------------------------------- */

/* Wake the loop if it sleeps, is about to or is not being run, unless a
 * wake-up is on its way already. Any thread. */
XF__HIDDEN void xf__loop_wake(xf_loop_t *loop);
/* Move everything queued by other threads to the ready list. */
XF__HIDDEN void xf__incoming_drain(xf_loop_t *loop);
/* Run a ready item on the loop's thread. */
XF__HIDDEN void xf__item_run(xf_loop_t *loop, xf__cb_t *cb);
/* Closing: mark the loop closed under the queue's lock, then drop the
 * queued items and the ready list without running them. */
XF__HIDDEN void xf__incoming_close(xf_loop_t *loop);

/* ---- File descriptors (io.c) ------------------------------------------ */

/* Call the watcher of fd for one direction, if it is still there (an
 * earlier callback of this batch may have removed it). */
XF__HIDDEN void xf__io_dispatch(xf_loop_t *loop, int fd, unsigned which);
/* Closing: stop watching every fd and free the watchers' data. */
XF__HIDDEN void xf__io_drop_all(xf_loop_t *loop);

#endif /* XF_LOOP_PRIVATE_H */

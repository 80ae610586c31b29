/* The event loop.
 *
 * Design notes
 * ------------
 * Ownership by thread. A loop is run by one thread at a time: `owner` holds a
 * token of the running thread (the address of a thread-local), set with a
 * compare-and-swap when a run starts, cleared when it ends. Everything under
 * "loop thread" below (the ready list, the timer heap, the fd table) is
 * touched only by the owner, or by any thread while there is no owner (to
 * set a loop up before running it, as asyncio allows).
 *
 * Work items. Two kinds of items travel through the loop's queues, both
 * linked through an xf__cb_t:
 * - handles (call_soon, timers, call_soon_threadsafe), which embed an
 *   xf__cb_t whose fn is the marker xf__handle_tag;
 * - done-callback records handed over by futures (xf__loop_post_done). The
 *   record's `loop` field is the queue's own loop while it waits there, so
 *   that field carries the future instead (see xf__post_future), which makes
 *   posting a completion cost no allocation at all.
 *
 * The ready list (loop thread) holds items to run in FIFO order. Each
 * iteration runs the items that were ready when it started; items scheduled
 * meanwhile wait for the next one, so a callback that reschedules itself
 * cannot starve I/O.
 *
 * The incoming queue (any thread) is the hot path of bindings: a singly
 * linked FIFO under a futex lock, appended to by producers and swapped out
 * whole by the loop once per iteration, so the loop takes a whole batch per
 * wake-up and per-producer order holds. Nothing is ever merged.
 *
 * Waking. `polling` is 1 while the loop sleeps in the poller, is about to,
 * or is not being run at all (a host loop may be sleeping on backend_fd). A
 * producer appends, then reads `polling`; the loop stores `polling`, then
 * reads the queue head. Both sides use sequentially consistent operations
 * (the Dekker pattern), so either the producer sees the loop asleep and
 * writes the eventfd, or the loop sees the item and does not sleep. A second
 * flag, `wake_sent`, makes that at most one write per sleep: it is set by
 * the producer that writes and cleared by the loop after it drained the
 * eventfd. A loop that is awake costs producers no system call. An
 * iteration that does not sleep still drains a wake-up it sees announced,
 * so that none is left over to end a later sleep for nothing; and RUN_ONCE
 * goes round again after a wake-up that brought nothing to run, because it
 * must return only once something was ready.
 *
 * Embedding. backend_fd is the epoll fd, so it is readable when a watched
 * fd is, when the eventfd was written or when the backend's timerfd fired.
 * While the loop is not running, everything that gives it work makes one of
 * these happen: a producer of the incoming queue sees `polling` at 1 and
 * writes the eventfd; call_soon that makes the ready list non-empty does
 * the same; a run that ends with callbacks still ready (scheduled by the
 * last ones) or queued writes it as it leaves; and the timerfd is set to the
 * first timer's deadline as a run ends, and again when an insert brings that
 * deadline forward. A timer cancelled afterwards may make the fd fire early,
 * for a run that does nothing. While the loop runs, none of this costs
 * anything: its own sleeps have a timeout, and its callbacks' call_soon
 * only appends.
 *
 * Timers sit in a min-heap ordered by (deadline, sequence number): equal
 * deadlines run in scheduling order. A timer cancelled on the loop's thread
 * leaves the heap at once (O(log n)); one cancelled from another thread is
 * flagged and dropped when it reaches the top, never by a scan.
 *
 * Lifetime. `refs` counts the loop's memory: one reference for all the
 * user's handles together, one per future bound to the loop, per posted
 * done-callback record, per escaped xf_handle_t and per running run call.
 * `handles` counts the user's references: when it drops to zero the loop is
 * closed, which drops every queued item and so breaks the cycles between the
 * loop and the futures its callbacks hold.
 *
 * A producer of the incoming queue may hold no reference of its own (a
 * record hands its reference over with itself), so once its item is in the
 * queue the loop may run it, be closed and be freed. The loop's memory goes
 * only after a close or a drain, both of which take the queue's lock after
 * the producer released it, so what the producer does under the lock is
 * safe. It therefore decides there whether it is to wake the loop (reading
 * `polling`, claiming `wake_sent`), and if so takes a reference to the loop
 * before it unlocks and drops it after the eventfd write: two atomic
 * operations per sleep of the loop, next to a system call, and none at all
 * for a post to a loop that is awake, the hot path. Writing the eventfd
 * under the lock instead would make the woken loop wait for that lock, the
 * first thing it takes. The release of the lock itself may end with a futex
 * wake on the lock word, a system call on the address that reads no memory,
 * harmless even if that memory is gone (futex waiters recheck the word), as
 * with any mutex that may be destroyed once unlocked.
 *
 * Closing happens once (`closing` elects the caller that does it). It lets
 * the suspended tasks go first (xf__tasks_release, see task.c), while the
 * queue still takes items, then marks the loop closed under the queue's
 * lock and drops the queued items, the ready list, the timers and the fd
 * watchers.
 *
 * Lock rules: the incoming-queue lock and `lock` (the exception handler and
 * default executor) are never held together, and no callback runs with
 * either held.
 */
#include <stdio.h>

#include "heap.h"
#include "loop_internal.h"

/* fd events dispatched per poll. */
#define XF__LOOP_EVENTS 128

/* Where a handle is; written by the loop thread only. */
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

typedef struct xf__list {
  xf__cb_t *head, *tail;
} xf__list_t;

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

  /* The incoming queue: any thread, under in_lock. */
  xf__lock_t in_lock;
  _Atomic(xf__cb_t *) in_head;
  xf__cb_t *in_tail;
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
  xf__list_t ready;
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
  xf_executor_t *default_ex;
};

/* A thread's identity (the address of its copy) and the loop it runs. */
static _Thread_local char xf__thread_token;
static _Thread_local xf_loop_t *xf__running;

/* ---- References --------------------------------------------------------- */

xf_loop_t *xf__loop_ref(xf_loop_t *loop) {
  if (loop)
    atomic_fetch_add_explicit(&loop->refs, 1, memory_order_relaxed);
  return loop;
}

void xf__loop_unref(xf_loop_t *loop) {
  if (!loop || atomic_fetch_sub_explicit(&loop->refs, 1, memory_order_acq_rel) != 1)
    return;
  /* Closed by now: the user's references went first. */
  xf__backend_close(&loop->backend);
  if (loop->handler_free)
    loop->handler_free(loop->handler_data);
  xf__free(loop->ios);
  xf__free(loop);
}

xf_loop_t *xf_loop_ref(xf_loop_t *loop) {
  if (loop)
    atomic_fetch_add_explicit(&loop->handles, 1, memory_order_relaxed);
  return loop;
}

void xf_loop_unref(xf_loop_t *loop) {
  if (!loop || atomic_fetch_sub_explicit(&loop->handles, 1, memory_order_acq_rel) != 1)
    return;
  /* The last user reference: close now, or when the running thread leaves
   * the loop. Both sides check the other's flag after setting their own. */
  atomic_store_explicit(&loop->close_on_exit, true, memory_order_seq_cst);
  if (!atomic_load_explicit(&loop->owner, memory_order_seq_cst))
    xf_loop_close(loop);
  xf__loop_unref(loop);
}

/* ---- Threads ------------------------------------------------------------ */

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

bool xf__loop_is_running_here(const xf_loop_t *loop) {
  return loop && xf__running == loop;
}

int xf__loop_check_thread(xf_loop_t *loop) {
  if (xf__loop_closed(loop))
    return XF_ECLOSED;
  const void *owner = atomic_load_explicit(&loop->owner, memory_order_acquire);
  return owner && owner != xf__self() ? XF_EWRONGTHREAD : XF_OK;
}

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

static int xf__loop_take(xf_loop_t *loop) {
  const void *owner = atomic_load_explicit(&loop->owner, memory_order_acquire);
  if (owner)
    return owner == xf__self() ? XF__TOUCH_OWNER : XF__TOUCH_NO;
  if (atomic_load_explicit(&loop->home, memory_order_relaxed) != xf__self())
    return XF__TOUCH_NO;
  const void *expected = NULL;
  return atomic_compare_exchange_strong_explicit(&loop->owner, &expected, xf__self(),
                                                 memory_order_acq_rel,
                                                 memory_order_acquire)
             ? XF__TOUCH_TAKEN
             : XF__TOUCH_NO;
}

/* Give back a loop taken by xf__loop_take. A last reference dropped
 * meanwhile could not close a loop it saw taken: close it now, as the end
 * of a run does. */
static void xf__loop_give_back(xf_loop_t *loop) {
  atomic_store_explicit(&loop->owner, NULL, memory_order_seq_cst);
  if (atomic_load_explicit(&loop->close_on_exit, memory_order_seq_cst))
    xf_loop_close(loop);
}

xf_loop_t *xf_loop_current(void) {
  return xf__running;
}

xf__link_t *xf__loop_suspended(xf_loop_t *loop) {
  return &loop->suspended;
}

/* ---- Lists -------------------------------------------------------------- */

static inline void xf__list_push(xf__list_t *l, xf__cb_t *cb) {
  cb->next = NULL;
  if (l->tail)
    l->tail->next = cb;
  else
    l->head = cb;
  l->tail = cb;
}

static inline void xf__list_append(xf__list_t *l, xf__cb_t *head, xf__cb_t *tail) {
  if (!head)
    return;
  if (l->tail)
    l->tail->next = head;
  else
    l->head = head;
  l->tail = tail;
}

/* ---- Handles ------------------------------------------------------------ */

static void xf__handle_tag(xf_future_t *f, void *data) {
  (void) f;
  (void) data;
}

static inline bool xf__is_handle(const xf__cb_t *cb) {
  return cb->fn == xf__handle_tag;
}

static inline xf_handle_t *xf__handle_of(xf__cb_t *cb) {
  return XF__CONTAINER_OF(cb, xf_handle_t, node);
}

static inline xf_handle_t *xf__timer_of(xf__heap_node_t *n) {
  return XF__CONTAINER_OF(n, xf_handle_t, heap);
}

static int xf__timer_less(const xf__heap_node_t *a, const xf__heap_node_t *b) {
  const xf_handle_t *x = XF__CONTAINER_OF(a, const xf_handle_t, heap);
  const xf_handle_t *y = XF__CONTAINER_OF(b, const xf_handle_t, heap);
  if (x->when != y->when)
    return x->when < y->when;
  return x->seq < y->seq;
}

static void xf__handle_free_data(xf_handle_t *h) {
  xf_free_data_fn free_data = h->free_data;
  h->free_data = NULL;
  if (free_data)
    free_data(h->data);
}

xf_handle_t *xf_handle_ref(xf_handle_t *h) {
  if (h)
    atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
  return h;
}

void xf_handle_unref(xf_handle_t *h) {
  if (!h || atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
    return;
  /* The loop frees the data when it is done with the handle; this is for a
   * handle that never reached the loop. */
  xf__handle_free_data(h);
  if (h->holds_loop)
    xf__loop_unref(h->loop);
  xf__free(h);
}

/* The loop is done with the handle: free its data, drop its reference. */
static void xf__handle_retire(xf_handle_t *h) {
  h->where = XF__H_DONE;
  xf__handle_free_data(h);
  xf_handle_unref(h);
}

static int xf__handle_new(xf_loop_t *loop, xf_callback_fn fn, void *data,
                          xf_free_data_fn free_data, bool escapes, xf_handle_t **out) {
  xf_handle_t *h = xf__malloc(sizeof *h);
  if (!h)
    return XF_ENOMEM;
  memset(h, 0, sizeof *h);
  h->node.fn = xf__handle_tag;
  atomic_init(&h->refs, escapes ? 2 : 1);
  atomic_init(&h->cancelled, 0);
  h->where = XF__H_NEW;
  h->holds_loop = escapes;
  h->loop = escapes ? xf__loop_ref(loop) : loop;
  h->fn = fn;
  h->data = data;
  h->free_data = free_data;
  *out = h;
  return XF_OK;
}

/* Undo xf__handle_new for a handle that could not be scheduled: the caller
 * keeps its data. */
static void xf__handle_abandon(xf_handle_t *h) {
  h->free_data = NULL;
  if (h->holds_loop)
    xf__loop_unref(h->loop);
  xf__free(h);
}

int xf_handle_cancel(xf_handle_t *h) {
  if (!h)
    return XF_EINVAL;
  if (atomic_exchange_explicit(&h->cancelled, 1, memory_order_acq_rel))
    return XF_OK;
  xf_loop_t *loop = h->loop;
  /* On the loop's thread a timer leaves the heap now; elsewhere the flag is
   * enough: the loop drops the handle when it reaches it. A queued handle is
   * dropped when its turn comes. The handle holds the loop's memory. */
  int touch = xf__loop_take(loop);
  if (touch != XF__TOUCH_NO && h->where == XF__H_HEAP) {
    xf__heap_remove(&loop->timers, &h->heap, xf__timer_less);
    xf__handle_retire(h);
  }
  if (touch == XF__TOUCH_TAKEN)
    xf__loop_give_back(loop);
  return XF_OK;
}

bool xf_handle_cancelled(const xf_handle_t *h) {
  return h && atomic_load_explicit(&((xf_handle_t *) h)->cancelled, memory_order_acquire);
}

int64_t xf_handle_when(const xf_handle_t *h) {
  return h ? h->when : 0;
}

/* ---- Posted done callbacks ---------------------------------------------- */

/* While a done-callback record waits in a loop's queue its `loop` field, the
 * reference to that very loop, carries the future instead; the loop drops
 * the reference it stands for when it is done with the record. */
static inline void xf__post_set_future(xf__cb_t *cb, xf_future_t *f) {
  cb->loop = (xf_loop_t *) (void *) f;
}

static inline xf_future_t *xf__post_future(xf__cb_t *cb) {
  return (xf_future_t *) (void *) cb->loop;
}

/* Drop a queued item without running it. */
static void xf__item_drop(xf_loop_t *loop, xf__cb_t *cb) {
  if (xf__is_handle(cb)) {
    xf__handle_retire(xf__handle_of(cb));
    return;
  }
  xf_future_t *f = xf__post_future(cb);
  if (cb->free_data)
    cb->free_data(cb->data);
  xf__free(cb);
  xf_future_unref(f);
  xf__loop_unref(loop);
}

static void xf__list_drop(xf_loop_t *loop, xf__cb_t *cb) {
  while (cb) {
    xf__cb_t *next = cb->next;
    xf__item_drop(loop, cb);
    cb = next;
  }
}

/* Run a ready item on the loop's thread. */
static void xf__item_run(xf_loop_t *loop, xf__cb_t *cb) {
  if (xf__is_handle(cb)) {
    xf_handle_t *h = xf__handle_of(cb);
    if (!atomic_load_explicit(&h->cancelled, memory_order_acquire)) {
      h->where = XF__H_RUNNING;
      h->fn(h->data);
    }
    xf__handle_retire(h);
    return;
  }
  xf_future_t *f = xf__post_future(cb);
  xf__cb_invoke(f, cb);
  xf__free(cb);
  xf_future_unref(f);
  xf__loop_unref(loop);
}

/* ---- The incoming queue ------------------------------------------------- */

/* Whether the caller is to write the wake-up: the loop sleeps, is about to
 * or is not being run, and nobody wrote since it last drained the eventfd. */
static bool xf__loop_wake_claim(xf_loop_t *loop) {
  return atomic_load_explicit(&loop->polling, memory_order_seq_cst) &&
         !atomic_exchange_explicit(&loop->wake_sent, 1, memory_order_seq_cst);
}

static void xf__loop_wake(xf_loop_t *loop) {
  if (xf__loop_wake_claim(loop))
    xf__backend_wake(&loop->backend);
}

/* Append an item from any thread; false if the loop is closed (the item was
 * not taken). Once the lock is released the loop may run the item, be
 * closed and be freed, so a wake-up to write after that holds a reference
 * to the loop, taken under the lock (see "Lifetime"). */
static bool xf__incoming_push(xf_loop_t *loop, xf__cb_t *cb) {
  cb->next = NULL;
  if (xf__forked(loop->fork_gen))
    return false;
  xf__lock(&loop->in_lock);
  if (atomic_load_explicit(&loop->closed, memory_order_relaxed)) {
    xf__unlock(&loop->in_lock);
    return false;
  }
  if (loop->in_tail)
    loop->in_tail->next = cb;
  else
    atomic_store_explicit(&loop->in_head, cb, memory_order_seq_cst);
  loop->in_tail = cb;
  bool wake = xf__loop_wake_claim(loop);
  if (wake)
    xf__loop_ref(loop);
  xf__unlock(&loop->in_lock);
  if (wake) {
    xf__backend_wake(&loop->backend);
    xf__loop_unref(loop);
  }
  return true;
}

/* Move everything queued by other threads to the ready list. */
static void xf__incoming_drain(xf_loop_t *loop) {
  if (!atomic_load_explicit(&loop->in_head, memory_order_acquire))
    return;
  xf__lock(&loop->in_lock);
  xf__cb_t *head = atomic_load_explicit(&loop->in_head, memory_order_relaxed);
  xf__cb_t *tail = loop->in_tail;
  atomic_store_explicit(&loop->in_head, NULL, memory_order_relaxed);
  loop->in_tail = NULL;
  xf__unlock(&loop->in_lock);
  for (xf__cb_t *cb = head; cb; cb = cb->next)
    if (xf__is_handle(cb))
      xf__handle_of(cb)->where = XF__H_QUEUED;
  xf__list_append(&loop->ready, head, tail);
}

void xf__loop_post_done(xf_loop_t *loop, xf_future_t *f, xf__cb_t *cb) {
  xf_future_ref(f);
  xf__post_set_future(cb, f);
  if (xf__incoming_push(loop, cb))
    return;
  /* Closed: nobody will ever run it. */
  if (cb->free_data)
    cb->free_data(cb->data);
  xf__free(cb);
  xf_future_unref(f);
  xf__loop_report(loop, "a done callback was dropped because its loop is closed",
                  XF_ECLOSED);
  xf__loop_unref(loop);
}

/* ---- Exception handler -------------------------------------------------- */

static void xf__default_handler(xf_loop_t *loop, const char *message, xf_error_t *err,
                                void *data) {
  (void) loop;
  (void) data;
  if (err) {
    const char *tb = xf_error_traceback(err);
    fprintf(stderr, "xfutures: %s: %s: %s\n%s", message ? message : "",
            xf_error_type(err), xf_error_message(err), tb ? tb : "");
  } else {
    fprintf(stderr, "xfutures: %s\n", message ? message : "");
  }
}

int xf_loop_set_exception_handler(xf_loop_t *loop, xf_exception_handler_fn fn, void *data,
                                  xf_free_data_fn free_data) {
  if (!loop)
    return XF_EINVAL;
  if (xf__loop_closed(loop))
    return XF_ECLOSED;
  xf__lock(&loop->lock);
  void *old_data = loop->handler_data;
  xf_free_data_fn old_free = loop->handler_free;
  loop->handler = fn;
  loop->handler_data = fn ? data : NULL;
  loop->handler_free = fn ? free_data : NULL;
  xf__unlock(&loop->lock);
  if (old_free)
    old_free(old_data);
  return XF_OK;
}

int xf_loop_call_exception_handler(xf_loop_t *loop, const char *message,
                                   xf_error_t *err) {
  if (!loop)
    return XF_EINVAL;
  if (xf__forked(loop->fork_gen))
    return XF_ECLOSED;
  xf__lock(&loop->lock);
  xf_exception_handler_fn fn = loop->handler;
  void *data = loop->handler_data;
  xf__unlock(&loop->lock);
  (fn ? fn : xf__default_handler)(loop, message, err, data);
  return XF_OK;
}

void xf__loop_report(xf_loop_t *loop, const char *message, int code) {
  xf_error_t *err;
  if (xf_error_new(code, NULL, NULL, &err) != XF_OK)
    err = xf__error_oom();
  xf_loop_call_exception_handler(loop, message, err);
  xf_error_unref(err);
}

/* ---- Life cycle --------------------------------------------------------- */

int xf_loop_new(xf_loop_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  xf_loop_t *loop = xf__calloc(1, sizeof *loop);
  if (!loop)
    return XF_ENOMEM;
  int rc = xf__backend_open(&loop->backend);
  if (rc != XF_OK) {
    xf__free(loop);
    return rc;
  }
  atomic_init(&loop->refs, 1);
  atomic_init(&loop->handles, 1);
  xf__lock_init(&loop->in_lock);
  xf__lock_init(&loop->lock);
  atomic_init(&loop->in_head, NULL);
  atomic_init(&loop->polling, 1);
  atomic_init(&loop->wake_sent, 0);
  atomic_init(&loop->closing, false);
  atomic_init(&loop->closed, false);
  atomic_init(&loop->stopping, false);
  atomic_init(&loop->close_on_exit, false);
  atomic_init(&loop->owner, NULL);
  atomic_init(&loop->home, xf__self());
  loop->fork_gen = xf__fork_gen();
  xf__heap_init(&loop->timers);
  loop->suspended.prev = loop->suspended.next = &loop->suspended;
  *out = loop;
  return XF_OK;
}

int xf_loop_close(xf_loop_t *loop) {
  if (!loop)
    return XF_EINVAL;
  if (xf__forked(loop->fork_gen))
    return XF_OK;
  /* Closing takes the loop as a run does, so that no run starts and no
   * home-thread bookkeeping (xf__loop_take) touches it meanwhile. Whoever
   * holds it now closes it when it gives it back, if the last reference
   * asked for that. */
  const void *expected = NULL;
  if (!atomic_compare_exchange_strong_explicit(&loop->owner, &expected, xf__self(),
                                               memory_order_acq_rel,
                                               memory_order_acquire))
    return XF_EBUSY;
  /* One caller closes; another returns at once, as for a closed loop. */
  if (atomic_exchange_explicit(&loop->closing, true, memory_order_acq_rel)) {
    atomic_store_explicit(&loop->owner, NULL, memory_order_release);
    return XF_OK;
  }
  /* The suspended tasks go first, while the loop still takes posts: a
   * wake-up sent meanwhile, by any thread, lands in the queue dropped below,
   * so the last reference to a task, which such a wake-up may hold, is only
   * dropped here, once the task has left the loop's list. */
  xf__tasks_release(loop);
  xf__lock(&loop->in_lock);
  atomic_store_explicit(&loop->closed, true, memory_order_release);
  xf__cb_t *incoming = atomic_load_explicit(&loop->in_head, memory_order_relaxed);
  atomic_store_explicit(&loop->in_head, NULL, memory_order_relaxed);
  loop->in_tail = NULL;
  xf__unlock(&loop->in_lock);

  /* Dropping an item frees its data, which may finish futures and so post
   * more callbacks: those meet a closed loop and are reported. */
  xf__list_drop(loop, incoming);
  while (loop->ready.head) {
    xf__cb_t *head = loop->ready.head;
    loop->ready.head = loop->ready.tail = NULL;
    xf__list_drop(loop, head);
  }
  xf__heap_node_t *n;
  while ((n = xf__heap_min(&loop->timers))) {
    xf__heap_dequeue(&loop->timers, xf__timer_less);
    xf__handle_retire(xf__timer_of(n));
  }
  for (int fd = 0; fd < loop->nios; fd++) {
    xf__io_t *io = &loop->ios[fd];
    if (!io->mask)
      continue;
    xf__backend_watch(&loop->backend, fd, io->mask, 0);
    xf__watcher_t r = io->reader, w = io->writer;
    memset(io, 0, sizeof *io);
    loop->nwatched--;
    if (r.free_data)
      r.free_data(r.data);
    if (w.free_data)
      w.free_data(w.data);
  }
  /* Nothing reaches the loop-thread structures of a closed loop any more;
   * waiting for the default executor's jobs is no run. */
  atomic_store_explicit(&loop->owner, NULL, memory_order_release);
  xf__lock(&loop->lock);
  xf_executor_t *ex = loop->default_ex;
  loop->default_ex = NULL;
  xf__unlock(&loop->lock);
  if (ex) {
    xf_executor_shutdown(ex, true, false);
    xf_executor_unref(ex);
  }
  return XF_OK;
}

bool xf_loop_is_closed(const xf_loop_t *loop) {
  return loop && xf__loop_closed(loop);
}

bool xf_loop_is_running(const xf_loop_t *loop) {
  return loop && atomic_load_explicit(&((xf_loop_t *) loop)->owner, memory_order_acquire);
}

int64_t xf_loop_time(const xf_loop_t *loop) {
  return loop ? xf_now() : 0;
}

/* ---- Scheduling --------------------------------------------------------- */

static int xf__schedule(xf_loop_t *loop, bool timer, int64_t when, xf_callback_fn fn,
                        void *data, xf_free_data_fn free_data, xf_handle_t **out) {
  if (out)
    *out = NULL;
  if (!loop || !fn)
    return XF_EINVAL;
  int rc = xf__loop_check_thread(loop);
  if (rc != XF_OK)
    return rc;
  xf_handle_t *h;
  if ((rc = xf__handle_new(loop, fn, data, free_data, out != NULL, &h)) != XF_OK)
    return rc;
  /* While the loop does not run, a host may be waiting on backend_fd: the
   * first callback of the ready list wakes it, and so does a timer due
   * before the backend's timer fires. A running loop pays nothing. */
  bool running = xf__running == loop;
  if (timer) {
    h->when = when;
    h->seq = loop->timer_seq++;
    h->where = XF__H_HEAP;
    xf__heap_insert(&loop->timers, &h->heap, xf__timer_less);
    int64_t deadline = when > 0 ? when : 0;
    if (!running && (loop->backend.armed < 0 || deadline < loop->backend.armed))
      xf__backend_arm(&loop->backend, deadline);
  } else {
    bool first = !loop->ready.head;
    h->where = XF__H_QUEUED;
    xf__list_push(&loop->ready, &h->node);
    if (!running && first)
      xf__loop_wake(loop);
  }
  if (out)
    *out = h;
  return XF_OK;
}

int xf_loop_call_soon(xf_loop_t *loop, xf_callback_fn fn, void *data,
                      xf_free_data_fn free_data, xf_handle_t **out) {
  return xf__schedule(loop, false, 0, fn, data, free_data, out);
}

int xf_loop_call_at(xf_loop_t *loop, int64_t when_ns, xf_callback_fn fn, void *data,
                    xf_free_data_fn free_data, xf_handle_t **out) {
  return xf__schedule(loop, true, when_ns, fn, data, free_data, out);
}

int xf_loop_call_later(xf_loop_t *loop, int64_t delay_ns, xf_callback_fn fn, void *data,
                       xf_free_data_fn free_data, xf_handle_t **out) {
  int64_t now = xf_now();
  if (delay_ns < 0)
    delay_ns = 0;
  int64_t when = delay_ns > INT64_MAX - now ? INT64_MAX : now + delay_ns;
  return xf__schedule(loop, true, when, fn, data, free_data, out);
}

int xf_loop_call_soon_threadsafe(xf_loop_t *loop, xf_callback_fn fn, void *data,
                                 xf_free_data_fn free_data) {
  if (!loop || !fn)
    return XF_EINVAL;
  if (xf__loop_closed(loop))
    return XF_ECLOSED;
  xf_handle_t *h;
  int rc = xf__handle_new(loop, fn, data, free_data, false, &h);
  if (rc != XF_OK)
    return rc;
  if (!xf__incoming_push(loop, &h->node)) {
    xf__handle_abandon(h);
    return XF_ECLOSED;
  }
  return XF_OK;
}

int xf_loop_stop(xf_loop_t *loop) {
  if (!loop)
    return XF_EINVAL;
  if (xf__loop_closed(loop))
    return XF_ECLOSED;
  atomic_store_explicit(&loop->stopping, true, memory_order_seq_cst);
  xf__loop_wake(loop);
  return XF_OK;
}

/* ---- File descriptors --------------------------------------------------- */

static int xf__io_reserve(xf_loop_t *loop, int fd) {
  if (fd < loop->nios)
    return XF_OK;
  int n = loop->nios ? loop->nios : 16;
  while (n <= fd)
    n = n > INT32_MAX / 2 ? fd + 1 : n * 2;
  xf__io_t *ios = xf__realloc(loop->ios, (size_t) n * sizeof *ios);
  if (!ios)
    return XF_ENOMEM;
  memset(ios + loop->nios, 0, (size_t) (n - loop->nios) * sizeof *ios);
  loop->ios = ios;
  loop->nios = n;
  return XF_OK;
}

static int xf__io_add(xf_loop_t *loop, int fd, unsigned which, xf_io_fn fn, void *data,
                      xf_free_data_fn free_data) {
  if (!loop || fd < 0 || !fn)
    return XF_EINVAL;
  int rc = xf__loop_check_thread(loop);
  if (rc != XF_OK || (rc = xf__io_reserve(loop, fd)) != XF_OK)
    return rc;
  xf__io_t *io = &loop->ios[fd];
  unsigned mask = io->mask | which;
  if (mask != io->mask &&
      (rc = xf__backend_watch(&loop->backend, fd, io->mask, mask)) != XF_OK)
    return rc;
  if (!io->mask)
    loop->nwatched++;
  io->mask = mask;
  xf__watcher_t *w = which == XF__IO_READ ? &io->reader : &io->writer;
  xf__watcher_t old = *w;
  w->fn = fn;
  w->data = data;
  w->free_data = free_data;
  if (old.free_data)
    old.free_data(old.data);
  return XF_OK;
}

static int xf__io_remove(xf_loop_t *loop, int fd, unsigned which) {
  if (!loop || fd < 0)
    return XF_EINVAL;
  int rc = xf__loop_check_thread(loop);
  if (rc != XF_OK)
    return rc;
  if (fd >= loop->nios || !(loop->ios[fd].mask & which))
    return 0;
  xf__io_t *io = &loop->ios[fd];
  /* The fd may be closed already; the watcher goes in any case. */
  xf__backend_watch(&loop->backend, fd, io->mask, io->mask & ~which);
  io->mask &= ~which;
  if (!io->mask)
    loop->nwatched--;
  xf__watcher_t *w = which == XF__IO_READ ? &io->reader : &io->writer;
  xf__watcher_t old = *w;
  memset(w, 0, sizeof *w);
  if (old.free_data)
    old.free_data(old.data);
  return 1;
}

int xf_loop_add_reader(xf_loop_t *loop, int fd, xf_io_fn fn, void *data,
                       xf_free_data_fn free_data) {
  return xf__io_add(loop, fd, XF__IO_READ, fn, data, free_data);
}

int xf_loop_add_writer(xf_loop_t *loop, int fd, xf_io_fn fn, void *data,
                       xf_free_data_fn free_data) {
  return xf__io_add(loop, fd, XF__IO_WRITE, fn, data, free_data);
}

int xf_loop_remove_reader(xf_loop_t *loop, int fd) {
  return xf__io_remove(loop, fd, XF__IO_READ);
}

int xf_loop_remove_writer(xf_loop_t *loop, int fd) {
  return xf__io_remove(loop, fd, XF__IO_WRITE);
}

/* Call the watcher of fd for one direction, if it is still there (an
 * earlier callback of this batch may have removed it). */
static void xf__io_dispatch(xf_loop_t *loop, int fd, unsigned which) {
  if (fd >= loop->nios || !(loop->ios[fd].mask & which))
    return;
  xf__io_t *io = &loop->ios[fd];
  xf__watcher_t *w = which == XF__IO_READ ? &io->reader : &io->writer;
  w->fn(fd, w->data);
}

/* ---- Running ------------------------------------------------------------ */

/* The deadline of the first live timer in *when; false if there is none.
 * Drops the cancelled timers that reached the top. */
static bool xf__timers_first(xf_loop_t *loop, int64_t *when) {
  xf__heap_node_t *n;
  while ((n = xf__heap_min(&loop->timers))) {
    xf_handle_t *h = xf__timer_of(n);
    if (!atomic_load_explicit(&h->cancelled, memory_order_acquire)) {
      *when = h->when;
      return true;
    }
    xf__heap_dequeue(&loop->timers, xf__timer_less);
    xf__handle_retire(h);
  }
  return false;
}

/* Time until the first live timer (-1: none). */
static int64_t xf__timers_timeout(xf_loop_t *loop, int64_t now) {
  int64_t when;
  if (!xf__timers_first(loop, &when))
    return -1;
  return when > now ? when - now : 0;
}

/* While the loop does not run, the backend's timer fires when the first
 * timer is due (or earlier, for one cancelled since), so that backend_fd
 * shows it. Called as a run ends; an insert that brings the first deadline
 * forward sets it too (xf__schedule). A system call only when the deadline
 * changes. */
static void xf__timers_arm(xf_loop_t *loop) {
  int64_t when;
  int64_t deadline = xf__timers_first(loop, &when) ? (when > 0 ? when : 0) : -1;
  if (deadline != loop->backend.armed)
    xf__backend_arm(&loop->backend, deadline);
}

static void xf__timers_run_due(xf_loop_t *loop, int64_t now) {
  xf__heap_node_t *n;
  while ((n = xf__heap_min(&loop->timers))) {
    xf_handle_t *h = xf__timer_of(n);
    bool cancelled = atomic_load_explicit(&h->cancelled, memory_order_acquire);
    if (!cancelled && h->when > now)
      break;
    xf__heap_dequeue(&loop->timers, xf__timer_less);
    if (cancelled) {
      xf__handle_retire(h);
    } else {
      h->where = XF__H_QUEUED;
      xf__list_push(&loop->ready, &h->node);
    }
  }
}

/* One iteration. False when all it did was consume a wake-up that brought
 * nothing to run (one sent for work already done, or a timer cancelled
 * since): RUN_ONCE does not count such an iteration. */
static bool xf__loop_iterate(xf_loop_t *loop, int mode) {
  int64_t timeout = 0;
  if (mode != XF_RUN_NOWAIT && !loop->ready.head &&
      !atomic_load_explicit(&loop->stopping, memory_order_relaxed))
    timeout = xf__timers_timeout(loop, xf_now());
  int n = 0;
  unsigned wakes = 0;
  if (timeout != 0) {
    /* About to sleep: announce it, then look for work once more. */
    atomic_store_explicit(&loop->polling, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&loop->in_head, memory_order_seq_cst) ||
        atomic_load_explicit(&loop->stopping, memory_order_seq_cst))
      timeout = 0;
    n = xf__backend_poll(&loop->backend, timeout, loop->events, XF__LOOP_EVENTS, &wakes);
    atomic_store_explicit(&loop->polling, 0, memory_order_seq_cst);
  } else if (mode == XF_RUN_NOWAIT || loop->nwatched > 0 ||
             atomic_load_explicit(&loop->wake_sent, memory_order_relaxed)) {
    /* Not sleeping: a poll that does not wait, for fd events and to
     * consume a wake-up that a host loop would otherwise keep seeing and a
     * later sleep would take for new work. */
    n = xf__backend_poll(&loop->backend, 0, loop->events, XF__LOOP_EVENTS, &wakes);
  }
  if (wakes & XF__WAKE_EVENT)
    atomic_store_explicit(&loop->wake_sent, 0, memory_order_seq_cst);
  for (int i = 0; i < n; i++) {
    int fd = loop->events[i].fd;
    if (loop->events[i].mask & XF__IO_READ)
      xf__io_dispatch(loop, fd, XF__IO_READ);
    if (loop->events[i].mask & XF__IO_WRITE)
      xf__io_dispatch(loop, fd, XF__IO_WRITE);
  }
  xf__incoming_drain(loop);
  xf__timers_run_due(loop, xf_now());
  /* Run what is ready now; what these callbacks schedule waits. */
  xf__cb_t *cb = loop->ready.head;
  loop->ready.head = loop->ready.tail = NULL;
  bool idle = n == 0 && !cb;
  while (cb) {
    xf__cb_t *next = cb->next;
    xf__item_run(loop, cb);
    cb = next;
  }
  return !(idle && wakes && !atomic_load_explicit(&loop->stopping, memory_order_acquire));
}

int xf_loop_run(xf_loop_t *loop, int mode) {
  if (!loop || mode < XF_RUN_DEFAULT || mode > XF_RUN_NOWAIT)
    return XF_EINVAL;
  if (xf__loop_closed(loop))
    return XF_ECLOSED;
  if (xf__running)
    return XF_EBUSY;
  const void *expected = NULL;
  if (!atomic_compare_exchange_strong_explicit(&loop->owner, &expected, xf__self(),
                                               memory_order_acq_rel,
                                               memory_order_acquire))
    return XF_EBUSY;
  if (xf__loop_closed(loop)) {
    atomic_store_explicit(&loop->owner, NULL, memory_order_release);
    return XF_ECLOSED;
  }
  xf__loop_ref(loop);
  atomic_store_explicit(&loop->home, xf__self(), memory_order_relaxed);
  atomic_store_explicit(&loop->polling, 0, memory_order_seq_cst);
  xf__running = loop;

  if (mode == XF_RUN_DEFAULT) {
    do
      xf__loop_iterate(loop, mode);
    while (!atomic_load_explicit(&loop->stopping, memory_order_acquire));
  } else if (mode == XF_RUN_ONCE) {
    /* Block until something is ready, as asyncio's _run_once and libuv's
     * UV_RUN_ONCE do: a wake-up that brought nothing is not that. */
    while (!xf__loop_iterate(loop, mode)) {
    }
  } else {
    xf__loop_iterate(loop, mode);
  }
  atomic_store_explicit(&loop->stopping, false, memory_order_relaxed);

  xf__running = NULL;
  /* Not running: producers must wake whoever waits on backend_fd, and the
   * backend's timer stands for the timers. Work queued since the last
   * drain, or left by the last callbacks, makes that fd readable now. */
  atomic_store_explicit(&loop->polling, 1, memory_order_seq_cst);
  xf__timers_arm(loop);
  if (loop->ready.head || atomic_load_explicit(&loop->in_head, memory_order_seq_cst))
    xf__loop_wake(loop);
  atomic_store_explicit(&loop->owner, NULL, memory_order_seq_cst);
  if (atomic_load_explicit(&loop->close_on_exit, memory_order_seq_cst))
    xf_loop_close(loop);
  xf__loop_unref(loop);
  return XF_OK;
}

/* run_until_complete's stop callback. The token is shared by the callback
 * registration and the caller, which disarms it when the run is over, so a
 * completion that arrives later cannot stop a later run. */
typedef struct xf__ruc_token {
  _Atomic uint32_t refs;
  bool armed; /* loop thread */
  xf_loop_t *loop;
} xf__ruc_token_t;

static void xf__ruc_release(void *p) {
  xf__ruc_token_t *t = p;
  if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
    xf__free(t);
}

static void xf__ruc_done(xf_future_t *f, void *data) {
  (void) f;
  xf__ruc_token_t *t = data;
  if (t->armed)
    xf_loop_stop(t->loop);
}

int xf_loop_run_until_complete(xf_loop_t *loop, xf_future_t *f, xf_value_t **out) {
  if (out)
    *out = NULL;
  if (!loop || !f)
    return XF_EINVAL;
  if (xf__loop_closed(loop))
    return XF_ECLOSED;
  if (xf__running || atomic_load_explicit(&loop->owner, memory_order_acquire))
    return XF_EBUSY;
  if (!xf_future_done(f)) {
    xf__ruc_token_t *t = xf__malloc(sizeof *t);
    if (!t)
      return XF_ENOMEM;
    atomic_init(&t->refs, 2);
    t->armed = true;
    t->loop = loop;
    int rc = xf_future_add_done_callback(f, xf__ruc_done, t, xf__ruc_release, loop);
    if (rc != XF_OK) {
      xf__free(t);
      return rc;
    }
    rc = xf_loop_run(loop, XF_RUN_DEFAULT);
    t->armed = false;
    if (!xf_future_done(f))
      xf_future_remove_done_callback(f, xf__ruc_done, t);
    xf__ruc_release(t);
    if (rc != XF_OK)
      return rc;
    if (!xf_future_done(f))
      return XF_ESTATE;
  }
  xf_value_t *v = NULL;
  int rc = xf_future_result(f, 0, &v);
  if (out)
    *out = v;
  else
    xf_value_unref(v);
  return rc;
}

/* ---- Embedding ---------------------------------------------------------- */

int xf_loop_backend_fd(xf_loop_t *loop) {
  if (!loop)
    return XF_EINVAL;
  if (xf__loop_closed(loop))
    return XF_ECLOSED;
  return loop->backend.epfd;
}

int64_t xf_loop_backend_timeout(xf_loop_t *loop) {
  if (!loop)
    return -1;
  int rc = xf__loop_check_thread(loop);
  if (rc != XF_OK)
    return rc;
  if (loop->ready.head || atomic_load_explicit(&loop->in_head, memory_order_acquire) ||
      atomic_load_explicit(&loop->stopping, memory_order_acquire))
    return 0;
  return xf__timers_timeout(loop, xf_now());
}

/* ---- Futures and executors ---------------------------------------------- */

int xf_loop_create_future(xf_loop_t *loop, xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!loop)
    return XF_EINVAL;
  if (xf__loop_closed(loop))
    return XF_ECLOSED;
  return xf__future_new(loop, out);
}

int xf_loop_run_in_executor(xf_loop_t *loop, xf_executor_t *ex, xf_task_fn fn, void *data,
                            xf_free_data_fn free_data, xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!loop || !fn)
    return XF_EINVAL;
  if (xf__loop_closed(loop))
    return XF_ECLOSED;
  int rc = XF_OK;
  if (ex) {
    xf_executor_ref(ex);
  } else {
    xf__lock(&loop->lock);
    if (xf__loop_closed(loop))
      rc = XF_ECLOSED;
    else if (!loop->default_ex)
      rc = xf_thread_pool_new(NULL, &loop->default_ex);
    ex = rc == XF_OK ? xf_executor_ref(loop->default_ex) : NULL;
    xf__unlock(&loop->lock);
    if (rc != XF_OK)
      return rc;
  }
  xf_future_t *lf = NULL, *xf = NULL;
  if (xf__loop_closed(loop))
    rc = XF_ECLOSED;
  if (rc == XF_OK)
    rc = xf__future_new(loop, &lf);
  if (rc == XF_OK && (rc = xf_executor_submit(ex, fn, data, free_data, &xf)) != XF_OK) {
    xf_future_unref(lf);
    lf = NULL;
  }
  xf_executor_unref(ex);
  if (rc != XF_OK)
    return rc;
  /* The job is accepted; from here a failure surfaces in the future. */
  if ((rc = xf_future_chain(xf, lf)) != XF_OK) {
    xf_future_cancel(xf);
    xf__future_fail_code(lf, rc);
  }
  xf_future_unref(xf);
  *out = lf;
  return XF_OK;
}

/* The loop's executor: tasks travel through the incoming queue. */
typedef struct xf__loop_ex {
  xf_loop_t *loop; /* a reference */
  _Atomic bool shut;
} xf__loop_ex_t;

static void xf__loop_ex_run(void *data) {
  xf_executor_run_task(data);
}

static void xf__loop_ex_release(void *data) {
  xf_future_t *fut = data;
  /* Never ran: the loop closed first. */
  if (fut->task_fn)
    xf_executor_drop_task(fut, XF_ECANCELLED);
  xf_future_unref(fut);
}

static int xf__loop_ex_submit(void *impl, xf_future_t *fut) {
  xf__loop_ex_t *lx = impl;
  if (atomic_load_explicit(&lx->shut, memory_order_acquire))
    return XF_ESHUTDOWN;
  int rc =
      xf_loop_call_soon_threadsafe(lx->loop, xf__loop_ex_run, fut, xf__loop_ex_release);
  return rc == XF_ECLOSED ? XF_ESHUTDOWN : rc;
}

static int xf__loop_ex_shutdown(void *impl, bool wait, bool cancel_futures) {
  (void) wait;
  (void) cancel_futures;
  xf__loop_ex_t *lx = impl;
  atomic_store_explicit(&lx->shut, true, memory_order_release);
  return XF_OK;
}

static void xf__loop_ex_destroy(void *impl) {
  xf__loop_ex_t *lx = impl;
  xf__loop_unref(lx->loop);
  xf__free(lx);
}

static const xf_executor_ops_t xf__loop_ex_ops = {
    sizeof(xf_executor_ops_t), "loop", xf__loop_ex_submit,
    xf__loop_ex_shutdown,      NULL,   xf__loop_ex_destroy};

int xf_loop_executor(xf_loop_t *loop, xf_executor_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!loop)
    return XF_EINVAL;
  if (xf__loop_closed(loop))
    return XF_ECLOSED;
  xf__loop_ex_t *lx = xf__malloc(sizeof *lx);
  if (!lx)
    return XF_ENOMEM;
  lx->loop = xf__loop_ref(loop);
  atomic_init(&lx->shut, false);
  int rc = xf_executor_new(&xf__loop_ex_ops, lx, out);
  if (rc != XF_OK)
    xf__loop_ex_destroy(lx);
  return rc;
}

/* ---- Sleep and timeouts ------------------------------------------------- */

static void xf__unref_future(void *p) {
  xf_future_unref(p);
}

static void xf__unref_handle(void *p) {
  xf_handle_unref(p);
}

static void xf__sleep_fire(void *data) {
  xf_future_set_result(data, NULL);
}

static void xf__sleep_on_done(xf_future_t *f, void *data) {
  if (xf_future_cancelled(f))
    xf_handle_cancel(data);
}

int xf_loop_sleep(xf_loop_t *loop, int64_t ns, xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!loop)
    return XF_EINVAL;
  int rc = xf__loop_check_thread(loop);
  if (rc != XF_OK)
    return rc;
  xf_future_t *f;
  if ((rc = xf__future_new(loop, &f)) != XF_OK)
    return rc;
  xf_handle_t *h;
  rc = xf_loop_call_later(loop, ns, xf__sleep_fire, f, xf__unref_future, &h);
  if (rc != XF_OK) {
    xf_future_unref(f);
    return rc;
  }
  xf_future_ref(f); /* the timer's */
  if ((rc = xf__future_add_inline(f, xf__sleep_on_done, h, xf__unref_handle)) != XF_OK) {
    xf_handle_cancel(h);
    xf_handle_unref(h);
    xf_future_unref(f);
    return rc;
  }
  *out = f;
  return XF_OK;
}

/* The state of one xf_future_timeout. Its references follow the rule of
 * future.h: what will finish the outer future holds it, and nothing holds
 * what it waits for.
 * - Strong references (refs): the registration on the inner future and the
 *   timer, which are what finish outer, and the making. They own `outer`;
 *   the last one drops it.
 * - Weak references (weak): the registration on outer, which only needs
 *   the memory (to cancel inner and the timer when outer is done), plus one
 *   for all the strong ones together. The last one frees the memory.
 * - `inner` is weak: the inner registration's release clears it under the
 *   lock before inner's memory goes, and on_outer takes a reference with
 *   xf__future_tryref under the same lock. An inner future freed before it
 *   finished can never finish outer: outer is then cancelled, saying so. */
typedef struct xf__timeout {
  _Atomic uint32_t refs;
  _Atomic uint32_t weak;
  _Atomic bool timed_out;
  xf__lock_t lock;
  bool inner_ran;               /* on_inner ran (before its release) */
  xf_future_t *outer;           /* a reference, owned by the strong side */
  xf_future_t *inner;           /* weak, under lock */
  _Atomic(xf_handle_t *) timer; /* a reference, dropped when outer is done */
} xf__timeout_t;

static void xf__timeout_weak_unref(void *p) {
  xf__timeout_t *t = p;
  if (atomic_fetch_sub_explicit(&t->weak, 1, memory_order_acq_rel) != 1)
    return;
  xf_handle_unref(atomic_load_explicit(&t->timer, memory_order_relaxed));
  xf__free(t);
}

static void xf__timeout_unref(void *p) {
  xf__timeout_t *t = p;
  if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
    return;
  xf_future_t *outer = t->outer;
  t->outer = NULL;
  xf_future_unref(outer);
  xf__timeout_weak_unref(t);
}

static void xf__timeout_fire(void *data) {
  xf__timeout_t *t = data;
  if (xf_future_done(t->outer))
    return;
  atomic_store_explicit(&t->timed_out, true, memory_order_release);
  /* Fail the outer future first: cancelling inner would otherwise copy its
   * cancellation into outer. Its done callback then cancels inner. */
  if (xf_future_fail(t->outer, XF_ETIMEDOUT, "TimeoutError", NULL) == XF_ENOMEM)
    xf_future_set_error(t->outer, xf__error_oom());
}

static void xf__timeout_on_outer(xf_future_t *outer, void *data) {
  xf__timeout_t *t = data;
  bool timed_out = atomic_load_explicit(&t->timed_out, memory_order_acquire);
  xf__lock(&t->lock);
  xf_future_t *inner = t->inner && xf__future_tryref(t->inner) ? t->inner : NULL;
  xf__unlock(&t->lock);
  if (inner && (timed_out || xf_future_cancelled(outer)))
    xf_future_cancel(inner);
  xf_future_unref(inner);
  xf_handle_t *timer = atomic_exchange_explicit(&t->timer, NULL, memory_order_acq_rel);
  if (timer && !timed_out)
    xf_handle_cancel(timer);
  xf_handle_unref(timer);
}

static void xf__timeout_on_inner(xf_future_t *inner, void *data) {
  xf__timeout_t *t = data;
  t->inner_ran = true;
  if (!xf_future_done(t->outer))
    xf__future_copy_outcome(inner, t->outer);
}

/* The inner registration goes: inner finished (on_inner ran) or is being
 * freed pending (it never will). */
static void xf__timeout_inner_release(void *data) {
  xf__timeout_t *t = data;
  xf__lock(&t->lock);
  t->inner = NULL;
  xf__unlock(&t->lock);
  if (!t->inner_ran && !xf_future_done(t->outer) &&
      xf__future_cancel_follower(t->outer, "the awaited future was freed before it "
                                           "finished") == XF_ENOMEM)
    xf__future_cancel_follower(t->outer, NULL);
  xf__timeout_unref(t);
}

int xf_future_timeout(xf_loop_t *loop, xf_future_t *f, int64_t timeout_ns,
                      xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!loop || !f)
    return XF_EINVAL;
  int rc = timeout_ns >= 0         ? xf__loop_check_thread(loop)
           : xf__loop_closed(loop) ? XF_ECLOSED
                                   : XF_OK;
  if (rc != XF_OK)
    return rc;
  xf__timeout_t *t = xf__calloc(1, sizeof *t);
  if (!t)
    return XF_ENOMEM;
  atomic_init(&t->refs, 1);
  atomic_init(&t->weak, 1);
  atomic_init(&t->timed_out, false);
  xf__lock_init(&t->lock);
  t->inner = f;
  atomic_init(&t->timer, NULL);
  if ((rc = xf__future_new(loop, &t->outer)) != XF_OK) {
    xf__timeout_unref(t);
    return rc;
  }
  if (timeout_ns >= 0) {
    xf_handle_t *h;
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    rc = xf_loop_call_later(loop, timeout_ns, xf__timeout_fire, t, xf__timeout_unref, &h);
    if (rc != XF_OK) {
      atomic_fetch_sub_explicit(&t->refs, 1, memory_order_relaxed);
      xf__timeout_unref(t);
      return rc;
    }
    atomic_store_explicit(&t->timer, h, memory_order_release);
  }
  xf_future_t *outer = xf_future_ref(t->outer);
  atomic_fetch_add_explicit(&t->weak, 1, memory_order_relaxed);
  if ((rc = xf__future_add_inline(outer, xf__timeout_on_outer, t,
                                  xf__timeout_weak_unref)) != XF_OK) {
    atomic_fetch_sub_explicit(&t->weak, 1, memory_order_relaxed);
    xf_handle_cancel(atomic_load_explicit(&t->timer, memory_order_relaxed));
    xf__timeout_unref(t);
    xf_future_unref(outer);
    return rc;
  }
  atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
  if ((rc = xf__future_add_inline(f, xf__timeout_on_inner, t,
                                  xf__timeout_inner_release)) != XF_OK) {
    atomic_fetch_sub_explicit(&t->refs, 1, memory_order_relaxed);
    xf__lock(&t->lock);
    t->inner = NULL;
    xf__unlock(&t->lock);
    /* f cannot be watched: the outer future must not wait for it. */
    xf__future_fail_code(outer, rc);
  }
  xf__timeout_unref(t);
  *out = outer;
  return XF_OK;
}

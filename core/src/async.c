/* The loop's incoming queue: what other threads hand to the loop
 * (call_soon_threadsafe, the done callbacks futures post), and waking it.
 *
 * Design notes
 * ------------
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
 * linked FIFO (queue.h) under a futex lock, appended to by producers and
 * swapped out whole by the loop once per iteration, so the loop takes a
 * whole batch per wake-up and per-producer order holds. Nothing is ever
 * merged. A post made by the thread that runs the loop (a callback that
 * finishes a loop future, or calls call_soon_threadsafe) skips it: it goes
 * straight to the ready list, which is that thread's, with no lock, no
 * eventfd write and no poll to read it back, and it keeps its place among
 * what the same callback schedules with call_soon, as in asyncio, where
 * both are call_soon on the loop's thread. A posted done callback is its
 * own record (no allocation per post); a call_soon_threadsafe handle comes
 * from the posting thread's block cache and goes back to it when the loop
 * is done with it.
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
 */
#include "loop_private.h"

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
  xf__cache_free(cb);
  xf_future_unref(f);
  xf__loop_unref(loop);
}

static void xf__list_drop(xf_loop_t *loop, xf__qnode_t *n) {
  while (n) {
    xf__qnode_t *next = n->next;
    xf__item_drop(loop, xf__cb_of(n));
    n = next;
  }
}

void xf__item_run(xf_loop_t *loop, xf__cb_t *cb) {
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
  xf__cache_free(cb);
  xf_future_unref(f);
  xf__loop_unref(loop);
}

/* Whether the caller is to write the wake-up: the loop sleeps, is about to
 * or is not being run, and nobody wrote since it last drained the eventfd. */
static bool xf__loop_wake_claim(xf_loop_t *loop) {
  return atomic_load_explicit(&loop->polling, memory_order_seq_cst) &&
         !atomic_exchange_explicit(&loop->wake_sent, 1, memory_order_seq_cst);
}

void xf__loop_wake(xf_loop_t *loop) {
  if (xf__loop_wake_claim(loop))
    xf__backend_wake(&loop->backend);
}

/* Append an item from any thread; false if the loop is closed (the item was
 * not taken). Once the lock is released the loop may run the item, be
 * closed and be freed, so a wake-up to write after that holds a reference
 * to the loop, taken under the lock (see "Lifetime"). */
static bool xf__incoming_push(xf_loop_t *loop, xf__cb_t *cb) {
  if (xf__running == loop) {
    /* Posted by the thread that runs the loop (a callback finished a
     * future): the ready list is this thread's, and the loop is awake. It
     * runs in the next iteration, as it would through the queue. */
    xf__queue_push(&loop->ready, &cb->link);
    return true;
  }
  if (xf__forked(loop->fork_gen))
    return false;
  xf__lock(&loop->in_lock);
  if (atomic_load_explicit(&loop->closed, memory_order_relaxed)) {
    xf__unlock(&loop->in_lock);
    return false;
  }
  if (xf__queue_empty(&loop->in))
    atomic_store_explicit(&loop->in_any, 1, memory_order_seq_cst);
  xf__queue_push(&loop->in, &cb->link);
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

void xf__incoming_drain(xf_loop_t *loop) {
  if (!atomic_load_explicit(&loop->in_any, memory_order_acquire))
    return;
  xf__lock(&loop->in_lock);
  xf__queue_t batch = xf__queue_take(&loop->in);
  atomic_store_explicit(&loop->in_any, 0, memory_order_relaxed);
  xf__unlock(&loop->in_lock);
  /* One splice for the whole batch: its handles were marked queued by
   * their producers, so nothing here touches the items one by one. */
  xf__queue_concat(&loop->ready, &batch);
}

void xf__loop_post_done(xf_loop_t *loop, xf_future_t *f, xf__cb_t *cb) {
  xf_future_ref(f);
  xf__post_set_future(cb, f);
  if (xf__incoming_push(loop, cb))
    return;
  /* Closed: nobody will ever run it. */
  if (cb->free_data)
    cb->free_data(cb->data);
  xf__cache_free(cb);
  xf_future_unref(f);
  xf__loop_report(loop, "a done callback was dropped because its loop is closed",
                  XF_ECLOSED);
  xf__loop_unref(loop);
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
  /* Nobody else sees the handle yet (the caller gets none): its producer
   * marks it queued for the loop, which then need not walk what it
   * drains. */
  h->where = XF__H_QUEUED;
  if (!xf__incoming_push(loop, &h->node)) {
    xf__handle_abandon(h);
    return XF_ECLOSED;
  }
  return XF_OK;
}

void xf__incoming_close(xf_loop_t *loop) {
  xf__lock(&loop->in_lock);
  atomic_store_explicit(&loop->closed, true, memory_order_release);
  xf__queue_t incoming = xf__queue_take(&loop->in);
  atomic_store_explicit(&loop->in_any, 0, memory_order_relaxed);
  xf__unlock(&loop->in_lock);

  /* Dropping an item frees its data, which may finish futures and so post
   * more callbacks: those meet a closed loop and are reported. */
  xf__list_drop(loop, incoming.head);
  while (!xf__queue_empty(&loop->ready))
    xf__list_drop(loop, xf__queue_take(&loop->ready).head);
}

/* Handles and timers: call_soon, call_at, call_later and the handles they
 * return, over the loop's ready list and its timer heap (heap.h).
 *
 * Design notes
 * ------------
 * A handle is one allocation that is at once the item of a queue (its
 * xf__cb_t node, marked by xf__handle_tag) and, for a timer, a node of the
 * heap. Its memory comes from the calling thread's block cache
 * (block_cache.c), so a timer inserted on the loop's thread reuses one that
 * the loop retired: no malloc per insert once the loop has warmed up. `where` says which,
 * written by the loop's thread only. An escaped handle (one returned to the caller) holds
 * the loop's memory, so that cancelling it is safe on any thread at any time.
 *
 * Timers sit in a min-heap ordered by (deadline, sequence number): equal
 * deadlines run in scheduling order. A timer cancelled on the loop's thread
 * leaves the heap at once (O(log n)); one cancelled from another thread is
 * flagged and dropped when it reaches the top, never by a scan.
 *
 *
 * Cancelling on the loop's thread, or on its home thread while nobody runs
 * it, removes the timer at once and frees its data; the home thread takes
 * the loop for that moment (xf__loop_take), because the loop's last
 * reference may be dropped on another thread, which closes it there.
 */
#include "loop_private.h"

void xf__handle_tag(xf_future_t *f, void *data) {
  (void) f;
  (void) data;
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
  xf__cache_free(h);
}

void xf__handle_retire(xf_handle_t *h) {
  h->where = XF__H_DONE;
  xf__handle_free_data(h);
  xf_handle_unref(h);
}

int xf__handle_new(xf_loop_t *loop, xf_callback_fn fn, void *data,
                   xf_free_data_fn free_data, bool escapes, xf_handle_t **out) {
  xf_handle_t *h = xf__cache_alloc(XF__CACHE_BIG, sizeof *h);
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

void xf__handle_abandon(xf_handle_t *h) {
  h->free_data = NULL;
  if (h->holds_loop)
    xf__loop_unref(h->loop);
  xf__cache_free(h);
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
    bool first = xf__queue_empty(&loop->ready);
    h->where = XF__H_QUEUED;
    xf__queue_push(&loop->ready, &h->node.link);
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

int64_t xf__timers_timeout(xf_loop_t *loop, int64_t now) {
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
void xf__timers_arm(xf_loop_t *loop) {
  int64_t when;
  int64_t deadline = xf__timers_first(loop, &when) ? (when > 0 ? when : 0) : -1;
  if (deadline != loop->backend.armed)
    xf__backend_arm(&loop->backend, deadline);
}

void xf__timers_run_due(xf_loop_t *loop, int64_t now) {
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
      xf__queue_push(&loop->ready, &h->node.link);
    }
  }
}

void xf__timers_drop_all(xf_loop_t *loop) {
  xf__heap_node_t *n;
  while ((n = xf__heap_min(&loop->timers))) {
    xf__heap_dequeue(&loop->timers, xf__timer_less);
    xf__handle_retire(xf__timer_of(n));
  }
}

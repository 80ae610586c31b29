/* The event loop.
 *
 * Design notes
 * ------------
 * The loop is split by job (loop_private.h lists the files): this one holds
 * its life cycle, its threads and its runs; timer.c the handles and timers,
 * async.c the incoming queue and waking, io.c the fd table, and
 * loop_future.c the asyncio layer on top.
 *
 * Ownership by thread. A loop is run by one thread at a time: `owner` holds a
 * token of the running thread (the address of a thread-local), set with a
 * compare-and-swap when a run starts, cleared when it ends. Everything under
 * "loop thread" below (the ready list, the timer heap, the fd table) is
 * touched only by the owner, or by any thread while there is no owner (to
 * set a loop up before running it, as asyncio allows).
 *
 * Lifetime. `refs` counts the loop's memory: one reference for all the
 * user's handles together, one per future bound to the loop, per posted
 * done-callback record, per escaped xf_handle_t and per running run call.
 * `handles` counts the user's references: when it drops to zero the loop is
 * closed, which drops every queued item and so breaks the cycles between the
 * loop and the futures its callbacks hold.
 *
 * Embedding. backend_fd is the epoll fd: see async.c for what makes it
 * readable while the loop is not running.
 *
 * Closing happens once (`closing` elects the caller that does it), with the
 * loop taken as a run takes it (`owner`), so that no run starts meanwhile
 * and no home-thread bookkeeping touches the loop-thread structures. It lets
 * the suspended tasks go first (xf__tasks_release, see task.c), while the
 * queue still takes items, then marks the loop closed under the queue's
 * lock and drops the queued items, the ready list, the timers and the fd
 * watchers.
 *
 * Lock rules: the incoming-queue lock and `lock` (the exception handler and
 * what the asyncio layer attached) are never held together, and no callback runs with
 * either held.
 */
#include <stdio.h>

#include "loop_private.h"

_Thread_local char xf__thread_token;
_Thread_local xf_loop_t *xf__running;

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

bool xf__loop_is_running_here(const xf_loop_t *loop) {
  return loop && xf__running == loop;
}

int xf__loop_check_thread(xf_loop_t *loop) {
  if (xf__loop_closed(loop))
    return XF_ECLOSED;
  const void *owner = atomic_load_explicit(&loop->owner, memory_order_acquire);
  return owner && owner != xf__self() ? XF_EWRONGTHREAD : XF_OK;
}

int xf__loop_take(xf_loop_t *loop) {
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

void xf__loop_give_back(xf_loop_t *loop) {
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
  xf__queue_init(&loop->in);
  xf__queue_init(&loop->ready);
  atomic_init(&loop->in_any, 0);
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
  xf__incoming_close(loop);
  xf__timers_drop_all(loop);
  xf__io_drop_all(loop);
  /* Nothing reaches the loop-thread structures of a closed loop any more;
   * dropping what the asyncio layer attached (waiting for the jobs of the
   * default executor) is no run. */
  atomic_store_explicit(&loop->owner, NULL, memory_order_release);
  xf__lock(&loop->lock);
  void *attached = loop->attached;
  xf_free_data_fn attached_free = loop->attached_free;
  loop->attached = NULL;
  loop->attached_free = NULL;
  xf__unlock(&loop->lock);
  if (attached_free)
    attached_free(attached);
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

/* ---- Running ------------------------------------------------------------ */

int xf_loop_stop(xf_loop_t *loop) {
  if (!loop)
    return XF_EINVAL;
  if (xf__loop_closed(loop))
    return XF_ECLOSED;
  atomic_store_explicit(&loop->stopping, true, memory_order_seq_cst);
  xf__loop_wake(loop);
  return XF_OK;
}

/* One iteration. False when all it did was consume a wake-up that brought
 * nothing to run (one sent for work already done, or a timer cancelled
 * since): RUN_ONCE does not count such an iteration. */
static bool xf__loop_iterate(xf_loop_t *loop, int mode) {
  int64_t timeout = 0;
  if (mode != XF_RUN_NOWAIT && xf__queue_empty(&loop->ready) &&
      !atomic_load_explicit(&loop->stopping, memory_order_relaxed))
    timeout = xf__timers_timeout(loop, xf_now());
  int n = 0;
  unsigned wakes = 0;
  if (timeout != 0) {
    /* About to sleep: announce it, then look for work once more. */
    atomic_store_explicit(&loop->polling, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&loop->in_any, memory_order_seq_cst) ||
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
  xf__qnode_t *item = xf__queue_take(&loop->ready).head;
  bool idle = n == 0 && !item;
  while (item) {
    xf__qnode_t *next = item->next;
    xf__item_run(loop, xf__cb_of(item));
    item = next;
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
  if (!xf__queue_empty(&loop->ready) ||
      atomic_load_explicit(&loop->in_any, memory_order_seq_cst))
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
  if (!xf__queue_empty(&loop->ready) ||
      atomic_load_explicit(&loop->in_any, memory_order_acquire) ||
      atomic_load_explicit(&loop->stopping, memory_order_acquire))
    return 0;
  return xf__timers_timeout(loop, xf_now());
}

/* Futures.
 *
 * Design notes
 * ------------
 * A future's state lives in one 32-bit word: the xf_future_state_t in its
 * low two bits and XF__WAITERS, set by a thread about to sleep on the word.
 * State changes happen under the future's lock (a futex word, see
 * internal.h); readers of the state never take the lock. The outcome (value,
 * error, cancel message) is written before the state is published with a
 * release store, so a reader that sees a done state with an acquire load
 * sees the outcome too, and it never changes after that.
 *
 * Waiting does not sleep when it need not: a waiter first spins for a few
 * microseconds (most results on a busy pool arrive in that window), and only
 * then sets XF__WAITERS and sleeps on the word. The spin is adaptive
 * (xf__aspin_begin): it needs one of the process's spin slots (one fewer
 * than the CPUs), so that spinners never crowd out the threads that do the
 * work, and its budget is the waiting thread's own, doubled by a spin that
 * saw the result and halved by one that ended asleep.
 *
 * Memory. Futures and callback records come from the per-thread caches of
 * block_cache.c: a future freed by a worker goes back to the thread that
 * made it. The finisher issues the wake
 * system call only when that bit was set, so a future nobody sleeps on is
 * finished with no system call at all.
 *
 * Done callbacks are a singly linked list guarded by the lock. The finisher
 * detaches the whole list under the lock and runs it after releasing it, in
 * order; a callback added after that runs at once in the adding thread (or
 * is posted to its loop). Lock rule: no callback ever runs with the lock
 * held, so callbacks may call anything on the same future.
 *
 * A future bound by chain to a source (xf__future_bind) remembers it in
 * `source`, weakly (the source holds the bound future, so a reference back
 * would be a cycle; the chain clears the pointer under this future's lock
 * before the source is freed, and a reader takes its reference with
 * xf__future_tryref under that lock). A cancel of the bound future while it
 * runs (a then() result that follows an inner future) goes to the source,
 * and the source's cancellation comes back through the chain, which may
 * move the bound future from RUNNING to CANCELLED: its outcome is the
 * source's. This is asyncio's Task.cancel, which cancels what the task
 * awaits.
 *
 * Waiting refuses (XF_EDEADLK) when the waiter is the thread running the
 * future's loop: the loop's work is what finishes the future, and it cannot
 * run while that thread sleeps here. A zero timeout never blocks, so it is
 * still a poll.
 */
#include <stdlib.h>

#include "loop_internal.h"

static inline uint32_t xf__state(const xf_future_t *f) {
  return atomic_load_explicit(&((xf_future_t *) f)->state, memory_order_acquire) &
         XF__STATE_MASK;
}

static inline bool xf__is_done(uint32_t s) {
  return (s & XF__STATE_MASK) >= XF_FINISHED;
}

int xf__future_new(xf_loop_t *loop, xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  xf_future_t *f = xf__cache_alloc(XF__CACHE_BIG, sizeof *f);
  if (!f)
    return XF_ENOMEM;
  memset(f, 0, sizeof *f);
  atomic_init(&f->refs, 1);
  atomic_init(&f->state, XF_PENDING);
  xf__lock_init(&f->lock);
  f->loop = loop ? xf__loop_ref(loop) : NULL;
  *out = f;
  return XF_OK;
}

int xf_future_new(xf_future_t **out) {
  return xf__future_new(NULL, out);
}

xf_future_t *xf_future_ref(xf_future_t *f) {
  if (f)
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
  return f;
}

bool xf__future_tryref(xf_future_t *f) {
  uint32_t n = atomic_load_explicit(&f->refs, memory_order_relaxed);
  while (n)
    if (atomic_compare_exchange_weak_explicit(&f->refs, &n, n + 1, memory_order_relaxed,
                                              memory_order_relaxed))
      return true;
  return false;
}

static void xf__cb_free_list(xf__qnode_t *n) {
  while (n) {
    xf__cb_t *cb = xf__cb_of(n);
    n = n->next;
    if (cb->free_data)
      cb->free_data(cb->data);
    xf__loop_unref(cb->loop);
    xf__cache_free(cb);
  }
}

void xf_future_unref(xf_future_t *f) {
  if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
    return;
  /* Executors hold a reference to a queued task's future and free the
   * task's data when they run or drop it; this catches anything left. */
  if (f->task_free)
    f->task_free(f->task_data);
  if (f->loop && f->error && xf_error_code(f->error) != XF_ECANCELLED &&
      !atomic_load_explicit(&f->retrieved, memory_order_relaxed))
    xf_loop_call_exception_handler(f->loop, "Future exception was never retrieved",
                                   f->error);
  xf__cb_free_list(f->cbs.head);
  xf_value_unref(f->value);
  xf_error_unref(f->error);
  xf__free(f->cancel_msg);
  xf__loop_unref(f->loop);
  xf__cache_free(f);
}

void xf__future_run_callbacks(xf_future_t *f, xf__qnode_t *n) {
  while (n) {
    xf__cb_t *cb = xf__cb_of(n);
    n = n->next;
    if (cb->loop) {
      xf__loop_post_done(cb->loop, f, cb);
    } else {
      xf__cb_invoke(f, cb);
      xf__cache_free(cb);
    }
  }
}

/* Publish a final state (FINISHED or CANCELLED) and run what follows. Called
 * with the lock held and the outcome already stored; releases the lock. */
static void xf__complete_locked(xf_future_t *f, uint32_t final_state) {
  xf__qnode_t *cbs = xf__queue_take(&f->cbs).head;
  f->source = NULL;
  uint32_t old = atomic_exchange_explicit(&f->state, final_state, memory_order_acq_rel);
  xf__unlock(&f->lock);
  if (old & XF__WAITERS)
    xf__futex_wake(&f->state, INT32_MAX);
  if (cbs) {
    /* A callback may drop the caller's last reference; keep f alive. */
    xf_future_ref(f);
    xf__future_run_callbacks(f, cbs);
    xf_future_unref(f);
  }
}

int xf_future_set_result(xf_future_t *f, xf_value_t *value) {
  if (!f) {
    xf_value_unref(value);
    return XF_EINVAL;
  }
  xf__lock(&f->lock);
  if (xf__is_done(atomic_load_explicit(&f->state, memory_order_relaxed))) {
    xf__unlock(&f->lock);
    xf_value_unref(value);
    return XF_ESTATE;
  }
  f->value = value ? value : xf_value_void();
  xf__complete_locked(f, XF_FINISHED);
  return XF_OK;
}

int xf_future_set_error(xf_future_t *f, xf_error_t *err) {
  if (!f || !err) {
    xf_error_unref(err);
    return XF_EINVAL;
  }
  xf__lock(&f->lock);
  if (xf__is_done(atomic_load_explicit(&f->state, memory_order_relaxed))) {
    xf__unlock(&f->lock);
    xf_error_unref(err);
    return XF_ESTATE;
  }
  f->error = err;
  xf__complete_locked(f, XF_FINISHED);
  return XF_OK;
}

int xf_future_fail(xf_future_t *f, int code, const char *type, const char *message) {
  if (!f)
    return XF_EINVAL;
  if (xf__is_done(atomic_load_explicit(&f->state, memory_order_acquire)))
    return XF_ESTATE;
  xf_error_t *err;
  int rc = xf_error_new(code, type, message, &err);
  if (rc != XF_OK)
    return rc;
  return xf_future_set_error(f, err);
}

int xf__future_fail_code(xf_future_t *f, int code) {
  int rc = xf_future_fail(f, code, NULL, NULL);
  if (rc == XF_ENOMEM)
    rc = xf_future_set_error(f, xf__error_oom());
  return rc;
}

/* How many running, bound futures a cancel may pass through to reach the
 * source that decides: more means the sources form a ring (chain(a, b) and
 * chain(b, a) while both run), which no cancel can end. */
#define XF__CANCEL_HOPS 1024

static int xf__cancel_request(xf_future_t *f, const char *msg, unsigned hops) {
  if (f->cancel_hook && !xf__is_done(xf__state(f)))
    return f->cancel_hook(f, msg);
  /* Running but bound: the outcome is the source's, so is the cancel. */
  xf__lock(&f->lock);
  xf_future_t *source = NULL;
  if ((atomic_load_explicit(&f->state, memory_order_relaxed) & XF__STATE_MASK) ==
      XF_RUNNING)
    source = f->source && xf__future_tryref(f->source) ? f->source : NULL;
  xf__unlock(&f->lock);
  if (source) {
    int rc =
        hops < XF__CANCEL_HOPS ? xf__cancel_request(source, msg, hops + 1) : XF_ESTATE;
    xf_future_unref(source);
    return rc;
  }
  return xf__future_cancel_final(f, msg);
}

int xf_future_cancel_msg(xf_future_t *f, const char *msg) {
  if (!f)
    return XF_EINVAL;
  return xf__cancel_request(f, msg, 0);
}

/* Cancel f if it is pending, or also if it is running when running is
 * true. */
static int xf__cancel(xf_future_t *f, const char *msg, bool running) {
  char *copy = NULL;
  if (msg && !(copy = xf__strdup(msg)))
    return XF_ENOMEM;
  xf__lock(&f->lock);
  uint32_t s = atomic_load_explicit(&f->state, memory_order_relaxed) & XF__STATE_MASK;
  if (s != XF_PENDING && !(running && s == XF_RUNNING)) {
    xf__unlock(&f->lock);
    xf__free(copy);
    return s == XF_CANCELLED ? XF_OK : XF_ESTATE;
  }
  f->cancel_msg = copy;
  xf__complete_locked(f, XF_CANCELLED);
  return XF_OK;
}

int xf__future_cancel_final(xf_future_t *f, const char *msg) {
  return xf__cancel(f, msg, false);
}

int xf_future_cancel(xf_future_t *f) {
  return xf_future_cancel_msg(f, NULL);
}

int xf_future_set_running_or_notify_cancel(xf_future_t *f) {
  if (!f)
    return XF_EINVAL;
  xf__lock(&f->lock);
  uint32_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
  int rc;
  if ((s & XF__STATE_MASK) == XF_PENDING) {
    /* Keep the waiters bit, which a waiter may set at any moment without
     * the lock: a plain store could erase it, and the finisher would then
     * not wake that waiter. */
    while (!atomic_compare_exchange_weak_explicit(
        &f->state, &s, (s & XF__WAITERS) | XF_RUNNING, memory_order_acq_rel,
        memory_order_relaxed))
      ;
    rc = XF_OK;
  } else {
    rc = (s & XF__STATE_MASK) == XF_CANCELLED ? XF_ECANCELLED : XF_ESTATE;
  }
  xf__unlock(&f->lock);
  return rc;
}

int xf_future_state(const xf_future_t *f) {
  return f ? (int) xf__state(f) : XF_EINVAL;
}

bool xf_future_done(const xf_future_t *f) {
  return f && xf__is_done(xf__state(f));
}

bool xf_future_cancelled(const xf_future_t *f) {
  return f && xf__state(f) == XF_CANCELLED;
}

bool xf_future_running(const xf_future_t *f) {
  return f && xf__state(f) == XF_RUNNING;
}

xf_loop_t *xf_future_loop(const xf_future_t *f) {
  return f ? f->loop : NULL;
}

bool xf__future_wait_deadlocks(const xf_future_t *f) {
  return f->loop && !xf__is_done(xf__state(f)) && xf__loop_is_running_here(f->loop);
}

static _Atomic uint32_t xf__spinners;
static _Atomic int xf__spin_slots; /* 0 until the first spin */

bool xf__aspin_begin(xf__aspin_t *s, _Atomic uint32_t *site) {
  s->spin.until = 0;
  s->spin.n = 0;
  s->slot = false;
  int slots = atomic_load_explicit(&xf__spin_slots, memory_order_relaxed);
  if (XF__UNLIKELY(!slots)) {
    slots = xf__cpu_count() > 1 ? xf__cpu_count() - 1 : 1;
    atomic_store_explicit(&xf__spin_slots, slots, memory_order_relaxed);
  }
  /* A slot is often held for a moment only (a spinner that saw its event
   * gives it up as it leaves): wait a little for one before giving up. */
  uint32_t n = atomic_load_explicit(&xf__spinners, memory_order_relaxed);
  for (int grace = 128;;) {
    if (n < (uint32_t) slots) {
      if (atomic_compare_exchange_weak_explicit(
              &xf__spinners, &n, n + 1, memory_order_relaxed, memory_order_relaxed))
        break;
      continue;
    }
    if (--grace == 0)
      return false;
    xf__cpu_relax();
    n = atomic_load_explicit(&xf__spinners, memory_order_relaxed);
  }
  s->slot = true;
  uint32_t budget = site ? atomic_load_explicit(site, memory_order_relaxed) : 0;
  s->budget = budget ? budget : XF__SPIN_NS;
  return true;
}

void xf__aspin_end(xf__aspin_t *s, _Atomic uint32_t *site, bool seen) {
  if (!s->slot)
    return;
  s->slot = false;
  atomic_fetch_sub_explicit(&xf__spinners, 1, memory_order_relaxed);
  if (!site)
    return;
  int64_t budget = seen ? s->budget * 2 : s->budget / 2;
  if (budget > XF__SPIN_NS)
    budget = XF__SPIN_NS;
  if (budget < XF__SPIN_MIN_NS)
    budget = XF__SPIN_MIN_NS;
  atomic_store_explicit(site, (uint32_t) budget, memory_order_relaxed);
}

/* A waiter's spin budget is its thread's: what a thread waits for tends to
 * take as long as what it waited for last time. */
static _Thread_local _Atomic uint32_t xf__wait_spin_budget;

int xf_future_wait(xf_future_t *f, int64_t timeout_ns) {
  if (!f)
    return XF_EINVAL;
  if (xf__is_done(xf__state(f)))
    return XF_OK;
  if (timeout_ns == 0)
    return XF_ETIMEDOUT;
  if (xf__future_wait_deadlocks(f))
    return XF_EDEADLK;
  int64_t deadline = xf__deadline(timeout_ns);
  xf__aspin_t spin;
  if (xf__aspin_begin(&spin, &xf__wait_spin_budget)) {
    bool seen = false;
    while (!seen && xf__aspin_step(&spin))
      seen = xf__is_done(atomic_load_explicit(&f->state, memory_order_acquire));
    xf__aspin_end(&spin, &xf__wait_spin_budget, seen);
    if (seen)
      return XF_OK;
  }
  for (;;) {
    uint32_t s = atomic_load_explicit(&f->state, memory_order_acquire);
    if (xf__is_done(s))
      return XF_OK;
    if (deadline >= 0 && xf_now() >= deadline)
      return XF_ETIMEDOUT;
    if (!(s & XF__WAITERS) &&
        !atomic_compare_exchange_weak_explicit(
            &f->state, &s, s | XF__WAITERS, memory_order_acq_rel, memory_order_acquire))
      continue;
    xf__futex_wait(&f->state, s | XF__WAITERS, deadline);
  }
}

/* Wait until f is done and note that its outcome has been read. */
static int xf__wait_outcome(xf_future_t *f, int64_t timeout_ns) {
  int rc = xf_future_wait(f, timeout_ns);
  if (rc == XF_OK)
    atomic_store_explicit(&f->retrieved, true, memory_order_relaxed);
  return rc;
}

int xf_future_result(xf_future_t *f, int64_t timeout_ns, xf_value_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  int rc = xf__wait_outcome(f, timeout_ns);
  if (rc != XF_OK)
    return rc;
  if (xf__state(f) == XF_CANCELLED)
    return XF_ECANCELLED;
  if (f->error)
    return XF_EFAILED;
  *out = xf_value_ref(f->value);
  return XF_OK;
}

int xf_future_error(xf_future_t *f, int64_t timeout_ns, xf_error_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  int rc = xf__wait_outcome(f, timeout_ns);
  if (rc != XF_OK)
    return rc;
  if (xf__state(f) == XF_CANCELLED)
    return xf_error_new(XF_ECANCELLED, NULL, f->cancel_msg ? f->cancel_msg : "", out);
  *out = xf_error_ref(f->error);
  return XF_OK;
}

int xf_future_outcome(xf_future_t *f, xf_value_t **value, xf_error_t **error) {
  if (value)
    *value = NULL;
  if (error)
    *error = NULL;
  if (!f)
    return XF_EINVAL;
  uint32_t s = xf__state(f);
  if (!xf__is_done(s))
    return (int) s;
  if (s == XF_CANCELLED) {
    if (error) {
      int rc =
          xf_error_new(XF_ECANCELLED, NULL, f->cancel_msg ? f->cancel_msg : "", error);
      if (rc != XF_OK)
        return rc;
    }
  } else if (f->error) {
    if (error)
      *error = xf_error_ref(f->error);
  } else if (value) {
    *value = xf_value_ref(f->value);
  }
  /* The error reached the caller: the future is no longer one whose error
   * nobody read (as after xf_future_error). */
  if (error)
    atomic_store_explicit(&f->retrieved, true, memory_order_relaxed);
  return (int) s;
}

static int xf__add_callback(xf_future_t *f, xf_done_fn fn, void *data,
                            xf_free_data_fn free_data, xf_loop_t *loop) {
  xf__cb_t *cb = xf__cache_alloc(XF__CACHE_SMALL, sizeof *cb);
  if (!cb)
    return XF_ENOMEM;
  cb->link.next = NULL;
  cb->fn = fn;
  cb->data = data;
  cb->free_data = free_data;
  cb->loop = loop ? xf__loop_ref(loop) : NULL;
  xf__lock(&f->lock);
  if (!xf__is_done(atomic_load_explicit(&f->state, memory_order_relaxed))) {
    xf__queue_push(&f->cbs, &cb->link);
    xf__unlock(&f->lock);
    return XF_OK;
  }
  xf__unlock(&f->lock);
  xf__future_run_callbacks(f, &cb->link);
  return XF_OK;
}

int xf_future_add_done_callback(xf_future_t *f, xf_done_fn fn, void *data,
                                xf_free_data_fn free_data, xf_loop_t *loop) {
  if (!f || !fn)
    return XF_EINVAL;
  return xf__add_callback(f, fn, data, free_data, loop ? loop : f->loop);
}

int xf__future_add_inline(xf_future_t *f, xf_done_fn fn, void *data,
                          xf_free_data_fn free_data) {
  return xf__add_callback(f, fn, data, free_data, NULL);
}

bool xf__future_bind(xf_future_t *f, xf_future_t *src) {
  xf__lock(&f->lock);
  bool was = f->flags & XF__BOUND;
  f->flags |= XF__BOUND;
  if (!f->source && !xf__is_done(atomic_load_explicit(&f->state, memory_order_relaxed)))
    f->source = src;
  xf__unlock(&f->lock);
  return was;
}

void xf__future_unbind(xf_future_t *f, xf_future_t *src, bool unmark) {
  xf__lock(&f->lock);
  if (f->source == src)
    f->source = NULL;
  if (unmark)
    f->flags &= ~XF__BOUND;
  xf__unlock(&f->lock);
}

int xf__future_cancel_follower(xf_future_t *dst, const char *msg) {
  int rc;
  if (dst->cancel_hook) {
    /* A task decides about its own cancellation. */
    rc = xf_future_cancel_msg(dst, msg);
    return rc == XF_ENOMEM ? xf_future_cancel(dst) : rc;
  }
  rc = xf__cancel(dst, msg, true);
  return rc == XF_ENOMEM ? xf__cancel(dst, NULL, true) : rc;
}

void xf__future_finish_after(xf_future_t *f, int rc) {
  xf__lock(&f->lock);
  bool open = !(f->flags & XF__BOUND) &&
              !xf__is_done(atomic_load_explicit(&f->state, memory_order_relaxed));
  xf__unlock(&f->lock);
  if (!open)
    return;
  if (rc < 0)
    xf__future_fail_code(f, rc);
  else
    xf_future_set_result(f, NULL);
}

int xf__future_copy_outcome(xf_future_t *src, xf_future_t *dst) {
  atomic_store_explicit(&src->retrieved, true, memory_order_relaxed);
  uint32_t s = xf__state(src);
  if (s == XF_CANCELLED)
    return xf__future_cancel_follower(dst, src->cancel_msg);
  if (src->error)
    return xf_future_set_error(dst, xf_error_ref(src->error));
  return xf_future_set_result(dst, xf_value_ref(src->value));
}

int xf_future_remove_done_callback(xf_future_t *f, xf_done_fn fn, void *data) {
  if (!f || !fn)
    return XF_EINVAL;
  return xf__future_remove_done_if(f, fn, NULL, data);
}

int xf__future_remove_done_if(xf_future_t *f, xf_done_fn fn,
                              bool (*match)(const void *data, const void *arg),
                              const void *arg) {
  xf__queue_t removed, kept;
  xf__queue_init(&removed);
  xf__queue_init(&kept);
  int count = 0;
  xf__lock(&f->lock);
  /* Split the list in two, each in order. */
  xf__qnode_t *n;
  while ((n = xf__queue_pop(&f->cbs))) {
    xf__cb_t *cb = xf__cb_of(n);
    if (cb->fn == fn && (match ? match(cb->data, arg) : cb->data == arg)) {
      xf__queue_push(&removed, n);
      count++;
    } else {
      xf__queue_push(&kept, n);
    }
  }
  f->cbs = kept;
  xf__unlock(&f->lock);
  /* Freed outside the lock: a free function may touch this future. */
  xf__cb_free_list(removed.head);
  return count;
}

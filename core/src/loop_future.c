/* The asyncio layer of the loop: futures bound to it, run_in_executor and
 * its default executor, the loop as an executor, sleep and
 * xf_future_timeout. It is built on the public calls of the loop, of
 * futures and of executors; the reactor below it (loop.c, timer.c,
 * async.c, io.c) knows nothing of executors: the default executor is
 * attached to the loop with the function that drops it when it closes.
 *
 * Cancel scopes (scope.c) reach in here in two places: a loop future made
 * while a scope of its loop is the thread's current one is bound to the
 * scope's token, and so is the job of run_in_executor (which also runs with
 * that token as its current one); and xf_future_timeout is a scope with a
 * deadline around one future.
 */
#include "cancel_internal.h"
#include "loop_private.h"

/* The token of the calling thread's current scope of loop, or NULL. */
static xf_cancel_token_t *xf__scope_token_for(const xf_loop_t *loop) {
  xf_scope_t *s = xf__scope_current_for(loop);
  return s ? xf_scope_token(s) : NULL;
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
  int rc = xf__future_new(loop, out);
  xf_cancel_token_t *tok = rc == XF_OK ? xf__scope_token_for(loop) : NULL;
  if (tok && (rc = xf_cancel_token_bind(tok, *out)) != XF_OK) {
    xf_future_unref(*out);
    *out = NULL;
  }
  return rc;
}

/* The default executor goes with its loop: its running jobs are waited
 * for, as asyncio's loop.close() does with shutdown_default_executor. */
static void xf__default_executor_drop(void *ex) {
  xf_executor_shutdown(ex, true, false);
  xf_executor_unref(ex);
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
    if (xf__loop_closed(loop)) {
      rc = XF_ECLOSED;
    } else if (!loop->attached) {
      xf_executor_t *made;
      if ((rc = xf_thread_pool_new(NULL, &made)) == XF_OK) {
        loop->attached = made;
        loop->attached_free = xf__default_executor_drop;
      }
    }
    ex = rc == XF_OK ? xf_executor_ref(loop->attached) : NULL;
    xf__unlock(&loop->lock);
    if (rc != XF_OK)
      return rc;
  }
  xf_future_t *lf = NULL, *xf = NULL;
  xf_cancel_token_t *tok = xf__scope_token_for(loop);
  if (xf__loop_closed(loop))
    rc = XF_ECLOSED;
  if (rc == XF_OK)
    rc = xf__future_new(loop, &lf);
  if (rc == XF_OK &&
      (rc = xf_executor_submit_token(ex, tok, fn, data, free_data, &xf)) != XF_OK) {
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

/* The state of one xf_future_timeout: a scope with a deadline around one
 * future. Its references follow the rule of future.h: what will finish the
 * outer future holds it, and nothing holds what it waits for.
 * - Strong references (refs): the registration on the inner future and the
 *   one on the scope's token, which are what finish outer, and the making.
 *   They own `outer`; the last one drops it.
 * - Weak references (weak): the registration on outer, which only needs
 *   the memory (to cancel inner and leave the scope when outer is done),
 *   plus one for all the strong ones together. The last one frees the
 *   memory, and drops the scope.
 * - `inner` is weak: the inner registration's release clears it under the
 *   lock before inner's memory goes, and whoever cancels it takes a
 *   reference with xf__future_tryref under the same lock. An inner future
 *   freed before it finished can never finish outer: outer is then
 *   cancelled, saying so.
 * The scope's deadline fails outer with a TimeoutError at once, then
 * cancels inner (asyncio.wait_for); an outer scope's cancellation only
 * cancels inner, and outer follows it, cancelled, for that scope's owner to
 * see. Without a deadline and without a current scope there is no scope. */
typedef struct xf__timeout {
  _Atomic uint32_t refs;
  _Atomic uint32_t weak;
  _Atomic bool timed_out;
  xf__lock_t lock;
  bool inner_ran;     /* on_inner ran (before its release) */
  xf_future_t *outer; /* a reference, owned by the strong side */
  xf_future_t *inner; /* weak, under lock */
  xf_scope_t *scope;  /* a reference, or NULL; left when outer is done */
} xf__timeout_t;

static void xf__timeout_weak_unref(void *p) {
  xf__timeout_t *t = p;
  if (atomic_fetch_sub_explicit(&t->weak, 1, memory_order_acq_rel) != 1)
    return;
  xf_scope_unref(t->scope);
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

static void xf__timeout_cancel_inner(xf__timeout_t *t, const char *msg) {
  xf__lock(&t->lock);
  xf_future_t *inner = t->inner && xf__future_tryref(t->inner) ? t->inner : NULL;
  xf__unlock(&t->lock);
  if (inner && xf_future_cancel_msg(inner, msg) == XF_ENOMEM)
    xf_future_cancel(inner);
  xf_future_unref(inner);
}

/* The scope's token is cancelled: by its deadline, or by an outer scope. */
static void xf__timeout_on_cancel(xf_cancel_token_t *tok, xf_error_t *reason,
                                  void *data) {
  (void) tok;
  xf__timeout_t *t = data;
  if (xf_future_done(t->outer))
    return;
  if (!xf_scope_expired(t->scope)) {
    xf__timeout_cancel_inner(t, xf_error_message(reason));
    return;
  }
  atomic_store_explicit(&t->timed_out, true, memory_order_release);
  /* Fail the outer future first: cancelling inner would otherwise copy its
   * cancellation into outer. Its done callback then cancels inner. */
  if (xf_future_fail(t->outer, XF_ETIMEDOUT, "TimeoutError", NULL) == XF_ENOMEM)
    xf_future_set_error(t->outer, xf__error_oom());
}

static void xf__timeout_on_outer(xf_future_t *outer, void *data) {
  xf__timeout_t *t = data;
  bool timed_out = atomic_load_explicit(&t->timed_out, memory_order_acquire);
  if (timed_out || xf_future_cancelled(outer))
    xf__timeout_cancel_inner(t, NULL);
  if (t->scope) {
    /* Leaving drops the deadline's timer; the token's registration goes with
     * its reference (it may be this very call's caller, which is fine: a
     * removal then finds nothing). */
    xf_scope_exit(t->scope, XF_OK);
    xf_cancel_token_remove_callback(xf_scope_token(t->scope), xf__timeout_on_cancel, t);
  }
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
  bool scoped = timeout_ns >= 0 || xf__scope_current_for(loop);
  int rc = scoped                  ? xf__loop_check_thread(loop)
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
  if ((rc = xf__future_new(loop, &t->outer)) != XF_OK ||
      (scoped && (rc = xf_scope_new(loop, timeout_ns, 0, &t->scope)) != XF_OK)) {
    xf__timeout_unref(t);
    return rc;
  }
  if (t->scope) {
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    rc = xf_cancel_token_add_callback(xf_scope_token(t->scope), xf__timeout_on_cancel, t,
                                      xf__timeout_unref, NULL);
    if (rc != XF_OK) {
      atomic_fetch_sub_explicit(&t->refs, 1, memory_order_relaxed);
      xf_scope_exit(t->scope, XF_OK);
      xf__timeout_unref(t);
      return rc;
    }
  }
  xf_future_t *outer = xf_future_ref(t->outer);
  atomic_fetch_add_explicit(&t->weak, 1, memory_order_relaxed);
  if ((rc = xf__future_add_inline(outer, xf__timeout_on_outer, t,
                                  xf__timeout_weak_unref)) != XF_OK) {
    atomic_fetch_sub_explicit(&t->weak, 1, memory_order_relaxed);
    if (t->scope) {
      xf_scope_exit(t->scope, XF_OK);
      xf_cancel_token_remove_callback(xf_scope_token(t->scope), xf__timeout_on_cancel, t);
    }
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

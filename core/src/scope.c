/* Cancel scopes with deadlines.
 *
 * Design notes
 * ------------
 * A scope is a cancellation source (linked to its parent scope's token
 * unless shielded) and, when it has a deadline, a timer of its loop. The
 * timer holds a reference to the scope; it is cancelled when the scope is
 * left or its deadline moves, and fires by cancelling the source with a
 * TimeoutError made when the scope was, `deadline_reason`. A scope expired
 * when its token was cancelled with that very error (pointer identity), so
 * no flag can disagree with the token about who cancelled first: an outer
 * cancellation that won the race leaves the scope unexpired.
 *
 * The current scope is a thread-local pointer. Entering saves the previous
 * one in the scope, leaving restores it; a task spawned into a scope runs
 * each step through xf__scope_step, which makes the scope (and its token)
 * current for the step and restores what was there afterwards, whatever the
 * step entered without leaving.
 *
 * The timer and `left` are the loop thread's (the handle itself may be
 * cancelled from any thread, so leaving from another thread is safe).
 */
#include "cancel_internal.h"
#include "loop_internal.h"

struct xf_scope {
  _Atomic uint32_t refs;
  xf_loop_t *loop; /* a reference */
  xf_cancel_source_t *source;
  xf_error_t *deadline_reason;  /* owned; the reason of its own deadline */
  _Atomic(xf_handle_t *) timer; /* a reference, while a deadline is armed */
  int64_t deadline;             /* loop clock; -1: none */
  _Atomic bool left;
  bool current;      /* entered and not left, in the thread that entered */
  xf_scope_t *saved; /* the current scope before it was entered */
};

static _Thread_local xf_scope_t *xf__current_scope;

xf_scope_t *xf_scope_current(void) {
  return xf__current_scope;
}

xf_scope_t *xf__scope_current_for(const xf_loop_t *loop) {
  xf_scope_t *s = xf__current_scope;
  return s && s->loop == loop && !atomic_load_explicit(&s->left, memory_order_acquire)
             ? s
             : NULL;
}

xf_scope_t *xf_scope_ref(xf_scope_t *s) {
  if (s)
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  return s;
}

void xf_scope_unref(xf_scope_t *s) {
  if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
    return;
  xf_handle_unref(atomic_load_explicit(&s->timer, memory_order_relaxed));
  xf_cancel_source_unref(s->source);
  xf_error_unref(s->deadline_reason);
  xf__loop_unref(s->loop);
  xf__free(s);
}

static void xf__scope_unref_cb(void *p) {
  xf_scope_unref(p);
}

xf_cancel_token_t *xf_scope_token(const xf_scope_t *s) {
  return s ? xf_cancel_source_token(s->source) : NULL;
}

static void xf__scope_fire(void *data) {
  xf_scope_t *s = data;
  xf__token_cancel(xf_cancel_source_token(s->source), xf_error_ref(s->deadline_reason));
}

/* Drop the armed timer, if any. */
static void xf__scope_disarm(xf_scope_t *s) {
  xf_handle_t *h = atomic_exchange_explicit(&s->timer, NULL, memory_order_acq_rel);
  if (h) {
    xf_handle_cancel(h);
    xf_handle_unref(h);
  }
}

static int xf__scope_arm(xf_scope_t *s, int64_t when_ns) {
  xf__scope_disarm(s);
  s->deadline = when_ns < 0 ? -1 : when_ns;
  if (when_ns < 0)
    return XF_OK;
  xf_handle_t *h;
  int rc = xf_loop_call_at(s->loop, when_ns, xf__scope_fire, xf_scope_ref(s),
                           xf__scope_unref_cb, &h);
  if (rc != XF_OK) {
    xf_scope_unref(s);
    s->deadline = -1;
    return rc;
  }
  atomic_store_explicit(&s->timer, h, memory_order_release);
  return XF_OK;
}

int xf_scope_new(xf_loop_t *loop, int64_t timeout_ns, unsigned flags, xf_scope_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!loop || (flags & ~XF_SCOPE_SHIELD))
    return XF_EINVAL;
  int rc = xf__loop_check_thread(loop);
  if (rc != XF_OK)
    return rc;
  xf_scope_t *s = xf__calloc(1, sizeof *s);
  if (!s)
    return XF_ENOMEM;
  atomic_init(&s->refs, 1);
  atomic_init(&s->timer, NULL);
  atomic_init(&s->left, false);
  s->deadline = -1;
  s->loop = xf__loop_ref(loop);
  xf_scope_t *parent = flags & XF_SCOPE_SHIELD ? NULL : xf__scope_current_for(loop);
  xf_cancel_token_t *ptok = parent ? xf_scope_token(parent) : NULL;
  if ((rc = xf_cancel_source_new_linked(&ptok, ptok ? 1 : 0, &s->source)) != XF_OK ||
      (rc = xf_error_new(XF_ETIMEDOUT, NULL, "the scope's deadline passed",
                         &s->deadline_reason)) != XF_OK ||
      (timeout_ns >= 0 &&
       (rc = xf__scope_arm(s, timeout_ns > INT64_MAX - xf_loop_time(loop)
                                  ? INT64_MAX
                                  : xf_loop_time(loop) + timeout_ns)) != XF_OK)) {
    xf_scope_unref(s);
    return rc;
  }
  *out = s;
  return XF_OK;
}

int xf_scope_cancel(xf_scope_t *s, xf_error_t *reason) {
  if (!s) {
    xf_error_unref(reason);
    return XF_EINVAL;
  }
  return xf_cancel_source_cancel(s->source, reason);
}

int64_t xf_scope_deadline(const xf_scope_t *s) {
  return s ? s->deadline : XF_EINVAL;
}

int xf_scope_set_deadline(xf_scope_t *s, int64_t when_ns) {
  if (!s)
    return XF_EINVAL;
  int rc = xf__loop_check_thread(s->loop);
  if (rc != XF_OK)
    return rc;
  if (atomic_load_explicit(&s->left, memory_order_acquire) ||
      xf_cancel_token_cancelled(xf_scope_token(s)))
    return XF_ESTATE;
  return xf__scope_arm(s, when_ns);
}

bool xf_scope_expired(const xf_scope_t *s) {
  return s && xf__token_cancelled_by(xf_scope_token(s), s->deadline_reason);
}

int xf_scope_enter(xf_scope_t *s) {
  if (!s)
    return XF_EINVAL;
  int rc = xf__loop_check_thread(s->loop);
  if (rc != XF_OK)
    return rc;
  if (s->current || atomic_load_explicit(&s->left, memory_order_acquire))
    return XF_ESTATE;
  s->saved = xf__current_scope;
  s->current = true;
  xf__current_scope = s;
  return XF_OK;
}

int xf_scope_exit(xf_scope_t *s, int status) {
  if (!s)
    return XF_EINVAL;
  if (s->current && xf__current_scope == s) {
    xf__current_scope = s->saved;
    s->current = false;
    s->saved = NULL;
  }
  atomic_store_explicit(&s->left, true, memory_order_release);
  xf__scope_disarm(s);
  return status == XF_ECANCELLED && xf_scope_expired(s) ? XF_ETIMEDOUT : status;
}

/* ---- Tasks in a scope ---------------------------------------------------- */

typedef struct xf__scope_task {
  xf_scope_t *scope; /* a reference */
  xf_step_fn step;
  void *data;
  xf_free_data_fn free_data;
} xf__scope_task_t;

static int xf__scope_step(xf_future_t *task, void *data, xf_future_t *awaited,
                          int status) {
  xf__scope_task_t *st = data;
  xf_scope_t *saved = xf__current_scope;
  xf_cancel_token_t *tok = xf__token_swap_current(xf_scope_token(st->scope));
  xf__current_scope = st->scope;
  int rc = st->step(task, st->data, awaited, status);
  xf__current_scope = saved;
  xf__token_swap_current(tok);
  return rc;
}

static void xf__scope_task_free(void *data) {
  xf__scope_task_t *st = data;
  if (st->free_data)
    st->free_data(st->data);
  xf_scope_unref(st->scope);
  xf__free(st);
}

int xf_scope_spawn(xf_scope_t *s, xf_step_fn step, void *data, xf_free_data_fn free_data,
                   xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!s || !step)
    return XF_EINVAL;
  if (atomic_load_explicit(&s->left, memory_order_acquire))
    return XF_ESTATE;
  xf__scope_task_t *st = xf__malloc(sizeof *st);
  if (!st)
    return XF_ENOMEM;
  st->scope = xf_scope_ref(s);
  st->step = step;
  st->data = data;
  st->free_data = free_data;
  xf_future_t *task;
  int rc = xf__task_new(s->loop, xf__scope_step, st, xf__scope_task_free, &task);
  if (rc != XF_OK) {
    xf_scope_unref(s);
    xf__free(st);
    return rc;
  }
  /* The task exists; a failure to bind it surfaces in the task. */
  if ((rc = xf_cancel_token_bind(xf_scope_token(s), task)) != XF_OK)
    xf_future_cancel(task);
  *out = task;
  return XF_OK;
}

/* ---- The owner's view ---------------------------------------------------- */

typedef struct xf__scope_wrap {
  xf_scope_t *scope; /* a reference */
  xf_future_t *out;  /* a reference: f's registration finishes it */
} xf__scope_wrap_t;

/* Runs before the chain's copy: an expiry turns f's cancellation into the
 * owner's timeout, and the copy then finds out done. */
static void xf__scope_wrap_done(xf_future_t *f, void *data) {
  xf__scope_wrap_t *w = data;
  if (xf_future_cancelled(f) && xf_scope_expired(w->scope) &&
      xf_future_set_error(w->out, xf_error_ref(w->scope->deadline_reason)) != XF_OK)
    xf__future_fail_code(w->out, XF_ETIMEDOUT);
}

static void xf__scope_wrap_free(void *data) {
  xf__scope_wrap_t *w = data;
  xf_scope_unref(w->scope);
  xf_future_unref(w->out);
  xf__free(w);
}

int xf_scope_wrap(xf_scope_t *s, xf_future_t *f, xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!s || !f)
    return XF_EINVAL;
  if (xf_loop_is_closed(s->loop))
    return XF_ECLOSED;
  xf__scope_wrap_t *w = xf__malloc(sizeof *w);
  if (!w)
    return XF_ENOMEM;
  int rc = xf__future_new(s->loop, &w->out);
  if (rc != XF_OK) {
    xf__free(w);
    return rc;
  }
  w->scope = xf_scope_ref(s);
  xf_future_t *result = xf_future_ref(w->out);
  if ((rc = xf__future_add_inline(f, xf__scope_wrap_done, w, xf__scope_wrap_free)) !=
      XF_OK) {
    xf__scope_wrap_free(w);
    xf_future_unref(result);
    return rc;
  }
  if ((rc = xf_future_chain(f, result)) != XF_OK) {
    xf_future_remove_done_callback(f, xf__scope_wrap_done, w);
    xf_future_unref(result);
    return rc;
  }
  *out = result;
  return XF_OK;
}

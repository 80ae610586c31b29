/* Cancellation sources and tokens.
 *
 * Design notes
 * ------------
 * A token has two counts. `refs` counts its holders (its source, callers,
 * children linked to it, tasks); when it reaches zero the token dies: its
 * callbacks are dropped without running, and it leaves the lists of its
 * parents. `weak` counts what needs its memory: one for all the holders
 * together, and one for each parent list it is on. The memory goes with the
 * last weak reference.
 *
 * Links. A child made by xf_cancel_source_new_linked holds its parents
 * strongly (it must reach them to leave their lists) and each parent lists
 * the child weakly, through a link record that lives inside the child. A
 * parent that is cancelled detaches its whole list under its lock and marks
 * each link unlisted; then, without the lock, it takes a reference to each
 * child that is still alive (xf__token_tryref) and cancels it. A child that
 * dies takes each parent's lock and unlists itself if it is still listed.
 * Whichever of the two unlists a link drops the weak reference of that
 * listing, once.
 *
 * State. `cancelled` is published with a release store after the reason is
 * stored, under the lock; readers load it without the lock, and a reader
 * that sees it set sees the reason, which never changes after that.
 *
 * Callbacks are a list under the lock, detached by the cancelling thread
 * and run after the lock is released, in the order they were added: inline
 * ones at once, loop ones posted (each post holds the token). Lock rule: no
 * callback runs, and no other token's lock is taken, with a token's lock
 * held, except that a dying child takes its parents' locks one at a time,
 * holding no lock of its own.
 *
 * Tasks with a token run through xf__tok_task, which makes the token the
 * thread's current one for the call (a thread-local pointer, saved and
 * restored, so that a task run inside another task's call nests).
 */
#include "cancel_internal.h"
#include "executor_internal.h"

typedef struct xf__creg {
  struct xf__creg *next;
  xf_cancel_fn fn;
  void *data;
  xf_free_data_fn free_data;
  xf_loop_t *loop; /* a reference; NULL: inline */
} xf__creg_t;

/* A child's entry in one parent's list. Lives in the child's links array. */
typedef struct xf__clink {
  struct xf__clink *prev, *next; /* in the parent's list, under its lock */
  xf_cancel_token_t *parent;     /* a reference, held by the child */
  xf_cancel_token_t *child;      /* weak, counted in child->weak while listed */
  bool listed;                   /* under the parent's lock */
} xf__clink_t;

struct xf_cancel_token {
  _Atomic uint32_t refs;
  _Atomic uint32_t weak;
  _Atomic bool cancelled;
  xf__lock_t lock;
  xf_error_t *reason; /* owned; set once under the lock */
  xf__creg_t *cb_head, *cb_tail;
  xf__clink_t *children; /* children's links, under the lock */
  xf__clink_t *links;    /* this token's links to its parents; owned */
  size_t nlinks;
};

struct xf_cancel_source {
  _Atomic uint32_t refs;
  xf_cancel_token_t *token; /* a reference */
};

static _Thread_local xf_cancel_token_t *xf__current_token;

/* ---- Tokens ------------------------------------------------------------ */

static void xf__token_weak_unref(xf_cancel_token_t *t) {
  if (atomic_fetch_sub_explicit(&t->weak, 1, memory_order_acq_rel) != 1)
    return;
  xf_error_unref(t->reason);
  xf__free(t->links);
  xf__free(t);
}

static bool xf__token_tryref(xf_cancel_token_t *t) {
  uint32_t n = atomic_load_explicit(&t->refs, memory_order_relaxed);
  while (n)
    if (atomic_compare_exchange_weak_explicit(&t->refs, &n, n + 1, memory_order_relaxed,
                                              memory_order_relaxed))
      return true;
  return false;
}

static void xf__creg_free_list(xf__creg_t *cb) {
  while (cb) {
    xf__creg_t *next = cb->next;
    if (cb->free_data)
      cb->free_data(cb->data);
    xf__loop_unref(cb->loop);
    xf__free(cb);
    cb = next;
  }
}

/* The last holder went: drop the callbacks (they can never run now) and
 * leave the parents' lists. */
static void xf__token_die(xf_cancel_token_t *t) {
  xf__lock(&t->lock);
  xf__creg_t *cbs = t->cb_head;
  t->cb_head = t->cb_tail = NULL;
  xf__unlock(&t->lock);
  xf__creg_free_list(cbs);
  for (size_t i = 0; i < t->nlinks; i++) {
    xf__clink_t *l = &t->links[i];
    xf_cancel_token_t *p = l->parent;
    xf__lock(&p->lock);
    bool was = l->listed;
    if (was) {
      if (l->prev)
        l->prev->next = l->next;
      else
        p->children = l->next;
      if (l->next)
        l->next->prev = l->prev;
      l->listed = false;
    }
    xf__unlock(&p->lock);
    if (was)
      xf__token_weak_unref(t);
    xf_cancel_token_unref(p);
  }
  xf__token_weak_unref(t);
}

xf_cancel_token_t *xf_cancel_token_ref(xf_cancel_token_t *t) {
  if (t)
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
  return t;
}

void xf_cancel_token_unref(xf_cancel_token_t *t) {
  if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
    xf__token_die(t);
}

static int xf__token_new(size_t nlinks, xf_cancel_token_t **out) {
  xf_cancel_token_t *t = xf__calloc(1, sizeof *t);
  if (!t)
    return XF_ENOMEM;
  if (nlinks && !(t->links = xf__calloc(nlinks, sizeof *t->links))) {
    xf__free(t);
    return XF_ENOMEM;
  }
  atomic_init(&t->refs, 1);
  atomic_init(&t->weak, 1);
  atomic_init(&t->cancelled, false);
  xf__lock_init(&t->lock);
  *out = t;
  return XF_OK;
}

bool xf_cancel_token_cancelled(const xf_cancel_token_t *t) {
  return t && atomic_load_explicit(&((xf_cancel_token_t *) t)->cancelled,
                                   memory_order_acquire);
}

int xf_cancel_token_check(const xf_cancel_token_t *t) {
  return xf_cancel_token_cancelled(t) ? XF_ECANCELLED : XF_OK;
}

int xf_cancel_token_reason(const xf_cancel_token_t *t, xf_error_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!t)
    return XF_EINVAL;
  if (xf_cancel_token_cancelled(t))
    *out = xf_error_ref(t->reason);
  return XF_OK;
}

bool xf__token_cancelled_by(const xf_cancel_token_t *t, const xf_error_t *e) {
  return xf_cancel_token_cancelled(t) && t->reason == e;
}

xf_cancel_token_t *xf__token_swap_current(xf_cancel_token_t *t) {
  xf_cancel_token_t *old = xf__current_token;
  xf__current_token = t;
  return old;
}

xf_cancel_token_t *xf_cancel_token_current(void) {
  return xf__current_token;
}

/* A callback posted to a loop: it holds the token, whose reason it
 * reads when it runs. */
typedef struct xf__cpost {
  xf_cancel_token_t *token;
  xf_cancel_fn fn;
  void *data;
  xf_free_data_fn free_data;
} xf__cpost_t;

static void xf__cpost_run(void *p) {
  xf__cpost_t *post = p;
  post->fn(post->token, post->token->reason, post->data);
}

static void xf__cpost_free(void *p) {
  xf__cpost_t *post = p;
  if (post->free_data)
    post->free_data(post->data);
  xf_cancel_token_unref(post->token);
  xf__free(post);
}

/* Run or post one record of a cancelled token, and free the record. */
static void xf__creg_fire(xf_cancel_token_t *t, xf__creg_t *cb) {
  if (!cb->loop) {
    cb->fn(t, t->reason, cb->data);
    if (cb->free_data)
      cb->free_data(cb->data);
    xf__free(cb);
    return;
  }
  xf__cpost_t *post = xf__malloc(sizeof *post);
  if (post) {
    post->token = xf_cancel_token_ref(t);
    post->fn = cb->fn;
    post->data = cb->data;
    post->free_data = cb->free_data;
    if (xf_loop_call_soon_threadsafe(cb->loop, xf__cpost_run, post, xf__cpost_free) ==
        XF_OK) {
      xf__loop_unref(cb->loop);
      xf__free(cb);
      return;
    }
    xf_cancel_token_unref(t);
    xf__free(post);
  }
  /* The loop is closed, or the record cannot be made: fn never runs. */
  cb->next = NULL;
  xf__creg_free_list(cb);
}

int xf__token_cancel(xf_cancel_token_t *t, xf_error_t *reason) {
  xf__lock(&t->lock);
  if (atomic_load_explicit(&t->cancelled, memory_order_relaxed)) {
    xf__unlock(&t->lock);
    xf_error_unref(reason);
    return XF_ESTATE;
  }
  t->reason = reason;
  xf__creg_t *cbs = t->cb_head;
  t->cb_head = t->cb_tail = NULL;
  xf__clink_t *kids = t->children;
  t->children = NULL;
  for (xf__clink_t *l = kids; l; l = l->next)
    l->listed = false;
  atomic_store_explicit(&t->cancelled, true, memory_order_release);
  xf__unlock(&t->lock);
  /* A callback may drop the last holder's reference: keep t alive. */
  xf_cancel_token_ref(t);
  while (cbs) {
    xf__creg_t *next = cbs->next;
    xf__creg_fire(t, cbs);
    cbs = next;
  }
  while (kids) {
    xf__clink_t *next = kids->next;
    xf_cancel_token_t *child = kids->child;
    if (xf__token_tryref(child)) {
      xf__token_cancel(child, xf_error_ref(reason));
      xf_cancel_token_unref(child);
    }
    xf__token_weak_unref(child);
    kids = next;
  }
  xf_cancel_token_unref(t);
  return XF_OK;
}

int xf_cancel_token_add_callback(xf_cancel_token_t *t, xf_cancel_fn fn, void *data,
                                 xf_free_data_fn free_data, xf_loop_t *loop) {
  if (!t || !fn)
    return XF_EINVAL;
  if (loop && xf_loop_is_closed(loop))
    return XF_ECLOSED;
  xf__creg_t *cb = xf__malloc(sizeof *cb);
  if (!cb)
    return XF_ENOMEM;
  cb->next = NULL;
  cb->fn = fn;
  cb->data = data;
  cb->free_data = free_data;
  cb->loop = loop ? xf__loop_ref(loop) : NULL;
  xf__lock(&t->lock);
  if (!atomic_load_explicit(&t->cancelled, memory_order_relaxed)) {
    if (t->cb_tail)
      t->cb_tail->next = cb;
    else
      t->cb_head = cb;
    t->cb_tail = cb;
    xf__unlock(&t->lock);
    return XF_OK;
  }
  xf__unlock(&t->lock);
  xf__creg_fire(t, cb);
  return XF_OK;
}

int xf_cancel_token_remove_callback(xf_cancel_token_t *t, xf_cancel_fn fn, void *data) {
  if (!t || !fn)
    return XF_EINVAL;
  xf__creg_t *removed = NULL, **tail = &removed;
  int count = 0;
  xf__lock(&t->lock);
  xf__creg_t **link = &t->cb_head, *prev = NULL;
  while (*link) {
    xf__creg_t *cb = *link;
    if (cb->fn == fn && cb->data == data) {
      *link = cb->next;
      cb->next = NULL;
      *tail = cb;
      tail = &cb->next;
      count++;
    } else {
      prev = cb;
      link = &cb->next;
    }
  }
  t->cb_tail = prev;
  xf__unlock(&t->lock);
  /* Freed outside the lock: a free function may touch this token. */
  xf__creg_free_list(removed);
  return count;
}

/* ---- Futures ------------------------------------------------------------ */

/* The registration of xf_cancel_token_future, which holds the future, and
 * the future's watch, which removes the registration when the future is
 * done otherwise; each holds one of `refs`. The token is held weakly (the
 * registration holds the future, so a strong reference back would be a
 * cycle for a future that never finishes). */
typedef struct xf__tfut {
  _Atomic uint32_t refs;
  xf_future_t *future;      /* a reference, the registration's */
  xf_cancel_token_t *token; /* weak */
  bool ran;
} xf__tfut_t;

static void xf__tfut_unref(void *data) {
  xf__tfut_t *tf = data;
  if (atomic_fetch_sub_explicit(&tf->refs, 1, memory_order_acq_rel) != 1)
    return;
  xf__token_weak_unref(tf->token);
  xf__free(tf);
}

static void xf__tfut_fire(xf_cancel_token_t *t, xf_error_t *reason, void *data) {
  (void) t;
  xf__tfut_t *tf = data;
  tf->ran = true;
  xf_future_set_error(tf->future, xf_error_ref(reason));
}

static void xf__tfut_free(void *data) {
  xf__tfut_t *tf = data;
  /* Freed without having run: the token died uncancelled, or the future
   * was done first (cancelling it then changes nothing). */
  if (!tf->ran &&
      xf_future_cancel_msg(tf->future, "the cancellation token was freed "
                                       "before it was cancelled") == XF_ENOMEM)
    xf_future_cancel(tf->future);
  xf_future_t *f = tf->future;
  tf->future = NULL;
  xf_future_unref(f);
  xf__tfut_unref(tf);
}

/* The future was finished or cancelled by someone else: the registration
 * goes. */
static void xf__tfut_done(xf_future_t *f, void *data) {
  (void) f;
  xf__tfut_t *tf = data;
  if (xf__token_tryref(tf->token)) {
    xf_cancel_token_remove_callback(tf->token, xf__tfut_fire, tf);
    xf_cancel_token_unref(tf->token);
  }
}

int xf_cancel_token_future(xf_cancel_token_t *t, xf_loop_t *loop, xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!t)
    return XF_EINVAL;
  if (loop && xf_loop_is_closed(loop))
    return XF_ECLOSED;
  xf__tfut_t *tf = xf__malloc(sizeof *tf);
  if (!tf)
    return XF_ENOMEM;
  atomic_init(&tf->refs, 1);
  tf->ran = false;
  tf->token = t;
  atomic_fetch_add_explicit(&t->weak, 1, memory_order_relaxed);
  xf_future_t *f;
  int rc = xf__future_new(loop, &f);
  if (rc != XF_OK) {
    xf__tfut_unref(tf);
    return rc;
  }
  tf->future = xf_future_ref(f);
  /* The watch first, so that a registration that runs at once (a cancelled
   * token) finds it. */
  atomic_fetch_add_explicit(&tf->refs, 1, memory_order_relaxed);
  if ((rc = xf__future_add_inline(f, xf__tfut_done, tf, xf__tfut_unref)) != XF_OK) {
    atomic_fetch_sub_explicit(&tf->refs, 1, memory_order_relaxed);
    xf_future_unref(f);
    xf_future_unref(f);
    xf__tfut_unref(tf);
    return rc;
  }
  /* Inline: the future marshals its own callbacks to its loop. */
  if ((rc = xf_cancel_token_add_callback(t, xf__tfut_fire, tf, xf__tfut_free, NULL)) !=
      XF_OK) {
    tf->ran = true; /* nothing to cancel: the future goes with the caller */
    xf__tfut_free(tf);
    xf_future_remove_done_callback(f, xf__tfut_done, tf);
    xf_future_unref(f);
    return rc;
  }
  *out = f;
  return XF_OK;
}

static void xf__bind_fire(xf_cancel_token_t *t, xf_error_t *reason, void *data) {
  (void) t;
  if (xf_future_cancel_msg(data, xf_error_message(reason)) == XF_ENOMEM)
    xf_future_cancel(data);
}

static void xf__unref_future(void *p) {
  xf_future_unref(p);
}

/* A future's done callback that removes its registration on a token holds
 * the token weakly: the registration holds the future, so a strong
 * reference back would be a cycle for a future that never finishes. */
static void xf__token_weak_release(void *p) {
  xf__token_weak_unref(p);
}

static void xf__token_forget(xf_cancel_token_t *t, xf_cancel_fn fn, void *data) {
  if (xf__token_tryref(t)) {
    xf_cancel_token_remove_callback(t, fn, data);
    xf_cancel_token_unref(t);
  }
}

/* f is done: its binding to the token goes, with its reference to f. */
static void xf__bind_done(xf_future_t *f, void *data) {
  xf__token_forget(data, xf__bind_fire, f);
}

int xf_cancel_token_bind(xf_cancel_token_t *t, xf_future_t *f) {
  if (!t || !f)
    return XF_EINVAL;
  if (xf_future_done(f))
    return XF_OK;
  xf_future_ref(f);
  int rc = xf_cancel_token_add_callback(t, xf__bind_fire, f, xf__unref_future, NULL);
  if (rc != XF_OK) {
    xf_future_unref(f);
    return rc;
  }
  atomic_fetch_add_explicit(&t->weak, 1, memory_order_relaxed);
  if ((rc = xf__future_add_inline(f, xf__bind_done, t, xf__token_weak_release)) !=
      XF_OK) {
    xf__token_weak_unref(t);
    xf_cancel_token_remove_callback(t, xf__bind_fire, f);
  }
  return rc;
}

/* ---- Sources ------------------------------------------------------------ */

int xf_cancel_source_new_linked(xf_cancel_token_t *const *parents, size_t n,
                                xf_cancel_source_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (n && !parents)
    return XF_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!parents[i])
      return XF_EINVAL;
  xf_cancel_source_t *src = xf__malloc(sizeof *src);
  if (!src)
    return XF_ENOMEM;
  xf_cancel_token_t *t;
  int rc = xf__token_new(n, &t);
  if (rc != XF_OK) {
    xf__free(src);
    return rc;
  }
  atomic_init(&src->refs, 1);
  src->token = t;
  /* List the new token on each parent; a parent cancelled already cancels
   * it now (and lists nothing: its list is spent). */
  xf_error_t *inherited = NULL;
  for (size_t i = 0; i < n; i++) {
    xf_cancel_token_t *p = parents[i];
    xf__clink_t *l = &t->links[i];
    l->parent = xf_cancel_token_ref(p);
    l->child = t;
    t->nlinks = i + 1;
    xf__lock(&p->lock);
    if (atomic_load_explicit(&p->cancelled, memory_order_relaxed)) {
      if (!inherited)
        inherited = xf_error_ref(p->reason);
    } else {
      l->prev = NULL;
      l->next = p->children;
      if (p->children)
        p->children->prev = l;
      p->children = l;
      l->listed = true;
      atomic_fetch_add_explicit(&t->weak, 1, memory_order_relaxed);
    }
    xf__unlock(&p->lock);
  }
  if (inherited)
    xf__token_cancel(t, inherited);
  *out = src;
  return XF_OK;
}

int xf_cancel_source_new(xf_cancel_source_t **out) {
  return xf_cancel_source_new_linked(NULL, 0, out);
}

xf_cancel_source_t *xf_cancel_source_ref(xf_cancel_source_t *src) {
  if (src)
    atomic_fetch_add_explicit(&src->refs, 1, memory_order_relaxed);
  return src;
}

void xf_cancel_source_unref(xf_cancel_source_t *src) {
  if (!src || atomic_fetch_sub_explicit(&src->refs, 1, memory_order_acq_rel) != 1)
    return;
  xf_cancel_token_unref(src->token);
  xf__free(src);
}

xf_cancel_token_t *xf_cancel_source_token(const xf_cancel_source_t *src) {
  return src ? src->token : NULL;
}

int xf_cancel_source_cancel(xf_cancel_source_t *src, xf_error_t *reason) {
  if (!src) {
    xf_error_unref(reason);
    return XF_EINVAL;
  }
  if (!reason && xf_error_new(XF_ECANCELLED, NULL, NULL, &reason) != XF_OK)
    reason = xf__error_oom();
  return xf__token_cancel(src->token, reason);
}

/* ---- Tasks with a token --------------------------------------------------- */

/* A task given a token: the user's task and the token, in the future's task
 * slot in place of the user's. */
typedef struct xf__tok_task {
  xf_task_fn fn;
  void *data;
  xf_free_data_fn free_data;
  xf_cancel_token_t *token; /* a reference */
} xf__tok_task_t;

static int xf__tok_task(void *data, xf_future_t *fut) {
  xf__tok_task_t *tt = data;
  /* Cancelled before it started (the binding lost the race to a worker):
   * the task never starts, as if the cancel had come a moment earlier. */
  if (xf_cancel_token_cancelled(tt->token)) {
    xf__future_cancel_follower(fut, xf_error_message(tt->token->reason));
    return XF_ECANCELLED;
  }
  xf_cancel_token_t *saved = xf__token_swap_current(tt->token);
  int rc = tt->fn(tt->data, fut);
  xf__token_swap_current(saved);
  /* A task that gave up because its token was cancelled acknowledged the
   * cancellation: its future ends cancelled, also though it was running, with
   * the reason's message, which says why (a deadline, a failed sibling). */
  if (rc == XF_ECANCELLED && xf_cancel_token_cancelled(tt->token) && !xf_future_done(fut))
    xf__future_cancel_follower(fut, xf_error_message(tt->token->reason));
  return rc;
}

static void xf__tok_task_free(void *data) {
  xf__tok_task_t *tt = data;
  if (tt->free_data)
    tt->free_data(tt->data);
  xf_cancel_token_unref(tt->token);
  xf__free(tt);
}

static xf__tok_task_t *xf__tok_task_new(xf_cancel_token_t *t, xf_task_fn fn, void *data,
                                        xf_free_data_fn free_data) {
  xf__tok_task_t *tt = xf__malloc(sizeof *tt);
  if (tt) {
    tt->fn = fn;
    tt->data = data;
    tt->free_data = free_data;
    tt->token = xf_cancel_token_ref(t);
  }
  return tt;
}

/* Bind an accepted task's future to its token. From here a failure can only
 * surface in the future: the task is queued and its data is the
 * executor's. */
static void xf__tok_bind(xf_cancel_token_t *t, xf_future_t *fut) {
  int rc = xf_cancel_token_bind(t, fut);
  if (rc != XF_OK && xf__future_fail_code(fut, rc) != XF_OK)
    xf_future_cancel(fut);
}

int xf_executor_submit_token(xf_executor_t *ex, xf_cancel_token_t *t, xf_task_fn fn,
                             void *data, xf_free_data_fn free_data, xf_future_t **out) {
  if (!t)
    return xf_executor_submit(ex, fn, data, free_data, out);
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!ex || !fn)
    return XF_EINVAL;
  xf__tok_task_t *tt = xf__tok_task_new(t, fn, data, free_data);
  if (!tt)
    return XF_ENOMEM;
  int rc = xf_executor_submit(ex, xf__tok_task, tt, xf__tok_task_free, out);
  if (rc != XF_OK) {
    xf_cancel_token_unref(tt->token);
    xf__free(tt);
    return rc;
  }
  xf__tok_bind(t, *out);
  return XF_OK;
}

/* ---- The token executor --------------------------------------------------- */

typedef struct xf__tok_ex {
  xf_executor_t *inner;     /* a reference */
  xf_cancel_token_t *token; /* a reference */
  _Atomic bool shut;
} xf__tok_ex_t;

/* The job on the inner executor runs the outer future's task. */
static int xf__tok_ex_run(void *data, xf_future_t *job) {
  (void) job;
  xf_executor_run_task(data);
  return XF_OK;
}

/* After the job ran, or when the inner executor dropped it unrun: then the
 * outer task never runs either. */
static void xf__tok_ex_release(void *data) {
  xf_future_t *fut = data;
  if (fut->task_fn)
    xf_executor_drop_task(fut, XF_ECANCELLED);
  xf_future_unref(fut);
}

static int xf__tok_ex_submit(void *impl, xf_future_t *fut) {
  xf__tok_ex_t *tx = impl;
  if (atomic_load_explicit(&tx->shut, memory_order_acquire))
    return XF_ESHUTDOWN;
  xf__tok_task_t *tt =
      xf__tok_task_new(tx->token, fut->task_fn, fut->task_data, fut->task_free);
  if (!tt)
    return XF_ENOMEM;
  fut->task_fn = xf__tok_task;
  fut->task_data = tt;
  fut->task_free = xf__tok_task_free;
  xf_future_t *job;
  /* The job takes over the queue's reference to fut. */
  int rc = xf_executor_submit(tx->inner, xf__tok_ex_run, fut, xf__tok_ex_release, &job);
  if (rc != XF_OK) {
    /* Refused: the future goes back as it came, its task the caller's. */
    fut->task_fn = tt->fn;
    fut->task_data = tt->data;
    fut->task_free = tt->free_data;
    xf_cancel_token_unref(tt->token);
    xf__free(tt);
    return rc;
  }
  xf_future_unref(job);
  xf__tok_bind(tx->token, fut);
  return XF_OK;
}

static int xf__tok_ex_shutdown(void *impl, bool wait, bool cancel_futures) {
  (void) wait;
  (void) cancel_futures;
  xf__tok_ex_t *tx = impl;
  atomic_store_explicit(&tx->shut, true, memory_order_release);
  return XF_OK;
}

static int xf__tok_ex_stats(void *impl, xf_executor_stats_t *out) {
  return xf_executor_stats(((xf__tok_ex_t *) impl)->inner, out);
}

static void xf__tok_ex_destroy(void *impl) {
  xf__tok_ex_t *tx = impl;
  xf_executor_unref(tx->inner);
  xf_cancel_token_unref(tx->token);
  xf__free(tx);
}

static const xf_executor_ops_t xf__tok_ex_ops = {
    sizeof(xf_executor_ops_t), "token",          xf__tok_ex_submit,
    xf__tok_ex_shutdown,       xf__tok_ex_stats, xf__tok_ex_destroy};

int xf_executor_with_token(xf_executor_t *ex, xf_cancel_token_t *t, xf_executor_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!ex || !t)
    return XF_EINVAL;
  xf__tok_ex_t *tx = xf__malloc(sizeof *tx);
  if (!tx)
    return XF_ENOMEM;
  tx->inner = xf_executor_ref(ex);
  tx->token = xf_cancel_token_ref(t);
  atomic_init(&tx->shut, false);
  int rc = xf_executor_new(&xf__tok_ex_ops, tx, out);
  if (rc != XF_OK)
    xf__tok_ex_destroy(tx);
  return rc;
}

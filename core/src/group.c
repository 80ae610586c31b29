/* Task groups and error groups.
 *
 * Design notes
 * ------------
 * A group is a cancellation source (linked to its parent token), a list of
 * child slots and a join future made with the group. Each child has a slot
 * (its index, in the order children were added) and an inline done callback
 * on its future that records the child's error in the slot and counts the
 * child done; the first failure cancels the source, which cancels the other
 * children through their bindings to the token (cancel.c): queued executor
 * tasks never run, loop tasks are resumed with XF_ECANCELLED, running
 * executor tasks see their token cancelled.
 *
 * The join future finishes when the group has been joined (xf_group_join, or
 * the last user reference dropped) and no child is pending; the thread that
 * sees both finishes it, outside the lock.
 *
 * Two counts. `refs` counts the users; when it reaches zero the group is
 * joined on its own and, if a child still runs, cancelled: no child is left
 * running on behalf of a group nobody holds. `inner` counts what needs the
 * memory: one for the users together, one per child registration and one
 * for the join future's own callback (which turns a cancelled join into a
 * cancelled group). The group holds the join future, whose callback holds
 * the group: the join's completion, which always comes once the group is
 * joined and its children are done, breaks that cycle.
 *
 * Lock rule: the group's lock is never held while a future is finished or
 * cancelled, or a token cancelled.
 */
#include <stdio.h>

#include "cancel_internal.h"
#include "loop_internal.h"

/* ---- Error groups ---------------------------------------------------------- */

#define XF__GROUP_TYPE "ExceptionGroup"

int xf_error_group_new(const char *message, xf_error_t *const *errs, size_t n,
                       xf_error_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (n && !errs)
    return XF_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!errs[i])
      return XF_EINVAL;
  xf_value_t **items = xf__calloc(n ? n : 1, sizeof *items);
  if (!items)
    return XF_ENOMEM;
  int rc = XF_OK;
  size_t made = 0;
  while (made < n && (rc = xf_value_new_error(errs[made], &items[made])) == XF_OK)
    made++;
  xf_value_t *list = NULL;
  if (rc == XF_OK)
    rc = xf_value_new_list(items, n, &list);
  for (size_t i = 0; i < made; i++)
    xf_value_unref(items[i]);
  xf__free(items);
  if (rc != XF_OK)
    return rc;
  char text[96];
  if (!message) {
    snprintf(text, sizeof text, "unhandled errors in a task group (%zu sub-error%s)", n,
             n == 1 ? "" : "s");
    message = text;
  }
  rc = xf_error_new_full(XF_EFAILED, XF__GROUP_TYPE, message, NULL, list, out);
  xf_value_unref(list);
  return rc;
}

static xf_value_t *xf__group_list(const xf_error_t *e) {
  xf_value_t *p = xf_error_payload(e);
  return p && xf_value_kind(p) == XF_KIND_LIST &&
                 strcmp(xf_error_type(e), XF__GROUP_TYPE) == 0
             ? p
             : NULL;
}

int xf_error_group_len(const xf_error_t *e) {
  xf_value_t *list = xf__group_list(e);
  size_t n;
  if (!list || xf_value_list_len(list, &n) != XF_OK || n > INT32_MAX)
    return XF_EINVAL;
  return (int) n;
}

int xf_error_group_get(const xf_error_t *e, size_t i, xf_error_t **borrowed) {
  if (!borrowed)
    return XF_EINVAL;
  *borrowed = NULL;
  xf_value_t *list = xf__group_list(e), *item;
  size_t n;
  if (!list || xf_value_list_len(list, &n) != XF_OK)
    return XF_EINVAL;
  if (i >= n)
    return XF_ERANGE;
  int rc = xf_value_list_get(list, i, &item);
  return rc == XF_OK ? xf_value_get_error(item, borrowed) : rc;
}

/* ---- Task groups ------------------------------------------------------------ */

struct xf_group {
  _Atomic uint32_t refs;
  _Atomic uint32_t inner;
  xf__lock_t lock;
  xf_cancel_source_t *source;
  xf_future_t *join; /* a reference */
  /* Under lock. */
  xf_error_t **errors; /* per child, NULL unless it failed; owned */
  size_t n, cap;
  size_t pending;
  bool failed;
  bool joined;
  bool over; /* the join future is being or has been finished */
};

typedef struct xf__child {
  xf_group_t *g; /* counted in inner */
  size_t index;
} xf__child_t;

static void xf__group_inner_unref(void *p) {
  xf_group_t *g = p;
  if (atomic_fetch_sub_explicit(&g->inner, 1, memory_order_acq_rel) != 1)
    return;
  for (size_t i = 0; i < g->n; i++)
    xf_error_unref(g->errors[i]);
  xf__free(g->errors);
  xf_cancel_source_unref(g->source);
  xf_future_unref(g->join);
  xf__free(g);
}

static xf_cancel_token_t *xf__group_tok(const xf_group_t *g) {
  return xf_cancel_source_token(g->source);
}

xf_cancel_token_t *xf_group_token(const xf_group_t *g) {
  return g ? xf__group_tok(g) : NULL;
}

/* Whether the join future is due: call with the lock held; marks it over. */
static bool xf__group_due_locked(xf_group_t *g) {
  if (g->over || !g->joined || g->pending)
    return false;
  g->over = true;
  return true;
}

/* Finish the join future (the group is over: nothing touches the slots any
 * more). */
static void xf__group_finish(xf_group_t *g) {
  if (g->failed) {
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++)
      if (g->errors[i])
        g->errors[k++] = g->errors[i];
    for (size_t i = k; i < g->n; i++)
      g->errors[i] = NULL;
    g->n = k;
    xf_error_t *eg;
    if (xf_error_group_new(NULL, g->errors, k, &eg) != XF_OK)
      eg = xf__error_oom();
    xf_future_set_error(g->join, eg);
    return;
  }
  xf_error_t *reason = NULL;
  xf_cancel_token_reason(xf__group_tok(g), &reason);
  if (!reason) {
    xf_future_set_result(g->join, NULL);
    return;
  }
  if (xf_future_cancel_msg(g->join, xf_error_message(reason)) == XF_ENOMEM)
    xf_future_cancel(g->join);
  xf_error_unref(reason);
}

static void xf__group_cancel_failed(xf_group_t *g) {
  xf_error_t *reason;
  if (xf_error_new(XF_ECANCELLED, NULL, "another task of the group failed", &reason) !=
      XF_OK)
    reason = xf__error_oom();
  xf__token_cancel(xf__group_tok(g), reason);
}

/* Count a child done with err (taken over; NULL: it did not fail). */
static void xf__group_child_over(xf_group_t *g, size_t index, xf_error_t *err) {
  xf__lock(&g->lock);
  bool first = err && !g->failed;
  if (err) {
    g->errors[index] = err;
    g->failed = true;
  }
  g->pending--;
  bool due = xf__group_due_locked(g);
  xf__unlock(&g->lock);
  if (first)
    xf__group_cancel_failed(g);
  if (due)
    xf__group_finish(g);
}

static void xf__child_done(xf_future_t *f, void *data) {
  xf__child_t *c = data;
  xf_error_t *err = NULL;
  /* A cancellation, also one a task acknowledged with a CancelledError, is
   * not a failure: asyncio's TaskGroup does not collect it either. */
  if (xf_future_state(f) == XF_FINISHED && xf_future_outcome(f, NULL, &err) >= 0 && err &&
      xf_error_code(err) == XF_ECANCELLED) {
    xf_error_unref(err);
    err = NULL;
  }
  xf__group_child_over(c->g, c->index, err);
}

static void xf__child_free(void *data) {
  xf__child_t *c = data;
  xf__group_inner_unref(c->g);
  xf__free(c);
}

/* Reserve a slot for a new child. XF_ESTATE once over, XF_ECANCELLED once
 * cancelled. */
static int xf__group_reserve(xf_group_t *g, size_t *index) {
  xf__lock(&g->lock);
  int rc = XF_OK;
  if (g->over) {
    rc = XF_ESTATE;
  } else if (xf_cancel_token_cancelled(xf__group_tok(g))) {
    rc = XF_ECANCELLED;
  } else if (g->n == g->cap) {
    size_t cap = g->cap ? 2 * g->cap : 4;
    xf_error_t **errors = xf__realloc(g->errors, cap * sizeof *errors);
    if (!errors) {
      rc = XF_ENOMEM;
    } else {
      g->errors = errors;
      g->cap = cap;
    }
  }
  if (rc == XF_OK) {
    *index = g->n;
    g->errors[g->n++] = NULL;
    g->pending++;
  }
  xf__unlock(&g->lock);
  return rc;
}

/* Give back a slot whose child never came to be. */
static void xf__group_unreserve(xf_group_t *g, size_t index) {
  xf__group_child_over(g, index, NULL);
}

/* Watch a child's future in its reserved slot. The child exists: if it
 * cannot be watched it is cancelled, and the slot counts a failure. */
static void xf__group_watch(xf_group_t *g, size_t index, xf_future_t *f) {
  xf__child_t *c = xf__malloc(sizeof *c);
  int rc = XF_ENOMEM;
  if (c) {
    c->g = g;
    c->index = index;
    atomic_fetch_add_explicit(&g->inner, 1, memory_order_relaxed);
    if ((rc = xf__future_add_inline(f, xf__child_done, c, xf__child_free)) != XF_OK) {
      atomic_fetch_sub_explicit(&g->inner, 1, memory_order_relaxed);
      xf__free(c);
    }
  }
  if (rc != XF_OK) {
    xf_future_cancel(f);
    xf__group_child_over(g, index, xf__error_oom());
  }
}

static void xf__group_join_done(xf_future_t *join, void *data) {
  if (xf_future_cancelled(join))
    xf_cancel_source_cancel(((xf_group_t *) data)->source, NULL);
}

int xf_group_new(xf_loop_t *loop, xf_cancel_token_t *parent, xf_group_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (loop && xf_loop_is_closed(loop))
    return XF_ECLOSED;
  if (loop && !parent) {
    xf_scope_t *s = xf__scope_current_for(loop);
    parent = s ? xf_scope_token(s) : NULL;
  }
  xf_group_t *g = xf__calloc(1, sizeof *g);
  if (!g)
    return XF_ENOMEM;
  atomic_init(&g->refs, 1);
  atomic_init(&g->inner, 1);
  xf__lock_init(&g->lock);
  int rc = xf_cancel_source_new_linked(&parent, parent ? 1 : 0, &g->source);
  if (rc == XF_OK)
    rc = xf__future_new(loop, &g->join);
  if (rc == XF_OK) {
    atomic_fetch_add_explicit(&g->inner, 1, memory_order_relaxed);
    if ((rc = xf__future_add_inline(g->join, xf__group_join_done, g,
                                    xf__group_inner_unref)) != XF_OK)
      atomic_fetch_sub_explicit(&g->inner, 1, memory_order_relaxed);
  }
  if (rc != XF_OK) {
    xf__group_inner_unref(g);
    return rc;
  }
  *out = g;
  return XF_OK;
}

xf_group_t *xf_group_ref(xf_group_t *g) {
  if (g)
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
  return g;
}

void xf_group_unref(xf_group_t *g) {
  if (!g || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
    return;
  xf__lock(&g->lock);
  bool unjoined = !g->joined;
  g->joined = true;
  bool running = g->pending > 0;
  bool due = xf__group_due_locked(g);
  xf__unlock(&g->lock);
  if (unjoined && running) {
    xf_error_t *reason;
    if (xf_error_new(XF_ECANCELLED, NULL, "the group was dropped before it was joined",
                     &reason) != XF_OK)
      reason = xf__error_oom();
    xf__token_cancel(xf__group_tok(g), reason);
  }
  if (due)
    xf__group_finish(g);
  xf__group_inner_unref(g);
}

int xf_group_cancel(xf_group_t *g, xf_error_t *reason) {
  if (!g) {
    xf_error_unref(reason);
    return XF_EINVAL;
  }
  return xf_cancel_source_cancel(g->source, reason);
}

int xf_group_join(xf_group_t *g, xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!g)
    return XF_EINVAL;
  *out = xf_future_ref(g->join);
  xf__lock(&g->lock);
  g->joined = true;
  bool due = xf__group_due_locked(g);
  xf__unlock(&g->lock);
  if (due)
    xf__group_finish(g);
  return XF_OK;
}

int xf_group_add(xf_group_t *g, xf_future_t *f) {
  if (!g || !f)
    return XF_EINVAL;
  size_t index;
  int rc = xf__group_reserve(g, &index);
  if (rc != XF_OK)
    return rc;
  if ((rc = xf_cancel_token_bind(xf__group_tok(g), f)) != XF_OK) {
    xf__group_unreserve(g, index);
    return rc;
  }
  xf__group_watch(g, index, f);
  return XF_OK;
}

int xf_group_submit(xf_group_t *g, xf_executor_t *ex, xf_task_fn fn, void *data,
                    xf_free_data_fn free_data, xf_future_t **out) {
  if (out)
    *out = NULL;
  if (!g || !ex || !fn)
    return XF_EINVAL;
  size_t index;
  int rc = xf__group_reserve(g, &index);
  if (rc != XF_OK)
    return rc;
  xf_future_t *f;
  if ((rc = xf_executor_submit_token(ex, xf__group_tok(g), fn, data, free_data, &f)) !=
      XF_OK) {
    xf__group_unreserve(g, index);
    return rc;
  }
  xf__group_watch(g, index, f);
  if (out)
    *out = f;
  else
    xf_future_unref(f);
  return XF_OK;
}

/* A loop task of the group: each step runs with the group's token current. */
typedef struct xf__group_task {
  xf_cancel_token_t *token; /* a reference */
  xf_step_fn step;
  void *data;
  xf_free_data_fn free_data;
} xf__group_task_t;

static int xf__group_step(xf_future_t *task, void *data, xf_future_t *awaited,
                          int status) {
  xf__group_task_t *gt = data;
  xf_cancel_token_t *saved = xf__token_swap_current(gt->token);
  int rc = gt->step(task, gt->data, awaited, status);
  xf__token_swap_current(saved);
  return rc;
}

static void xf__group_task_free(void *data) {
  xf__group_task_t *gt = data;
  if (gt->free_data)
    gt->free_data(gt->data);
  xf_cancel_token_unref(gt->token);
  xf__free(gt);
}

int xf_group_spawn(xf_group_t *g, xf_loop_t *loop, xf_step_fn step, void *data,
                   xf_free_data_fn free_data, xf_future_t **out) {
  if (out)
    *out = NULL;
  if (!g || !loop || !step)
    return XF_EINVAL;
  size_t index;
  int rc = xf__group_reserve(g, &index);
  if (rc != XF_OK)
    return rc;
  xf__group_task_t *gt = xf__malloc(sizeof *gt);
  if (!gt) {
    xf__group_unreserve(g, index);
    return XF_ENOMEM;
  }
  gt->token = xf_cancel_token_ref(xf__group_tok(g));
  gt->step = step;
  gt->data = data;
  gt->free_data = free_data;
  xf_future_t *task;
  if ((rc = xf_task_new(loop, xf__group_step, gt, xf__group_task_free, &task)) != XF_OK) {
    xf_cancel_token_unref(gt->token);
    xf__free(gt);
    xf__group_unreserve(g, index);
    return rc;
  }
  /* The task exists: from here a failure surfaces in it. */
  if (xf_cancel_token_bind(xf__group_tok(g), task) != XF_OK)
    xf_future_cancel(task);
  xf__group_watch(g, index, task);
  if (out)
    *out = task;
  else
    xf_future_unref(task);
  return XF_OK;
}

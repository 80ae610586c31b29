/* Combinators: wait, as_completed, all, any, first, then, chain, shield.
 *
 * Design notes
 * ------------
 * Every combinator watches its inputs through inline done callbacks
 * (xf__future_add_inline), whatever loop an input belongs to: they only
 * move outcomes and wake waiters, so they are safe to run in any thread and
 * must not wait for a loop turn.
 *
 * A callback's data is shared state with a reference count; each
 * registration holds one reference, released by its free function, so the
 * state outlives every callback that may still run, also after the caller
 * gave up waiting and removed its registrations.
 *
 * Blocking waits (xf_wait, as_completed) use a "multi" waiter: callbacks
 * push the index of the finished input onto a queue under a lock and bump an
 * event count that the waiter sleeps on, with the waiters bit discipline of
 * a single future (a wake system call only when someone sleeps).
 */
#include <stdio.h>
#include <stdlib.h>

#include "executor_internal.h"

/* ---- The multi waiter ------------------------------------------------- */

typedef struct xf__multi xf__multi_t;

typedef struct xf__multi_entry {
  xf__multi_t *m;
  size_t index;
} xf__multi_entry_t;

struct xf__multi {
  _Atomic uint32_t refs;
  _Atomic uint32_t seq;
  _Atomic uint32_t sleeping;
  xf__lock_t lock;
  size_t n;
  size_t qhead, qlen; /* ring of finished indices, in completion order */
  size_t *queue;
  xf__multi_entry_t *entries;
};

static void xf__multi_unref(xf__multi_t *m) {
  if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
    return;
  xf__free(m->queue);
  xf__free(m->entries);
  xf__free(m);
}

static void xf__multi_entry_release(void *data) {
  xf__multi_unref(((xf__multi_entry_t *) data)->m);
}

static void xf__multi_on_done(xf_future_t *f, void *data) {
  (void) f;
  xf__multi_entry_t *e = data;
  xf__multi_t *m = e->m;
  xf__lock(&m->lock);
  m->queue[(m->qhead + m->qlen++) % m->n] = e->index;
  xf__unlock(&m->lock);
  atomic_fetch_add_explicit(&m->seq, 1, memory_order_seq_cst);
  if (atomic_load_explicit(&m->sleeping, memory_order_seq_cst))
    xf__futex_wake(&m->seq, INT32_MAX);
}

static int xf__multi_new(size_t n, xf__multi_t **out) {
  xf__multi_t *m = xf__calloc(1, sizeof *m);
  if (!m)
    return XF_ENOMEM;
  m->queue = xf__calloc(n ? n : 1, sizeof *m->queue);
  m->entries = xf__calloc(n ? n : 1, sizeof *m->entries);
  if (!m->queue || !m->entries) {
    xf__free(m->queue);
    xf__free(m->entries);
    xf__free(m);
    return XF_ENOMEM;
  }
  atomic_init(&m->refs, 1);
  xf__lock_init(&m->lock);
  m->n = n;
  for (size_t i = 0; i < n; i++) {
    m->entries[i].m = m;
    m->entries[i].index = i;
  }
  *out = m;
  return XF_OK;
}

/* Register on fs[i] for every i with watch[i]; on failure undo and return
 * the code. */
static int xf__multi_watch(xf__multi_t *m, xf_future_t *const *fs,
                           const unsigned char *watch) {
  for (size_t i = 0; i < m->n; i++) {
    if (!watch[i])
      continue;
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    int rc = xf__future_add_inline(fs[i], xf__multi_on_done, &m->entries[i],
                                   xf__multi_entry_release);
    if (rc != XF_OK) {
      atomic_fetch_sub_explicit(&m->refs, 1, memory_order_relaxed);
      for (size_t j = 0; j < i; j++)
        if (watch[j])
          xf_future_remove_done_callback(fs[j], xf__multi_on_done, &m->entries[j]);
      return rc;
    }
  }
  return XF_OK;
}

static void xf__multi_unwatch(xf__multi_t *m, xf_future_t *const *fs,
                              const unsigned char *watch) {
  for (size_t i = 0; i < m->n; i++)
    if (watch[i])
      xf_future_remove_done_callback(fs[i], xf__multi_on_done, &m->entries[i]);
}

/* Sleep until the event count moves past seq or the deadline passes. */
static void xf__multi_sleep(xf__multi_t *m, uint32_t seq, int64_t deadline) {
  atomic_store_explicit(&m->sleeping, 1, memory_order_seq_cst);
  if (atomic_load_explicit(&m->seq, memory_order_seq_cst) == seq)
    xf__futex_wait(&m->seq, seq, deadline);
  atomic_store_explicit(&m->sleeping, 0, memory_order_relaxed);
}

/* ---- wait ------------------------------------------------------------- */

static bool xf__failed(xf_future_t *f) {
  return xf_future_state(f) == XF_FINISHED && f->error;
}

static bool xf__wait_holds(xf_future_t *const *fs, size_t n, int return_when) {
  size_t done = 0;
  for (size_t i = 0; i < n; i++) {
    if (!xf_future_done(fs[i]))
      continue;
    done++;
    if (return_when == XF_FIRST_COMPLETED)
      return true;
    if (return_when == XF_FIRST_EXCEPTION && xf__failed(fs[i]))
      return true;
  }
  return done == n;
}

int xf_wait(xf_future_t *const *fs, size_t n, int return_when, int64_t timeout_ns,
            unsigned char *done_flags) {
  if ((n && !fs) || return_when < XF_ALL_COMPLETED || return_when > XF_FIRST_EXCEPTION)
    return XF_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!fs[i])
      return XF_EINVAL;
  int rc = XF_OK;
  if (!xf__wait_holds(fs, n, return_when)) {
    int64_t deadline = xf__deadline(timeout_ns);
    xf__multi_t *m = NULL;
    unsigned char *watch = NULL;
    rc = timeout_ns == 0 ? XF_ETIMEDOUT : xf__multi_new(n, &m);
    if (rc == XF_OK && !(watch = xf__calloc(n, 1)))
      rc = XF_ENOMEM;
    if (rc == XF_OK) {
      for (size_t i = 0; i < n; i++)
        watch[i] = !xf_future_done(fs[i]);
      rc = xf__multi_watch(m, fs, watch);
    }
    if (rc == XF_OK) {
      for (;;) {
        uint32_t seq = atomic_load_explicit(&m->seq, memory_order_seq_cst);
        if (xf__wait_holds(fs, n, return_when))
          break;
        if (deadline >= 0 && xf_now() >= deadline) {
          rc = XF_ETIMEDOUT;
          break;
        }
        xf__multi_sleep(m, seq, deadline);
      }
      xf__multi_unwatch(m, fs, watch);
    }
    xf__free(watch);
    if (m)
      xf__multi_unref(m);
    if (rc == XF_ENOMEM)
      return rc;
  }
  if (done_flags)
    for (size_t i = 0; i < n; i++)
      done_flags[i] = xf_future_done(fs[i]);
  return rc;
}

/* ---- as_completed ----------------------------------------------------- */

struct xf_as_completed {
  xf__multi_t *m;
  xf_future_t **fs; /* unique inputs, with references */
  unsigned char *watch;
  size_t n, yielded, ready; /* ready: already-done inputs yielded first */
  int64_t deadline;
};

typedef struct xf__pair {
  xf_future_t *f;
  size_t pos;
} xf__pair_t;

static int xf__pair_cmp(const void *a, const void *b) {
  const xf__pair_t *x = a, *y = b;
  if (x->f != y->f)
    return (uintptr_t) x->f < (uintptr_t) y->f ? -1 : 1;
  return x->pos < y->pos ? -1 : x->pos > y->pos;
}

void xf_as_completed_free(xf_as_completed_t *it) {
  if (!it)
    return;
  if (it->m) {
    xf__multi_unwatch(it->m, it->fs, it->watch);
    xf__multi_unref(it->m);
  }
  for (size_t i = 0; i < it->n; i++)
    xf_future_unref(it->fs[i]);
  xf__free(it->fs);
  xf__free(it->watch);
  xf__free(it);
}

int xf_as_completed_new(xf_future_t *const *fs, size_t n, int64_t timeout_ns,
                        xf_as_completed_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (n && !fs)
    return XF_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!fs[i])
      return XF_EINVAL;
  xf_as_completed_t *it = xf__calloc(1, sizeof *it);
  xf__pair_t *sorted = xf__calloc(n ? n : 1, sizeof *sorted);
  if (it) {
    it->fs = xf__calloc(n ? n : 1, sizeof *it->fs);
    it->watch = xf__calloc(n ? n : 1, 1);
  }
  if (!it || !sorted || !it->fs || !it->watch) {
    xf__free(sorted);
    xf_as_completed_free(it);
    return XF_ENOMEM;
  }
  it->deadline = xf__deadline(timeout_ns);
  /* Drop duplicates: sort (pointer, position) pairs, keep each pointer at
   * its first position, then collect in the caller's order. */
  for (size_t i = 0; i < n; i++) {
    sorted[i].f = fs[i];
    sorted[i].pos = i;
  }
  qsort(sorted, n, sizeof *sorted, xf__pair_cmp);
  for (size_t i = 0; i < n; i++)
    it->watch[sorted[i].pos] = i == 0 || sorted[i - 1].f != sorted[i].f;
  size_t unique = 0;
  for (size_t i = 0; i < n; i++)
    if (it->watch[i])
      it->fs[unique++] = xf_future_ref(fs[i]);
  xf__free(sorted);
  it->n = unique;
  /* Already-done inputs come first, in the caller's order; the others are
   * watched and yielded in the order they finish. The done state is read
   * once per input so the partition is consistent. */
  size_t front = 0;
  for (size_t i = 0; i < unique; i++)
    it->watch[i] = !xf_future_done(it->fs[i]);
  for (size_t i = 0; i < unique; i++) {
    if (!it->watch[i]) {
      xf_future_t *t = it->fs[i];
      memmove(&it->fs[front + 1], &it->fs[front], (i - front) * sizeof *it->fs);
      memmove(&it->watch[front + 1], &it->watch[front], i - front);
      it->fs[front] = t;
      it->watch[front++] = 0;
    }
  }
  it->ready = front;
  int rc = xf__multi_new(unique, &it->m);
  if (rc == XF_OK && (rc = xf__multi_watch(it->m, it->fs, it->watch)) != XF_OK)
    memset(it->watch, 0, unique);
  if (rc != XF_OK) {
    xf_as_completed_free(it);
    return rc;
  }
  *out = it;
  return XF_OK;
}

int xf_as_completed_next(xf_as_completed_t *it, xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!it)
    return XF_EINVAL;
  if (it->yielded < it->ready) {
    *out = xf_future_ref(it->fs[it->yielded++]);
    return XF_OK;
  }
  if (it->yielded == it->n)
    return XF_OK;
  xf__multi_t *m = it->m;
  for (;;) {
    uint32_t seq = atomic_load_explicit(&m->seq, memory_order_seq_cst);
    xf__lock(&m->lock);
    if (m->qlen) {
      size_t index = m->queue[m->qhead];
      m->qhead = (m->qhead + 1) % m->n;
      m->qlen--;
      xf__unlock(&m->lock);
      it->watch[index] = 0;
      it->yielded++;
      *out = xf_future_ref(it->fs[index]);
      return XF_OK;
    }
    xf__unlock(&m->lock);
    if (it->deadline == 0 || (it->deadline > 0 && xf_now() >= it->deadline))
      return XF_ETIMEDOUT;
    xf__multi_sleep(m, seq, it->deadline);
  }
}

/* ---- all, any, first -------------------------------------------------- */

enum { XF__GATHER_ALL, XF__GATHER_ANY, XF__GATHER_FIRST };

typedef struct xf__gather xf__gather_t;

typedef struct xf__gather_entry {
  xf__gather_t *g;
  size_t index;
} xf__gather_entry_t;

struct xf__gather {
  _Atomic uint32_t refs;
  xf__lock_t lock;
  int mode;
  unsigned flags;
  bool cancel_rest;
  bool decided; /* an input decided out (a winner, or all's first failure); under lock */
  size_t n, remaining;
  xf_future_t *out;
  xf_future_t **inputs; /* references, dropped once out is done */
  xf_value_t **values;  /* ALL: results in order */
  xf_error_t *first_error;
  xf__gather_entry_t *entries;
};

static void xf__gather_unref(xf__gather_t *g) {
  if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
    return;
  for (size_t i = 0; i < g->n; i++) {
    if (g->values)
      xf_value_unref(g->values[i]);
    if (g->inputs)
      xf_future_unref(g->inputs[i]);
  }
  xf_error_unref(g->first_error);
  xf_future_unref(g->out);
  xf__free(g->inputs);
  xf__free(g->values);
  xf__free(g->entries);
  xf__free(g);
}

static void xf__gather_entry_release(void *data) {
  xf__gather_unref(((xf__gather_entry_t *) data)->g);
}

static void xf__gather_release(void *data) {
  xf__gather_unref(data);
}

/* Cancel every input but skip, once (the inputs are detached first so that
 * this happens only once and the references drop). */
static void xf__gather_cancel_inputs(xf__gather_t *g, xf_future_t *skip) {
  xf__lock(&g->lock);
  xf_future_t **inputs = g->inputs;
  g->inputs = NULL;
  xf__unlock(&g->lock);
  if (!inputs)
    return;
  for (size_t i = 0; i < g->n; i++) {
    if (inputs[i] != skip)
      xf_future_cancel(inputs[i]);
    xf_future_unref(inputs[i]);
  }
  xf__free(inputs);
}

/* An error value for a failed or cancelled input (collect mode). */
static int xf__outcome_error(xf_future_t *f, xf_error_t **out) {
  return xf_future_error(f, 0, out);
}

static void xf__gather_finish_all(xf__gather_t *g) {
  xf_value_t *list = NULL;
  int rc = xf_value_new_list(g->values, g->n, &list);
  if (rc == XF_OK)
    xf_future_set_result(g->out, list);
  else
    xf__future_fail_code(g->out, rc);
}

static void xf__gather_on_input(xf_future_t *f, void *data) {
  xf__gather_entry_t *e = data;
  xf__gather_t *g = e->g;
  bool ok = xf_future_state(f) == XF_FINISHED && !f->error;
  if (g->mode == XF__GATHER_FIRST || (g->mode == XF__GATHER_ANY && ok)) {
    /* One winner. It claims the result before cancelling the others (whose
     * callbacks then find it decided) and before finishing the result
     * (whose own callback lets go of the inputs). */
    xf__lock(&g->lock);
    bool won = !g->decided;
    g->decided = true;
    xf__unlock(&g->lock);
    if (!won)
      return;
    if (g->cancel_rest)
      xf__gather_cancel_inputs(g, f);
    xf__future_copy_outcome(f, g->out);
    return;
  }
  if (g->mode == XF__GATHER_ALL && !ok && !(g->flags & XF_ALL_COLLECT)) {
    /* Fail fast. Claimed like a winner, so that a cancelled input cancels
     * the result without its callback taking that for the owner's request
     * to cancel the other inputs. */
    xf__lock(&g->lock);
    bool first = !g->decided;
    g->decided = true;
    xf__unlock(&g->lock);
    if (first)
      xf__future_copy_outcome(f, g->out);
    return;
  }
  xf_value_t *v = NULL;
  xf_error_t *err = NULL;
  if (g->mode == XF__GATHER_ALL) {
    if (ok) {
      v = xf_value_ref(f->value);
    } else if (xf__outcome_error(f, &err) == XF_OK) {
      if (xf_value_new_error(err, &v) != XF_OK)
        v = NULL;
      xf_error_unref(err);
      err = NULL;
    }
    if (!v) {
      xf__future_fail_code(g->out, XF_ENOMEM);
      return;
    }
  } else if (xf__outcome_error(f, &err) != XF_OK) {
    err = NULL;
  }
  xf__lock(&g->lock);
  if (v)
    g->values[e->index] = v;
  if (err && !g->first_error) {
    g->first_error = err;
    err = NULL;
  }
  bool last = --g->remaining == 0;
  xf__unlock(&g->lock);
  xf_error_unref(err);
  if (!last)
    return;
  if (g->mode == XF__GATHER_ALL) {
    xf__gather_finish_all(g);
  } else if (!xf_future_done(g->out)) {
    char msg[96];
    snprintf(msg, sizeof msg, "all %zu futures failed", g->n);
    xf_error_t *agg;
    int rc = xf_error_new_full(XF_EFAILED, "AggregateError", msg, NULL, NULL, &agg);
    if (rc == XF_OK && g->first_error) {
      xf_error_unref(agg);
      xf_value_t *payload = NULL;
      rc = xf_value_new_error(g->first_error, &payload);
      if (rc == XF_OK)
        rc = xf_error_new_full(XF_EFAILED, "AggregateError", msg, NULL, payload, &agg);
      xf_value_unref(payload);
    }
    if (rc == XF_OK)
      xf_future_set_error(g->out, agg);
    else
      xf__future_fail_code(g->out, rc);
  }
}

/* When the combined future is done: cancelled by its owner (not by an input
 * that decided it, whose cancellation was copied), it cancels the inputs
 * still pending; in any case it lets go of them. */
static void xf__gather_on_out(xf_future_t *f, void *data) {
  xf__gather_t *g = data;
  xf__lock(&g->lock);
  bool by_owner = xf_future_cancelled(f) && !g->decided;
  xf__unlock(&g->lock);
  if (by_owner) {
    xf__gather_cancel_inputs(g, NULL);
    return;
  }
  xf__lock(&g->lock);
  xf_future_t **inputs = g->inputs;
  g->inputs = NULL;
  xf__unlock(&g->lock);
  if (inputs) {
    for (size_t i = 0; i < g->n; i++)
      xf_future_unref(inputs[i]);
    xf__free(inputs);
  }
}

static int xf__gather(xf_future_t *const *fs, size_t n, int mode, unsigned flags,
                      bool cancel_rest, xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if ((n && !fs) || (mode == XF__GATHER_FIRST && n == 0))
    return XF_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!fs[i])
      return XF_EINVAL;
  xf__gather_t *g = xf__calloc(1, sizeof *g);
  if (!g)
    return XF_ENOMEM;
  atomic_init(&g->refs, 1);
  xf__lock_init(&g->lock);
  g->mode = mode;
  g->flags = flags;
  g->cancel_rest = cancel_rest;
  g->n = g->remaining = n;
  g->inputs = xf__calloc(n ? n : 1, sizeof *g->inputs);
  g->entries = xf__calloc(n ? n : 1, sizeof *g->entries);
  if (mode == XF__GATHER_ALL)
    g->values = xf__calloc(n ? n : 1, sizeof *g->values);
  int rc = XF_ENOMEM;
  if (g->inputs && g->entries && (mode != XF__GATHER_ALL || g->values))
    rc = xf__future_new(n ? xf_future_loop(fs[0]) : NULL, &g->out);
  if (rc != XF_OK) {
    xf__gather_unref(g);
    return rc;
  }
  for (size_t i = 0; i < n; i++) {
    g->inputs[i] = xf_future_ref(fs[i]);
    g->entries[i].g = g;
    g->entries[i].index = i;
  }
  xf_future_t *result = xf_future_ref(g->out);
  atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
  rc = xf__future_add_inline(result, xf__gather_on_out, g, xf__gather_release);
  if (rc != XF_OK) {
    atomic_fetch_sub_explicit(&g->refs, 1, memory_order_relaxed);
    xf_future_unref(result);
    xf__gather_unref(g);
    return rc;
  }
  /* From here on the result exists; a failure to watch an input fails it
   * instead of unwinding registrations that may already have fired. */
  for (size_t i = 0; i < n && !xf_future_done(result); i++) {
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    rc = xf__future_add_inline(fs[i], xf__gather_on_input, &g->entries[i],
                               xf__gather_entry_release);
    if (rc != XF_OK) {
      atomic_fetch_sub_explicit(&g->refs, 1, memory_order_relaxed);
      xf__future_fail_code(result, rc);
      for (size_t j = 0; j < i; j++)
        xf_future_remove_done_callback(fs[j], xf__gather_on_input, &g->entries[j]);
    }
  }
  if (n == 0) {
    if (mode == XF__GATHER_ALL)
      xf__gather_finish_all(g);
    else
      xf_future_fail(result, XF_EFAILED, "AggregateError", "no futures given");
  }
  xf__gather_unref(g);
  *out = result;
  return XF_OK;
}

int xf_future_all(xf_future_t *const *fs, size_t n, unsigned flags, xf_future_t **out) {
  if (flags & ~XF_ALL_COLLECT) {
    if (out)
      *out = NULL;
    return XF_EINVAL;
  }
  return xf__gather(fs, n, XF__GATHER_ALL, flags, false, out);
}

int xf_future_any(xf_future_t *const *fs, size_t n, bool cancel_rest, xf_future_t **out) {
  return xf__gather(fs, n, XF__GATHER_ANY, 0, cancel_rest, out);
}

int xf_future_first(xf_future_t *const *fs, size_t n, bool cancel_rest,
                    xf_future_t **out) {
  return xf__gather(fs, n, XF__GATHER_FIRST, 0, cancel_rest, out);
}

/* ---- then ------------------------------------------------------------- */

/* Shared by the registration on the antecedent and, on an executor, the
 * submitted task; each holds a reference. */
typedef struct xf__then {
  _Atomic uint32_t refs;
  xf_then_fn fn;
  void *data;
  xf_free_data_fn free_data;
  xf_executor_t *executor;
  xf_future_t *antecedent; /* set when it is done */
  xf_future_t *result;
} xf__then_t;

static void xf__then_unref(void *p) {
  xf__then_t *t = p;
  if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
    return;
  if (t->free_data)
    t->free_data(t->data);
  xf_executor_unref(t->executor);
  xf_future_unref(t->antecedent);
  xf_future_unref(t->result);
  xf__free(t);
}

/* Run the continuation in this thread. */
static void xf__then_run(xf__then_t *t) {
  if (xf_future_set_running_or_notify_cancel(t->result) != XF_OK)
    return; /* cancelled before it ran */
  int rc = t->fn(t->data, t->antecedent, t->result);
  xf__future_finish_after(t->result, rc);
}

static int xf__then_task(void *data, xf_future_t *self) {
  (void) self;
  xf__then_run(data);
  return XF_OK;
}

static void xf__then_on_done(xf_future_t *f, void *data) {
  xf__then_t *t = data;
  t->antecedent = xf_future_ref(f);
  if (!t->executor) {
    xf__then_run(t);
    return;
  }
  xf_future_t *task;
  atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
  int rc = xf_executor_submit(t->executor, xf__then_task, t, xf__then_unref, &task);
  if (rc != XF_OK) {
    xf__future_fail_code(t->result, rc);
    xf__then_unref(t);
    return;
  }
  xf_future_unref(task);
}

int xf_future_then(xf_future_t *f, xf_executor_t *executor, xf_then_fn fn, void *data,
                   xf_free_data_fn free_data, xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!f || !fn)
    return XF_EINVAL;
  xf__then_t *t = xf__calloc(1, sizeof *t);
  if (!t)
    return XF_ENOMEM;
  int rc = xf__future_new(xf_future_loop(f), &t->result);
  if (rc != XF_OK) {
    xf__free(t);
    return rc;
  }
  atomic_init(&t->refs, 1);
  t->fn = fn;
  t->data = data;
  t->free_data = free_data;
  t->executor = xf_executor_ref(executor);
  xf_future_t *result = xf_future_ref(t->result);
  /* The registration owns t (it may run at once, if f is done). Its release
   * drops that reference, also when f is freed while pending and fn will
   * never run. */
  rc = xf__future_add_inline(f, xf__then_on_done, t, xf__then_unref);
  if (rc != XF_OK) {
    t->free_data = NULL; /* the caller keeps its data */
    xf__then_unref(t);
    xf_future_unref(result);
    return rc;
  }
  *out = result;
  return XF_OK;
}

/* ---- chain and shield ------------------------------------------------- */

typedef struct xf__link {
  xf_future_t *other;
} xf__link_t;

static void xf__link_free(void *p) {
  xf__link_t *l = p;
  xf_future_unref(l->other);
  xf__free(l);
}

static int xf__link_new(xf_future_t *other, xf__link_t **out) {
  xf__link_t *l = xf__malloc(sizeof *l);
  if (!l)
    return XF_ENOMEM;
  l->other = xf_future_ref(other);
  *out = l;
  return XF_OK;
}

/* On the source: copy its outcome into the destination if still open. */
static void xf__chain_on_src(xf_future_t *src, void *data) {
  xf__link_t *l = data;
  if (!xf_future_done(l->other))
    xf__future_copy_outcome(src, l->other);
}

/* On the destination: a cancelled destination cancels its source. */
static void xf__chain_on_dst(xf_future_t *dst, void *data) {
  xf__link_t *l = data;
  if (xf_future_cancelled(dst))
    xf_future_cancel(l->other);
}

int xf_future_chain(xf_future_t *src, xf_future_t *dst) {
  if (!src || !dst || src == dst)
    return XF_EINVAL;
  xf__link_t *to_dst, *to_src;
  int rc = xf__link_new(dst, &to_dst);
  if (rc != XF_OK)
    return rc;
  if ((rc = xf__link_new(src, &to_src)) != XF_OK) {
    xf__link_free(to_dst);
    return rc;
  }
  if ((rc = xf__future_add_inline(dst, xf__chain_on_dst, to_src, xf__link_free)) !=
      XF_OK) {
    xf__link_free(to_src);
    xf__link_free(to_dst);
    return rc;
  }
  if ((rc = xf__future_add_inline(src, xf__chain_on_src, to_dst, xf__link_free)) !=
      XF_OK) {
    /* Undo the watch on the destination (its release frees to_src), so that
     * a failed chain leaves both futures as they were. */
    xf__link_free(to_dst);
    xf_future_remove_done_callback(dst, xf__chain_on_dst, to_src);
    return rc;
  }
  xf__future_bind(dst);
  return XF_OK;
}

int xf_future_shield(xf_future_t *inner, xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!inner)
    return XF_EINVAL;
  xf_future_t *outer;
  int rc = xf__future_new(xf_future_loop(inner), &outer);
  if (rc != XF_OK)
    return rc;
  xf__link_t *l;
  if ((rc = xf__link_new(outer, &l)) != XF_OK) {
    xf_future_unref(outer);
    return rc;
  }
  if ((rc = xf__future_add_inline(inner, xf__chain_on_src, l, xf__link_free)) != XF_OK) {
    xf__link_free(l);
    xf_future_unref(outer);
    return rc;
  }
  *out = outer;
  return XF_OK;
}

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
 * a single future (a wake system call only when someone sleeps). They refuse
 * with XF_EDEADLK, as xf_future_wait does, when what they still wait for
 * can only be finished by the loop that the calling thread is running.
 *
 * References, and why there are no cycles. An input's registration holds
 * the combinator's result strongly, as a done callback holds what it will
 * finish: a result the program dropped still finishes when its inputs do,
 * and its own callbacks still run. The result reaches its inputs (to cancel
 * them) only weakly: through pointers that each input's registration
 * clears, under the combinator's lock, when it is released (the input is
 * done, or freed), and that a reader turns into a reference with
 * xf__future_tryref under that lock. Dropping every handle therefore frees
 * the inputs nobody else holds, and with their registrations the result.
 *
 * An input freed while pending can never finish, and a result that follows
 * it could hang for ever: its registration is released without having run,
 * and the release finishes the result as if that input had been cancelled
 * (with a message saying why). For then and shield that means the result
 * is cancelled; for chain, the destination.
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

/* Whether waiting for the condition would deadlock: it cannot hold until a
 * future finishes that only the calling thread's running loop can finish.
 * For ALL_COMPLETED one such future is enough; the other conditions can
 * still be met by any other pending future. */
static bool xf__wait_deadlocks(xf_future_t *const *fs, size_t n, int return_when) {
  bool stuck = false, other = false;
  for (size_t i = 0; i < n; i++) {
    if (xf_future_done(fs[i]))
      continue;
    if (xf__future_wait_deadlocks(fs[i]))
      stuck = true;
    else
      other = true;
  }
  return stuck && (return_when == XF_ALL_COMPLETED || !other);
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
    if (timeout_ns == 0)
      rc = XF_ETIMEDOUT;
    else if (xf__wait_deadlocks(fs, n, return_when))
      rc = XF_EDEADLK;
    else
      rc = xf__multi_new(n, &m);
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
        if (xf__wait_deadlocks(fs, n, return_when)) {
          rc = XF_EDEADLK;
          break;
        }
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

/* Whether every future not yielded yet can only be finished by the loop the
 * calling thread is running (the queue of finished ones being empty). */
static bool xf__as_completed_deadlocks(const xf_as_completed_t *it) {
  bool stuck = false;
  for (size_t i = 0; i < it->n; i++) {
    if (!it->watch[i])
      continue;
    if (!xf__future_wait_deadlocks(it->fs[i]))
      return false;
    stuck = true;
  }
  return stuck;
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
    if (xf__as_completed_deadlocks(it))
      return XF_EDEADLK;
    xf__multi_sleep(m, seq, it->deadline);
  }
}

/* ---- all, any, first -------------------------------------------------- */

enum { XF__GATHER_ALL, XF__GATHER_ANY, XF__GATHER_FIRST };

/* The message of the cancellation that stands for an input freed while
 * pending. */
#define XF__LOST_INPUT "an input future was freed before it finished"

typedef struct xf__gather xf__gather_t;

typedef struct xf__gather_entry {
  xf__gather_t *g;
  size_t index;
  bool ran; /* the callback ran; written before the release, in its thread */
} xf__gather_entry_t;

/* The memory is held by each registration (inputs' and the result's); the
 * result is held by the inputs' registrations together (`holders`). */
struct xf__gather {
  _Atomic uint32_t refs;
  xf__lock_t lock;
  int mode;
  unsigned flags;
  bool cancel_rest;
  bool decided; /* an input decided out (a winner, or all's first failure); under lock */
  size_t n, remaining;
  size_t holders;       /* under lock: input registrations alive, + 1 while being made */
  xf_future_t *out;     /* a reference, under lock: dropped with the last holder */
  xf_future_t **inputs; /* weak, under lock: cleared by each input's release */
  xf_value_t **values;  /* ALL: results in order */
  xf_error_t *first_error;
  xf__gather_entry_t *entries;
};

static void xf__gather_unref(xf__gather_t *g) {
  if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
    return;
  for (size_t i = 0; i < g->n; i++)
    if (g->values)
      xf_value_unref(g->values[i]);
  xf_error_unref(g->first_error);
  xf__free(g->inputs);
  xf__free(g->values);
  xf__free(g->entries);
  xf__free(g);
}

static void xf__gather_release(void *data) {
  xf__gather_unref(data);
}

/* A reference to input i, or NULL when it is gone. */
static xf_future_t *xf__gather_input_ref(xf__gather_t *g, size_t i) {
  xf__lock(&g->lock);
  xf_future_t *f = g->inputs[i] && xf__future_tryref(g->inputs[i]) ? g->inputs[i] : NULL;
  xf__unlock(&g->lock);
  return f;
}

static void xf__gather_on_input(xf_future_t *f, void *data);

/* Stop watching the inputs still there, cancelling them (all but skip) if
 * cancel is true. One at a time, so that this needs no memory. */
static void xf__gather_detach(xf__gather_t *g, bool cancel, xf_future_t *skip) {
  for (size_t i = 0; i < g->n; i++) {
    xf_future_t *f = xf__gather_input_ref(g, i);
    if (!f)
      continue;
    if (cancel && f != skip)
      xf_future_cancel(f);
    xf_future_remove_done_callback(f, xf__gather_on_input, &g->entries[i]);
    xf_future_unref(f);
  }
}

/* Cancel every input still there but skip. */
static void xf__gather_cancel_inputs(xf__gather_t *g, xf_future_t *skip) {
  for (size_t i = 0; i < g->n; i++) {
    xf_future_t *f = xf__gather_input_ref(g, i);
    if (f && f != skip)
      xf_future_cancel(f);
    xf_future_unref(f);
  }
}

static void xf__gather_finish_all(xf__gather_t *g, xf_future_t *out) {
  xf_value_t *list = NULL;
  int rc = xf_value_new_list(g->values, g->n, &list);
  if (rc == XF_OK)
    xf_future_set_result(out, list);
  else
    xf__future_fail_code(out, rc);
}

/* Every input of any failed: an AggregateError with the first error as its
 * payload. */
static void xf__gather_finish_any(xf__gather_t *g, xf_future_t *out) {
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
    xf_future_set_error(out, agg);
  else
    xf__future_fail_code(out, rc);
}

/* Claim the decision; true for the one input that gets it. */
static bool xf__gather_claim(xf__gather_t *g) {
  xf__lock(&g->lock);
  bool won = !g->decided;
  g->decided = true;
  xf__unlock(&g->lock);
  return won;
}

/* Record one input's outcome in out. f is the input, done; or NULL for an
 * input freed while pending, which counts as cancelled. */
static void xf__gather_input(xf__gather_t *g, size_t index, xf_future_t *f,
                             xf_future_t *out) {
  bool ok = f && xf_future_state(f) == XF_FINISHED && !f->error;
  if (g->mode == XF__GATHER_FIRST || (g->mode == XF__GATHER_ANY && ok) ||
      (g->mode == XF__GATHER_ALL && !ok && !(g->flags & XF_ALL_COLLECT))) {
    /* It decides: one winner, or all's first failure. It claims the result
     * before cancelling the others (whose callbacks then find it decided,
     * and whose cancellation is not taken for the owner's request) and
     * before finishing the result (whose own callback lets go of the
     * inputs). */
    if (!xf__gather_claim(g))
      return;
    if (g->mode != XF__GATHER_ALL && g->cancel_rest)
      xf__gather_cancel_inputs(g, f);
    if (f)
      xf__future_copy_outcome(f, out);
    else
      xf__future_cancel_follower(out, XF__LOST_INPUT);
    return;
  }
  /* any and all's collect mode keep the error; a cancelled input's
   * CancelledError is made here. An allocation failure fails the result
   * rather than losing the error (for any, maybe the AggregateError's
   * payload). */
  xf_value_t *v = NULL;
  xf_error_t *err = NULL;
  int rc = XF_OK;
  if (ok)
    v = xf_value_ref(f->value);
  else if (f)
    rc = xf_future_error(f, 0, &err);
  else
    rc = xf_error_new(XF_ECANCELLED, NULL, XF__LOST_INPUT, &err);
  if (rc == XF_OK && err && g->mode == XF__GATHER_ALL) {
    rc = xf_value_new_error(err, &v);
    xf_error_unref(err);
    err = NULL;
  }
  if (rc != XF_OK) {
    xf__gather_claim(g);
    xf__future_fail_code(out, rc);
    return;
  }
  xf__lock(&g->lock);
  if (v)
    g->values[index] = v;
  if (err && !g->first_error) {
    g->first_error = err;
    err = NULL;
  }
  bool last = --g->remaining == 0;
  xf__unlock(&g->lock);
  xf_error_unref(err);
  if (!last)
    return;
  if (g->mode == XF__GATHER_ALL)
    xf__gather_finish_all(g, out);
  else if (!xf_future_done(out))
    xf__gather_finish_any(g, out);
}

/* The result, borrowed: a holder's registration is alive. */
static xf_future_t *xf__gather_out(xf__gather_t *g) {
  xf__lock(&g->lock);
  xf_future_t *out = g->out;
  xf__unlock(&g->lock);
  return out;
}

static void xf__gather_on_input(xf_future_t *f, void *data) {
  xf__gather_entry_t *e = data;
  e->ran = true;
  xf__gather_input(e->g, e->index, f, xf__gather_out(e->g));
}

/* Drop one holder of the result; the last one lets go of it. */
static void xf__gather_unhold(xf__gather_t *g) {
  xf__lock(&g->lock);
  xf_future_t *out = --g->holders == 0 ? g->out : NULL;
  if (out)
    g->out = NULL;
  xf__unlock(&g->lock);
  xf_future_unref(out);
}

/* An input's registration is released: the input is done (the callback
 * ran), the result let go of it, or it was freed while pending. */
static void xf__gather_entry_release(void *data) {
  xf__gather_entry_t *e = data;
  xf__gather_t *g = e->g;
  xf__lock(&g->lock);
  g->inputs[e->index] = NULL;
  xf__unlock(&g->lock);
  xf_future_t *out = xf__gather_out(g);
  if (!e->ran && !xf_future_done(out))
    xf__gather_input(g, e->index, NULL, out);
  xf__gather_unhold(g);
  xf__gather_unref(g);
}

/* When the combined future is done: cancelled by its owner (not by an input
 * that decided it, whose cancellation was copied), it cancels the inputs
 * still pending; in any case it stops watching them, and so lets go. */
static void xf__gather_on_out(xf_future_t *f, void *data) {
  xf__gather_t *g = data;
  xf__lock(&g->lock);
  bool by_owner = xf_future_cancelled(f) && !g->decided;
  xf__unlock(&g->lock);
  xf__gather_detach(g, by_owner, NULL);
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
  xf_future_t *result = NULL;
  int rc = XF_ENOMEM;
  if (g->inputs && g->entries && (mode != XF__GATHER_ALL || g->values))
    rc = xf__future_new(n ? xf_future_loop(fs[0]) : NULL, &result);
  if (rc != XF_OK) {
    xf__gather_unref(g);
    return rc;
  }
  /* The making holds the result too, until every input is watched, so
   * that inputs done already cannot let go of it early. */
  g->out = xf_future_ref(result);
  g->holders = 1;
  for (size_t i = 0; i < n; i++) {
    g->inputs[i] = fs[i];
    g->entries[i].g = g;
    g->entries[i].index = i;
  }
  atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
  rc = xf__future_add_inline(result, xf__gather_on_out, g, xf__gather_release);
  if (rc != XF_OK) {
    atomic_fetch_sub_explicit(&g->refs, 1, memory_order_relaxed);
    xf__gather_unhold(g);
    xf_future_unref(result);
    xf__gather_unref(g);
    return rc;
  }
  /* From here on the result exists; a failure to watch an input fails it
   * (which stops the watching of the others) instead of unwinding
   * registrations that may already have fired. */
  for (size_t i = 0; i < n; i++) {
    if (xf_future_done(result)) {
      xf__lock(&g->lock);
      g->inputs[i] = NULL;
      xf__unlock(&g->lock);
      continue;
    }
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    xf__lock(&g->lock);
    g->holders++;
    xf__unlock(&g->lock);
    rc = xf__future_add_inline(fs[i], xf__gather_on_input, &g->entries[i],
                               xf__gather_entry_release);
    if (rc != XF_OK) {
      xf__lock(&g->lock);
      g->inputs[i] = NULL;
      g->holders--;
      xf__unlock(&g->lock);
      atomic_fetch_sub_explicit(&g->refs, 1, memory_order_relaxed);
      xf__future_fail_code(result, rc);
    }
  }
  if (n == 0) {
    if (mode == XF__GATHER_ALL)
      xf__gather_finish_all(g, result);
    else if (xf_future_fail(result, XF_EFAILED, "AggregateError", "no futures given") ==
             XF_ENOMEM)
      xf__future_fail_code(result, XF_ENOMEM); /* the static MemoryError */
  }
  xf__gather_unhold(g);
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
 * submitted task; each holds a reference. The last one to go finishes the
 * result (cancelled) if the continuation never ran: then nothing else can. */
typedef struct xf__then {
  _Atomic uint32_t refs;
  xf_then_fn fn;
  void *data;
  xf_free_data_fn free_data;
  xf_executor_t *executor;
  xf_future_t *antecedent; /* set when it is done */
  xf_future_t *result;     /* a reference */
  bool ran;                /* xf__then_run was reached */
} xf__then_t;

static void xf__then_unref(void *p) {
  xf__then_t *t = p;
  if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
    return;
  if (!t->ran) {
    const char *why = t->antecedent
                          ? "the continuation was dropped by its executor before it ran"
                          : "the antecedent future was freed before it finished";
    if (xf__future_cancel_final(t->result, why) == XF_ENOMEM)
      xf__future_cancel_final(t->result, NULL);
  }
  if (t->free_data)
    t->free_data(t->data);
  xf_executor_unref(t->executor);
  xf_future_unref(t->antecedent);
  xf_future_unref(t->result);
  xf__free(t);
}

/* Run the continuation in this thread. */
static void xf__then_run(xf__then_t *t) {
  t->ran = true;
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
   * never run; the result is cancelled then. */
  rc = xf__future_add_inline(f, xf__then_on_done, t, xf__then_unref);
  if (rc != XF_OK) {
    t->free_data = NULL; /* the caller keeps its data */
    t->ran = true;       /* and nobody sees the result */
    xf__then_unref(t);
    xf_future_unref(result);
    return rc;
  }
  *out = result;
  return XF_OK;
}

/* ---- chain and shield ------------------------------------------------- */

/* A chain: held by its registration on the source and the one on the
 * destination. The source's registration holds the destination (dst);
 * the destination reaches the source only weakly (src), for cancelling
 * it. Both pointers are cleared by the source's release. */
typedef struct xf__chain {
  _Atomic uint32_t refs;
  xf__lock_t lock;
  bool ran;         /* the source's callback ran; written in its thread */
  xf_future_t *src; /* weak, under lock */
  xf_future_t *dst; /* a reference, under lock */
} xf__chain_t;

static void xf__chain_unref(void *p) {
  xf__chain_t *c = p;
  if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
    xf__free(c);
}

/* On the source: copy its outcome into the destination if still open. */
static void xf__chain_on_src(xf_future_t *src, void *data) {
  xf__chain_t *c = data;
  c->ran = true;
  xf__lock(&c->lock);
  xf_future_t *dst = xf_future_ref(c->dst);
  xf__unlock(&c->lock);
  if (dst && !xf_future_done(dst))
    xf__future_copy_outcome(src, dst);
  xf_future_unref(dst);
}

static void xf__chain_on_dst(xf_future_t *dst, void *data);

/* The source's registration is released: the source is done, or was freed
 * while pending (then the destination can never follow it, and is
 * cancelled). The destination stops watching the source and is let go. */
static void xf__chain_src_release(void *p) {
  xf__chain_t *c = p;
  xf__lock(&c->lock);
  xf_future_t *src = c->src, *dst = c->dst;
  c->src = c->dst = NULL;
  xf__unlock(&c->lock);
  if (dst) {
    xf__future_unbind(dst, src, false);
    if (!c->ran)
      xf__future_cancel_follower(dst, "the chained source future was freed before it "
                                      "finished");
    xf_future_remove_done_callback(dst, xf__chain_on_dst, c);
    xf_future_unref(dst);
  }
  xf__chain_unref(c);
}

/* On the destination: a cancelled destination cancels its source. */
static void xf__chain_on_dst(xf_future_t *dst, void *data) {
  xf__chain_t *c = data;
  if (!xf_future_cancelled(dst))
    return;
  xf__lock(&c->lock);
  xf_future_t *src = c->src && xf__future_tryref(c->src) ? c->src : NULL;
  xf__unlock(&c->lock);
  if (src) {
    xf_future_cancel_msg(src, dst->cancel_msg);
    xf_future_unref(src);
  }
}

int xf_future_chain(xf_future_t *src, xf_future_t *dst) {
  if (!src || !dst || src == dst)
    return XF_EINVAL;
  xf__chain_t *c = xf__malloc(sizeof *c);
  if (!c)
    return XF_ENOMEM;
  atomic_init(&c->refs, 2);
  xf__lock_init(&c->lock);
  c->ran = false;
  c->src = src;
  c->dst = xf_future_ref(dst);
  int rc = xf__future_add_inline(dst, xf__chain_on_dst, c, xf__chain_unref);
  if (rc != XF_OK) {
    xf_future_unref(dst);
    xf__free(c);
    return rc;
  }
  /* Bound before the source can finish it, so that its release, which may
   * come at once, finds the binding to undo. */
  bool was_bound = xf__future_bind(dst, src);
  if ((rc = xf__future_add_inline(src, xf__chain_on_src, c, xf__chain_src_release)) !=
      XF_OK) {
    /* Undo the watch on the destination and the binding, so that a failed
     * chain leaves both futures as they were. */
    xf__future_unbind(dst, src, !was_bound);
    xf_future_remove_done_callback(dst, xf__chain_on_dst, c);
    xf_future_unref(dst);
    xf__chain_unref(c);
    return rc;
  }
  return XF_OK;
}

/* A shield: the inner future's registration holds the outer future. */
typedef struct xf__shield {
  xf_future_t *outer; /* a reference */
  bool ran;
} xf__shield_t;

static void xf__shield_on_inner(xf_future_t *inner, void *data) {
  xf__shield_t *sh = data;
  sh->ran = true;
  if (!xf_future_done(sh->outer))
    xf__future_copy_outcome(inner, sh->outer);
}

/* Released without having run: the inner future was freed while pending,
 * and the outer one can never follow it. */
static void xf__shield_release(void *data) {
  xf__shield_t *sh = data;
  if (!sh->ran && xf__future_cancel_final(sh->outer, "the shielded future was freed "
                                                     "before it finished") == XF_ENOMEM)
    xf__future_cancel_final(sh->outer, NULL);
  xf_future_unref(sh->outer);
  xf__free(sh);
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
  xf__shield_t *sh = xf__malloc(sizeof *sh);
  if (!sh) {
    xf_future_unref(outer);
    return XF_ENOMEM;
  }
  sh->outer = xf_future_ref(outer);
  sh->ran = false;
  if ((rc = xf__future_add_inline(inner, xf__shield_on_inner, sh, xf__shield_release)) !=
      XF_OK) {
    xf_future_unref(sh->outer);
    xf__free(sh);
    xf_future_unref(outer);
    return rc;
  }
  *out = outer;
  return XF_OK;
}

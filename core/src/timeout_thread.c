/* Timeouts without a loop: xf_future_or_timeout and
 * xf_future_complete_on_timeout, served by one timer thread.
 *
 * Design notes
 * ------------
 * The timers sit in a min-heap ordered by (deadline, sequence) under one
 * process-wide mutex, with a condition variable on the monotonic clock that
 * the thread sleeps on until the earliest deadline (or until a new timer
 * comes first). The thread starts with the first timer, and stops in the
 * library's destructor (at exit or when the library is unloaded): it is
 * told to stop, joined, and the timers still queued are dropped, so a
 * program that exits with timers pending leaks nothing.
 *
 * A timer has two references: the heap's, with which it also holds its
 * future, and the registration's, an inline done callback on the future.
 * Whichever takes the timer out of the heap under the mutex drops the heap's
 * references, once: the thread when the deadline passes (it fires the timer
 * first, without the mutex), or the done callback when the future finished
 * first. So a done future drops its timer at once, and a timer never holds a
 * future that is done.
 *
 * Fork. The mutex is taken around fork() (prepare and parent handlers), so
 * that the child gets it in a known state; the child, whose copy of the
 * thread does not exist, forgets the inherited timers (their futures are the
 * parent's: they never finish in the child) and starts a new thread with its
 * own first timer.
 *
 * Lock rule: no future is finished, and no reference to one dropped, with
 * the mutex held.
 */
#include <pthread.h>

#include "heap.h"
#include "future_internal.h"

typedef struct xf__otimer {
  xf__heap_node_t node;
  int64_t when;
  uint64_t seq;
  _Atomic uint32_t refs;
  xf_future_t *f;    /* a reference while queued */
  xf_value_t *value; /* owned; the result for complete_on_timeout */
  bool complete;     /* complete_on_timeout rather than or_timeout */
  bool queued;       /* under the mutex */
  bool done;         /* the future finished first; under the mutex */
} xf__otimer_t;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  xf__heap_t heap;
  uint64_t seq;
  bool started, stopping;
  pthread_t thread;
} xf__ot = {.mu = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t xf__ot_once = PTHREAD_ONCE_INIT;

static int xf__ot_less(const xf__heap_node_t *a, const xf__heap_node_t *b) {
  const xf__otimer_t *x = XF__CONTAINER_OF(a, xf__otimer_t, node);
  const xf__otimer_t *y = XF__CONTAINER_OF(b, xf__otimer_t, node);
  return x->when < y->when || (x->when == y->when && x->seq < y->seq);
}

static void xf__ot_unref(void *p) {
  xf__otimer_t *t = p;
  if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
    return;
  xf_value_unref(t->value);
  xf__free(t);
}

/* Drop the heap's references of a timer taken out of the heap. */
static void xf__ot_dequeued(xf__otimer_t *t) {
  xf_future_t *f = t->f;
  t->f = NULL;
  xf_future_unref(f);
  xf__ot_unref(t);
}

static void xf__ot_fire(xf__otimer_t *t) {
  if (t->complete) {
    xf_future_set_result(t->f, xf_value_ref(t->value));
  } else if (xf_future_fail(t->f, XF_ETIMEDOUT, "TimeoutError", NULL) == XF_ENOMEM) {
    xf_future_set_error(t->f, xf__error_oom());
  }
}

static void *xf__ot_main(void *arg) {
  (void) arg;
  pthread_mutex_lock(&xf__ot.mu);
  while (!xf__ot.stopping) {
    xf__heap_node_t *min = xf__heap_min(&xf__ot.heap);
    if (!min) {
      pthread_cond_wait(&xf__ot.cv, &xf__ot.mu);
      continue;
    }
    xf__otimer_t *t = XF__CONTAINER_OF(min, xf__otimer_t, node);
    int64_t now = xf_now();
    if (t->when > now) {
      struct timespec ts = {(time_t) (t->when / 1000000000),
                            (long) (t->when % 1000000000)};
      pthread_cond_timedwait(&xf__ot.cv, &xf__ot.mu, &ts);
      continue;
    }
    xf__heap_remove(&xf__ot.heap, &t->node, xf__ot_less);
    t->queued = false;
    pthread_mutex_unlock(&xf__ot.mu);
    xf__ot_fire(t);
    xf__ot_dequeued(t);
    pthread_mutex_lock(&xf__ot.mu);
  }
  pthread_mutex_unlock(&xf__ot.mu);
  return NULL;
}

static void xf__ot_prepare(void) {
  pthread_mutex_lock(&xf__ot.mu);
}

static void xf__ot_parent(void) {
  pthread_mutex_unlock(&xf__ot.mu);
}

static void xf__ot_child(void) {
  pthread_mutex_unlock(&xf__ot.mu);
  xf__heap_init(&xf__ot.heap);
  xf__ot.started = false;
  xf__ot.stopping = false;
}

static void xf__ot_init(void) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&xf__ot.cv, &attr);
  pthread_condattr_destroy(&attr);
  xf__heap_init(&xf__ot.heap);
  (void) pthread_atfork(xf__ot_prepare, xf__ot_parent, xf__ot_child);
}

/* At exit or unload: stop the thread, then drop what is still queued. */
__attribute__((destructor)) static void xf__ot_stop(void) {
  pthread_mutex_lock(&xf__ot.mu);
  bool started = xf__ot.started;
  xf__ot.stopping = true;
  if (started)
    pthread_cond_signal(&xf__ot.cv);
  pthread_mutex_unlock(&xf__ot.mu);
  if (started)
    pthread_join(xf__ot.thread, NULL);
  for (;;) {
    pthread_mutex_lock(&xf__ot.mu);
    xf__heap_node_t *min = xf__heap_min(&xf__ot.heap);
    xf__otimer_t *t = min ? XF__CONTAINER_OF(min, xf__otimer_t, node) : NULL;
    if (t) {
      xf__heap_remove(&xf__ot.heap, min, xf__ot_less);
      t->queued = false;
    }
    pthread_mutex_unlock(&xf__ot.mu);
    if (!t)
      break;
    xf__ot_dequeued(t);
  }
}

/* The future finished (or was cancelled) first: its timer goes. */
static void xf__ot_on_done(xf_future_t *f, void *data) {
  (void) f;
  xf__otimer_t *t = data;
  pthread_mutex_lock(&xf__ot.mu);
  t->done = true;
  bool was = t->queued;
  if (was) {
    xf__heap_remove(&xf__ot.heap, &t->node, xf__ot_less);
    t->queued = false;
  }
  pthread_mutex_unlock(&xf__ot.mu);
  if (was)
    xf__ot_dequeued(t);
}

static int xf__ot_add(xf_future_t *f, int64_t timeout_ns, bool complete,
                      xf_value_t *value) {
  if (!f || timeout_ns < 0 || xf_future_done(f)) {
    xf_value_unref(value);
    return f ? XF_OK : XF_EINVAL;
  }
  pthread_once(&xf__ot_once, xf__ot_init);
  xf__otimer_t *t = xf__calloc(1, sizeof *t);
  if (!t) {
    xf_value_unref(value);
    return XF_ENOMEM;
  }
  /* The registration's reference, and this call's: the registration may
   * run and go at once, in a thread that finishes f meanwhile. */
  atomic_init(&t->refs, 2);
  t->complete = complete;
  t->value = complete && !value ? xf_value_void() : value;
  int64_t now = xf_now();
  t->when = timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
  int rc = xf__future_add_inline(f, xf__ot_on_done, t, xf__ot_unref);
  if (rc != XF_OK) {
    atomic_store_explicit(&t->refs, 1, memory_order_relaxed);
    xf__ot_unref(t);
    return rc;
  }
  pthread_mutex_lock(&xf__ot.mu);
  if (!xf__ot.started && !xf__ot.stopping && !t->done) {
    if (pthread_create(&xf__ot.thread, NULL, xf__ot_main, NULL) == 0)
      xf__ot.started = true;
    else
      rc = XF_ESYS;
  }
  if (xf__ot.stopping && rc == XF_OK)
    rc = XF_ESHUTDOWN;
  if (rc == XF_OK && !t->done) {
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    t->f = xf_future_ref(f);
    t->seq = xf__ot.seq++;
    xf__heap_insert(&xf__ot.heap, &t->node, xf__ot_less);
    t->queued = true;
    pthread_cond_signal(&xf__ot.cv);
  }
  pthread_mutex_unlock(&xf__ot.mu);
  if (rc != XF_OK)
    xf_future_remove_done_callback(f, xf__ot_on_done, t);
  xf__ot_unref(t);
  return rc;
}

int xf_future_or_timeout(xf_future_t *f, int64_t timeout_ns) {
  return xf__ot_add(f, timeout_ns, false, NULL);
}

int xf_future_complete_on_timeout(xf_future_t *f, int64_t timeout_ns, xf_value_t *value) {
  return xf__ot_add(f, timeout_ns, true, value);
}

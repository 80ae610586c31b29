/* The thread pool's queue and the memory of futures, with the C library's
 * allocator: the inbox (order, many submitters, shutdown with tasks still
 * landing), futures recycled to the thread that allocated them (also once
 * that thread has exited), the allocation hook taking over from the caches,
 * waiters that compete for spinning, and tasks submitted together that block
 * on each other under load.
 *
 * Unlike the other suites this one does not install the counting allocator
 * for the whole run: the per-thread caches of futures are only used with the
 * C library's allocator, and they are what it tests. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sched.h>
#include <time.h>

#include "testutil.h"
#include <xf/xf.h>

/* ---- order ------------------------------------------------------------ */

typedef struct order {
  _Atomic long next;  /* the index the next task should have */
  _Atomic long wrong; /* tasks that ran out of order */
} order_t;

typedef struct order_task {
  order_t *order;
  long index;
} order_task_t;

static int order_run(void *data, xf_future_t *self) {
  (void) self;
  order_task_t *t = data;
  if (atomic_fetch_add(&t->order->next, 1) != t->index)
    atomic_fetch_add(&t->order->wrong, 1);
  return XF_OK;
}

START_TEST(test_one_worker_runs_in_submission_order) {
  enum { N = 20000 };
  xf_executor_t *ex = xft_pool(1);
  order_t order = {0, 0};
  order_task_t *tasks = calloc(N, sizeof *tasks);
  ck_assert_ptr_nonnull(tasks);
  xf_future_t *last = NULL;
  for (long i = 0; i < N; i++) {
    tasks[i] = (order_task_t){&order, i};
    xf_future_t *f;
    ck_assert_int_eq(xf_executor_submit(ex, order_run, &tasks[i], NULL, &f), XF_OK);
    /* Some waits in between, so that the queue empties and refills. */
    if (i % 1000 == 999)
      ck_assert_int_eq(xf_future_wait(f, -1), XF_OK);
    xf_future_unref(last);
    last = f;
  }
  ck_assert_int_eq(xf_future_wait(last, -1), XF_OK);
  xf_future_unref(last);
  xf_executor_unref(ex);
  ck_assert_int_eq(atomic_load(&order.next), N);
  ck_assert_int_eq(atomic_load(&order.wrong), 0);
  free(tasks);
}
END_TEST

/* ---- many submitters ---------------------------------------------------- */

enum { SUBMITTERS = 4, PER_SUBMITTER = 5000 };

typedef struct per_submitter {
  xf_executor_t *ex;
  _Atomic long *ran;
  /* With one worker, each submitter's tasks run in its order. */
  _Atomic long next;
  _Atomic long wrong;
} per_submitter_t;

typedef struct sub_task {
  per_submitter_t *s;
  long i;
} sub_task_t;

static int sub_run(void *data, xf_future_t *self) {
  (void) self;
  sub_task_t *t = data;
  atomic_fetch_add(t->s->ran, 1);
  if (atomic_fetch_add(&t->s->next, 1) != t->i)
    atomic_fetch_add(&t->s->wrong, 1);
  free(t);
  return XF_OK;
}

static void *submitter(void *arg) {
  per_submitter_t *s = arg;
  for (long i = 0; i < PER_SUBMITTER; i++) {
    sub_task_t *t = malloc(sizeof *t);
    if (!t)
      return (void *) 1;
    *t = (sub_task_t){s, i};
    xf_future_t *f;
    if (xf_executor_submit(s->ex, sub_run, t, NULL, &f) != XF_OK) {
      free(t);
      return (void *) 1;
    }
    xf_future_unref(f);
  }
  return NULL;
}

static void many_submitters(uint32_t workers) {
  xf_executor_t *ex = xft_pool(workers);
  _Atomic long ran = 0;
  static per_submitter_t s[SUBMITTERS];
  pthread_t t[SUBMITTERS];
  for (int k = 0; k < SUBMITTERS; k++) {
    s[k].ex = ex;
    s[k].ran = &ran;
    atomic_store(&s[k].next, 0);
    atomic_store(&s[k].wrong, 0);
    ck_assert_int_eq(pthread_create(&t[k], NULL, submitter, &s[k]), 0);
  }
  for (int k = 0; k < SUBMITTERS; k++) {
    void *rv;
    pthread_join(t[k], &rv);
    ck_assert_ptr_null(rv);
  }
  /* Shutdown with wait: every accepted task has run when it returns. */
  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  ck_assert_int_eq(atomic_load(&ran), (long) SUBMITTERS * PER_SUBMITTER);
  for (int k = 0; k < SUBMITTERS; k++) {
    ck_assert_int_eq(atomic_load(&s[k].next), PER_SUBMITTER);
    if (workers == 1)
      ck_assert_int_eq(atomic_load(&s[k].wrong), 0);
  }
  xf_executor_unref(ex);
}

START_TEST(test_many_submitters_one_worker) {
  many_submitters(1);
}
END_TEST

START_TEST(test_many_submitters_two_workers) {
  many_submitters(2);
}
END_TEST

/* Shutdown with cancel_futures while submitters still push: every future
 * ends, run or cancelled, and every task's data is freed once. */
static _Atomic long cancel_freed;

static void cancel_free(void *data) {
  (void) data;
  atomic_fetch_add(&cancel_freed, 1);
}

typedef struct racer {
  xf_executor_t *ex;
  xf_future_t *fs[2000];
  int n;
} racer_t;

static int noop_task(void *data, xf_future_t *self) {
  (void) data;
  (void) self;
  return XF_OK;
}

static void *racer_run(void *arg) {
  racer_t *r = arg;
  r->n = 0;
  for (int i = 0; i < 2000; i++) {
    xf_future_t *f;
    if (xf_executor_submit(r->ex, noop_task, NULL, cancel_free, &f) != XF_OK)
      break;
    r->fs[r->n++] = f;
  }
  return NULL;
}

START_TEST(test_shutdown_cancel_while_submitting) {
  for (int rep = 0; rep < 5; rep++) {
    atomic_store(&cancel_freed, 0);
    xf_executor_t *ex = xft_pool(2);
    static racer_t r[2];
    pthread_t t[2];
    for (int k = 0; k < 2; k++) {
      r[k].ex = ex;
      ck_assert_int_eq(pthread_create(&t[k], NULL, racer_run, &r[k]), 0);
    }
    xft_sleep_ns(rep * 100 * 1000);
    ck_assert_int_eq(xf_executor_shutdown(ex, true, true), XF_OK);
    long accepted = 0;
    for (int k = 0; k < 2; k++) {
      pthread_join(t[k], NULL);
      accepted += r[k].n;
      for (int i = 0; i < r[k].n; i++) {
        ck_assert(xf_future_done(r[k].fs[i]));
        xf_future_unref(r[k].fs[i]);
      }
    }
    ck_assert_int_eq(atomic_load(&cancel_freed), accepted);
    xf_executor_unref(ex);
  }
}
END_TEST

/* ---- the memory of futures ---------------------------------------------- */

enum { BATCH = 3000 };

typedef struct handoff {
  xf_future_t *fs[BATCH];
} handoff_t;

static _Atomic long cb_ran;

static void on_done(xf_future_t *f, void *data) {
  (void) f;
  (void) data;
  atomic_fetch_add(&cb_ran, 1);
}

/* Makes futures (some with a done callback) and exits: the futures outlive
 * the thread whose cache their memory came from. */
static void *make_futures(void *arg) {
  handoff_t *h = arg;
  for (int i = 0; i < BATCH; i++) {
    if (xf_future_new(&h->fs[i]) != XF_OK)
      return (void *) 1;
    if (i % 2 &&
        xf_future_add_done_callback(h->fs[i], on_done, NULL, NULL, NULL) != XF_OK)
      return (void *) 1;
  }
  /* Some are freed here, some of those back to this thread's cache, which
   * then holds blocks when the thread exits. */
  for (int i = 0; i < BATCH; i += 3) {
    xf_future_unref(h->fs[i]);
    h->fs[i] = NULL;
  }
  return NULL;
}

START_TEST(test_futures_outlive_their_thread) {
  atomic_store(&cb_ran, 0);
  static handoff_t h;
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, make_futures, &h), 0);
  void *rv;
  pthread_join(t, &rv);
  ck_assert_ptr_null(rv);
  long expected = 0;
  for (int i = 0; i < BATCH; i++) {
    if (!h.fs[i])
      continue;
    ck_assert_int_eq(xf_future_set_result(h.fs[i], NULL), XF_OK);
    ck_assert_int_eq(xf_future_wait(h.fs[i], 0), XF_OK);
    expected += i % 2;
    xf_future_unref(h.fs[i]);
  }
  ck_assert_int_eq(atomic_load(&cb_ran), expected);
}
END_TEST

/* Frees what another thread allocated, while that thread goes on
 * allocating: the blocks travel back to it. */
typedef struct ring {
  xf_future_t *_Atomic slot[64];
  _Atomic bool done;
} ring_t;

static void *ring_consumer(void *arg) {
  ring_t *r = arg;
  long freed = 0;
  for (;;) {
    bool done = atomic_load(&r->done);
    bool any = false;
    for (int i = 0; i < 64; i++) {
      xf_future_t *f = atomic_exchange(&r->slot[i], NULL);
      if (f) {
        any = true;
        if (xf_future_state(f) != XF_FINISHED)
          return (void *) 1;
        xf_future_unref(f);
        freed++;
      }
    }
    if (done && !any)
      break;
    if (!any)
      sched_yield();
  }
  return (void *) (intptr_t) (freed == 0 ? 2 : 0);
}

START_TEST(test_futures_freed_elsewhere_come_back) {
  static ring_t r;
  for (int i = 0; i < 64; i++)
    atomic_store(&r.slot[i], NULL);
  atomic_store(&r.done, false);
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, ring_consumer, &r), 0);
  for (long n = 0; n < 20000; n++) {
    xf_future_t *f;
    ck_assert_int_eq(xf_future_new(&f), XF_OK);
    /* A fresh block is a pending future, whatever it held before. */
    ck_assert_int_eq(xf_future_state(f), XF_PENDING);
    ck_assert_int_eq(xf_future_set_result(f, xft_int(n)), XF_OK);
    int i = (int) (n % 64);
    xf_future_t *expected = NULL;
    while (!atomic_compare_exchange_weak(&r.slot[i], &expected, f)) {
      expected = NULL;
      sched_yield();
    }
  }
  atomic_store(&r.done, true);
  void *rv;
  pthread_join(t, &rv);
  ck_assert_ptr_null(rv);
}
END_TEST

/* The caches sit on top of the allocation hook: once a hook is installed,
 * every future, callback record and handle is allocated through it again,
 * however many blocks the caches hold, so a failing hook fails them. */
START_TEST(test_hook_sees_every_allocation) {
  /* Fill this thread's cache. */
  xf_future_t *fs[100];
  for (int i = 0; i < 100; i++) {
    ck_assert_int_eq(xf_future_new(&fs[i]), XF_OK);
    ck_assert_int_eq(xf_future_add_done_callback(fs[i], on_done, NULL, NULL, NULL),
                     XF_OK);
  }
  for (int i = 0; i < 100; i++)
    xf_future_unref(fs[i]);

  xft_alloc_install();
  long before = xft_alloc_count();
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xft_alloc_count(), before + 1);
  ck_assert_int_eq(xf_future_add_done_callback(f, on_done, NULL, NULL, NULL), XF_OK);
  ck_assert_int_eq(xft_alloc_count(), before + 2);
  xf_future_unref(f);
  ck_assert_int_eq(xft_alloc_live(), 0);
  xft_alloc_fail_at(0);
  ck_assert_int_eq(xf_future_new(&f), XF_ENOMEM);
  ck_assert_ptr_null(f);
  ck_assert(xft_alloc_failed());

  /* A loop handle likewise. */
  xf_loop_t *loop;
  ck_assert_int_eq(xf_loop_new(&loop), XF_OK);
  xf_handle_t *h;
  xft_alloc_fail_at(0);
  ck_assert_int_eq(
      xf_loop_call_later(loop, 1000000000, (xf_callback_fn) abort, NULL, NULL, &h),
      XF_ENOMEM);
  ck_assert(xft_alloc_failed());
  xf_loop_unref(loop);
  ck_assert_int_eq(xft_alloc_live(), 0);
  ck_assert_int_eq(xf_set_allocator(NULL, NULL, NULL), XF_OK);
}
END_TEST

/* ---- waiting ------------------------------------------------------------ */

typedef struct waiter {
  xf_future_t *f;
  _Atomic int *started;
  int rc;
} waiter_t;

static void *wait_run(void *arg) {
  waiter_t *w = arg;
  atomic_fetch_add(w->started, 1);
  w->rc = xf_future_wait(w->f, -1);
  return NULL;
}

/* More waiters than there are spin slots: the ones that cannot spin sleep,
 * and all of them return when the future finishes. */
START_TEST(test_many_waiters) {
  enum { W = 8 };
  for (int rep = 0; rep < 20; rep++) {
    xf_future_t *f;
    ck_assert_int_eq(xf_future_new(&f), XF_OK);
    _Atomic int started = 0;
    waiter_t w[W];
    pthread_t t[W];
    for (int i = 0; i < W; i++) {
      w[i] = (waiter_t){f, &started, -1};
      ck_assert_int_eq(pthread_create(&t[i], NULL, wait_run, &w[i]), 0);
    }
    while (atomic_load(&started) < W)
      sched_yield();
    if (rep & 1)
      xft_sleep_ns(1000000);
    ck_assert_int_eq(xf_future_set_result(f, NULL), XF_OK);
    for (int i = 0; i < W; i++) {
      pthread_join(t[i], NULL);
      ck_assert_int_eq(w[i].rc, XF_OK);
    }
    xf_future_unref(f);
  }
}
END_TEST

/* A serial round trip, submit then result, many times: each result is the
 * task's own, whether the waiter spun or slept for it. */
static int answer_task(void *data, xf_future_t *self) {
  return xf_future_set_result(self, xft_int((int64_t) (intptr_t) data + 1));
}

START_TEST(test_serial_round_trips) {
  xf_executor_t *ex = xft_pool(2);
  for (long i = 0; i < 5000; i++) {
    xf_future_t *f;
    ck_assert_int_eq(xf_executor_submit(ex, answer_task, (void *) (intptr_t) i, NULL, &f),
                     XF_OK);
    ck_assert_int_eq(xft_result_int(f), i + 1);
    xf_future_unref(f);
  }
  xf_executor_unref(ex);
}
END_TEST

/* ---- blocking tasks under load ------------------------------------------- */

/* Busy threads that load the machine until told to stop. */
typedef struct hogs {
  pthread_t t[2];
  _Atomic bool stop;
} hogs_t;

static void *hog_run(void *arg) {
  hogs_t *h = arg;
  while (!atomic_load_explicit(&h->stop, memory_order_relaxed))
    ;
  return NULL;
}

static void hogs_start(hogs_t *h) {
  atomic_store(&h->stop, false);
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(pthread_create(&h->t[i], NULL, hog_run, h), 0);
}

static void hogs_stop(hogs_t *h) {
  atomic_store(&h->stop, true);
  for (int i = 0; i < 2; i++)
    pthread_join(h->t[i], NULL);
}

typedef struct meet {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int n, started;
} meet_t;

/* Waits, with a generous bound, until every task of the round has started:
 * it fails with XF_ETIMEDOUT if it ran without the others. */
static int meet_task(void *data, xf_future_t *self) {
  (void) self;
  meet_t *m = data;
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 30;
  pthread_mutex_lock(&m->mu);
  m->started++;
  pthread_cond_broadcast(&m->cv);
  int rc = 0;
  while (m->started < m->n && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&m->cv, &m->mu, &deadline);
  bool met = m->started >= m->n;
  pthread_mutex_unlock(&m->mu);
  return met ? XF_OK : XF_ETIMEDOUT;
}

/* Tasks submitted together that block until all of them run, on warm and
 * cold pools, while other threads load the machine and the caller waits
 * (spinning, or not, for the first future). */
START_TEST(test_blocking_tasks_meet_under_load) {
  hogs_t hogs;
  hogs_start(&hogs);
  for (int n = 2; n <= 4; n++) {
    xf_executor_t *ex = xft_pool((uint32_t) n);
    for (int rep = 0; rep < 6; rep++) {
      meet_t m;
      pthread_mutex_init(&m.mu, NULL);
      pthread_cond_init(&m.cv, NULL);
      m.n = n;
      m.started = 0;
      xf_future_t *fs[4];
      for (int i = 0; i < n; i++)
        ck_assert_int_eq(xf_executor_submit(ex, meet_task, &m, NULL, &fs[i]), XF_OK);
      for (int i = 0; i < n; i++) {
        xf_value_t *v;
        ck_assert_msg(xf_future_result(fs[i], -1, &v) == XF_OK,
                      "task %d of %d ran without the others", i, n);
        xf_value_unref(v);
        xf_future_unref(fs[i]);
      }
      pthread_cond_destroy(&m.cv);
      pthread_mutex_destroy(&m.mu);
      /* Some rounds find the workers asleep. */
      if (rep & 1)
        xft_sleep_ns(2000000);
    }
    xf_executor_unref(ex);
  }
  hogs_stop(&hogs);
}
END_TEST

static Suite *thread_pool_suite(void) {
  Suite *s = suite_create("thread_pool");
  TCase *tc = tcase_create("inbox");
  tcase_add_test(tc, test_one_worker_runs_in_submission_order);
  tcase_add_test(tc, test_many_submitters_one_worker);
  tcase_add_test(tc, test_many_submitters_two_workers);
  tcase_add_test(tc, test_shutdown_cancel_while_submitting);
  suite_add_tcase(s, tc);
  tc = tcase_create("memory");
  tcase_add_test(tc, test_futures_outlive_their_thread);
  tcase_add_test(tc, test_futures_freed_elsewhere_come_back);
  tcase_add_test(tc, test_hook_sees_every_allocation);
  suite_add_tcase(s, tc);
  tc = tcase_create("waiting");
  tcase_add_test(tc, test_many_waiters);
  tcase_add_test(tc, test_serial_round_trips);
  tcase_add_test(tc, test_blocking_tasks_meet_under_load);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  /* No counting allocator: see the top of the file. */
  SRunner *sr = srunner_create(thread_pool_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

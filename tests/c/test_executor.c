/* Executors: the thread pool (submission, outcomes, lazy named threads,
 * initializers, bounded queues, shutdown, counters) and the executor
 * interface with a custom implementation. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include <xf/xf.h>

/* A task that returns its argument doubled. */
static int double_task(void *data, xf_future_t *self) {
  xf_value_t *v;
  int rc = xf_value_new_int(2 * (int64_t) (intptr_t) data, &v);
  if (rc != XF_OK)
    return rc;
  return xf_future_set_result(self, v);
}

static int fail_task(void *data, xf_future_t *self) {
  (void) data;
  (void) self;
  return XF_ERANGE;
}

static int raise_task(void *data, xf_future_t *self) {
  (void) data;
  return xf_future_fail(self, XF_EFAILED, "ZeroDivisionError", "division by zero");
}

static int noop_task(void *data, xf_future_t *self) {
  (void) data;
  (void) self;
  return XF_OK;
}

static int sleep_task(void *data, xf_future_t *self) {
  (void) self;
  xft_sleep_ns((int64_t) (intptr_t) data * MS);
  return XF_OK;
}

static _Atomic int freed_count;
static void count_free(void *data) {
  (void) data;
  atomic_fetch_add(&freed_count, 1);
}

static void wait_completed(xf_executor_t *ex, uint64_t n) {
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  for (;;) {
    ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
    if (st.completed >= n)
      return;
    xft_sleep_ns(MS);
  }
}

/* ---- submit ----------------------------------------------------------- */

START_TEST(test_submit_results) {
  xf_executor_t *ex = xft_pool(4);
  xf_future_t *fs[100];
  for (intptr_t i = 0; i < 100; i++)
    ck_assert_int_eq(xf_executor_submit(ex, double_task, (void *) i, NULL, &fs[i]),
                     XF_OK);
  for (int i = 0; i < 100; i++) {
    ck_assert_int_eq(xft_result_int(fs[i]), 2 * i);
    xf_future_unref(fs[i]);
  }
  xf_executor_unref(ex);
}
END_TEST

START_TEST(test_task_outcomes) {
  xf_executor_t *ex = xft_pool(2);
  xf_future_t *f;
  xf_value_t *v;
  xf_error_t *e;

  ck_assert_int_eq(xf_executor_submit(ex, fail_task, NULL, NULL, &f), XF_OK);
  ck_assert_int_eq(xf_future_result(f, -1, &v), XF_EFAILED);
  ck_assert_int_eq(xf_future_error(f, -1, &e), XF_OK);
  ck_assert_int_eq(xf_error_code(e), XF_ERANGE);
  xf_error_unref(e);
  xf_future_unref(f);

  ck_assert_int_eq(xf_executor_submit(ex, raise_task, NULL, NULL, &f), XF_OK);
  ck_assert_int_eq(xf_future_error(f, -1, &e), XF_OK);
  ck_assert_str_eq(xf_error_type(e), "ZeroDivisionError");
  ck_assert_str_eq(xf_error_message(e), "division by zero");
  xf_error_unref(e);
  xf_future_unref(f);

  ck_assert_int_eq(xf_executor_submit(ex, noop_task, NULL, NULL, &f), XF_OK);
  ck_assert_int_eq(xf_future_result(f, -1, &v), XF_OK);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_VOID);
  xf_value_unref(v);
  xf_future_unref(f);
  xf_executor_unref(ex);
}
END_TEST

START_TEST(test_data_freed_after_run) {
  atomic_store(&freed_count, 0);
  xf_executor_t *ex = xft_pool(2);
  xf_future_t *f;
  ck_assert_int_eq(xf_executor_submit(ex, noop_task, NULL, count_free, &f), XF_OK);
  ck_assert_int_eq(xf_future_wait(f, -1), XF_OK);
  xf_executor_shutdown(ex, true, false);
  ck_assert_int_eq(atomic_load(&freed_count), 1);
  xf_future_unref(f);
  xf_executor_unref(ex);
}
END_TEST

/* ---- threads ---------------------------------------------------------- */

static int name_task(void *data, xf_future_t *self) {
  (void) data;
  char name[32] = "";
  pthread_getname_np(pthread_self(), name, sizeof name);
  xf_value_t *v;
  int rc = xf_value_new_cstring(name, &v);
  return rc == XF_OK ? xf_future_set_result(self, v) : rc;
}

START_TEST(test_default_max_workers) {
  xf_executor_t *ex;
  ck_assert_int_eq(xf_thread_pool_new(NULL, &ex), XF_OK);
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  ck_assert_uint_eq(st.max_workers, cpus + 4 < 32 ? cpus + 4 : 32);
  /* Threads start lazily. */
  ck_assert_uint_eq(st.threads, 0);
  xf_executor_unref(ex);
}
END_TEST

START_TEST(test_lazy_named_threads) {
  xf_thread_pool_options_t o = XF_THREAD_POOL_OPTIONS_INIT;
  o.max_workers = 3;
  o.thread_name_prefix = "crunch";
  xf_executor_t *ex;
  ck_assert_int_eq(xf_thread_pool_new(&o, &ex), XF_OK);
  xf_future_t *f;
  ck_assert_int_eq(xf_executor_submit(ex, name_task, NULL, NULL, &f), XF_OK);
  xf_value_t *v;
  const char *name;
  size_t len;
  ck_assert_int_eq(xf_future_result(f, -1, &v), XF_OK);
  ck_assert_int_eq(xf_value_get_string(v, &name, &len), XF_OK);
  ck_assert_str_eq(name, "crunch-0");
  xf_value_unref(v);
  xf_future_unref(f);
  /* A worker that has gone idle is reused rather than joined by another:
   * submissions spaced out in time keep one thread. */
  for (int i = 0; i < 10; i++) {
    xft_sleep_ns(5 * MS);
    ck_assert_int_eq(xf_executor_submit(ex, noop_task, NULL, NULL, &f), XF_OK);
    ck_assert_int_eq(xf_future_wait(f, -1), XF_OK);
    xf_future_unref(f);
  }
  /* The counters move just after the future finishes. */
  wait_completed(ex, 11);
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_uint_eq(st.threads, 1);
  ck_assert_uint_eq(st.completed, 11);
  /* Busy workers make room for more, up to max_workers. */
  xf_future_t *fs[6];
  for (int i = 0; i < 6; i++)
    ck_assert_int_eq(xf_executor_submit(ex, sleep_task, (void *) 20, NULL, &fs[i]),
                     XF_OK);
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_uint_le(st.threads, 3);
  for (int i = 0; i < 6; i++) {
    ck_assert_int_eq(xf_future_wait(fs[i], -1), XF_OK);
    xf_future_unref(fs[i]);
  }
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_uint_eq(st.threads, 3);
  xf_executor_unref(ex);
}
END_TEST

static _Atomic int init_calls;
static int init_ok(void *data) {
  atomic_fetch_add(&init_calls, 1);
  return data == NULL ? 0 : 1;
}

START_TEST(test_initializer_runs_per_thread) {
  atomic_store(&init_calls, 0);
  xf_thread_pool_options_t o = XF_THREAD_POOL_OPTIONS_INIT;
  o.max_workers = 2;
  o.initializer = init_ok;
  xf_executor_t *ex;
  ck_assert_int_eq(xf_thread_pool_new(&o, &ex), XF_OK);
  xf_future_t *fs[4];
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(xf_executor_submit(ex, sleep_task, (void *) 10, NULL, &fs[i]),
                     XF_OK);
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(xf_future_wait(fs[i], -1), XF_OK);
    ck_assert(!xf_future_cancelled(fs[i]));
    xf_future_unref(fs[i]);
  }
  xf_executor_shutdown(ex, true, false);
  ck_assert_int_eq(atomic_load(&init_calls), 2);
  xf_executor_unref(ex);
}
END_TEST

START_TEST(test_failing_initializer_breaks_pool) {
  atomic_store(&freed_count, 0);
  xf_thread_pool_options_t o = XF_THREAD_POOL_OPTIONS_INIT;
  o.max_workers = 1;
  o.initializer = init_ok;
  o.init_data = (void *) 1; /* makes it fail */
  xf_executor_t *ex;
  ck_assert_int_eq(xf_thread_pool_new(&o, &ex), XF_OK);
  xf_future_t *f;
  ck_assert_int_eq(xf_executor_submit(ex, noop_task, NULL, count_free, &f), XF_OK);
  xf_error_t *e;
  ck_assert_int_eq(xf_future_error(f, -1, &e), XF_OK);
  ck_assert_int_eq(xf_error_code(e), XF_EBROKEN);
  xf_error_unref(e);
  xf_future_unref(f);
  ck_assert_int_eq(atomic_load(&freed_count), 1);
  /* Later submissions are refused, and the caller keeps its data. */
  ck_assert_int_eq(xf_executor_submit(ex, noop_task, NULL, count_free, &f), XF_EBROKEN);
  ck_assert_ptr_null(f);
  ck_assert_int_eq(atomic_load(&freed_count), 1);
  xf_executor_unref(ex);
}
END_TEST

/* ---- bounded queue ---------------------------------------------------- */

typedef struct {
  _Atomic int release;
  _Atomic int started;
} gate_t;

static int gate_task(void *data, xf_future_t *self) {
  (void) self;
  gate_t *g = data;
  atomic_fetch_add(&g->started, 1);
  while (!atomic_load(&g->release))
    xft_sleep_ns(MS);
  return XF_OK;
}

START_TEST(test_bounded_queue_reject) {
  xf_thread_pool_options_t o = XF_THREAD_POOL_OPTIONS_INIT;
  o.max_workers = 1;
  o.max_queue = 2;
  o.queue_policy = XF_QUEUE_REJECT;
  xf_executor_t *ex;
  ck_assert_int_eq(xf_thread_pool_new(&o, &ex), XF_OK);
  gate_t g = {0};
  xf_future_t *running, *q[2], *f;
  ck_assert_int_eq(xf_executor_submit(ex, gate_task, &g, NULL, &running), XF_OK);
  while (!atomic_load(&g.started))
    xft_sleep_ns(MS);
  ck_assert_int_eq(xf_executor_submit(ex, noop_task, NULL, NULL, &q[0]), XF_OK);
  ck_assert_int_eq(xf_executor_submit(ex, noop_task, NULL, NULL, &q[1]), XF_OK);
  ck_assert_int_eq(xf_executor_submit(ex, noop_task, NULL, NULL, &f), XF_EAGAIN);
  ck_assert_ptr_null(f);
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_uint_eq(st.queued, 2);
  ck_assert_uint_eq(st.running, 1);
  atomic_store(&g.release, 1);
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(xf_future_wait(q[i], -1), XF_OK);
    xf_future_unref(q[i]);
  }
  xf_future_unref(running);
  xf_executor_unref(ex);
}
END_TEST

typedef struct {
  xf_executor_t *ex;
  _Atomic int submitted;
} blocker_t;

static void *blocking_submitter(void *arg) {
  blocker_t *b = arg;
  xf_future_t *f;
  int rc = xf_executor_submit(b->ex, noop_task, NULL, NULL, &f);
  atomic_store(&b->submitted, rc == XF_OK ? 1 : rc);
  if (rc == XF_OK) {
    xf_future_wait(f, -1);
    xf_future_unref(f);
  }
  return NULL;
}

START_TEST(test_bounded_queue_block) {
  xf_thread_pool_options_t o = XF_THREAD_POOL_OPTIONS_INIT;
  o.max_workers = 1;
  o.max_queue = 1;
  xf_executor_t *ex;
  ck_assert_int_eq(xf_thread_pool_new(&o, &ex), XF_OK);
  gate_t g = {0};
  xf_future_t *running, *queued;
  ck_assert_int_eq(xf_executor_submit(ex, gate_task, &g, NULL, &running), XF_OK);
  while (!atomic_load(&g.started))
    xft_sleep_ns(MS);
  ck_assert_int_eq(xf_executor_submit(ex, noop_task, NULL, NULL, &queued), XF_OK);
  blocker_t b = {ex, 0};
  pthread_t t;
  pthread_create(&t, NULL, blocking_submitter, &b);
  xft_sleep_ns(30 * MS);
  /* The queue is full: the submitter waits for room. */
  ck_assert_int_eq(atomic_load(&b.submitted), 0);
  atomic_store(&g.release, 1);
  pthread_join(t, NULL);
  ck_assert_int_eq(atomic_load(&b.submitted), 1);
  xf_future_unref(running);
  xf_future_unref(queued);
  xf_executor_unref(ex);
}
END_TEST

/* ---- shutdown --------------------------------------------------------- */

START_TEST(test_shutdown_waits) {
  xf_executor_t *ex = xft_pool(2);
  xf_future_t *fs[6];
  for (int i = 0; i < 6; i++)
    ck_assert_int_eq(xf_executor_submit(ex, sleep_task, (void *) 5, NULL, &fs[i]), XF_OK);
  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  /* Everything accepted ran to completion before shutdown returned. */
  for (int i = 0; i < 6; i++) {
    ck_assert_int_eq(xf_future_state(fs[i]), XF_FINISHED);
    xf_future_unref(fs[i]);
  }
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_uint_eq(st.threads, 0);
  ck_assert_uint_eq(st.completed, 6);
  /* Submitting afterwards is refused; the data stays with the caller. */
  atomic_store(&freed_count, 0);
  xf_future_t *f;
  ck_assert_int_eq(xf_executor_submit(ex, noop_task, NULL, count_free, &f), XF_ESHUTDOWN);
  ck_assert_int_eq(atomic_load(&freed_count), 0);
  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  xf_executor_unref(ex);
}
END_TEST

START_TEST(test_shutdown_cancel_futures) {
  atomic_store(&freed_count, 0);
  xf_executor_t *ex = xft_pool(1);
  gate_t g = {0};
  xf_future_t *running, *queued[5];
  ck_assert_int_eq(xf_executor_submit(ex, gate_task, &g, NULL, &running), XF_OK);
  while (!atomic_load(&g.started))
    xft_sleep_ns(MS);
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(xf_executor_submit(ex, noop_task, NULL, count_free, &queued[i]),
                     XF_OK);
  ck_assert_int_eq(xf_executor_shutdown(ex, false, true), XF_OK);
  for (int i = 0; i < 5; i++) {
    ck_assert(xf_future_cancelled(queued[i]));
    xf_future_unref(queued[i]);
  }
  ck_assert_int_eq(atomic_load(&freed_count), 5);
  /* The running task is not interrupted. */
  ck_assert(xf_future_running(running));
  atomic_store(&g.release, 1);
  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  ck_assert_int_eq(xf_future_state(running), XF_FINISHED);
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_uint_eq(st.cancelled, 5);
  ck_assert_uint_eq(st.completed, 1);
  xf_future_unref(running);
  xf_executor_unref(ex);
}
END_TEST

START_TEST(test_cancelled_before_running_is_skipped) {
  atomic_store(&freed_count, 0);
  xf_executor_t *ex = xft_pool(1);
  gate_t g = {0};
  xf_future_t *running, *f;
  ck_assert_int_eq(xf_executor_submit(ex, gate_task, &g, NULL, &running), XF_OK);
  while (!atomic_load(&g.started))
    xft_sleep_ns(MS);
  ck_assert_int_eq(xf_executor_submit(ex, fail_task, NULL, count_free, &f), XF_OK);
  ck_assert_int_eq(xf_future_cancel(f), XF_OK);
  atomic_store(&g.release, 1);
  xf_executor_shutdown(ex, true, false);
  ck_assert(xf_future_cancelled(f));
  ck_assert_int_eq(atomic_load(&freed_count), 1);
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_uint_eq(st.cancelled, 1);
  xf_future_unref(f);
  xf_future_unref(running);
  xf_executor_unref(ex);
}
END_TEST

static int drop_pool_task(void *data, xf_future_t *self) {
  (void) self;
  /* The last reference to the pool dies on one of its own threads. */
  xf_executor_unref(data);
  return XF_OK;
}

START_TEST(test_last_unref_on_worker) {
  xf_executor_t *ex = xft_pool(2);
  xf_future_t *f;
  ck_assert_int_eq(xf_executor_submit(ex, drop_pool_task, ex, NULL, &f), XF_OK);
  ck_assert_int_eq(xf_future_wait(f, -1), XF_OK);
  ck_assert_int_eq(xf_future_state(f), XF_FINISHED);
  xf_future_unref(f);
  /* The detached worker frees the pool when it leaves; give it a moment so
   * leak checkers see the memory returned. */
  xft_sleep_ns(50 * MS);
}
END_TEST

/* ---- bad input and failures ------------------------------------------- */

START_TEST(test_bad_input) {
  xf_executor_t *ex = xft_pool(1);
  xf_future_t *f = (xf_future_t *) 1;
  ck_assert_int_eq(xf_executor_submit(NULL, noop_task, NULL, NULL, &f), XF_EINVAL);
  ck_assert_ptr_null(f);
  ck_assert_int_eq(xf_executor_submit(ex, NULL, NULL, NULL, &f), XF_EINVAL);
  ck_assert_int_eq(xf_executor_submit(ex, noop_task, NULL, NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_executor_shutdown(NULL, true, true), XF_EINVAL);
  ck_assert_int_eq(xf_executor_stats(ex, NULL), XF_EINVAL);
  xf_executor_stats_t small = {.sz = 4};
  ck_assert_int_eq(xf_executor_stats(ex, &small), XF_EINVAL);
  ck_assert_int_eq(xf_thread_pool_new(NULL, NULL), XF_EINVAL);
  xf_thread_pool_options_t o = XF_THREAD_POOL_OPTIONS_INIT;
  o.queue_policy = 7;
  xf_executor_t *bad = (xf_executor_t *) 1;
  ck_assert_int_eq(xf_thread_pool_new(&o, &bad), XF_EINVAL);
  ck_assert_ptr_null(bad);
  o = (xf_thread_pool_options_t) XF_THREAD_POOL_OPTIONS_INIT;
  o.sz = 1;
  ck_assert_int_eq(xf_thread_pool_new(&o, &bad), XF_EINVAL);
  ck_assert_int_eq(xf_executor_run_task(NULL), XF_EINVAL);
  ck_assert_int_eq(xf_executor_drop_task(NULL, XF_ECANCELLED), XF_EINVAL);
  ck_assert_int_eq(xf_executor_new(NULL, NULL, &bad), XF_EINVAL);
  xf_executor_ref(NULL);
  xf_executor_unref(NULL);
  xf_executor_unref(ex);
}
END_TEST

START_TEST(test_enomem_submit) {
  xf_executor_t *ex = xft_pool(1);
  /* Start the worker first, so thread start-up allocations (outside the
   * hook) do not interleave with the counted ones. */
  xf_future_t *warm;
  ck_assert_int_eq(xf_executor_submit(ex, noop_task, NULL, NULL, &warm), XF_OK);
  xf_future_wait(warm, -1);
  xf_future_unref(warm);
  uint64_t ran = 1;
  wait_completed(ex, ran);
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_future_t *f;
    atomic_store(&freed_count, 0);
    int rc = xf_executor_submit(ex, double_task, (void *) 4, count_free, &f);
    xft_alloc_fail_at(-1);
    if (rc == XF_ENOMEM) {
      ck_assert_int_eq(atomic_load(&freed_count), 0);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    ck_assert_int_eq(xft_result_int(f), 8);
    xf_future_unref(f);
    /* The worker drops its own reference just after finishing. */
    wait_completed(ex, ++ran);
  }
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_executor_t *p;
    int rc = xf_thread_pool_new(NULL, &p);
    if (rc == XF_ENOMEM)
      continue;
    ck_assert_int_eq(rc, XF_OK);
    xf_executor_unref(p);
  }
  xf_executor_unref(ex);
}
END_TEST

/* ---- a custom executor: runs tasks inline at submission --------------- */

typedef struct {
  int submitted, shutdowns, destroyed;
  bool closed;
} inline_exec_t;

static int inline_submit(void *impl, xf_future_t *fut) {
  inline_exec_t *ie = impl;
  if (ie->closed)
    return XF_ESHUTDOWN;
  ie->submitted++;
  xf_executor_run_task(fut);
  xf_future_unref(fut); /* the reference handed to the implementation */
  return XF_OK;
}

static int inline_shutdown(void *impl, bool wait, bool cancel) {
  (void) wait;
  (void) cancel;
  inline_exec_t *ie = impl;
  ie->closed = true;
  ie->shutdowns++;
  return XF_OK;
}

static void inline_destroy(void *impl) {
  ((inline_exec_t *) impl)->destroyed++;
}

static const xf_executor_ops_t inline_ops = {
    .sz = sizeof(xf_executor_ops_t),
    .name = "inline",
    .submit = inline_submit,
    .shutdown = inline_shutdown,
    .destroy = inline_destroy,
};

START_TEST(test_custom_executor) {
  inline_exec_t ie = {0};
  xf_executor_t *ex;
  ck_assert_int_eq(xf_executor_new(&inline_ops, &ie, &ex), XF_OK);
  xf_future_t *f;
  ck_assert_int_eq(xf_executor_submit(ex, double_task, (void *) 21, NULL, &f), XF_OK);
  ck_assert(xf_future_done(f));
  ck_assert_int_eq(xft_result_int(f), 42);
  xf_future_unref(f);
  ck_assert_int_eq(ie.submitted, 1);
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  ck_assert_int_eq(xf_executor_submit(ex, double_task, NULL, NULL, &f), XF_ESHUTDOWN);
  xf_executor_unref(ex);
  ck_assert_int_eq(ie.destroyed, 1);
  ck_assert_int_eq(ie.shutdowns, 2);
}
END_TEST

static Suite *executor_suite(void) {
  Suite *s = suite_create("executor");
  TCase *tc = tcase_create("submit");
  tcase_add_test(tc, test_submit_results);
  tcase_add_test(tc, test_task_outcomes);
  tcase_add_test(tc, test_data_freed_after_run);
  suite_add_tcase(s, tc);
  tc = tcase_create("threads");
  tcase_add_test(tc, test_default_max_workers);
  tcase_add_test(tc, test_lazy_named_threads);
  tcase_add_test(tc, test_initializer_runs_per_thread);
  tcase_add_test(tc, test_failing_initializer_breaks_pool);
  suite_add_tcase(s, tc);
  tc = tcase_create("bounded_queue");
  tcase_add_test(tc, test_bounded_queue_reject);
  tcase_add_test(tc, test_bounded_queue_block);
  suite_add_tcase(s, tc);
  tc = tcase_create("shutdown");
  tcase_add_test(tc, test_shutdown_waits);
  tcase_add_test(tc, test_shutdown_cancel_futures);
  tcase_add_test(tc, test_cancelled_before_running_is_skipped);
  tcase_add_test(tc, test_last_unref_on_worker);
  suite_add_tcase(s, tc);
  tc = tcase_create("bad_input");
  tcase_add_test(tc, test_bad_input);
  tcase_add_test(tc, test_enomem_submit);
  suite_add_tcase(s, tc);
  tc = tcase_create("interface");
  tcase_add_test(tc, test_custom_executor);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return xft_main(executor_suite());
}

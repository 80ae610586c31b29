/* Executors: the thread pool (submission, outcomes, lazy named threads,
 * initializers, parallel blocking tasks, bounded queues, shutdown, counters,
 * fork) and the executor interface with a custom implementation. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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
   * submissions made once the last task is counted finished keep one
   * thread. */
  for (int i = 0; i < 10; i++) {
    wait_completed(ex, (uint64_t) i + 1);
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

/* ---- parallel blocking work ------------------------------------------- */

/* Threads that keep both cores busy while a test runs, so that the pool's
 * threads and the submitter are preempted at arbitrary points. */
typedef struct {
  pthread_t threads[2];
  _Atomic bool stop;
} hogs_t;

static void *hog_main(void *arg) {
  hogs_t *h = arg;
  while (!atomic_load_explicit(&h->stop, memory_order_relaxed))
    for (volatile int i = 0; i < 10000; i++)
      ;
  return NULL;
}

static void hogs_start(hogs_t *h) {
  atomic_init(&h->stop, false);
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(pthread_create(&h->threads[i], NULL, hog_main, h), 0);
}

static void hogs_stop(hogs_t *h) {
  atomic_store(&h->stop, true);
  for (int i = 0; i < 2; i++)
    pthread_join(h->threads[i], NULL);
}

/* A rendezvous of n tasks: each one waits until all n have started. The
 * wait is bounded (30 s) only so that a pool that serializes the tasks
 * fails the test instead of hanging it; a correct pool meets at once. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int n, started;
} rendezvous_t;

static void rendezvous_init(rendezvous_t *r, int n) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&r->cv, &attr);
  pthread_condattr_destroy(&attr);
  pthread_mutex_init(&r->mu, NULL);
  r->n = n;
  r->started = 0;
}

static void rendezvous_destroy(rendezvous_t *r) {
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->mu);
}

/* Whether count tasks have started within the bound. */
static bool rendezvous_wait(rendezvous_t *r, int count) {
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += 30;
  pthread_mutex_lock(&r->mu);
  int rc = 0;
  while (r->started < count && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&r->cv, &r->mu, &deadline);
  bool met = r->started >= count;
  pthread_mutex_unlock(&r->mu);
  return met;
}

/* Fails with XF_ETIMEDOUT when the others did not start while it ran. */
static int rendezvous_task(void *data, xf_future_t *self) {
  (void) self;
  rendezvous_t *r = data;
  pthread_mutex_lock(&r->mu);
  r->started++;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  return rendezvous_wait(r, r->n) ? XF_OK : XF_ETIMEDOUT;
}

/* Submit n rendezvous tasks to ex and check that they all met. Staggered,
 * each task is submitted only once the previous ones have started, so the
 * workers running them are busy while the next one is queued. */
static void rendezvous_round(xf_executor_t *ex, int n, bool staggered) {
  rendezvous_t r;
  rendezvous_init(&r, n);
  xf_future_t *fs[4];
  for (int i = 0; i < n; i++) {
    if (staggered)
      ck_assert_msg(rendezvous_wait(&r, i), "task %d of %d never started", i - 1, n);
    ck_assert_int_eq(xf_executor_submit(ex, rendezvous_task, &r, NULL, &fs[i]), XF_OK);
  }
  for (int i = 0; i < n; i++) {
    xf_value_t *v;
    ck_assert_msg(xf_future_result(fs[i], -1, &v) == XF_OK,
                  "task %d of %d ran without the others (%s)", i, n,
                  staggered ? "staggered" : "together");
    xf_value_unref(v);
    xf_future_unref(fs[i]);
  }
  rendezvous_destroy(&r);
}

START_TEST(test_parallel_blocking_cold) {
  hogs_t hogs;
  hogs_start(&hogs);
  for (int rep = 0; rep < 4; rep++) {
    for (int n = 2; n <= 4; n++) {
      xf_executor_t *ex = xft_pool((uint32_t) n);
      rendezvous_round(ex, n, rep & 1);
      xf_executor_unref(ex);
    }
  }
  hogs_stop(&hogs);
}
END_TEST

START_TEST(test_parallel_blocking_warm) {
  hogs_t hogs;
  hogs_start(&hogs);
  for (int n = 2; n <= 4; n++) {
    xf_executor_t *ex = xft_pool((uint32_t) n);
    /* The first round starts every worker; the others find them idle. */
    rendezvous_round(ex, n, false);
    for (int rep = 0; rep < 8; rep++) {
      /* Half the rounds give the idle workers time to stop spinning and
       * fall asleep; the outcome must not depend on it. */
      if (rep & 2)
        xft_sleep_ns(2 * MS);
      rendezvous_round(ex, n, rep & 1);
    }
    xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
    ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
    ck_assert_uint_eq(st.threads, (unsigned) n);
    xf_executor_unref(ex);
  }
  hogs_stop(&hogs);
}
END_TEST

START_TEST(test_parallel_blocking_partly_warm) {
  hogs_t hogs;
  hogs_start(&hogs);
  for (int rep = 0; rep < 4; rep++) {
    xf_executor_t *ex = xft_pool(4);
    /* Rounds of two start two workers and leave them idle; then rounds of
     * three and four need the workers not started yet as well. */
    for (int i = 0; i < 4; i++)
      rendezvous_round(ex, 2, i & 1);
    rendezvous_round(ex, 3, rep & 1);
    rendezvous_round(ex, 4, rep & 2);
    xf_executor_unref(ex);
  }
  hogs_stop(&hogs);
}
END_TEST

/* Counts the initializer calls that did not see their thread's own name. */
static int init_check_name(void *data) {
  char name[32] = "";
  pthread_getname_np(pthread_self(), name, sizeof name);
  unsigned n;
  char rest;
  if (sscanf(name, "named-%u%c", &n, &rest) != 1)
    atomic_fetch_add((_Atomic int *) data, 1);
  return 0;
}

START_TEST(test_initializer_sees_thread_name) {
  _Atomic int wrong = 0;
  for (int i = 0; i < 100; i++) {
    xf_thread_pool_options_t o = XF_THREAD_POOL_OPTIONS_INIT;
    o.max_workers = 4;
    o.thread_name_prefix = "named";
    o.initializer = init_check_name;
    o.init_data = &wrong;
    xf_executor_t *ex;
    ck_assert_int_eq(xf_thread_pool_new(&o, &ex), XF_OK);
    /* Tasks that meet start every worker. */
    rendezvous_round(ex, 4, false);
    xf_executor_unref(ex);
  }
  int seen = atomic_load(&wrong);
  ck_assert_msg(seen == 0, "%d of 400 initializers ran before their thread was named",
                seen);
}
END_TEST

START_TEST(test_drop_task_without_task) {
  /* A future that never carried a task. */
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_executor_drop_task(f, XF_ECANCELLED), XF_EINVAL);
  ck_assert_int_eq(xf_executor_drop_task(f, XF_ESHUTDOWN), XF_EINVAL);
  ck_assert_int_eq(xf_future_state(f), XF_PENDING);
  ck_assert_int_eq(xf_executor_run_task(f), XF_EINVAL);
  ck_assert_int_eq(xf_future_state(f), XF_PENDING);
  xf_future_unref(f);
  /* A task future whose task has already run keeps its outcome. (A task
   * that returns without setting a result is over, data released, before
   * its future is done.) */
  xf_executor_t *ex = xft_pool(1);
  ck_assert_int_eq(xf_executor_submit(ex, noop_task, NULL, NULL, &f), XF_OK);
  ck_assert_int_eq(xf_future_wait(f, -1), XF_OK);
  ck_assert_int_eq(xf_executor_drop_task(f, XF_ECANCELLED), XF_EINVAL);
  ck_assert_int_eq(xf_future_state(f), XF_FINISHED);
  xf_value_t *v;
  ck_assert_int_eq(xf_future_result(f, 0, &v), XF_OK);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_VOID);
  xf_value_unref(v);
  xf_future_unref(f);
  xf_executor_unref(ex);
}
END_TEST

/* ---- fork ------------------------------------------------------------- */

static void noop_cb(void *data) {
  (void) data;
}

/* Keeps the pool lock, future locks and the loop's incoming lock taken as
 * often as possible, so that a fork lands while one of them is held. */
typedef struct {
  xf_executor_t *ex;
  xf_loop_t *loop;
  _Atomic bool stop;
  pthread_t submitter, runner;
} churn_t;

static void *churn_submit(void *arg) {
  churn_t *c = arg;
  while (!atomic_load(&c->stop)) {
    xf_future_t *f;
    if (xf_executor_submit(c->ex, noop_task, NULL, NULL, &f) == XF_OK)
      xf_future_unref(f);
    xf_loop_call_soon_threadsafe(c->loop, noop_cb, NULL, NULL);
  }
  return NULL;
}

static void *churn_run_loop(void *arg) {
  churn_t *c = arg;
  xf_loop_run(c->loop, XF_RUN_DEFAULT);
  return NULL;
}

static void after_fork_cb(void *data) {
  *(bool *) data = true;
}

/* The sanitizers' runtimes are not fork-safe: ASan's allocator may stay
 * locked by a thread that is not in the child, and TSan refuses to start
 * threads there. Under them the child makes only the calls that neither
 * allocate nor free. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FORK_CHILD_MAY_ALLOCATE 0
#endif
#endif
#if !defined(FORK_CHILD_MAY_ALLOCATE) &&                                                 \
    (defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__))
#define FORK_CHILD_MAY_ALLOCATE 0
#endif
#ifndef FORK_CHILD_MAY_ALLOCATE
#define FORK_CHILD_MAY_ALLOCATE 1
#endif

/* What a child does with what it inherited; returns its verdict (the
 * number of the first check that failed, or 0). A child cannot report
 * through Check, hence the numbers. */
static int fork_child(xf_executor_t *ex, xf_loop_t *loop, xf_future_t *busy,
                      xf_future_t *busy_default) {
  /* The inherited pool is broken here, and stopping it does not wait for
   * the parent's threads. */
  if (xf_executor_shutdown(ex, true, false) != XF_EBROKEN)
    return 10;
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  if (xf_executor_stats(ex, &st) != XF_EBROKEN)
    return 11;
  /* Its running task stays running: its thread is in the parent. */
  if (xf_future_state(busy) != XF_RUNNING || xf_future_wait(busy, 0) != XF_ETIMEDOUT)
    return 12;
  /* The inherited loop is closed here, and so is its default executor. */
  xf_future_t *f = (xf_future_t *) 1;
  if (!xf_loop_is_closed(loop))
    return 20;
  if (xf_loop_run(loop, XF_RUN_NOWAIT) != XF_ECLOSED)
    return 21;
  if (xf_loop_run_in_executor(loop, NULL, noop_task, NULL, NULL, &f) != XF_ECLOSED || f)
    return 22;
  if (xf_loop_backend_fd(loop) != XF_ECLOSED)
    return 23;
  if (xf_loop_close(loop) != XF_OK)
    return 24;
  if (xf_future_done(busy_default))
    return 25;
  if (!FORK_CHILD_MAY_ALLOCATE)
    return 0;
  if (xf_executor_submit(ex, noop_task, NULL, NULL, &f) != XF_EBROKEN || f)
    return 26;
  if (xf_loop_call_soon_threadsafe(loop, noop_cb, NULL, NULL) != XF_ECLOSED)
    return 27;
  if (xf_loop_call_soon(loop, noop_cb, NULL, NULL, NULL) != XF_ECLOSED)
    return 28;
  xf_future_unref(busy);
  xf_future_unref(busy_default);
  xf_executor_unref(ex);
  xf_loop_unref(loop);
  /* New pools and loops work as usual. */
  xf_executor_t *fresh;
  if (xf_thread_pool_new(NULL, &fresh) != XF_OK)
    return 30;
  if (xf_executor_submit(fresh, double_task, (void *) 21, NULL, &f) != XF_OK)
    return 31;
  xf_value_t *v;
  int64_t i = 0;
  if (xf_future_result(f, -1, &v) != XF_OK || xf_value_get_int(v, &i) != XF_OK || i != 42)
    return 32;
  xf_value_unref(v);
  xf_future_unref(f);
  xf_executor_unref(fresh);
  xf_loop_t *l2;
  bool ran = false;
  if (xf_loop_new(&l2) != XF_OK)
    return 40;
  if (xf_loop_call_soon_threadsafe(l2, after_fork_cb, &ran, NULL) != XF_OK)
    return 41;
  if (xf_loop_run(l2, XF_RUN_NOWAIT) != XF_OK || !ran)
    return 42;
  xf_loop_unref(l2);
  return 0;
}

/* The child's verdict: the byte it wrote to fd, or -1 if it wrote none
 * within a generous bound (it hangs, and is killed) or ended without one. */
static int child_verdict(pid_t pid, int fd) {
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  unsigned char verdict;
  int rc = -1;
  if (poll(&pfd, 1, 30000) == 1 && read(fd, &verdict, 1) == 1)
    rc = verdict;
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return rc;
}

START_TEST(test_fork_while_busy) {
  hogs_t hogs;
  hogs_start(&hogs);
  churn_t c = {.ex = xft_pool(3), .loop = xft_loop()};
  atomic_init(&c.stop, false);
  /* One worker of the pool and one of the loop's default executor sit
   * inside a task during every fork. */
  gate_t g = {0};
  xf_future_t *busy, *busy_default;
  ck_assert_int_eq(xf_executor_submit(c.ex, gate_task, &g, NULL, &busy), XF_OK);
  ck_assert_int_eq(
      xf_loop_run_in_executor(c.loop, NULL, gate_task, &g, NULL, &busy_default), XF_OK);
  while (atomic_load(&g.started) < 2)
    xft_sleep_ns(MS);
  ck_assert_int_eq(pthread_create(&c.runner, NULL, churn_run_loop, &c), 0);
  ck_assert_int_eq(pthread_create(&c.submitter, NULL, churn_submit, &c), 0);
  for (int rep = 0; rep < 20; rep++) {
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
      /* The child reports through the pipe and ends without running
       * anything at exit: what the parent's other threads held at the fork
       * (a submission in flight) is unreachable here, and a leak checker
       * would count it against the child. */
      unsigned char verdict =
          (unsigned char) fork_child(c.ex, c.loop, busy, busy_default);
      if (write(fds[1], &verdict, 1) != 1)
        _exit(1);
      for (;;)
        pause();
    }
    close(fds[1]);
    int verdict = child_verdict(pid, fds[0]);
    close(fds[0]);
    ck_assert_msg(verdict != -1, "the child of fork %d hangs", rep);
    ck_assert_msg(verdict == 0, "the child of fork %d failed check %d", rep, verdict);
  }
  atomic_store(&c.stop, true);
  pthread_join(c.submitter, NULL);
  atomic_store(&g.release, 1);
  ck_assert_int_eq(xf_future_wait(busy, -1), XF_OK);
  xf_future_unref(busy);
  xf_loop_stop(c.loop);
  pthread_join(c.runner, NULL);
  /* The default executor's task finishes into a loop future. */
  ck_assert_int_eq(xf_loop_run_until_complete(c.loop, busy_default, NULL), XF_OK);
  xf_future_unref(busy_default);
  xft_loop_free(c.loop);
  xf_executor_unref(c.ex);
  hogs_stop(&hogs);
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
  tcase_add_test(tc, test_initializer_sees_thread_name);
  suite_add_tcase(s, tc);
  tc = tcase_create("parallel");
  tcase_add_test(tc, test_parallel_blocking_cold);
  tcase_add_test(tc, test_parallel_blocking_warm);
  tcase_add_test(tc, test_parallel_blocking_partly_warm);
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
  tcase_add_test(tc, test_drop_task_without_task);
  suite_add_tcase(s, tc);
  tc = tcase_create("interface");
  tcase_add_test(tc, test_custom_executor);
  suite_add_tcase(s, tc);
  tc = tcase_create("fork");
  tcase_add_test(tc, test_fork_while_busy);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return xft_main(executor_suite());
}

/* Tasks: step functions resumed by the loop, awaiting futures (also ones
 * finished by other threads and chains of tasks), cancellation, and bad
 * input. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "testutil.h"
#include <xf/xf.h>

static int64_t value_int(xf_value_t *v) {
  int64_t i = -1;
  ck_assert_int_eq(xf_value_get_int(v, &i), XF_OK);
  xf_value_unref(v);
  return i;
}

static int64_t future_int(xf_future_t *f) {
  xf_value_t *v;
  ck_assert_int_eq(xf_future_result(f, 0, &v), XF_OK);
  return value_int(v);
}

static void count_free(void *data) {
  atomic_fetch_add((_Atomic int *) data, 1);
}

/* ---- steps ------------------------------------------------------------ */

static int step_return_7(xf_future_t *task, void *data, xf_future_t *awaited,
                         int status) {
  (void) data;
  ck_assert_ptr_null(awaited);
  ck_assert_int_eq(status, XF_OK);
  return xf_future_set_result(task, xft_int(7));
}

START_TEST(test_task_result) {
  xf_loop_t *loop = xft_loop();
  _Atomic int freed = 0;
  xf_future_t *t;
  ck_assert_int_eq(xf_task_new(loop, step_return_7, (void *) &freed, count_free, &t),
                   XF_OK);
  ck_assert(xf_task_is_task(t));
  ck_assert_ptr_eq(xf_future_loop(t), loop);
  ck_assert(!xf_future_done(t)); /* the first step runs soon, not now */
  xf_value_t *v;
  ck_assert_int_eq(xf_loop_run_until_complete(loop, t, &v), XF_OK);
  ck_assert_int_eq(value_int(v), 7);
  ck_assert_int_eq(freed, 1);
  xf_future_unref(t);
  xft_loop_free(loop);
}
END_TEST

/* A task that sleeps, then awaits a future, then returns the value + 1. */
typedef struct sleeper {
  xf_loop_t *loop;
  xf_future_t *target;
  int stage;
  int seen_status[4];
} sleeper_t;

static int step_sleep_then_await(xf_future_t *task, void *data, xf_future_t *awaited,
                                 int status) {
  sleeper_t *s = data;
  s->seen_status[s->stage] = status;
  switch (s->stage++) {
  case 0: {
    xf_future_t *sl;
    ck_assert_int_eq(xf_loop_sleep(s->loop, 2 * MS, &sl), XF_OK);
    ck_assert_int_eq(xf_task_await(task, sl), XF_OK);
    ck_assert_int_eq(xf_task_await(task, sl), XF_ESTATE); /* once per step */
    xf_future_unref(sl);
    return XF_TASK_AWAIT;
  }
  case 1:
    ck_assert(xf_future_done(awaited));
    ck_assert_int_eq(xf_task_await(task, s->target), XF_OK);
    return XF_TASK_AWAIT;
  default:
    if (status != XF_OK)
      return status;
    return xf_future_set_result(task, xft_int(future_int(awaited) + 1));
  }
}

static void *finish_later(void *p) {
  struct timespec ts = {0, 5 * MS};
  nanosleep(&ts, NULL);
  xf_future_set_result(p, xft_int(41));
  return NULL;
}

START_TEST(test_await_future_from_other_thread) {
  xf_loop_t *loop = xft_loop();
  xf_future_t *target;
  ck_assert_int_eq(xf_future_new(&target), XF_OK); /* free-standing */
  sleeper_t s = {.loop = loop, .target = target};
  xf_future_t *t;
  ck_assert_int_eq(xf_task_new(loop, step_sleep_then_await, &s, NULL, &t), XF_OK);
  pthread_t th;
  pthread_create(&th, NULL, finish_later, target);
  xf_value_t *v;
  ck_assert_int_eq(xf_loop_run_until_complete(loop, t, &v), XF_OK);
  pthread_join(th, NULL);
  ck_assert_int_eq(value_int(v), 42);
  ck_assert_int_eq(s.stage, 3);
  xf_future_unref(t);
  xf_future_unref(target);
  xft_loop_free(loop);
}
END_TEST

/* A chain of tasks: each awaits the previous one and adds one. */
typedef struct link {
  xf_future_t *prev;
  xf_future_t *extra; /* a loop future to await first, finished by a timer */
} link_t;

static int step_chain(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  link_t *l = data;
  if (!awaited) {
    if (l->extra) {
      ck_assert_int_eq(xf_task_await(task, l->extra), XF_OK);
      return XF_TASK_AWAIT;
    }
    if (!l->prev)
      return xf_future_set_result(task, xft_int(1));
    ck_assert_int_eq(xf_task_await(task, l->prev), XF_OK);
    return XF_TASK_AWAIT;
  }
  ck_assert_int_eq(status, XF_OK);
  if (awaited == l->extra) {
    l->extra = NULL;
    if (!l->prev)
      return xf_future_set_result(task, xft_int(future_int(awaited)));
    ck_assert_int_eq(xf_task_await(task, l->prev), XF_OK);
    return XF_TASK_AWAIT;
  }
  return xf_future_set_result(task, xft_int(future_int(awaited) + 1));
}

static void set_100(void *data) {
  xf_future_set_result(data, xft_int(100));
}

START_TEST(test_chain_of_tasks) {
  enum { N = 50 };
  xf_loop_t *loop = xft_loop();
  link_t links[N];
  xf_future_t *tasks[N];
  xf_future_t *first;
  ck_assert_int_eq(xf_loop_create_future(loop, &first), XF_OK);
  for (int i = 0; i < N; i++) {
    links[i].prev = i ? tasks[i - 1] : NULL;
    links[i].extra = i ? NULL : first;
    ck_assert_int_eq(xf_task_new(loop, step_chain, &links[i], NULL, &tasks[i]), XF_OK);
  }
  ck_assert_int_eq(xf_loop_call_later(loop, 2 * MS, set_100, first, NULL, NULL), XF_OK);
  xf_value_t *v;
  ck_assert_int_eq(xf_loop_run_until_complete(loop, tasks[N - 1], &v), XF_OK);
  ck_assert_int_eq(value_int(v), 100 + N - 1);
  for (int i = 0; i < N; i++) {
    ck_assert_int_eq(future_int(tasks[i]), 100 + i);
    xf_future_unref(tasks[i]);
  }
  xf_future_unref(first);
  xft_loop_free(loop);
}
END_TEST

/* ---- return codes ----------------------------------------------------- */

static int step_fail(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  (void) task;
  (void) data;
  (void) awaited;
  (void) status;
  return XF_ERANGE;
}

static int step_void(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  (void) task;
  (void) data;
  (void) awaited;
  (void) status;
  return XF_OK;
}

static int step_bad_await(xf_future_t *task, void *data, xf_future_t *awaited,
                          int status) {
  (void) task;
  (void) data;
  (void) awaited;
  (void) status;
  return XF_TASK_AWAIT; /* without xf_task_await */
}

START_TEST(test_step_return_codes) {
  xf_loop_t *loop = xft_loop();
  xf_future_t *t;
  ck_assert_int_eq(xf_task_new(loop, step_fail, NULL, NULL, &t), XF_OK);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, t, NULL), XF_EFAILED);
  xf_error_t *err;
  ck_assert_int_eq(xf_future_error(t, 0, &err), XF_OK);
  ck_assert_int_eq(xf_error_code(err), XF_ERANGE);
  xf_error_unref(err);
  xf_future_unref(t);

  ck_assert_int_eq(xf_task_new(loop, step_void, NULL, NULL, &t), XF_OK);
  xf_value_t *v;
  ck_assert_int_eq(xf_loop_run_until_complete(loop, t, &v), XF_OK);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_VOID);
  xf_future_unref(t);

  ck_assert_int_eq(xf_task_new(loop, step_bad_await, NULL, NULL, &t), XF_OK);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, t, NULL), XF_EFAILED);
  ck_assert_int_eq(xf_future_error(t, 0, &err), XF_OK);
  ck_assert_int_eq(xf_error_code(err), XF_ESTATE);
  xf_error_unref(err);
  xf_future_unref(t);
  xft_loop_free(loop);
}
END_TEST

/* Two yielding tasks interleave. */
typedef struct yielder {
  int id;
  int left;
  int *log;
  int *n;
} yielder_t;

static int step_yield(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  (void) task;
  (void) awaited;
  ck_assert_int_eq(status, XF_OK);
  yielder_t *y = data;
  y->log[(*y->n)++] = y->id;
  return --y->left ? XF_TASK_YIELD : XF_OK;
}

START_TEST(test_yield_interleaves) {
  xf_loop_t *loop = xft_loop();
  int log[6], n = 0;
  yielder_t a = {1, 3, log, &n}, b = {2, 3, log, &n};
  xf_future_t *ta, *tb;
  ck_assert_int_eq(xf_task_new(loop, step_yield, &a, NULL, &ta), XF_OK);
  ck_assert_int_eq(xf_task_new(loop, step_yield, &b, NULL, &tb), XF_OK);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, tb, NULL), XF_OK);
  ck_assert(xf_future_done(ta));
  int expected[] = {1, 2, 1, 2, 1, 2};
  ck_assert_int_eq(n, 6);
  for (int i = 0; i < 6; i++)
    ck_assert_int_eq(log[i], expected[i]);
  xf_future_unref(ta);
  xf_future_unref(tb);
  xft_loop_free(loop);
}
END_TEST

/* A failed awaited future: the step sees XF_EFAILED and passes the error on
 * as it is. */
static int step_propagate(xf_future_t *task, void *data, xf_future_t *awaited,
                          int status) {
  if (!awaited) {
    ck_assert_int_eq(xf_task_await(task, data), XF_OK);
    return XF_TASK_AWAIT;
  }
  ck_assert_int_eq(status, XF_EFAILED);
  xf_error_t *err;
  ck_assert_int_eq(xf_future_error(awaited, 0, &err), XF_OK);
  return xf_future_set_error(task, err);
}

START_TEST(test_awaited_failure) {
  xf_loop_t *loop = xft_loop();
  xf_future_t *f, *t;
  ck_assert_int_eq(xf_loop_create_future(loop, &f), XF_OK);
  ck_assert_int_eq(xf_future_fail(f, XF_EFAILED, "ValueError", "boom"), XF_OK);
  ck_assert_int_eq(xf_task_new(loop, step_propagate, f, NULL, &t), XF_OK);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, t, NULL), XF_EFAILED);
  xf_error_t *err;
  ck_assert_int_eq(xf_future_error(t, 0, &err), XF_OK);
  ck_assert_str_eq(xf_error_type(err), "ValueError");
  ck_assert_str_eq(xf_error_message(err), "boom");
  xf_error_unref(err);
  xf_future_unref(t);
  xf_future_unref(f);
  xft_loop_free(loop);
}
END_TEST

/* ---- cancellation ----------------------------------------------------- */

typedef struct canceller {
  xf_future_t *target;
  bool swallow;
  int steps;
  int last_status;
  bool target_cancelled;
  _Atomic int freed;
} canceller_t;

static void canceller_free(void *data) {
  atomic_fetch_add(&((canceller_t *) data)->freed, 1);
}

static int step_await_target(xf_future_t *task, void *data, xf_future_t *awaited,
                             int status) {
  canceller_t *c = data;
  c->steps++;
  c->last_status = status;
  if (!awaited && status == XF_OK) {
    ck_assert_int_eq(xf_task_await(task, c->target), XF_OK);
    return XF_TASK_AWAIT;
  }
  c->target_cancelled = awaited && xf_future_cancelled(awaited);
  if (status == XF_ECANCELLED && c->swallow)
    return xf_future_set_result(task, xft_int(99));
  return status;
}

static void cancel_task(void *data) {
  ck_assert_int_eq(xf_future_cancel(data), XF_OK);
}

START_TEST(test_cancel_suspended_task) {
  xf_loop_t *loop = xft_loop();
  for (int swallow = 0; swallow < 2; swallow++) {
    xf_future_t *target, *t;
    ck_assert_int_eq(xf_loop_create_future(loop, &target), XF_OK);
    canceller_t c = {.target = target, .swallow = swallow};
    ck_assert_int_eq(xf_task_new(loop, step_await_target, &c, canceller_free, &t), XF_OK);
    ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK); /* first step */
    ck_assert_int_eq(c.steps, 1);
    ck_assert_int_eq(xf_loop_call_soon(loop, cancel_task, t, NULL, NULL), XF_OK);
    int rc = xf_loop_run_until_complete(loop, t, NULL);
    ck_assert_int_eq(c.steps, 2);
    ck_assert_int_eq(c.last_status, XF_ECANCELLED);
    ck_assert(c.target_cancelled);
    ck_assert(xf_future_cancelled(target));
    if (swallow) {
      ck_assert_int_eq(rc, XF_OK);
      ck_assert_int_eq(future_int(t), 99);
    } else {
      ck_assert_int_eq(rc, XF_ECANCELLED);
      ck_assert(xf_future_cancelled(t));
      /* Cancelling a cancelled task is harmless; a finished one refuses. */
      ck_assert_int_eq(xf_future_cancel(t), XF_OK);
    }
    ck_assert_int_eq(c.freed, 1);
    xf_future_unref(t);
    xf_future_unref(target);
  }
  xft_loop_free(loop);
}
END_TEST

START_TEST(test_cancel_before_first_step) {
  xf_loop_t *loop = xft_loop();
  canceller_t c = {0};
  xf_future_t *t;
  ck_assert_int_eq(xf_task_new(loop, step_await_target, &c, canceller_free, &t), XF_OK);
  ck_assert_int_eq(xf_future_cancel_msg(t, "stop it"), XF_OK);
  ck_assert(!xf_future_done(t)); /* a request: the step decides */
  ck_assert_int_eq(xf_loop_run_until_complete(loop, t, NULL), XF_ECANCELLED);
  ck_assert_int_eq(c.steps, 1);
  ck_assert_int_eq(c.last_status, XF_ECANCELLED);
  xf_error_t *err;
  ck_assert_int_eq(xf_future_error(t, 0, &err), XF_OK);
  ck_assert_str_eq(xf_error_message(err), "stop it");
  xf_error_unref(err);
  ck_assert_int_eq(c.freed, 1);
  xf_future_unref(t);
  xft_loop_free(loop);
}
END_TEST

typedef struct exec_waiter {
  xf_loop_t *loop;
  xf_executor_t *ex;
  xf_future_t *job;
  int last_status;
} exec_waiter_t;

typedef struct gate {
  _Atomic int open, started, ran;
} gate_t;

static gate_t gate;

static int job_block(void *data, xf_future_t *f) {
  (void) data;
  (void) f;
  atomic_store(&gate.started, 1);
  while (!atomic_load(&gate.open)) {
    struct timespec ts = {0, MS};
    nanosleep(&ts, NULL);
  }
  return XF_OK;
}

static int job_mark(void *data, xf_future_t *f) {
  (void) data;
  (void) f;
  atomic_store(&gate.ran, 1);
  return XF_OK;
}

static int step_await_job(xf_future_t *task, void *data, xf_future_t *awaited,
                          int status) {
  exec_waiter_t *w = data;
  if (!awaited && status == XF_OK) {
    ck_assert_int_eq(
        xf_loop_run_in_executor(w->loop, w->ex, job_mark, NULL, NULL, &w->job), XF_OK);
    ck_assert_int_eq(xf_task_await(task, w->job), XF_OK);
    return XF_TASK_AWAIT;
  }
  w->last_status = status;
  return status;
}

static void *cancel_later(void *p) {
  struct timespec ts = {0, 5 * MS};
  nanosleep(&ts, NULL);
  xf_future_cancel(p);
  return NULL;
}

START_TEST(test_cancel_task_awaiting_executor) {
  xf_loop_t *loop = xft_loop();
  xf_thread_pool_options_t opts = XF_THREAD_POOL_OPTIONS_INIT;
  opts.max_workers = 1;
  xf_executor_t *ex;
  ck_assert_int_eq(xf_thread_pool_new(&opts, &ex), XF_OK);
  atomic_store(&gate.open, 0);
  xf_future_t *blocker;
  ck_assert_int_eq(xf_executor_submit(ex, job_block, NULL, NULL, &blocker), XF_OK);
  while (!atomic_load(&gate.started)) {
    struct timespec ts = {0, MS};
    nanosleep(&ts, NULL);
  }
  exec_waiter_t w = {.loop = loop, .ex = ex};
  xf_future_t *t;
  ck_assert_int_eq(xf_task_new(loop, step_await_job, &w, NULL, &t), XF_OK);
  /* Cancelled from another thread while it waits for a queued job. */
  pthread_t th;
  pthread_create(&th, NULL, cancel_later, t);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, t, NULL), XF_ECANCELLED);
  pthread_join(th, NULL);
  ck_assert_int_eq(w.last_status, XF_ECANCELLED);
  ck_assert(xf_future_cancelled(w.job));
  atomic_store(&gate.open, 1);
  xf_executor_shutdown(ex, true, false);
  ck_assert_int_eq(atomic_load(&gate.ran), 0);
  xf_future_unref(w.job);
  xf_future_unref(blocker);
  xf_future_unref(t);
  xf_executor_unref(ex);
  xft_loop_free(loop);
}
END_TEST

START_TEST(test_close_with_suspended_task) {
  xf_loop_t *loop = xft_loop();
  xf_future_t *target, *t;
  ck_assert_int_eq(xf_future_new(&target), XF_OK);
  canceller_t c = {.target = target};
  ck_assert_int_eq(xf_task_new(loop, step_await_target, &c, canceller_free, &t), XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(c.steps, 1);
  xf_future_unref(t);
  /* The task will never resume: closing lets it go (valgrind checks). */
  xft_loop_free(loop);
  ck_assert_int_eq(c.freed, 1);
  _Atomic int freed = 0;
  ck_assert_int_eq(xf_future_set_result(target, NULL), XF_OK);
  xf_future_unref(target);

  /* A task whose first step never ran is dropped with its data. */
  loop = xft_loop();
  ck_assert_int_eq(xf_task_new(loop, step_void, (void *) &freed, count_free, &t), XF_OK);
  xf_future_unref(t);
  xft_loop_free(loop);
  ck_assert_int_eq(freed, 1);
}
END_TEST

/* Closing the loop drops the tasks that will never run again, and with them
 * their data, also while the caller still holds the task's future: one whose
 * first step is queued, one that yielded, one suspended on a future. */
static int step_yield_once(xf_future_t *task, void *data, xf_future_t *awaited,
                           int status) {
  (void) task, (void) data, (void) awaited, (void) status;
  return XF_TASK_YIELD;
}

/* A task that yields keeps its data until it ends. */
typedef struct yield_data {
  int left;
  _Atomic int freed;
} yield_data_t;

static void yield_data_free(void *data) {
  atomic_fetch_add(&((yield_data_t *) data)->freed, 1);
}

static int step_yield_checking(xf_future_t *task, void *data, xf_future_t *awaited,
                               int status) {
  (void) task, (void) awaited, (void) status;
  yield_data_t *y = data;
  ck_assert_int_eq(atomic_load(&y->freed), 0);
  return --y->left ? XF_TASK_YIELD : XF_OK;
}

START_TEST(test_yield_keeps_data) {
  xf_loop_t *loop = xft_loop();
  yield_data_t y = {.left = 4};
  xf_future_t *t;
  ck_assert_int_eq(xf_task_new(loop, step_yield_checking, &y, yield_data_free, &t),
                   XF_OK);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, t, NULL), XF_OK);
  ck_assert_int_eq(y.left, 0);
  ck_assert_int_eq(atomic_load(&y.freed), 1);
  xf_future_unref(t);
  xft_loop_free(loop);
  ck_assert_int_eq(atomic_load(&y.freed), 1);
}
END_TEST

START_TEST(test_close_frees_dropped_task_data) {
  xf_loop_t *loop = xft_loop();
  _Atomic int freed_first = 0, freed_yield = 0;
  xf_future_t *target, *first, *yielder, *suspended;
  ck_assert_int_eq(xf_future_new(&target), XF_OK);
  canceller_t c = {.target = target};
  ck_assert_int_eq(
      xf_task_new(loop, step_yield_once, (void *) &freed_yield, count_free, &yielder),
      XF_OK);
  ck_assert_int_eq(xf_task_new(loop, step_await_target, &c, canceller_free, &suspended),
                   XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(c.steps, 1);
  ck_assert_int_eq(
      xf_task_new(loop, step_void, (void *) &freed_first, count_free, &first), XF_OK);
  xft_loop_free(loop);
  ck_assert_int_eq(freed_first, 1);
  ck_assert_int_eq(freed_yield, 1);
  ck_assert_int_eq(c.freed, 1);
  ck_assert(!xf_future_done(first));
  xf_future_unref(first);
  xf_future_unref(yielder);
  xf_future_unref(suspended);
  ck_assert_int_eq(c.freed, 1);
  ck_assert_int_eq(xf_future_set_result(target, NULL), XF_OK);
  xf_future_unref(target);
}
END_TEST

/* A task whose only reference left is the wake-up that its awaited future,
 * finished on the loop's thread, queued: closing the loop without running it
 * drops the wake-up and frees the task once, its step never resumed. Both a
 * loop future and a free-standing one queue that wake-up. */
START_TEST(test_close_with_queued_wakeup) {
  for (int own_loop = 0; own_loop < 2; own_loop++) {
    xf_loop_t *loop = xft_loop();
    xf_future_t *target, *t;
    if (own_loop)
      ck_assert_int_eq(xf_loop_create_future(loop, &target), XF_OK);
    else
      ck_assert_int_eq(xf_future_new(&target), XF_OK);
    canceller_t c = {.target = target};
    ck_assert_int_eq(xf_task_new(loop, step_await_target, &c, canceller_free, &t), XF_OK);
    ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
    ck_assert_int_eq(c.steps, 1);
    ck_assert_int_eq(xf_future_set_result(target, NULL), XF_OK);
    xf_future_unref(target);
    xf_future_unref(t);
    ck_assert_int_eq(c.freed, 0); /* the queued wake-up holds the task */
    xft_loop_free(loop);
    ck_assert_int_eq(c.steps, 1);
    ck_assert_int_eq(c.freed, 1);
  }
}
END_TEST

/* A task with a future chained into it (xf_future_chain(src, task)) whose
 * step receives a cancellation, from the source or from a cancel of the
 * task itself, ends as the step answers: cancelled when it lets the
 * cancellation out, as an asyncio Task does when its coroutine lets
 * CancelledError out; failed for an error; done for XF_OK (it swallowed the
 * cancellation). Never pending for good. */
enum { VIA_SOURCE, VIA_SOURCE_AWAITING_OTHER, VIA_TASK };

typedef struct chained {
  int how;
  int answer;         /* the step's answer to the cancellation */
  xf_future_t *src;   /* chained into the task */
  xf_future_t *other; /* awaited instead of src in VIA_SOURCE_AWAITING_OTHER */
  int steps;
  int last_status;
} chained_t;

static int step_chain_and_await(xf_future_t *task, void *data, xf_future_t *awaited,
                                int status) {
  chained_t *c = data;
  c->steps++;
  c->last_status = status;
  if (awaited || status != XF_OK)
    return c->answer;
  ck_assert_int_eq(xf_future_chain(c->src, task), XF_OK);
  xf_future_t *f = c->how == VIA_SOURCE_AWAITING_OTHER ? c->other : c->src;
  ck_assert_int_eq(xf_task_await(task, f), XF_OK);
  return XF_TASK_AWAIT;
}

START_TEST(test_chained_task_cancelled) {
  xf_loop_t *loop = xft_loop();
  const int answers[] = {XF_ECANCELLED, XF_ERANGE, XF_OK};
  for (int how = VIA_SOURCE; how <= VIA_TASK; how++) {
    for (size_t a = 0; a < sizeof answers / sizeof answers[0]; a++) {
      chained_t c = {.how = how, .answer = answers[a]};
      ck_assert_int_eq(xf_loop_create_future(loop, &c.src), XF_OK);
      ck_assert_int_eq(xf_loop_create_future(loop, &c.other), XF_OK);
      xf_future_t *t, *all;
      ck_assert_int_eq(xf_task_new(loop, step_chain_and_await, &c, NULL, &t), XF_OK);
      ck_assert_int_eq(xf_future_all(&t, 1, 0, &all), XF_OK);
      ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK); /* first step */
      ck_assert_int_eq(c.steps, 1);
      if (how == VIA_TASK)
        ck_assert_int_eq(xf_future_cancel_msg(t, "gone"), XF_OK);
      else
        ck_assert_int_eq(xf_future_cancel_msg(c.src, "gone"), XF_OK);
      while (c.steps < 2)
        ck_assert_int_eq(xf_loop_run(loop, XF_RUN_ONCE), XF_OK);
      ck_assert_int_eq(c.last_status, XF_ECANCELLED);
      /* The step answered: the task is over, and so is what waits for it. */
      ck_assert(xf_future_done(t));
      ck_assert(xf_future_done(all));
      xf_error_t *err = NULL;
      int rc = xf_loop_run_until_complete(loop, t, NULL);
      if (c.answer == XF_OK) {
        ck_assert_int_eq(rc, XF_OK);
      } else {
        ck_assert_int_eq(rc, c.answer == XF_ECANCELLED ? XF_ECANCELLED : XF_EFAILED);
        ck_assert_int_eq(xf_future_error(t, 0, &err), XF_OK);
        if (c.answer == XF_ECANCELLED)
          ck_assert_str_eq(xf_error_message(err), "gone");
        else
          ck_assert_int_eq(xf_error_code(err), XF_ERANGE);
        xf_error_unref(err);
      }
      /* Cancellation flows both ways along the chain. */
      ck_assert(xf_future_cancelled(c.src));
      ck_assert_int_eq(xf_future_error(all, 0, &err), XF_OK);
      ck_assert((err != NULL) == (c.answer != XF_OK));
      xf_error_unref(err);
      xf_future_unref(all);
      xf_future_unref(t);
      xf_future_unref(c.src);
      xf_future_unref(c.other);
    }
  }
  xft_loop_free(loop);
}
END_TEST

/* ---- bad input -------------------------------------------------------- */

static void *await_from_thread(void *p) {
  xf_future_t **fs = p;
  return (void *) (intptr_t) xf_task_await(fs[0], fs[1]);
}

typedef struct misuse {
  xf_future_t *task;
  xf_future_t *other;
  int rc_self, rc_thread;
} misuse_t;

static int step_misuse(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  (void) awaited;
  (void) status;
  misuse_t *m = data;
  m->rc_self = xf_task_await(task, task);
  xf_future_t *args[2] = {task, m->other};
  pthread_t th;
  void *ret;
  pthread_create(&th, NULL, await_from_thread, args);
  pthread_join(th, &ret);
  m->rc_thread = (int) (intptr_t) ret;
  return XF_OK;
}

START_TEST(test_bad_input) {
  xf_loop_t *loop = xft_loop();
  xf_future_t *t, *f;
  ck_assert_int_eq(xf_task_new(NULL, step_void, NULL, NULL, &t), XF_EINVAL);
  ck_assert_ptr_null(t);
  ck_assert_int_eq(xf_task_new(loop, NULL, NULL, NULL, &t), XF_EINVAL);
  ck_assert_int_eq(xf_task_new(loop, step_void, NULL, NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert(!xf_task_is_task(f));
  ck_assert(!xf_task_is_task(NULL));
  ck_assert_int_eq(xf_task_await(f, f), XF_EINVAL);
  ck_assert_int_eq(xf_task_await(NULL, f), XF_EINVAL);
  misuse_t m = {.other = f};
  ck_assert_int_eq(xf_task_new(loop, step_misuse, &m, NULL, &t), XF_OK);
  /* Outside its step. */
  ck_assert_int_eq(xf_task_await(t, f), XF_ESTATE);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, t, NULL), XF_OK);
  ck_assert_int_eq(m.rc_self, XF_EINVAL);
  ck_assert_int_eq(m.rc_thread, XF_EWRONGTHREAD);
  xf_future_unref(t);
  xf_future_unref(f);
  ck_assert_int_eq(xf_loop_close(loop), XF_OK);
  ck_assert_int_eq(xf_task_new(loop, step_void, NULL, NULL, &t), XF_ECLOSED);
  xf_loop_unref(loop);
}
END_TEST

START_TEST(test_enomem) {
  xf_loop_t *loop = xft_loop();
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_future_t *t;
    _Atomic int freed = 0;
    int rc = xf_task_new(loop, step_void, (void *) &freed, count_free, &t);
    if (rc == XF_ENOMEM) {
      ck_assert_int_eq(freed, 0);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    xft_alloc_fail_at(-1);
    ck_assert_int_eq(xf_loop_run_until_complete(loop, t, NULL), XF_OK);
    ck_assert_int_eq(freed, 1);
    xf_future_unref(t);
  }
  xft_loop_free(loop);
}
END_TEST

static Suite *task_suite(void) {
  Suite *s = suite_create("task");
  TCase *tc = tcase_create("steps");
  tcase_add_test(tc, test_task_result);
  tcase_add_test(tc, test_await_future_from_other_thread);
  tcase_add_test(tc, test_chain_of_tasks);
  tcase_add_test(tc, test_step_return_codes);
  tcase_add_test(tc, test_yield_interleaves);
  tcase_add_test(tc, test_awaited_failure);
  suite_add_tcase(s, tc);
  tc = tcase_create("cancellation");
  tcase_add_test(tc, test_cancel_suspended_task);
  tcase_add_test(tc, test_cancel_before_first_step);
  tcase_add_test(tc, test_cancel_task_awaiting_executor);
  tcase_add_test(tc, test_close_with_suspended_task);
  tcase_add_test(tc, test_close_with_queued_wakeup);
  tcase_add_test(tc, test_close_frees_dropped_task_data);
  tcase_add_test(tc, test_yield_keeps_data);
  tcase_add_test(tc, test_chained_task_cancelled);
  suite_add_tcase(s, tc);
  tc = tcase_create("bad_input");
  tcase_add_test(tc, test_bad_input);
  suite_add_tcase(s, tc);
  tc = tcase_create("enomem");
  tcase_add_test(tc, test_enomem);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return xft_main(task_suite());
}

/* The combinators: xf_wait, as_completed, all, any, first, then, chain and
 * shield, with futures finished from other threads and by a thread pool,
 * bad input and failed allocations.
 *
 * Orders are forced by finishing futures from one helper thread in sequence
 * (with sleeps between the steps) or by holding tasks back on a gate future;
 * no test asserts how fast anything is. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include <xf/xf.h>

/* How long a test waits for something that must happen soon: long enough
 * for a loaded machine under valgrind. */
#define PATIENCE_MS 30000

static void sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t) (ms / 1000), (long) (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int64_t value_int(const xf_value_t *v) {
  int64_t i = -1;
  ck_assert_int_eq(xf_value_get_int(v, &i), XF_OK);
  return i;
}

static xf_future_t *pending(void) {
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  return f;
}

static xf_future_t *done_with(int64_t i) {
  xf_future_t *f = pending();
  ck_assert_int_eq(xf_future_set_result(f, xft_int(i)), XF_OK);
  return f;
}

static xf_error_t *error_new(const char *type, const char *message) {
  xf_error_t *e;
  ck_assert_int_eq(xf_error_new(XF_EFAILED, type, message, &e), XF_OK);
  return e;
}

/* The error a done future reports (a CancelledError when cancelled); the
 * caller owns it. */
static xf_error_t *error_of(xf_future_t *f) {
  xf_error_t *e;
  ck_assert_int_eq(xf_future_error(f, -1, &e), XF_OK);
  ck_assert_ptr_nonnull(e);
  return e;
}

static void assert_fails_with(xf_future_t *f, int code, const char *type) {
  xf_value_t *v;
  ck_assert_int_eq(xf_future_result(f, -1, &v), XF_EFAILED);
  xf_error_t *e = error_of(f);
  ck_assert_int_eq(xf_error_code(e), code);
  if (type)
    ck_assert_str_eq(xf_error_type(e), type);
  xf_error_unref(e);
}

static void unref_all(xf_future_t **fs, size_t n) {
  for (size_t i = 0; i < n; i++)
    xf_future_unref(fs[i]);
}

/* A counter's value (a function, so that failed assertions read well). */
static int load(_Atomic int *counter) {
  return atomic_load(counter);
}

static void wait_for_count(_Atomic int *counter, int want) {
  for (int i = 0; i < PATIENCE_MS && load(counter) < want; i++)
    sleep_ms(1);
  ck_assert_int_eq(load(counter), want);
}

/* ---- a helper thread that finishes futures in a given order ----------- */

enum { ACT_VALUE, ACT_FAIL, ACT_CANCEL };

typedef struct {
  int64_t delay_ms; /* before this step */
  xf_future_t *f;
  int act;
  int64_t value;
  int rc;
} step_t;

typedef struct {
  step_t steps[16];
  int n;
  pthread_t thread;
} script_t;

static void script_add(script_t *s, int64_t delay_ms, xf_future_t *f, int act,
                       int64_t value) {
  ck_assert_int_lt(s->n, 16);
  s->steps[s->n++] = (step_t){delay_ms, f, act, value, 1};
}

/* No Check assertions in here: a failing one would leave from the wrong
 * thread. The codes are checked by script_join. */
static void *script_main(void *arg) {
  script_t *s = arg;
  for (int i = 0; i < s->n; i++) {
    step_t *st = &s->steps[i];
    sleep_ms(st->delay_ms);
    if (st->act == ACT_VALUE) {
      xf_value_t *v;
      st->rc = xf_value_new_int(st->value, &v);
      if (st->rc == XF_OK)
        st->rc = xf_future_set_result(st->f, v);
    } else if (st->act == ACT_FAIL) {
      st->rc = xf_future_fail(st->f, XF_EFAILED, "ValueError", "scripted");
    } else {
      st->rc = xf_future_cancel(st->f);
    }
  }
  return NULL;
}

static void script_start(script_t *s) {
  ck_assert_int_eq(pthread_create(&s->thread, NULL, script_main, s), 0);
}

static void script_join(script_t *s) {
  ck_assert_int_eq(pthread_join(s->thread, NULL), 0);
  for (int i = 0; i < s->n; i++)
    ck_assert_msg(s->steps[i].rc == XF_OK, "step %d: %s", i, xf_err_name(s->steps[i].rc));
}

/* ---- pool tasks --------------------------------------------------------- */

typedef struct {
  int64_t sleep_ms;
  int64_t value;
  xf_future_t *gate;  /* if set, wait for it first */
  xf_future_t *after; /* if set, wait for it after the sleep */
} task_t;

static int value_task(void *data, xf_future_t *self) {
  task_t *t = data;
  if (t->gate)
    xf_future_wait(t->gate, -1);
  sleep_ms(t->sleep_ms);
  if (t->after)
    xf_future_wait(t->after, -1);
  xf_value_t *v;
  int rc = xf_value_new_int(t->value, &v);
  if (rc != XF_OK)
    return rc;
  return xf_future_set_result(self, v);
}

/* ---- wait --------------------------------------------------------------- */

START_TEST(test_wait_all_completed) {
  xf_future_t *fs[3] = {pending(), pending(), pending()};
  unsigned char flags[3] = {9, 9, 9};
  ck_assert_int_eq(xf_wait(fs, 3, XF_ALL_COMPLETED, 0, flags), XF_ETIMEDOUT);
  ck_assert_int_eq(flags[0] + flags[1] + flags[2], 0);

  script_t s = {0};
  script_add(&s, 20, fs[2], ACT_VALUE, 2);
  script_add(&s, 20, fs[0], ACT_FAIL, 0);
  script_add(&s, 20, fs[1], ACT_CANCEL, 0);
  script_start(&s);
  ck_assert_int_eq(xf_wait(fs, 3, XF_ALL_COMPLETED, -1, flags), XF_OK);
  for (int i = 0; i < 3; i++)
    ck_assert(xf_future_done(fs[i]));
  ck_assert_int_eq(flags[0], 1);
  ck_assert_int_eq(flags[1], 1);
  ck_assert_int_eq(flags[2], 1);
  script_join(&s);
  /* Once the condition holds, a zero timeout is enough. */
  ck_assert_int_eq(xf_wait(fs, 3, XF_ALL_COMPLETED, 0, NULL), XF_OK);
  unref_all(fs, 3);
}
END_TEST

START_TEST(test_wait_first_completed) {
  xf_future_t *fs[3] = {pending(), pending(), pending()};
  unsigned char flags[3] = {9, 9, 9};
  script_t s = {0};
  script_add(&s, 30, fs[1], ACT_VALUE, 1);
  script_start(&s);
  ck_assert_int_eq(xf_wait(fs, 3, XF_FIRST_COMPLETED, -1, flags), XF_OK);
  ck_assert_int_eq(flags[0], 0);
  ck_assert_int_eq(flags[1], 1);
  ck_assert_int_eq(flags[2], 0);
  script_join(&s);
  /* A cancellation completes a future too. */
  xf_future_t *gs[2] = {pending(), pending()};
  script_t c = {0};
  script_add(&c, 30, gs[1], ACT_CANCEL, 0);
  script_start(&c);
  ck_assert_int_eq(xf_wait(gs, 2, XF_FIRST_COMPLETED, -1, flags), XF_OK);
  ck_assert_int_eq(flags[0], 0);
  ck_assert_int_eq(flags[1], 1);
  script_join(&c);
  ck_assert_int_eq(xf_future_set_result(fs[0], NULL), XF_OK);
  ck_assert_int_eq(xf_future_set_result(fs[2], NULL), XF_OK);
  ck_assert_int_eq(xf_future_set_result(gs[0], NULL), XF_OK);
  unref_all(fs, 3);
  unref_all(gs, 2);
}
END_TEST

START_TEST(test_wait_first_exception) {
  xf_future_t *fs[3] = {pending(), pending(), pending()};
  unsigned char flags[3];
  /* A cancelled future is not an exception, nor is a value. */
  ck_assert_int_eq(xf_future_cancel(fs[0]), XF_OK);
  ck_assert_int_eq(xf_future_set_result(fs[1], xft_int(1)), XF_OK);
  ck_assert_int_eq(xf_wait(fs, 3, XF_FIRST_EXCEPTION, 0, flags), XF_ETIMEDOUT);
  ck_assert_int_eq(flags[0], 1);
  ck_assert_int_eq(flags[1], 1);
  ck_assert_int_eq(flags[2], 0);
  ck_assert_int_eq(xf_wait(fs, 3, XF_FIRST_EXCEPTION, 20 * MS, flags), XF_ETIMEDOUT);
  /* Without any exception, the condition holds once all are done. */
  script_t s = {0};
  script_add(&s, 30, fs[2], ACT_VALUE, 2);
  script_start(&s);
  ck_assert_int_eq(xf_wait(fs, 3, XF_FIRST_EXCEPTION, -1, flags), XF_OK);
  ck_assert_int_eq(flags[0] + flags[1] + flags[2], 3);
  script_join(&s);
  unref_all(fs, 3);

  /* A failure ends the wait while others are still pending. */
  xf_future_t *gs[3] = {pending(), pending(), pending()};
  script_t t = {0};
  script_add(&t, 20, gs[0], ACT_CANCEL, 0);
  script_add(&t, 30, gs[2], ACT_FAIL, 0);
  script_start(&t);
  ck_assert_int_eq(xf_wait(gs, 3, XF_FIRST_EXCEPTION, -1, flags), XF_OK);
  script_join(&t);
  ck_assert_int_eq(flags[0], 1);
  ck_assert_int_eq(flags[1], 0);
  ck_assert_int_eq(flags[2], 1);
  ck_assert(!xf_future_done(gs[1]));
  ck_assert_int_eq(xf_future_set_result(gs[1], NULL), XF_OK);
  unref_all(gs, 3);
}
END_TEST

START_TEST(test_wait_timeout) {
  xf_future_t *fs[2] = {pending(), done_with(1)};
  unsigned char flags[2] = {9, 9};
  ck_assert_int_eq(xf_wait(fs, 2, XF_ALL_COMPLETED, 0, flags), XF_ETIMEDOUT);
  ck_assert_int_eq(flags[0], 0);
  ck_assert_int_eq(flags[1], 1);
  flags[0] = flags[1] = 9;
  int64_t t0 = xf_now();
  ck_assert_int_eq(xf_wait(fs, 2, XF_ALL_COMPLETED, 30 * MS, flags), XF_ETIMEDOUT);
  ck_assert_int_ge(xf_now() - t0, 30 * MS);
  ck_assert_int_eq(flags[0], 0);
  ck_assert_int_eq(flags[1], 1);
  /* FIRST_COMPLETED already holds. */
  ck_assert_int_eq(xf_wait(fs, 2, XF_FIRST_COMPLETED, 0, flags), XF_OK);
  /* A future that finishes within the timeout ends the wait with XF_OK. */
  script_t s = {0};
  script_add(&s, 20, fs[0], ACT_VALUE, 0);
  script_start(&s);
  ck_assert_int_eq(xf_wait(fs, 2, XF_ALL_COMPLETED, 60000 * MS, flags), XF_OK);
  ck_assert_int_eq(flags[0], 1);
  script_join(&s);
  unref_all(fs, 2);
}
END_TEST

START_TEST(test_wait_empty) {
  ck_assert_int_eq(xf_wait(NULL, 0, XF_ALL_COMPLETED, 0, NULL), XF_OK);
  ck_assert_int_eq(xf_wait(NULL, 0, XF_FIRST_COMPLETED, -1, NULL), XF_OK);
  ck_assert_int_eq(xf_wait(NULL, 0, XF_FIRST_EXCEPTION, 10 * MS, NULL), XF_OK);
}
END_TEST

START_TEST(test_wait_duplicates) {
  xf_future_t *f = pending();
  xf_future_t *fs[3] = {f, f, f};
  unsigned char flags[3];
  script_t s = {0};
  script_add(&s, 20, f, ACT_VALUE, 3);
  script_start(&s);
  ck_assert_int_eq(xf_wait(fs, 3, XF_ALL_COMPLETED, -1, flags), XF_OK);
  ck_assert_int_eq(flags[0] + flags[1] + flags[2], 3);
  script_join(&s);
  xf_future_unref(f);
}
END_TEST

START_TEST(test_wait_thread_pool) {
  xf_executor_t *ex = xft_pool(4);
  xf_future_t *gate = pending();
  task_t quick = {.sleep_ms = 10, .value = 1};
  task_t held = {.sleep_ms = 10, .value = 2, .gate = gate};
  task_t slow = {.sleep_ms = 50, .value = 3, .gate = gate};
  xf_future_t *fs[3];
  ck_assert_int_eq(xf_executor_submit(ex, value_task, &held, NULL, &fs[0]), XF_OK);
  ck_assert_int_eq(xf_executor_submit(ex, value_task, &quick, NULL, &fs[1]), XF_OK);
  ck_assert_int_eq(xf_executor_submit(ex, value_task, &slow, NULL, &fs[2]), XF_OK);
  unsigned char flags[3];
  ck_assert_int_eq(xf_wait(fs, 3, XF_FIRST_COMPLETED, -1, flags), XF_OK);
  ck_assert_int_eq(flags[0], 0);
  ck_assert_int_eq(flags[1], 1);
  ck_assert_int_eq(flags[2], 0);
  ck_assert_int_eq(xf_wait(fs, 3, XF_ALL_COMPLETED, 5 * MS, flags), XF_ETIMEDOUT);
  ck_assert_int_eq(flags[0] + flags[2], 0);
  ck_assert_int_eq(xf_future_set_result(gate, NULL), XF_OK);
  ck_assert_int_eq(xf_wait(fs, 3, XF_ALL_COMPLETED, -1, flags), XF_OK);
  ck_assert_int_eq(flags[0] + flags[1] + flags[2], 3);
  ck_assert_int_eq(xft_result_int(fs[0]), 2);
  ck_assert_int_eq(xft_result_int(fs[1]), 1);
  ck_assert_int_eq(xft_result_int(fs[2]), 3);
  unref_all(fs, 3);
  xf_future_unref(gate);
  xf_executor_unref(ex);
}
END_TEST

/* ---- as_completed ------------------------------------------------------- */

/* The next future, which must be want. */
static void assert_next(xf_as_completed_t *it, xf_future_t *want) {
  xf_future_t *got = (xf_future_t *) 1;
  ck_assert_int_eq(xf_as_completed_next(it, &got), XF_OK);
  ck_assert_ptr_eq(got, want);
  if (want)
    ck_assert(xf_future_done(got));
  xf_future_unref(got);
}

START_TEST(test_as_completed_order) {
  xf_future_t *fs[5] = {pending(), pending(), pending(), pending(), pending()};
  /* Done before the iterator exists, finished 3 then 1: they come first, in
   * the caller's order. */
  ck_assert_int_eq(xf_future_set_result(fs[3], NULL), XF_OK);
  ck_assert_int_eq(xf_future_cancel(fs[1]), XF_OK);
  xf_as_completed_t *it;
  ck_assert_int_eq(xf_as_completed_new(fs, 5, -1, &it), XF_OK);
  script_t s = {0};
  script_add(&s, 30, fs[4], ACT_VALUE, 4);
  script_add(&s, 30, fs[0], ACT_FAIL, 0);
  script_add(&s, 30, fs[2], ACT_CANCEL, 0);
  script_start(&s);
  assert_next(it, fs[1]);
  assert_next(it, fs[3]);
  assert_next(it, fs[4]);
  assert_next(it, fs[0]);
  assert_next(it, fs[2]);
  assert_next(it, NULL);
  assert_next(it, NULL);
  script_join(&s);
  xf_as_completed_free(it);
  unref_all(fs, 5);
}
END_TEST

START_TEST(test_as_completed_duplicates) {
  xf_future_t *a = done_with(1), *b = pending();
  xf_future_t *fs[5] = {b, a, b, a, b};
  xf_as_completed_t *it;
  ck_assert_int_eq(xf_as_completed_new(fs, 5, -1, &it), XF_OK);
  assert_next(it, a);
  script_t s = {0};
  script_add(&s, 20, b, ACT_VALUE, 2);
  script_start(&s);
  assert_next(it, b);
  assert_next(it, NULL);
  script_join(&s);
  xf_as_completed_free(it);
  xf_future_unref(a);
  xf_future_unref(b);
}
END_TEST

START_TEST(test_as_completed_timeout) {
  xf_future_t *fs[2] = {done_with(0), pending()};
  xf_as_completed_t *it;
  xf_future_t *got = (xf_future_t *) 1;
  /* Zero: done ones are yielded, then the iterator never blocks. */
  ck_assert_int_eq(xf_as_completed_new(fs, 2, 0, &it), XF_OK);
  assert_next(it, fs[0]);
  ck_assert_int_eq(xf_as_completed_next(it, &got), XF_ETIMEDOUT);
  ck_assert_ptr_null(got);
  xf_as_completed_free(it);

  /* A short timeout passes; the iterator is still usable afterwards. */
  int64_t t0 = xf_now();
  ck_assert_int_eq(xf_as_completed_new(fs, 2, 30 * MS, &it), XF_OK);
  assert_next(it, fs[0]);
  ck_assert_int_eq(xf_as_completed_next(it, &got), XF_ETIMEDOUT);
  ck_assert_int_ge(xf_now() - t0, 30 * MS);
  ck_assert_ptr_null(got);
  ck_assert_int_eq(xf_as_completed_next(it, &got), XF_ETIMEDOUT);
  ck_assert_int_eq(xf_future_set_result(fs[1], NULL), XF_OK);
  assert_next(it, fs[1]);
  assert_next(it, NULL);
  xf_as_completed_free(it);
  unref_all(fs, 2);

  /* The deadline counts from creation: once it has passed, next does not
   * wait at all. The future is finished only after next has returned, so a
   * next that waited for it would never return (the suite's timeout). */
  xf_future_t *f = pending();
  ck_assert_int_eq(xf_as_completed_new(&f, 1, 600 * MS, &it), XF_OK);
  sleep_ms(650);
  ck_assert_int_eq(xf_as_completed_next(it, &got), XF_ETIMEDOUT);
  ck_assert_ptr_null(got);
  ck_assert_int_eq(xf_future_set_result(f, NULL), XF_OK);
  assert_next(it, f);
  assert_next(it, NULL);
  xf_as_completed_free(it);
  xf_future_unref(f);
}
END_TEST

START_TEST(test_as_completed_end) {
  xf_as_completed_t *it;
  ck_assert_int_eq(xf_as_completed_new(NULL, 0, -1, &it), XF_OK);
  assert_next(it, NULL);
  assert_next(it, NULL);
  xf_as_completed_free(it);
  /* Freeing before the end drops everything, also registrations on futures
   * that are still pending. */
  xf_future_t *f = pending();
  ck_assert_int_eq(xf_as_completed_new(&f, 1, -1, &it), XF_OK);
  xf_as_completed_free(it);
  ck_assert_int_eq(xf_future_set_result(f, NULL), XF_OK);
  xf_future_unref(f);
  xf_as_completed_free(NULL);
}
END_TEST

START_TEST(test_as_completed_pool_seed) {
  /* The seed's program: ten tasks sleeping i * 30 ms come back in the order
   * of i. Sleeps alone do not fix that order on a busy machine, so each task
   * i > 0, after its sleep, also waits until the result i - 1 has been
   * handed out: the order is the program's, whatever the scheduling, and
   * as_completed must still report completions as they happen. */
  enum { N = 10 };
  xf_executor_t *ex = xft_pool(N);
  task_t tasks[N];
  xf_future_t *fs[N], *handed[N];
  for (int i = 0; i < N; i++)
    handed[i] = pending();
  /* Submitted longest first, so the submission order is not the answer. */
  for (int i = N - 1; i >= 0; i--) {
    tasks[i] =
        (task_t){.sleep_ms = 30 * i, .value = i, .after = i > 0 ? handed[i - 1] : NULL};
    ck_assert_int_eq(xf_executor_submit(ex, value_task, &tasks[i], NULL, &fs[i]), XF_OK);
  }
  /* Hand them over in reverse, so the caller's order is not the answer. */
  xf_future_t *rev[N];
  for (int i = 0; i < N; i++)
    rev[i] = fs[N - 1 - i];
  xf_as_completed_t *it;
  ck_assert_int_eq(xf_as_completed_new(rev, N, -1, &it), XF_OK);
  for (int i = 0; i < N; i++) {
    xf_future_t *got;
    ck_assert_int_eq(xf_as_completed_next(it, &got), XF_OK);
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(xft_result_int(got), i);
    xf_future_unref(got);
    ck_assert_int_eq(xf_future_set_result(handed[i], NULL), XF_OK);
  }
  assert_next(it, NULL);
  xf_as_completed_free(it);
  unref_all(fs, N);
  unref_all(handed, N);
  xf_executor_unref(ex);
}
END_TEST

/* ---- all ---------------------------------------------------------------- */

/* The i-th item of a list value (borrowed). */
static xf_value_t *item(xf_value_t *list, size_t i) {
  xf_value_t *v;
  ck_assert_int_eq(xf_value_list_get(list, i, &v), XF_OK);
  return v;
}

static xf_value_t *list_result(xf_future_t *f, size_t want_len) {
  xf_value_t *list;
  size_t len;
  ck_assert_int_eq(xf_future_result(f, -1, &list), XF_OK);
  ck_assert_int_eq(xf_value_kind(list), XF_KIND_LIST);
  ck_assert_int_eq(xf_value_list_len(list, &len), XF_OK);
  ck_assert_uint_eq(len, want_len);
  return list;
}

START_TEST(test_all_values_in_order) {
  xf_future_t *fs[3] = {pending(), pending(), pending()};
  xf_future_t *r;
  ck_assert_int_eq(xf_future_all(fs, 3, 0, &r), XF_OK);
  ck_assert(!xf_future_done(r));
  script_t s = {0};
  script_add(&s, 20, fs[2], ACT_VALUE, 20);
  script_add(&s, 20, fs[0], ACT_VALUE, 0);
  script_add(&s, 20, fs[1], ACT_VALUE, 10);
  script_start(&s);
  xf_value_t *list = list_result(r, 3);
  script_join(&s);
  for (size_t i = 0; i < 3; i++)
    ck_assert_int_eq(value_int(item(list, i)), 10 * (int64_t) i);
  xf_value_unref(list);
  xf_future_unref(r);
  unref_all(fs, 3);
}
END_TEST

START_TEST(test_all_mixed_done) {
  xf_future_t *fs[3] = {done_with(1), pending(), done_with(3)};
  xf_future_t *r;
  ck_assert_int_eq(xf_future_all(fs, 3, 0, &r), XF_OK);
  ck_assert(!xf_future_done(r));
  ck_assert_int_eq(xf_future_set_result(fs[1], xft_int(2)), XF_OK);
  ck_assert(xf_future_done(r));
  xf_value_t *list = list_result(r, 3);
  for (size_t i = 0; i < 3; i++)
    ck_assert_int_eq(value_int(item(list, i)), (int64_t) i + 1);
  xf_value_unref(list);
  xf_future_unref(r);
  unref_all(fs, 3);
  /* All done already: the result is done at once. */
  xf_future_t *gs[2] = {done_with(5), done_with(6)};
  ck_assert_int_eq(xf_future_all(gs, 2, 0, &r), XF_OK);
  ck_assert(xf_future_done(r));
  list = list_result(r, 2);
  ck_assert_int_eq(value_int(item(list, 0)), 5);
  ck_assert_int_eq(value_int(item(list, 1)), 6);
  xf_value_unref(list);
  xf_future_unref(r);
  unref_all(gs, 2);
}
END_TEST

START_TEST(test_all_fail_fast) {
  xf_future_t *fs[3] = {pending(), pending(), pending()};
  xf_future_t *r;
  ck_assert_int_eq(xf_future_all(fs, 3, 0, &r), XF_OK);
  xf_error_t *boom = error_new("KeyError", "boom");
  ck_assert_int_eq(xf_future_set_error(fs[1], xf_error_ref(boom)), XF_OK);
  ck_assert(xf_future_done(r));
  xf_error_t *e = error_of(r);
  ck_assert_ptr_eq(e, boom);
  ck_assert_str_eq(xf_error_type(e), "KeyError");
  ck_assert_str_eq(xf_error_message(e), "boom");
  xf_error_unref(e);
  /* The other inputs are left alone, and a later error does not replace the
   * first. */
  ck_assert_int_eq(xf_future_state(fs[0]), XF_PENDING);
  ck_assert_int_eq(xf_future_state(fs[2]), XF_PENDING);
  ck_assert_int_eq(xf_future_fail(fs[2], XF_EFAILED, "TypeError", "later"), XF_OK);
  ck_assert_int_eq(xf_future_set_result(fs[0], xft_int(0)), XF_OK);
  e = error_of(r);
  ck_assert_ptr_eq(e, boom);
  xf_error_unref(e);
  xf_error_unref(boom);
  xf_future_unref(r);
  unref_all(fs, 3);
}
END_TEST

START_TEST(test_all_fail_fast_on_cancel) {
  /* A cancelled input ends the result with a CancelledError and leaves the
   * other inputs alone. */
  xf_future_t *fs[3] = {pending(), pending(), pending()};
  xf_future_t *r;
  ck_assert_int_eq(xf_future_all(fs, 3, 0, &r), XF_OK);
  ck_assert_int_eq(xf_future_cancel_msg(fs[1], "gone"), XF_OK);
  ck_assert(xf_future_done(r));
  xf_value_t *v = (xf_value_t *) 1;
  ck_assert_int_ne(xf_future_result(r, 0, &v), XF_OK);
  ck_assert_ptr_null(v);
  xf_error_t *e = error_of(r);
  ck_assert_int_eq(xf_error_code(e), XF_ECANCELLED);
  ck_assert_str_eq(xf_error_type(e), "CancelledError");
  ck_assert_str_eq(xf_error_message(e), "gone");
  xf_error_unref(e);
  ck_assert_int_eq(xf_future_state(fs[0]), XF_PENDING);
  ck_assert_int_eq(xf_future_state(fs[2]), XF_PENDING);
  ck_assert_int_eq(xf_future_set_result(fs[0], NULL), XF_OK);
  ck_assert_int_eq(xf_future_set_result(fs[2], NULL), XF_OK);
  xf_future_unref(r);
  unref_all(fs, 3);
}
END_TEST

START_TEST(test_all_collect) {
  xf_future_t *fs[4] = {pending(), pending(), pending(), pending()};
  xf_future_t *r;
  ck_assert_int_eq(xf_future_all(fs, 4, XF_ALL_COLLECT, &r), XF_OK);
  ck_assert_int_eq(xf_future_fail(fs[1], XF_ERANGE, "IndexError", "out of range"), XF_OK);
  ck_assert_int_eq(xf_future_cancel_msg(fs[2], "stop"), XF_OK);
  ck_assert_int_eq(xf_future_set_result(fs[3], xft_int(3)), XF_OK);
  /* Errors do not end the wait: one input is still pending. */
  ck_assert(!xf_future_done(r));
  script_t s = {0};
  script_add(&s, 20, fs[0], ACT_VALUE, 0);
  script_start(&s);
  xf_value_t *list = list_result(r, 4);
  script_join(&s);
  ck_assert_int_eq(value_int(item(list, 0)), 0);
  ck_assert_int_eq(value_int(item(list, 3)), 3);
  xf_error_t *e;
  ck_assert_int_eq(xf_value_kind(item(list, 1)), XF_KIND_ERROR);
  ck_assert_int_eq(xf_value_get_error(item(list, 1), &e), XF_OK);
  ck_assert_int_eq(xf_error_code(e), XF_ERANGE);
  ck_assert_str_eq(xf_error_type(e), "IndexError");
  ck_assert_str_eq(xf_error_message(e), "out of range");
  ck_assert_int_eq(xf_value_kind(item(list, 2)), XF_KIND_ERROR);
  ck_assert_int_eq(xf_value_get_error(item(list, 2), &e), XF_OK);
  ck_assert_int_eq(xf_error_code(e), XF_ECANCELLED);
  ck_assert_str_eq(xf_error_type(e), "CancelledError");
  ck_assert_str_eq(xf_error_message(e), "stop");
  xf_value_unref(list);
  xf_future_unref(r);
  unref_all(fs, 4);
}
END_TEST

START_TEST(test_all_cancel_result) {
  xf_future_t *fs[3] = {done_with(1), pending(), pending()};
  xf_future_t *r;
  ck_assert_int_eq(xf_future_all(fs, 3, 0, &r), XF_OK);
  ck_assert_int_eq(xf_future_cancel(r), XF_OK);
  ck_assert(xf_future_cancelled(r));
  ck_assert(xf_future_cancelled(fs[1]));
  ck_assert(xf_future_cancelled(fs[2]));
  ck_assert_int_eq(xft_result_int(fs[0]), 1);
  xf_future_unref(r);
  unref_all(fs, 3);
  /* Also in collect mode, and a running input is left to finish. */
  xf_future_t *gs[2] = {pending(), pending()};
  ck_assert_int_eq(xf_future_set_running_or_notify_cancel(gs[0]), XF_OK);
  ck_assert_int_eq(xf_future_all(gs, 2, XF_ALL_COLLECT, &r), XF_OK);
  ck_assert_int_eq(xf_future_cancel(r), XF_OK);
  ck_assert(xf_future_running(gs[0]));
  ck_assert(xf_future_cancelled(gs[1]));
  ck_assert_int_eq(xf_future_set_result(gs[0], NULL), XF_OK);
  ck_assert(xf_future_cancelled(r));
  xf_future_unref(r);
  unref_all(gs, 2);
}
END_TEST

START_TEST(test_all_empty) {
  xf_future_t *r;
  ck_assert_int_eq(xf_future_all(NULL, 0, 0, &r), XF_OK);
  ck_assert(xf_future_done(r));
  xf_value_t *list = list_result(r, 0);
  xf_value_unref(list);
  xf_future_unref(r);
  ck_assert_int_eq(xf_future_all(NULL, 0, XF_ALL_COLLECT, &r), XF_OK);
  ck_assert(xf_future_done(r));
  list = list_result(r, 0);
  xf_value_unref(list);
  xf_future_unref(r);
}
END_TEST

START_TEST(test_all_thread_pool) {
  xf_executor_t *ex = xft_pool(3);
  task_t tasks[3] = {{.sleep_ms = 60, .value = 0},
                     {.sleep_ms = 30, .value = 1},
                     {.sleep_ms = 0, .value = 2}};
  xf_future_t *fs[3], *r;
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(xf_executor_submit(ex, value_task, &tasks[i], NULL, &fs[i]), XF_OK);
  ck_assert_int_eq(xf_future_all(fs, 3, 0, &r), XF_OK);
  xf_value_t *list = list_result(r, 3);
  for (size_t i = 0; i < 3; i++)
    ck_assert_int_eq(value_int(item(list, i)), (int64_t) i);
  xf_value_unref(list);
  xf_future_unref(r);
  unref_all(fs, 3);
  xf_executor_unref(ex);
}
END_TEST

/* ---- any ---------------------------------------------------------------- */

START_TEST(test_any_first_success) {
  xf_future_t *fs[3] = {pending(), pending(), pending()};
  xf_future_t *r;
  ck_assert_int_eq(xf_future_any(fs, 3, false, &r), XF_OK);
  ck_assert_int_eq(xf_future_fail(fs[0], XF_EFAILED, "ValueError", "a"), XF_OK);
  ck_assert_int_eq(xf_future_cancel(fs[2]), XF_OK);
  ck_assert(!xf_future_done(r));
  script_t s = {0};
  script_add(&s, 20, fs[1], ACT_VALUE, 7);
  script_start(&s);
  ck_assert_int_eq(xft_result_int(r), 7);
  script_join(&s);
  xf_future_unref(r);
  unref_all(fs, 3);
}
END_TEST

START_TEST(test_any_all_fail) {
  xf_future_t *fs[3] = {pending(), pending(), pending()};
  xf_future_t *r;
  ck_assert_int_eq(xf_future_any(fs, 3, true, &r), XF_OK);
  ck_assert_int_eq(xf_future_fail(fs[2], XF_ERANGE, "IndexError", "first"), XF_OK);
  ck_assert_int_eq(xf_future_cancel(fs[0]), XF_OK);
  ck_assert(!xf_future_done(r));
  ck_assert_int_eq(xf_future_fail(fs[1], XF_EFAILED, "KeyError", "last"), XF_OK);
  ck_assert(xf_future_done(r));
  xf_value_t *v;
  ck_assert_int_eq(xf_future_result(r, 0, &v), XF_EFAILED);
  xf_error_t *e = error_of(r);
  ck_assert_str_eq(xf_error_type(e), "AggregateError");
  ck_assert_ptr_nonnull(strstr(xf_error_message(e), "3"));
  xf_value_t *payload = xf_error_payload(e);
  ck_assert_ptr_nonnull(payload);
  ck_assert_int_eq(xf_value_kind(payload), XF_KIND_ERROR);
  xf_error_t *first;
  ck_assert_int_eq(xf_value_get_error(payload, &first), XF_OK);
  ck_assert_int_eq(xf_error_code(first), XF_ERANGE);
  ck_assert_str_eq(xf_error_type(first), "IndexError");
  ck_assert_str_eq(xf_error_message(first), "first");
  xf_error_unref(e);
  xf_future_unref(r);
  unref_all(fs, 3);
  /* No futures: it fails at once. */
  ck_assert_int_eq(xf_future_any(NULL, 0, false, &r), XF_OK);
  ck_assert(xf_future_done(r));
  assert_fails_with(r, XF_EFAILED, "AggregateError");
  xf_future_unref(r);
}
END_TEST

START_TEST(test_any_cancel_rest) {
  xf_future_t *fs[3] = {pending(), pending(), pending()};
  xf_future_t *r;
  ck_assert_int_eq(xf_future_any(fs, 3, true, &r), XF_OK);
  ck_assert_int_eq(xf_future_set_result(fs[1], xft_int(1)), XF_OK);
  ck_assert_int_eq(xft_result_int(r), 1);
  ck_assert(xf_future_cancelled(fs[0]));
  ck_assert(xf_future_cancelled(fs[2]));
  xf_future_unref(r);
  unref_all(fs, 3);

  xf_future_t *gs[3] = {pending(), pending(), pending()};
  ck_assert_int_eq(xf_future_any(gs, 3, false, &r), XF_OK);
  ck_assert_int_eq(xf_future_set_result(gs[2], xft_int(2)), XF_OK);
  ck_assert_int_eq(xft_result_int(r), 2);
  ck_assert_int_eq(xf_future_state(gs[0]), XF_PENDING);
  ck_assert_int_eq(xf_future_state(gs[1]), XF_PENDING);
  ck_assert_int_eq(xf_future_set_result(gs[0], xft_int(0)), XF_OK);
  ck_assert_int_eq(xf_future_fail(gs[1], XF_EFAILED, NULL, NULL), XF_OK);
  ck_assert_int_eq(xft_result_int(r), 2);
  xf_future_unref(r);
  unref_all(gs, 3);
}
END_TEST

/* ---- first -------------------------------------------------------------- */

START_TEST(test_first_value) {
  xf_future_t *fs[3] = {pending(), pending(), pending()};
  xf_future_t *r;
  ck_assert_int_eq(xf_future_first(fs, 3, false, &r), XF_OK);
  script_t s = {0};
  script_add(&s, 20, fs[1], ACT_VALUE, 5);
  script_start(&s);
  ck_assert_int_eq(xft_result_int(r), 5);
  script_join(&s);
  ck_assert_int_eq(xf_future_state(fs[0]), XF_PENDING);
  ck_assert_int_eq(xf_future_state(fs[2]), XF_PENDING);
  ck_assert_int_eq(xf_future_fail(fs[0], XF_EFAILED, NULL, NULL), XF_OK);
  ck_assert_int_eq(xft_result_int(r), 5);
  ck_assert_int_eq(xf_future_set_result(fs[2], NULL), XF_OK);
  xf_future_unref(r);
  unref_all(fs, 3);
  /* An input done already wins at once. */
  xf_future_t *gs[2] = {pending(), done_with(9)};
  ck_assert_int_eq(xf_future_first(gs, 2, false, &r), XF_OK);
  ck_assert(xf_future_done(r));
  ck_assert_int_eq(xft_result_int(r), 9);
  ck_assert_int_eq(xf_future_set_result(gs[0], NULL), XF_OK);
  xf_future_unref(r);
  unref_all(gs, 2);
}
END_TEST

START_TEST(test_first_error) {
  xf_future_t *fs[2] = {pending(), pending()};
  xf_future_t *r;
  ck_assert_int_eq(xf_future_first(fs, 2, false, &r), XF_OK);
  ck_assert_int_eq(xf_future_fail(fs[0], XF_ERANGE, "IndexError", "i"), XF_OK);
  assert_fails_with(r, XF_ERANGE, "IndexError");
  ck_assert_int_eq(xf_future_state(fs[1]), XF_PENDING);
  ck_assert_int_eq(xf_future_set_result(fs[1], NULL), XF_OK);
  assert_fails_with(r, XF_ERANGE, "IndexError");
  xf_future_unref(r);
  unref_all(fs, 2);
}
END_TEST

START_TEST(test_first_cancelled) {
  /* A cancellation is an outcome like any other; without cancel_rest the
   * other inputs stay as they are. */
  xf_future_t *fs[2] = {pending(), pending()};
  xf_future_t *r;
  ck_assert_int_eq(xf_future_first(fs, 2, false, &r), XF_OK);
  ck_assert_int_eq(xf_future_cancel_msg(fs[0], "bye"), XF_OK);
  ck_assert(xf_future_cancelled(r));
  xf_error_t *e = error_of(r);
  ck_assert_str_eq(xf_error_message(e), "bye");
  xf_error_unref(e);
  ck_assert_int_eq(xf_future_state(fs[1]), XF_PENDING);
  ck_assert_int_eq(xf_future_set_result(fs[1], NULL), XF_OK);
  ck_assert(xf_future_cancelled(r));
  xf_future_unref(r);
  unref_all(fs, 2);
}
END_TEST

START_TEST(test_first_cancel_rest) {
  xf_future_t *fs[3] = {pending(), pending(), pending()};
  ck_assert_int_eq(xf_future_set_running_or_notify_cancel(fs[2]), XF_OK);
  xf_future_t *r;
  ck_assert_int_eq(xf_future_first(fs, 3, true, &r), XF_OK);
  ck_assert_int_eq(xf_future_fail(fs[1], XF_EFAILED, "KeyError", "k"), XF_OK);
  assert_fails_with(r, XF_EFAILED, "KeyError");
  ck_assert(xf_future_cancelled(fs[0]));
  /* A running input cannot be cancelled; it finishes on its own. */
  ck_assert(xf_future_running(fs[2]));
  ck_assert_int_eq(xf_future_set_result(fs[2], NULL), XF_OK);
  assert_fails_with(r, XF_EFAILED, "KeyError");
  xf_future_unref(r);
  unref_all(fs, 3);
}
END_TEST

START_TEST(test_first_cancel_result) {
  xf_future_t *fs[2] = {pending(), pending()};
  xf_future_t *r;
  ck_assert_int_eq(xf_future_first(fs, 2, false, &r), XF_OK);
  ck_assert_int_eq(xf_future_cancel(r), XF_OK);
  ck_assert(xf_future_cancelled(fs[0]));
  ck_assert(xf_future_cancelled(fs[1]));
  xf_future_unref(r);
  unref_all(fs, 2);
}
END_TEST

/* ---- then --------------------------------------------------------------- */

typedef struct {
  _Atomic int ran;
  _Atomic int freed;
  pthread_t thread;     /* where the continuation ran */
  char thread_name[32]; /* and that thread's name */
  int64_t factor;
  int code;           /* for cont_fail_code */
  xf_future_t *other; /* for cont_chain */
  int seen_code;      /* the antecedent's error code, for cont_inspect */
  char seen_type[32]; /* and its type */
} cont_t;

static void cont_free(void *data) {
  atomic_fetch_add(&((cont_t *) data)->freed, 1);
}

static void cont_enter(cont_t *c) {
  c->thread = pthread_self();
  pthread_getname_np(pthread_self(), c->thread_name, sizeof c->thread_name);
  atomic_fetch_add(&c->ran, 1);
}

/* Sets the result to the antecedent's int times factor. */
static int cont_multiply(void *data, xf_future_t *antecedent, xf_future_t *result) {
  cont_t *c = data;
  cont_enter(c);
  xf_value_t *v;
  int rc = xf_future_result(antecedent, 0, &v);
  if (rc != XF_OK)
    return rc;
  int64_t i;
  rc = xf_value_get_int(v, &i);
  xf_value_unref(v);
  if (rc != XF_OK)
    return rc;
  if ((rc = xf_value_new_int(i * c->factor, &v)) != XF_OK)
    return rc;
  return xf_future_set_result(result, v);
}

static int cont_fail_code(void *data, xf_future_t *antecedent, xf_future_t *result) {
  (void) antecedent;
  (void) result;
  cont_t *c = data;
  cont_enter(c);
  return c->code;
}

static int cont_set_error(void *data, xf_future_t *antecedent, xf_future_t *result) {
  (void) antecedent;
  cont_enter(data);
  return xf_future_fail(result, XF_EFAILED, "LookupError", "not here");
}

static int cont_chain(void *data, xf_future_t *antecedent, xf_future_t *result) {
  (void) antecedent;
  cont_t *c = data;
  cont_enter(c);
  return xf_future_chain(c->other, result);
}

/* Records the antecedent's error and returns XF_OK without touching the
 * result. */
static int cont_inspect(void *data, xf_future_t *antecedent, xf_future_t *result) {
  (void) result;
  cont_t *c = data;
  cont_enter(c);
  xf_error_t *e;
  int rc = xf_future_error(antecedent, 0, &e);
  if (rc != XF_OK)
    return rc;
  c->seen_code = e ? xf_error_code(e) : 0;
  snprintf(c->seen_type, sizeof c->seen_type, "%s", e ? xf_error_type(e) : "");
  xf_error_unref(e);
  return XF_OK;
}

START_TEST(test_then_inline_in_finishing_thread) {
  cont_t c = {.factor = 3};
  xf_future_t *f = pending(), *r;
  ck_assert_int_eq(xf_future_then(f, NULL, cont_multiply, &c, cont_free, &r), XF_OK);
  ck_assert_int_eq(load(&c.ran), 0);
  ck_assert(!xf_future_done(r));
  script_t s = {0};
  script_add(&s, 20, f, ACT_VALUE, 14);
  script_start(&s);
  ck_assert_int_eq(xft_result_int(r), 42);
  script_join(&s);
  ck_assert(pthread_equal(c.thread, s.thread));
  ck_assert_int_eq(load(&c.ran), 1);
  ck_assert_int_eq(load(&c.freed), 1);
  xf_future_unref(r);
  xf_future_unref(f);
}
END_TEST

START_TEST(test_then_on_pool) {
  xf_executor_t *ex = xft_pool(2);
  cont_t c = {.factor = 2};
  xf_future_t *f = pending(), *r;
  ck_assert_int_eq(xf_future_then(f, ex, cont_multiply, &c, cont_free, &r), XF_OK);
  ck_assert_int_eq(xf_future_set_result(f, xft_int(21)), XF_OK);
  ck_assert_int_eq(xft_result_int(r), 42);
  wait_for_count(&c.freed, 1);
  ck_assert_int_eq(load(&c.ran), 1);
  ck_assert(!pthread_equal(c.thread, pthread_self()));
  ck_assert_int_eq(strncmp(c.thread_name, "xfpool-", 7), 0);
  xf_future_unref(r);
  xf_future_unref(f);
  xf_executor_unref(ex);
  ck_assert_int_eq(load(&c.freed), 1);
}
END_TEST

START_TEST(test_then_already_done) {
  cont_t c = {.factor = 2};
  xf_future_t *f = done_with(4), *r;
  ck_assert_int_eq(xf_future_then(f, NULL, cont_multiply, &c, cont_free, &r), XF_OK);
  /* Inline on a done future: it has run by the time then returns, here. */
  ck_assert(xf_future_done(r));
  ck_assert(pthread_equal(c.thread, pthread_self()));
  ck_assert_int_eq(xft_result_int(r), 8);
  ck_assert_int_eq(load(&c.freed), 1);
  xf_future_unref(r);

  xf_executor_t *ex = xft_pool(1);
  cont_t d = {.factor = 5};
  ck_assert_int_eq(xf_future_then(f, ex, cont_multiply, &d, cont_free, &r), XF_OK);
  ck_assert_int_eq(xft_result_int(r), 20);
  wait_for_count(&d.freed, 1);
  ck_assert_int_eq(strncmp(d.thread_name, "xfpool-", 7), 0);
  xf_future_unref(r);
  xf_future_unref(f);
  xf_executor_unref(ex);
}
END_TEST

START_TEST(test_then_negative_code) {
  cont_t c = {.code = XF_ERANGE};
  xf_future_t *f = pending(), *r;
  ck_assert_int_eq(xf_future_then(f, NULL, cont_fail_code, &c, cont_free, &r), XF_OK);
  ck_assert_int_eq(xf_future_set_result(f, NULL), XF_OK);
  assert_fails_with(r, XF_ERANGE, NULL);
  ck_assert_int_eq(load(&c.freed), 1);
  xf_future_unref(r);
  /* A non-negative code without an outcome gives a void result. */
  cont_t d = {.code = XF_OK};
  ck_assert_int_eq(xf_future_then(f, NULL, cont_fail_code, &d, cont_free, &r), XF_OK);
  xf_value_t *v;
  ck_assert_int_eq(xf_future_result(r, -1, &v), XF_OK);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_VOID);
  xf_value_unref(v);
  ck_assert_int_eq(load(&d.freed), 1);
  xf_future_unref(r);
  xf_future_unref(f);
}
END_TEST

START_TEST(test_then_set_error) {
  xf_executor_t *ex = xft_pool(1);
  xf_future_t *f = pending(), *r1, *r2;
  cont_t c = {0}, d = {0};
  ck_assert_int_eq(xf_future_then(f, NULL, cont_set_error, &c, cont_free, &r1), XF_OK);
  ck_assert_int_eq(xf_future_then(f, ex, cont_set_error, &d, cont_free, &r2), XF_OK);
  ck_assert_int_eq(xf_future_set_result(f, NULL), XF_OK);
  assert_fails_with(r1, XF_EFAILED, "LookupError");
  assert_fails_with(r2, XF_EFAILED, "LookupError");
  xf_error_t *e = error_of(r2);
  ck_assert_str_eq(xf_error_message(e), "not here");
  xf_error_unref(e);
  wait_for_count(&d.freed, 1);
  ck_assert_int_eq(load(&c.freed), 1);
  xf_future_unref(r1);
  xf_future_unref(r2);
  xf_future_unref(f);
  xf_executor_unref(ex);
}
END_TEST

START_TEST(test_then_unwraps_chained_future) {
  xf_executor_t *ex = xft_pool(1);
  for (int on_pool = 0; on_pool < 2; on_pool++) {
    cont_t c = {.other = pending()};
    xf_future_t *f = pending(), *r;
    ck_assert_int_eq(
        xf_future_then(f, on_pool ? ex : NULL, cont_chain, &c, cont_free, &r), XF_OK);
    ck_assert_int_eq(xf_future_set_result(f, xft_int(1)), XF_OK);
    wait_for_count(&c.ran, 1);
    /* The continuation has returned, but the result follows the other
     * future, which is still pending. */
    ck_assert_int_eq(xf_future_wait(r, 20 * MS), XF_ETIMEDOUT);
    script_t s = {0};
    script_add(&s, 20, c.other, ACT_VALUE, 42);
    script_start(&s);
    ck_assert_int_eq(xft_result_int(r), 42);
    script_join(&s);
    wait_for_count(&c.freed, 1);
    xf_future_unref(r);
    xf_future_unref(f);
    xf_future_unref(c.other);
  }
  xf_executor_unref(ex);
}
END_TEST

START_TEST(test_then_sees_antecedent_failure) {
  cont_t c = {0};
  xf_future_t *f = pending(), *r;
  ck_assert_int_eq(xf_future_then(f, NULL, cont_inspect, &c, cont_free, &r), XF_OK);
  ck_assert_int_eq(xf_future_fail(f, XF_ERANGE, "IndexError", "x"), XF_OK);
  ck_assert_int_eq(load(&c.ran), 1);
  ck_assert_int_eq(c.seen_code, XF_ERANGE);
  ck_assert_str_eq(c.seen_type, "IndexError");
  /* The continuation decides the outcome: here, void. */
  xf_value_t *v;
  ck_assert_int_eq(xf_future_result(r, 0, &v), XF_OK);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_VOID);
  xf_value_unref(v);
  xf_future_unref(r);
  xf_future_unref(f);
  /* A cancelled antecedent also runs the continuation. */
  cont_t d = {0};
  f = pending();
  ck_assert_int_eq(xf_future_then(f, NULL, cont_inspect, &d, cont_free, &r), XF_OK);
  ck_assert_int_eq(xf_future_cancel(f), XF_OK);
  ck_assert_int_eq(load(&d.ran), 1);
  ck_assert_int_eq(d.seen_code, XF_ECANCELLED);
  ck_assert_int_eq(load(&d.freed), 1);
  xf_future_unref(r);
  xf_future_unref(f);
  /* A continuation that reads the value of a failed antecedent gets
   * XF_EFAILED and fails the result with it. */
  cont_t m = {.factor = 2};
  f = pending();
  ck_assert_int_eq(xf_future_then(f, NULL, cont_multiply, &m, cont_free, &r), XF_OK);
  ck_assert_int_eq(xf_future_fail(f, XF_EFAILED, NULL, NULL), XF_OK);
  assert_fails_with(r, XF_EFAILED, NULL);
  xf_future_unref(r);
  xf_future_unref(f);
}
END_TEST

START_TEST(test_then_cancel_result_first) {
  xf_executor_t *ex = xft_pool(1);
  for (int on_pool = 0; on_pool < 2; on_pool++) {
    cont_t c = {.factor = 2};
    xf_future_t *f = pending(), *r;
    ck_assert_int_eq(
        xf_future_then(f, on_pool ? ex : NULL, cont_multiply, &c, cont_free, &r), XF_OK);
    ck_assert_int_eq(xf_future_cancel(r), XF_OK);
    ck_assert(xf_future_cancelled(r));
    /* Cancelling the continuation's result leaves the antecedent alone. */
    ck_assert_int_eq(xf_future_state(f), XF_PENDING);
    ck_assert_int_eq(xf_future_set_result(f, xft_int(1)), XF_OK);
    wait_for_count(&c.freed, 1);
    if (on_pool)
      xf_executor_shutdown(ex, true, false);
    ck_assert_int_eq(load(&c.ran), 0);
    ck_assert_int_eq(load(&c.freed), 1);
    ck_assert(xf_future_cancelled(r));
    xf_future_unref(r);
    xf_future_unref(f);
  }
  xf_executor_unref(ex);
}
END_TEST

START_TEST(test_then_data_freed_once) {
  /* The antecedent is dropped while pending: the continuation will never
   * run, and its data is freed then. */
  cont_t c = {.factor = 2};
  xf_future_t *f = pending(), *r;
  ck_assert_int_eq(xf_future_then(f, NULL, cont_multiply, &c, cont_free, &r), XF_OK);
  xf_future_unref(f);
  ck_assert_int_eq(load(&c.ran), 0);
  ck_assert_int_eq(load(&c.freed), 1);
  xf_future_unref(r);

  /* The executor is shut down: the result fails and the data is freed. */
  xf_executor_t *ex = xft_pool(1);
  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  cont_t d = {.factor = 2};
  f = pending();
  ck_assert_int_eq(xf_future_then(f, ex, cont_multiply, &d, cont_free, &r), XF_OK);
  ck_assert_int_eq(xf_future_set_result(f, xft_int(1)), XF_OK);
  assert_fails_with(r, XF_ESHUTDOWN, NULL);
  ck_assert_int_eq(load(&d.ran), 0);
  ck_assert_int_eq(load(&d.freed), 1);
  xf_future_unref(r);
  xf_future_unref(f);
  xf_executor_unref(ex);

  /* Many continuations on one antecedent, on both paths: each runs once and
   * frees its data once. */
  enum { N = 8 };
  ex = xft_pool(2);
  cont_t cs[N];
  xf_future_t *rs[N];
  f = pending();
  for (int i = 0; i < N; i++) {
    cs[i] = (cont_t){.factor = i};
    ck_assert_int_eq(
        xf_future_then(f, i % 2 ? ex : NULL, cont_multiply, &cs[i], cont_free, &rs[i]),
        XF_OK);
  }
  ck_assert_int_eq(xf_future_set_result(f, xft_int(10)), XF_OK);
  for (int i = 0; i < N; i++) {
    ck_assert_int_eq(xft_result_int(rs[i]), 10 * i);
    wait_for_count(&cs[i].freed, 1);
  }
  xf_executor_shutdown(ex, true, false);
  for (int i = 0; i < N; i++) {
    ck_assert_int_eq(load(&cs[i].ran), 1);
    ck_assert_int_eq(load(&cs[i].freed), 1);
  }
  unref_all(rs, N);
  xf_future_unref(f);
  xf_executor_unref(ex);
}
END_TEST

/* The message of the CancelledError a cancelled future reports contains
 * want. */
static void assert_cancelled_saying(xf_future_t *f, const char *want) {
  ck_assert(xf_future_cancelled(f));
  xf_value_t *v;
  ck_assert_int_eq(xf_future_result(f, 0, &v), XF_ECANCELLED);
  xf_error_t *e = error_of(f);
  ck_assert_int_eq(xf_error_code(e), XF_ECANCELLED);
  ck_assert_msg(strstr(xf_error_message(e), want), "message \"%s\" lacks \"%s\"",
                xf_error_message(e), want);
  xf_error_unref(e);
}

START_TEST(test_then_antecedent_dropped) {
  /* Nothing can finish an antecedent once its last reference is gone, so
   * the continuation will never run: the result is cancelled then, and a
   * waiter on it wakes instead of hanging. */
  xf_executor_t *ex = xft_pool(1);
  for (int on_pool = 0; on_pool < 2; on_pool++) {
    cont_t c = {.factor = 2};
    xf_future_t *f = pending(), *r;
    ck_assert_int_eq(
        xf_future_then(f, on_pool ? ex : NULL, cont_multiply, &c, cont_free, &r), XF_OK);
    xf_future_unref(f);
    assert_cancelled_saying(r, "antecedent");
    ck_assert_int_eq(load(&c.ran), 0);
    ck_assert_int_eq(load(&c.freed), 1);
    xf_future_unref(r);
  }
  xf_executor_unref(ex);

  /* The executor drops the continuation (its loop closes before running
   * it): the result is cancelled as well. */
  xf_loop_t *loop = xft_loop();
  ck_assert_int_eq(xf_loop_executor(loop, &ex), XF_OK);
  cont_t d = {.factor = 2};
  xf_future_t *f = pending(), *r;
  ck_assert_int_eq(xf_future_then(f, ex, cont_multiply, &d, cont_free, &r), XF_OK);
  ck_assert_int_eq(xf_future_set_result(f, xft_int(1)), XF_OK);
  ck_assert(!xf_future_done(r));
  xft_loop_free(loop);
  assert_cancelled_saying(r, "executor");
  ck_assert_int_eq(load(&d.ran), 0);
  ck_assert_int_eq(load(&d.freed), 1);
  xf_future_unref(r);
  xf_future_unref(f);
  xf_executor_unref(ex);
}
END_TEST

START_TEST(test_then_cancel_unwrapped) {
  xf_executor_t *ex = xft_pool(1);
  for (int on_pool = 0; on_pool < 2; on_pool++) {
    /* Cancelling the result once it follows an inner future cancels the
     * inner future (as asyncio's Task.cancel cancels what the task awaits),
     * and the result ends cancelled with it. */
    cont_t c = {.other = pending()};
    xf_future_t *f = pending(), *r;
    ck_assert_int_eq(
        xf_future_then(f, on_pool ? ex : NULL, cont_chain, &c, cont_free, &r), XF_OK);
    ck_assert_int_eq(xf_future_set_result(f, xft_int(1)), XF_OK);
    wait_for_count(&c.freed, 1);
    ck_assert_int_eq(xf_future_state(r), XF_RUNNING);
    ck_assert_int_eq(xf_future_cancel_msg(r, "stop"), XF_OK);
    assert_cancelled_saying(c.other, "stop");
    assert_cancelled_saying(r, "stop");
    xf_future_unref(r);
    xf_future_unref(f);
    xf_future_unref(c.other);

    /* The inner future cancelled by someone else: the result follows. */
    cont_t d = {.other = pending()};
    f = pending();
    ck_assert_int_eq(
        xf_future_then(f, on_pool ? ex : NULL, cont_chain, &d, cont_free, &r), XF_OK);
    ck_assert_int_eq(xf_future_set_result(f, xft_int(1)), XF_OK);
    wait_for_count(&d.freed, 1);
    ck_assert_int_eq(xf_future_cancel_msg(d.other, "inner"), XF_OK);
    assert_cancelled_saying(r, "inner");
    xf_future_unref(r);
    xf_future_unref(f);
    xf_future_unref(d.other);

    /* An inner future that cannot be cancelled any more (it is running)
     * refuses, and so does the result, which still follows it. */
    cont_t e = {.other = pending()};
    f = pending();
    ck_assert_int_eq(
        xf_future_then(f, on_pool ? ex : NULL, cont_chain, &e, cont_free, &r), XF_OK);
    ck_assert_int_eq(xf_future_set_result(f, xft_int(1)), XF_OK);
    wait_for_count(&e.freed, 1);
    ck_assert_int_eq(xf_future_set_running_or_notify_cancel(e.other), XF_OK);
    ck_assert_int_eq(xf_future_cancel(r), XF_ESTATE);
    ck_assert_int_eq(xf_future_set_result(e.other, xft_int(5)), XF_OK);
    ck_assert_int_eq(xft_result_int(r), 5);
    xf_future_unref(r);
    xf_future_unref(f);
    xf_future_unref(e.other);
  }
  xf_executor_unref(ex);

  /* Two running futures chained to each other: a cancel cannot reach a
   * source that decides, and is refused instead of going round for ever. */
  xf_future_t *a = pending(), *b = pending();
  ck_assert_int_eq(xf_future_set_running_or_notify_cancel(a), XF_OK);
  ck_assert_int_eq(xf_future_set_running_or_notify_cancel(b), XF_OK);
  ck_assert_int_eq(xf_future_chain(a, b), XF_OK);
  ck_assert_int_eq(xf_future_chain(b, a), XF_OK);
  ck_assert_int_eq(xf_future_cancel(a), XF_ESTATE);
  ck_assert_int_eq(xf_future_set_result(a, xft_int(1)), XF_OK);
  ck_assert_int_eq(xft_result_int(b), 1);
  xf_future_unref(a);
  xf_future_unref(b);
}
END_TEST

/* ---- chain -------------------------------------------------------------- */

START_TEST(test_chain_copies_outcome) {
  xf_future_t *src = pending(), *dst = pending();
  ck_assert_int_eq(xf_future_chain(src, dst), XF_OK);
  ck_assert(!xf_future_done(dst));
  script_t s = {0};
  script_add(&s, 20, src, ACT_VALUE, 11);
  script_start(&s);
  ck_assert_int_eq(xft_result_int(dst), 11);
  script_join(&s);
  xf_future_unref(src);
  xf_future_unref(dst);

  src = pending();
  dst = pending();
  ck_assert_int_eq(xf_future_chain(src, dst), XF_OK);
  xf_error_t *boom = error_new("OSError", "disk");
  ck_assert_int_eq(xf_future_set_error(src, xf_error_ref(boom)), XF_OK);
  xf_error_t *e = error_of(dst);
  ck_assert_ptr_eq(e, boom);
  xf_error_unref(e);
  xf_error_unref(boom);
  xf_future_unref(src);
  xf_future_unref(dst);

  /* A source done already is copied at once. */
  src = done_with(3);
  dst = pending();
  ck_assert_int_eq(xf_future_chain(src, dst), XF_OK);
  ck_assert(xf_future_done(dst));
  ck_assert_int_eq(xft_result_int(dst), 3);
  xf_future_unref(src);
  xf_future_unref(dst);

  /* A destination finished meanwhile keeps its own outcome. */
  src = pending();
  dst = pending();
  ck_assert_int_eq(xf_future_chain(src, dst), XF_OK);
  ck_assert_int_eq(xf_future_set_result(dst, xft_int(1)), XF_OK);
  ck_assert_int_eq(xf_future_state(src), XF_PENDING);
  ck_assert_int_eq(xf_future_set_result(src, xft_int(2)), XF_OK);
  ck_assert_int_eq(xft_result_int(dst), 1);
  xf_future_unref(src);
  xf_future_unref(dst);
}
END_TEST

START_TEST(test_chain_cancellation) {
  /* A cancelled source cancels the destination, message included. */
  xf_future_t *src = pending(), *dst = pending();
  ck_assert_int_eq(xf_future_chain(src, dst), XF_OK);
  ck_assert_int_eq(xf_future_cancel_msg(src, "why"), XF_OK);
  ck_assert(xf_future_cancelled(dst));
  xf_error_t *e = error_of(dst);
  ck_assert_str_eq(xf_error_message(e), "why");
  xf_error_unref(e);
  xf_future_unref(src);
  xf_future_unref(dst);

  /* Cancelling the destination cancels the source. */
  src = pending();
  dst = pending();
  ck_assert_int_eq(xf_future_chain(src, dst), XF_OK);
  ck_assert_int_eq(xf_future_cancel(dst), XF_OK);
  ck_assert(xf_future_cancelled(src));
  xf_future_unref(src);
  xf_future_unref(dst);

  /* The handles may go before the source finishes; the link keeps what it
   * needs and lets go once the outcome is copied. */
  src = pending();
  dst = pending();
  ck_assert_int_eq(xf_future_chain(src, dst), XF_OK);
  xf_future_t *watch = xf_future_ref(dst);
  xf_future_unref(dst);
  ck_assert_int_eq(xf_future_set_result(src, xft_int(9)), XF_OK);
  xf_future_unref(src);
  ck_assert_int_eq(xft_result_int(watch), 9);
  xf_future_unref(watch);
}
END_TEST

/* ---- shield ------------------------------------------------------------- */

START_TEST(test_shield_follows_inner) {
  xf_future_t *inner = pending(), *outer;
  ck_assert_int_eq(xf_future_shield(inner, &outer), XF_OK);
  ck_assert(outer != inner);
  ck_assert(!xf_future_done(outer));
  script_t s = {0};
  script_add(&s, 20, inner, ACT_VALUE, 8);
  script_start(&s);
  ck_assert_int_eq(xft_result_int(outer), 8);
  script_join(&s);
  xf_future_unref(outer);
  xf_future_unref(inner);

  inner = pending();
  ck_assert_int_eq(xf_future_shield(inner, &outer), XF_OK);
  ck_assert_int_eq(xf_future_fail(inner, XF_ERANGE, "IndexError", "i"), XF_OK);
  assert_fails_with(outer, XF_ERANGE, "IndexError");
  xf_future_unref(outer);
  xf_future_unref(inner);

  /* A cancelled inner cancels the outer: the shield protects the inner,
   * not the outer. */
  inner = pending();
  ck_assert_int_eq(xf_future_shield(inner, &outer), XF_OK);
  ck_assert_int_eq(xf_future_cancel(inner), XF_OK);
  ck_assert(xf_future_cancelled(outer));
  xf_future_unref(outer);
  xf_future_unref(inner);

  inner = done_with(4);
  ck_assert_int_eq(xf_future_shield(inner, &outer), XF_OK);
  ck_assert_int_eq(xft_result_int(outer), 4);
  xf_future_unref(outer);
  xf_future_unref(inner);
}
END_TEST

START_TEST(test_shield_cancel_outer) {
  xf_future_t *inner = pending(), *outer;
  ck_assert_int_eq(xf_future_shield(inner, &outer), XF_OK);
  ck_assert_int_eq(xf_future_cancel(outer), XF_OK);
  ck_assert(xf_future_cancelled(outer));
  ck_assert_int_eq(xf_future_state(inner), XF_PENDING);
  /* The inner still finishes normally, from another thread. */
  script_t s = {0};
  script_add(&s, 20, inner, ACT_VALUE, 6);
  script_start(&s);
  ck_assert_int_eq(xft_result_int(inner), 6);
  script_join(&s);
  ck_assert(xf_future_cancelled(outer));
  xf_value_t *v;
  ck_assert_int_eq(xf_future_result(outer, 0, &v), XF_ECANCELLED);
  xf_future_unref(outer);
  xf_future_unref(inner);
}
END_TEST

START_TEST(test_shield_inner_dropped) {
  /* The shielded future is dropped while pending: the outer one can never
   * follow it any more, so it is cancelled, saying why. */
  xf_future_t *inner = pending(), *outer;
  ck_assert_int_eq(xf_future_shield(inner, &outer), XF_OK);
  xf_future_unref(inner);
  assert_cancelled_saying(outer, "shielded");
  xf_future_unref(outer);
}
END_TEST

/* ---- bad input ---------------------------------------------------------- */

START_TEST(test_bad_input) {
  xf_future_t *f = pending(), *g = pending();
  xf_future_t *with_null[2] = {f, NULL};
  xf_future_t *fs[2] = {f, g};
  xf_future_t *out = (xf_future_t *) 1;
  unsigned char flags[2];

  ck_assert_int_eq(xf_wait(NULL, 1, XF_ALL_COMPLETED, 0, flags), XF_EINVAL);
  ck_assert_int_eq(xf_wait(with_null, 2, XF_ALL_COMPLETED, 0, flags), XF_EINVAL);
  ck_assert_int_eq(xf_wait(fs, 2, 3, 0, flags), XF_EINVAL);
  ck_assert_int_eq(xf_wait(fs, 2, -1, 0, flags), XF_EINVAL);
  ck_assert_int_eq(xf_wait(NULL, 0, 7, 0, NULL), XF_EINVAL);

  xf_as_completed_t *it = (xf_as_completed_t *) 1;
  ck_assert_int_eq(xf_as_completed_new(fs, 2, -1, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_as_completed_new(NULL, 1, -1, &it), XF_EINVAL);
  ck_assert_ptr_null(it);
  it = (xf_as_completed_t *) 1;
  ck_assert_int_eq(xf_as_completed_new(with_null, 2, -1, &it), XF_EINVAL);
  ck_assert_ptr_null(it);
  ck_assert_int_eq(xf_as_completed_next(NULL, &out), XF_EINVAL);
  ck_assert_ptr_null(out);
  ck_assert_int_eq(xf_as_completed_new(fs, 2, -1, &it), XF_OK);
  ck_assert_int_eq(xf_as_completed_next(it, NULL), XF_EINVAL);
  xf_as_completed_free(it);

  ck_assert_int_eq(xf_future_all(fs, 2, 0, NULL), XF_EINVAL);
  out = (xf_future_t *) 1;
  ck_assert_int_eq(xf_future_all(NULL, 2, 0, &out), XF_EINVAL);
  ck_assert_ptr_null(out);
  out = (xf_future_t *) 1;
  ck_assert_int_eq(xf_future_all(with_null, 2, 0, &out), XF_EINVAL);
  ck_assert_ptr_null(out);
  out = (xf_future_t *) 1;
  ck_assert_int_eq(xf_future_all(fs, 2, 2u, &out), XF_EINVAL);
  ck_assert_ptr_null(out);
  ck_assert_int_eq(xf_future_all(fs, 2, ~0u, &out), XF_EINVAL);

  ck_assert_int_eq(xf_future_any(fs, 2, false, NULL), XF_EINVAL);
  out = (xf_future_t *) 1;
  ck_assert_int_eq(xf_future_any(NULL, 1, false, &out), XF_EINVAL);
  ck_assert_ptr_null(out);
  ck_assert_int_eq(xf_future_any(with_null, 2, true, &out), XF_EINVAL);

  ck_assert_int_eq(xf_future_first(fs, 2, false, NULL), XF_EINVAL);
  out = (xf_future_t *) 1;
  ck_assert_int_eq(xf_future_first(fs, 0, false, &out), XF_EINVAL);
  ck_assert_ptr_null(out);
  ck_assert_int_eq(xf_future_first(NULL, 0, false, &out), XF_EINVAL);
  ck_assert_int_eq(xf_future_first(with_null, 2, false, &out), XF_EINVAL);

  /* then: on any error the continuation never runs and the data stays with
   * the caller. */
  cont_t c = {0};
  ck_assert_int_eq(xf_future_then(f, NULL, cont_multiply, &c, cont_free, NULL),
                   XF_EINVAL);
  out = (xf_future_t *) 1;
  ck_assert_int_eq(xf_future_then(NULL, NULL, cont_multiply, &c, cont_free, &out),
                   XF_EINVAL);
  ck_assert_ptr_null(out);
  ck_assert_int_eq(xf_future_then(f, NULL, NULL, &c, cont_free, &out), XF_EINVAL);

  ck_assert_int_eq(xf_future_chain(NULL, g), XF_EINVAL);
  ck_assert_int_eq(xf_future_chain(f, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_future_chain(f, f), XF_EINVAL);

  ck_assert_int_eq(xf_future_shield(f, NULL), XF_EINVAL);
  out = (xf_future_t *) 1;
  ck_assert_int_eq(xf_future_shield(NULL, &out), XF_EINVAL);
  ck_assert_ptr_null(out);

  /* None of it touched the futures. */
  ck_assert_int_eq(xf_future_set_result(f, xft_int(1)), XF_OK);
  ck_assert_int_eq(xf_future_set_result(g, xft_int(2)), XF_OK);
  ck_assert_int_eq(load(&c.ran), 0);
  ck_assert_int_eq(load(&c.freed), 0);
  ck_assert_int_eq(xft_result_int(f), 1);
  ck_assert_int_eq(xft_result_int(g), 2);
  xf_future_unref(f);
  xf_future_unref(g);
}
END_TEST

/* ---- failed allocations ------------------------------------------------- */

START_TEST(test_enomem_wait) {
  xf_future_t *fs[3] = {pending(), done_with(1), pending()};
  unsigned char flags[3];
  /* Timeout 0 never allocates; a short one may fail with XF_ENOMEM. */
  int modes[] = {XF_ALL_COMPLETED, XF_FIRST_EXCEPTION};
  for (int m = 0; m < 2; m++) {
    XFT_FOR_EACH_ALLOC_FAILURE(n) {
      int rc = xf_wait(fs, 3, modes[m], 0, flags);
      ck_assert_int_eq(rc, XF_ETIMEDOUT);
      ck_assert_int_eq(flags[0] + flags[2], 0);
      ck_assert_int_eq(flags[1], 1);
    }
    XFT_FOR_EACH_ALLOC_FAILURE(n) {
      flags[0] = flags[1] = flags[2] = 9;
      int rc = xf_wait(fs, 3, modes[m], 2 * MS, flags);
      if (rc == XF_ENOMEM)
        continue;
      ck_assert_int_eq(rc, XF_ETIMEDOUT);
      ck_assert_int_eq(flags[0] + flags[2], 0);
      ck_assert_int_eq(flags[1], 1);
    }
  }
  /* A wait that succeeds after registering: the inputs are finished from
   * another thread while it sleeps. */
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xft_alloc_fail_at(-1);
    xf_future_t *gs[2] = {pending(), pending()};
    script_t s = {0};
    script_add(&s, 5, gs[0], ACT_VALUE, 0);
    script_add(&s, 5, gs[1], ACT_CANCEL, 0);
    xft_alloc_fail_at(n);
    /* Nothing on this thread allocates before xf_wait; the script thread's
     * own allocations may take the failure instead, which is fine. */
    script_start(&s);
    int rc = xf_wait(gs, 2, XF_ALL_COMPLETED, -1, flags);
    script_join(&s);
    xft_alloc_fail_at(-1);
    if (rc != XF_ENOMEM) {
      ck_assert_int_eq(rc, XF_OK);
      ck_assert_int_eq(flags[0] + flags[1], 2);
    }
    unref_all(gs, 2);
  }
  ck_assert_int_eq(xf_future_set_result(fs[0], NULL), XF_OK);
  ck_assert_int_eq(xf_future_set_result(fs[2], NULL), XF_OK);
  unref_all(fs, 3);
}
END_TEST

START_TEST(test_enomem_as_completed) {
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xft_alloc_fail_at(-1);
    xf_future_t *fs[4] = {pending(), done_with(1), pending(), NULL};
    fs[3] = fs[1];
    xft_alloc_fail_at(n);
    xf_as_completed_t *it = (xf_as_completed_t *) 1;
    int rc = xf_as_completed_new(fs, 4, -1, &it);
    xft_alloc_fail_at(-1);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(it);
      ck_assert_int_eq(xf_future_set_result(fs[0], NULL), XF_OK);
      ck_assert_int_eq(xf_future_set_result(fs[2], NULL), XF_OK);
      unref_all(fs, 3);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    assert_next(it, fs[1]);
    ck_assert_int_eq(xf_future_set_result(fs[2], NULL), XF_OK);
    assert_next(it, fs[2]);
    ck_assert_int_eq(xf_future_cancel(fs[0]), XF_OK);
    assert_next(it, fs[0]);
    assert_next(it, NULL);
    xf_as_completed_free(it);
    unref_all(fs, 3);
  }
}
END_TEST

enum { GATHER_ALL, GATHER_COLLECT, GATHER_ANY, GATHER_FIRST };

static int gather(int kind, xf_future_t *const *fs, size_t n, xf_future_t **out) {
  switch (kind) {
  case GATHER_ALL:
    return xf_future_all(fs, n, 0, out);
  case GATHER_COLLECT:
    return xf_future_all(fs, n, XF_ALL_COLLECT, out);
  case GATHER_ANY:
    return xf_future_any(fs, n, false, out);
  default:
    return xf_future_first(fs, n, false, out);
  }
}

/* Checks the result of gather(kind) over {1, pending, 3} once the pending
 * one was finished with 2. If an allocation failed along the way, the result
 * may instead have failed with XF_ENOMEM. */
static void assert_gathered(int kind, xf_future_t *r, bool may_oom) {
  xf_value_t *v;
  int rc = xf_future_result(r, -1, &v);
  if (rc == XF_EFAILED && may_oom) {
    assert_fails_with(r, XF_ENOMEM, NULL);
    return;
  }
  ck_assert_int_eq(rc, XF_OK);
  if (kind == GATHER_ALL || kind == GATHER_COLLECT) {
    size_t len;
    ck_assert_int_eq(xf_value_list_len(v, &len), XF_OK);
    ck_assert_uint_eq(len, 3);
    for (size_t i = 0; i < 3; i++)
      ck_assert_int_eq(value_int(item(v, i)), (int64_t) i + 1);
  } else {
    /* any and first: the first input is done already and wins. */
    ck_assert_int_eq(value_int(v), 1);
  }
  xf_value_unref(v);
}

START_TEST(test_enomem_gather) {
  for (int kind = GATHER_ALL; kind <= GATHER_FIRST; kind++) {
    XFT_FOR_EACH_ALLOC_FAILURE(n) {
      xft_alloc_fail_at(-1);
      xf_future_t *fs[3] = {done_with(1), pending(), done_with(3)};
      xf_value_t *two = xft_int(2);
      xft_alloc_fail_at(n);
      xf_future_t *r = (xf_future_t *) 1;
      int rc = gather(kind, fs, 3, &r);
      xft_alloc_fail_at(-1);
      if (rc == XF_ENOMEM) {
        ck_assert_ptr_null(r);
      } else {
        ck_assert_int_eq(rc, XF_OK);
      }
      ck_assert_int_eq(xf_future_set_result(fs[1], two), XF_OK);
      if (rc == XF_OK) {
        assert_gathered(kind, r, xft_alloc_failed());
        xf_future_unref(r);
      }
      unref_all(fs, 3);
    }
  }
  /* Pending inputs only: the result is made and watches all of them. */
  for (int kind = GATHER_ALL; kind <= GATHER_FIRST; kind++) {
    XFT_FOR_EACH_ALLOC_FAILURE(n) {
      xft_alloc_fail_at(-1);
      xf_future_t *fs[2] = {pending(), pending()};
      xft_alloc_fail_at(n);
      xf_future_t *r = (xf_future_t *) 1;
      int rc = gather(kind, fs, 2, &r);
      xft_alloc_fail_at(-1);
      if (rc == XF_ENOMEM)
        ck_assert_ptr_null(r);
      else
        ck_assert_int_eq(rc, XF_OK);
      ck_assert_int_eq(xf_future_set_result(fs[0], xft_int(1)), XF_OK);
      ck_assert_int_eq(xf_future_set_result(fs[1], xft_int(2)), XF_OK);
      if (rc == XF_OK) {
        xf_value_t *v;
        int got = xf_future_result(r, -1, &v);
        if (got == XF_OK)
          xf_value_unref(v);
        else
          ck_assert(xft_alloc_failed());
        xf_future_unref(r);
      }
      unref_all(fs, 2);
    }
  }
}
END_TEST

/* Failures while the inputs finish: the collected error values, the list and
 * the AggregateError are allocated then. The result must still finish. */
START_TEST(test_enomem_gather_finishing) {
  for (int kind = GATHER_COLLECT; kind <= GATHER_ANY; kind++) {
    XFT_FOR_EACH_ALLOC_FAILURE(n) {
      xft_alloc_fail_at(-1);
      xf_future_t *fs[2] = {pending(), pending()};
      xf_future_t *r;
      ck_assert_int_eq(gather(kind, fs, 2, &r), XF_OK);
      xf_error_t *e = error_new("ValueError", "v");
      ck_assert_int_eq(xf_future_set_error(fs[0], xf_error_ref(e)), XF_OK);
      xft_alloc_fail_at(n);
      int rc = xf_future_cancel(fs[1]);
      xft_alloc_fail_at(-1);
      ck_assert_int_eq(rc, XF_OK);
      ck_assert(xf_future_done(r));
      xf_error_t *got;
      ck_assert_int_eq(xf_future_error(r, 0, &got), XF_OK);
      if (xft_alloc_failed() && got && xf_error_code(got) == XF_ENOMEM) {
        /* Out of memory while finishing: reported, not lost. */
      } else if (kind == GATHER_ANY) {
        ck_assert_str_eq(xf_error_type(got), "AggregateError");
        xf_error_t *first;
        ck_assert_int_eq(xf_value_get_error(xf_error_payload(got), &first), XF_OK);
        ck_assert_ptr_eq(first, e);
      } else {
        ck_assert_ptr_null(got);
        xf_value_t *list = list_result(r, 2);
        ck_assert_int_eq(xf_value_kind(item(list, 0)), XF_KIND_ERROR);
        ck_assert_int_eq(xf_value_kind(item(list, 1)), XF_KIND_ERROR);
        xf_value_unref(list);
      }
      xf_error_unref(got);
      xf_error_unref(e);
      xf_future_unref(r);
      unref_all(fs, 2);
    }
  }
}
END_TEST

/* any reads a cancelled input's CancelledError, which is allocated: when
 * that fails, the result fails with XF_ENOMEM instead of losing the error
 * (and with it the AggregateError's payload). */
/* any of no futures fails with an AggregateError; when that error cannot
 * be made, the result still finishes (with XF_ENOMEM), never stays
 * pending. */
START_TEST(test_enomem_any_of_none) {
  xf_future_t *none[1] = {NULL};
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_future_t *r = NULL;
    int rc = xf_future_any(none, 0, false, &r);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(r);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    ck_assert_msg(xf_future_done(r), "pass %ld: the result stayed pending", n);
    xf_error_t *err = NULL;
    ck_assert_int_eq(xf_future_error(r, 0, &err), XF_OK);
    ck_assert(xf_error_code(err) == XF_EFAILED || xf_error_code(err) == XF_ENOMEM);
    xf_error_unref(err);
    xf_future_unref(r);
  }
}
END_TEST

START_TEST(test_enomem_any_cancelled_input) {
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xft_alloc_fail_at(-1);
    xf_future_t *fs[2] = {pending(), pending()};
    xf_future_t *r;
    ck_assert_int_eq(xf_future_any(fs, 2, false, &r), XF_OK);
    xf_error_t *e = error_new("ValueError", "v");
    xft_alloc_fail_at(n);
    int rc = xf_future_cancel(fs[0]);
    xft_alloc_fail_at(-1);
    bool failed = xft_alloc_failed();
    ck_assert_int_eq(rc, XF_OK);
    ck_assert_int_eq(xf_future_set_error(fs[1], xf_error_ref(e)), XF_OK);
    ck_assert(xf_future_done(r));
    xf_error_t *got;
    ck_assert_int_eq(xf_future_error(r, 0, &got), XF_OK);
    ck_assert_ptr_nonnull(got);
    if (failed) {
      ck_assert_int_eq(xf_error_code(got), XF_ENOMEM);
    } else {
      /* The first failure is the cancellation, and it is the payload. */
      ck_assert_str_eq(xf_error_type(got), "AggregateError");
      xf_error_t *first;
      ck_assert_int_eq(xf_value_get_error(xf_error_payload(got), &first), XF_OK);
      ck_assert_int_eq(xf_error_code(first), XF_ECANCELLED);
    }
    xf_error_unref(got);
    xf_error_unref(e);
    xf_future_unref(r);
    unref_all(fs, 2);
  }
}
END_TEST

START_TEST(test_enomem_then) {
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xft_alloc_fail_at(-1);
    cont_t c = {.factor = 2};
    xf_future_t *f = pending();
    xf_value_t *v = xft_int(4);
    xft_alloc_fail_at(n);
    xf_future_t *r = (xf_future_t *) 1;
    int rc = xf_future_then(f, NULL, cont_multiply, &c, cont_free, &r);
    xft_alloc_fail_at(-1);
    ck_assert_int_eq(xf_future_set_result(f, v), XF_OK);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(r);
      ck_assert_int_eq(load(&c.ran), 0);
      ck_assert_int_eq(load(&c.freed), 0);
      xf_future_unref(f);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    ck_assert_int_eq(xft_result_int(r), 8);
    ck_assert_int_eq(load(&c.freed), 1);
    xf_future_unref(r);
    xf_future_unref(f);
  }
  /* On an executor, the submission happens when the antecedent finishes;
   * a failure there fails the result and still frees the data once. The
   * pool is made and joined within each pass so that nothing of it is left
   * when the pass counts the live blocks. */
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xft_alloc_fail_at(-1);
    xf_executor_t *ex = xft_pool(1);
    cont_t c = {.factor = 2};
    xf_future_t *f = pending(), *r;
    ck_assert_int_eq(xf_future_then(f, ex, cont_multiply, &c, cont_free, &r), XF_OK);
    xf_value_t *v = xft_int(4);
    xft_alloc_fail_at(n);
    int rc = xf_future_set_result(f, v);
    ck_assert_int_eq(rc, XF_OK);
    xf_value_t *got;
    rc = xf_future_result(r, -1, &got);
    xft_alloc_fail_at(-1);
    if (rc == XF_OK) {
      ck_assert_int_eq(value_int(got), 8);
      xf_value_unref(got);
    } else {
      ck_assert(xft_alloc_failed());
      assert_fails_with(r, XF_ENOMEM, NULL);
    }
    xf_executor_shutdown(ex, true, false);
    ck_assert_int_eq(load(&c.freed), 1);
    xf_future_unref(r);
    xf_future_unref(f);
    xf_executor_unref(ex);
  }
}
END_TEST

START_TEST(test_enomem_chain) {
  for (int src_done = 0; src_done < 2; src_done++) {
    XFT_FOR_EACH_ALLOC_FAILURE(n) {
      xft_alloc_fail_at(-1);
      xf_future_t *src = src_done ? done_with(5) : pending();
      xf_future_t *dst = pending();
      xf_value_t *five = xft_int(5);
      xft_alloc_fail_at(n);
      int rc = xf_future_chain(src, dst);
      xft_alloc_fail_at(-1);
      if (rc == XF_ENOMEM) {
        /* Nothing is linked: finishing one leaves the other alone. */
        ck_assert(!xf_future_done(dst));
        ck_assert_int_eq(xf_future_cancel(dst), XF_OK);
        ck_assert_int_eq(xf_future_done(src), src_done);
        if (!src_done)
          ck_assert_int_eq(xf_future_set_result(src, five), XF_OK);
        else
          xf_value_unref(five);
      } else {
        ck_assert_int_eq(rc, XF_OK);
        if (!src_done)
          ck_assert_int_eq(xf_future_set_result(src, five), XF_OK);
        else
          xf_value_unref(five);
        ck_assert_int_eq(xft_result_int(dst), 5);
      }
      xf_future_unref(src);
      xf_future_unref(dst);
    }
  }
}
END_TEST

START_TEST(test_enomem_shield) {
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xft_alloc_fail_at(-1);
    xf_future_t *inner = pending();
    xf_value_t *v = xft_int(6);
    xft_alloc_fail_at(n);
    xf_future_t *outer = (xf_future_t *) 1;
    int rc = xf_future_shield(inner, &outer);
    xft_alloc_fail_at(-1);
    ck_assert_int_eq(xf_future_set_result(inner, v), XF_OK);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(outer);
    } else {
      ck_assert_int_eq(rc, XF_OK);
      ck_assert_int_eq(xft_result_int(outer), 6);
      xf_future_unref(outer);
    }
    xf_future_unref(inner);
  }
}
END_TEST

/* ---- reference cycles ------------------------------------------------- */

/* Each test makes a combinator over pending futures, drops every reference
 * it holds, and checks that no block the library allocated stays live: a
 * pending future nobody holds is freed, whatever links it to others. */

START_TEST(test_cycle_chain) {
  for (int src_first = 0; src_first < 2; src_first++) {
    long base = xft_alloc_live();
    xf_future_t *src = pending(), *dst = pending();
    ck_assert_int_eq(xf_future_chain(src, dst), XF_OK);
    xf_future_unref(src_first ? src : dst);
    xf_future_unref(src_first ? dst : src);
    ck_assert_int_eq(xft_alloc_live(), base);
  }
  /* Dropping the destination leaves the source alone and usable. */
  long base = xft_alloc_live();
  xf_future_t *src = pending(), *dst = pending();
  ck_assert_int_eq(xf_future_chain(src, dst), XF_OK);
  xf_future_unref(dst);
  ck_assert_int_eq(xf_future_set_result(src, xft_int(1)), XF_OK);
  ck_assert_int_eq(xft_result_int(src), 1);
  xf_future_unref(src);
  ck_assert_int_eq(xft_alloc_live(), base);
}
END_TEST

static void assert_gather_freed(int kind) {
  for (int with_done = 0; with_done < 2; with_done++) {
    long base = xft_alloc_live();
    xf_future_t *fs[3] = {pending(), pending(), pending()};
    /* One input done already: a value, or for any a failure, which leaves
     * the result pending (first is decided by it). */
    if (with_done && kind == GATHER_ANY)
      ck_assert_int_eq(xf_future_fail(fs[1], XF_EFAILED, NULL, NULL), XF_OK);
    else if (with_done)
      ck_assert_int_eq(xf_future_set_result(fs[1], xft_int(1)), XF_OK);
    xf_future_t *r;
    ck_assert_int_eq(gather(kind, fs, 3, &r), XF_OK);
    if (kind != GATHER_FIRST || !with_done)
      ck_assert(!xf_future_done(r));
    xf_future_unref(r);
    unref_all(fs, 3);
    ck_assert_msg(xft_alloc_live() == base, "kind %d, with_done %d: %ld blocks left",
                  kind, with_done, xft_alloc_live() - base);
  }
  /* The inputs dropped first, the result last: inputs freed while pending
   * count as cancelled, so the result finishes instead of hanging. */
  long base = xft_alloc_live();
  xf_future_t *fs[2] = {pending(), pending()};
  xf_future_t *r;
  ck_assert_int_eq(gather(kind, fs, 2, &r), XF_OK);
  unref_all(fs, 2);
  ck_assert(xf_future_done(r));
  if (kind == GATHER_COLLECT) {
    xf_value_t *list = list_result(r, 2);
    ck_assert_int_eq(xf_value_kind(item(list, 0)), XF_KIND_ERROR);
    xf_value_unref(list);
  } else {
    xf_error_t *e = error_of(r);
    if (kind == GATHER_ANY) {
      ck_assert_str_eq(xf_error_type(e), "AggregateError");
    } else {
      ck_assert_int_eq(xf_error_code(e), XF_ECANCELLED);
      ck_assert_ptr_nonnull(strstr(xf_error_message(e), "freed"));
    }
    xf_error_unref(e);
  }
  xf_future_unref(r);
  ck_assert_int_eq(xft_alloc_live(), base);
}

START_TEST(test_cycle_all) {
  assert_gather_freed(GATHER_ALL);
  assert_gather_freed(GATHER_COLLECT);
}
END_TEST

START_TEST(test_cycle_any) {
  assert_gather_freed(GATHER_ANY);
}
END_TEST

START_TEST(test_cycle_first) {
  assert_gather_freed(GATHER_FIRST);
}
END_TEST

START_TEST(test_cycle_then_unwrapped) {
  long base = xft_alloc_live();
  cont_t c = {.other = pending()};
  xf_future_t *f = pending(), *r;
  ck_assert_int_eq(xf_future_then(f, NULL, cont_chain, &c, cont_free, &r), XF_OK);
  ck_assert_int_eq(xf_future_set_result(f, xft_int(1)), XF_OK);
  ck_assert_int_eq(load(&c.freed), 1);
  ck_assert(!xf_future_done(r));
  xf_future_unref(f);
  xf_future_unref(c.other);
  xf_future_unref(r);
  ck_assert_int_eq(xft_alloc_live(), base);
}
END_TEST

static Suite *combinators_suite(void) {
  Suite *s = suite_create("combinators");
  TCase *tc = tcase_create("wait");
  tcase_add_test(tc, test_wait_all_completed);
  tcase_add_test(tc, test_wait_first_completed);
  tcase_add_test(tc, test_wait_first_exception);
  tcase_add_test(tc, test_wait_timeout);
  tcase_add_test(tc, test_wait_empty);
  tcase_add_test(tc, test_wait_duplicates);
  tcase_add_test(tc, test_wait_thread_pool);
  suite_add_tcase(s, tc);
  tc = tcase_create("as_completed");
  tcase_add_test(tc, test_as_completed_order);
  tcase_add_test(tc, test_as_completed_duplicates);
  tcase_add_test(tc, test_as_completed_timeout);
  tcase_add_test(tc, test_as_completed_end);
  tcase_add_test(tc, test_as_completed_pool_seed);
  suite_add_tcase(s, tc);
  tc = tcase_create("all");
  tcase_add_test(tc, test_all_values_in_order);
  tcase_add_test(tc, test_all_mixed_done);
  tcase_add_test(tc, test_all_fail_fast);
  tcase_add_test(tc, test_all_fail_fast_on_cancel);
  tcase_add_test(tc, test_all_collect);
  tcase_add_test(tc, test_all_cancel_result);
  tcase_add_test(tc, test_all_empty);
  tcase_add_test(tc, test_all_thread_pool);
  suite_add_tcase(s, tc);
  tc = tcase_create("any");
  tcase_add_test(tc, test_any_first_success);
  tcase_add_test(tc, test_any_all_fail);
  tcase_add_test(tc, test_any_cancel_rest);
  suite_add_tcase(s, tc);
  tc = tcase_create("first");
  tcase_add_test(tc, test_first_value);
  tcase_add_test(tc, test_first_error);
  tcase_add_test(tc, test_first_cancelled);
  tcase_add_test(tc, test_first_cancel_rest);
  tcase_add_test(tc, test_first_cancel_result);
  suite_add_tcase(s, tc);
  tc = tcase_create("then");
  tcase_add_test(tc, test_then_inline_in_finishing_thread);
  tcase_add_test(tc, test_then_on_pool);
  tcase_add_test(tc, test_then_already_done);
  tcase_add_test(tc, test_then_negative_code);
  tcase_add_test(tc, test_then_set_error);
  tcase_add_test(tc, test_then_unwraps_chained_future);
  tcase_add_test(tc, test_then_sees_antecedent_failure);
  tcase_add_test(tc, test_then_cancel_result_first);
  tcase_add_test(tc, test_then_data_freed_once);
  tcase_add_test(tc, test_then_antecedent_dropped);
  tcase_add_test(tc, test_then_cancel_unwrapped);
  suite_add_tcase(s, tc);
  tc = tcase_create("chain");
  tcase_add_test(tc, test_chain_copies_outcome);
  tcase_add_test(tc, test_chain_cancellation);
  suite_add_tcase(s, tc);
  tc = tcase_create("shield");
  tcase_add_test(tc, test_shield_follows_inner);
  tcase_add_test(tc, test_shield_cancel_outer);
  tcase_add_test(tc, test_shield_inner_dropped);
  suite_add_tcase(s, tc);
  tc = tcase_create("bad_input");
  tcase_add_test(tc, test_bad_input);
  suite_add_tcase(s, tc);
  tc = tcase_create("enomem");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_enomem_wait);
  tcase_add_test(tc, test_enomem_as_completed);
  tcase_add_test(tc, test_enomem_gather);
  tcase_add_test(tc, test_enomem_gather_finishing);
  tcase_add_test(tc, test_enomem_any_cancelled_input);
  tcase_add_test(tc, test_enomem_any_of_none);
  tcase_add_test(tc, test_enomem_then);
  tcase_add_test(tc, test_enomem_chain);
  tcase_add_test(tc, test_enomem_shield);
  suite_add_tcase(s, tc);
  tc = tcase_create("cycles");
  tcase_add_test(tc, test_cycle_chain);
  tcase_add_test(tc, test_cycle_all);
  tcase_add_test(tc, test_cycle_any);
  tcase_add_test(tc, test_cycle_first);
  tcase_add_test(tc, test_cycle_then_unwrapped);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return xft_main(combinators_suite());
}

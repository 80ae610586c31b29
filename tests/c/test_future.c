/* The future: states, outcomes, waiting, done callbacks, bad input, failed
 * allocations, and a stress test of racing threads. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "testutil.h"
#include <xf/xf.h>

/* ---- states ----------------------------------------------------------- */

START_TEST(test_new_is_pending) {
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_state(f), XF_PENDING);
  ck_assert(!xf_future_done(f));
  ck_assert(!xf_future_running(f));
  ck_assert(!xf_future_cancelled(f));
  ck_assert_ptr_null(xf_future_loop(f));
  xf_future_unref(f);
}
END_TEST

START_TEST(test_set_result_once) {
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_set_result(f, xft_int(7)), XF_OK);
  ck_assert_int_eq(xf_future_state(f), XF_FINISHED);
  ck_assert(xf_future_done(f));
  ck_assert_int_eq(xft_result_int(f), 7);
  /* A finished future keeps its first outcome. */
  ck_assert_int_eq(xf_future_set_result(f, xft_int(8)), XF_ESTATE);
  xf_error_t *e;
  ck_assert_int_eq(xf_error_new(XF_EFAILED, "ValueError", "late", &e), XF_OK);
  ck_assert_int_eq(xf_future_set_error(f, e), XF_ESTATE);
  ck_assert_int_eq(xf_future_cancel(f), XF_ESTATE);
  ck_assert_int_eq(xft_result_int(f), 7);
  xf_error_t *none;
  ck_assert_int_eq(xf_future_error(f, 0, &none), XF_OK);
  ck_assert_ptr_null(none);
  xf_future_unref(f);
}
END_TEST

START_TEST(test_void_result) {
  xf_future_t *f;
  xf_value_t *v;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_set_result(f, NULL), XF_OK);
  ck_assert_int_eq(xf_future_result(f, 0, &v), XF_OK);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_VOID);
  xf_value_unref(v);
  xf_future_unref(f);
}
END_TEST

START_TEST(test_set_error) {
  xf_future_t *f;
  xf_error_t *e, *got;
  xf_value_t *v = (xf_value_t *) 1;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_error_new(XF_EFAILED, "ValueError", "bad value", &e), XF_OK);
  ck_assert_int_eq(xf_future_set_error(f, e), XF_OK);
  ck_assert_int_eq(xf_future_result(f, 0, &v), XF_EFAILED);
  ck_assert_ptr_null(v);
  ck_assert_int_eq(xf_future_error(f, 0, &got), XF_OK);
  ck_assert_ptr_eq(got, e);
  ck_assert_str_eq(xf_error_type(got), "ValueError");
  ck_assert_str_eq(xf_error_message(got), "bad value");
  xf_error_unref(got);
  ck_assert_int_eq(xf_future_set_error(f, NULL), XF_EINVAL);
  xf_future_unref(f);
}
END_TEST

START_TEST(test_fail_shorthand) {
  xf_future_t *f;
  xf_error_t *got;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_fail(f, XF_ETIMEDOUT, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_future_error(f, 0, &got), XF_OK);
  ck_assert_int_eq(xf_error_code(got), XF_ETIMEDOUT);
  ck_assert_str_eq(xf_error_type(got), "TimeoutError");
  xf_error_unref(got);
  ck_assert_int_eq(xf_future_fail(f, XF_EFAILED, NULL, NULL), XF_ESTATE);
  xf_future_unref(f);
}
END_TEST

START_TEST(test_cancel_pending) {
  xf_future_t *f;
  xf_value_t *v;
  xf_error_t *e;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_cancel_msg(f, "no longer needed"), XF_OK);
  ck_assert(xf_future_cancelled(f));
  ck_assert(xf_future_done(f));
  /* Cancelling again is fine, as in Python. */
  ck_assert_int_eq(xf_future_cancel(f), XF_OK);
  ck_assert_int_eq(xf_future_result(f, 0, &v), XF_ECANCELLED);
  ck_assert_int_eq(xf_future_error(f, 0, &e), XF_OK);
  ck_assert_int_eq(xf_error_code(e), XF_ECANCELLED);
  ck_assert_str_eq(xf_error_type(e), "CancelledError");
  ck_assert_str_eq(xf_error_message(e), "no longer needed");
  xf_error_unref(e);
  ck_assert_int_eq(xf_future_set_result(f, NULL), XF_ESTATE);
  ck_assert_int_eq(xf_future_set_running_or_notify_cancel(f), XF_ECANCELLED);
  xf_future_unref(f);
}
END_TEST

START_TEST(test_running_cannot_cancel) {
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_set_running_or_notify_cancel(f), XF_OK);
  ck_assert(xf_future_running(f));
  ck_assert_int_eq(xf_future_set_running_or_notify_cancel(f), XF_ESTATE);
  ck_assert_int_eq(xf_future_cancel(f), XF_ESTATE);
  ck_assert(!xf_future_cancelled(f));
  ck_assert_int_eq(xf_future_set_result(f, xft_int(1)), XF_OK);
  ck_assert_int_eq(xf_future_set_running_or_notify_cancel(f), XF_ESTATE);
  xf_future_unref(f);
}
END_TEST

/* ---- waiting ---------------------------------------------------------- */

START_TEST(test_wait_timeout) {
  xf_future_t *f;
  xf_value_t *v;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_wait(f, 0), XF_ETIMEDOUT);
  int64_t t0 = xf_now();
  ck_assert_int_eq(xf_future_result(f, 20 * MS, &v), XF_ETIMEDOUT);
  ck_assert_int_ge(xf_now() - t0, 20 * MS);
  ck_assert_ptr_null(v);
  xf_future_unref(f);
}
END_TEST

typedef struct {
  xf_future_t *f;
  int64_t delay;
  int64_t value;
} setter_t;

static void *setter_thread(void *arg) {
  setter_t *s = arg;
  struct timespec ts = {0, (long) s->delay};
  nanosleep(&ts, NULL);
  xf_future_set_result(s->f, xft_int(s->value));
  return NULL;
}

START_TEST(test_wait_across_threads) {
  /* Both a short delay (the waiter is still spinning) and a long one (it
   * sleeps on the futex) must wake it. */
  int64_t delays[] = {0, 1000, 30 * MS};
  for (int i = 0; i < 3; i++) {
    xf_future_t *f;
    ck_assert_int_eq(xf_future_new(&f), XF_OK);
    setter_t s = {f, delays[i], 40 + i};
    pthread_t t;
    pthread_create(&t, NULL, setter_thread, &s);
    ck_assert_int_eq(xft_result_int(f), 40 + i);
    pthread_join(t, NULL);
    xf_future_unref(f);
  }
}
END_TEST

/* ---- waiting on the running loop's own thread ------------------------- */

/* Long enough that a wait which blocks instead of refusing is noticed. */
#define BLOCKING_NS (2000 * MS)

typedef struct {
  xf_loop_t *loop;
  xf_future_t *lf;   /* pending, bound to the loop */
  xf_future_t *free; /* pending, free-standing */
  int rc[12];
  int ran;
} deadlock_t;

static void wait_on_own_loop(void *data) {
  deadlock_t *d = data;
  xf_value_t *v = (xf_value_t *) 1;
  xf_error_t *e = (xf_error_t *) 1;
  d->rc[0] = xf_future_wait(d->lf, BLOCKING_NS);
  d->rc[1] = xf_future_result(d->lf, BLOCKING_NS, &v);
  d->rc[2] = v == NULL;
  d->rc[3] = xf_future_error(d->lf, BLOCKING_NS, &e);
  d->rc[4] = e == NULL;
  /* A zero timeout is a poll, as everywhere. */
  d->rc[5] = xf_future_wait(d->lf, 0);
  /* All of them are needed, and one only this loop can finish. */
  xf_future_t *fs[2] = {d->lf, d->free};
  d->rc[6] = xf_wait(fs, 2, XF_ALL_COMPLETED, BLOCKING_NS, NULL);
  /* Only futures this loop must finish are left. */
  d->rc[7] = xf_wait(fs, 1, XF_FIRST_COMPLETED, BLOCKING_NS, NULL);
  xf_as_completed_t *it;
  d->rc[8] = xf_as_completed_new(fs, 1, BLOCKING_NS, &it);
  xf_future_t *next = (xf_future_t *) 1;
  d->rc[9] = xf_as_completed_next(it, &next);
  d->rc[10] = next == NULL;
  xf_as_completed_free(it);
  /* Forever, last: before the fix this one hangs. */
  d->rc[11] = xf_future_result(d->lf, -1, &v);
  d->ran = 1;
  xf_loop_stop(d->loop);
}

START_TEST(test_wait_on_own_loop_deadlocks) {
  deadlock_t d = {.loop = xft_loop()};
  ck_assert_int_eq(xf_loop_create_future(d.loop, &d.lf), XF_OK);
  ck_assert_int_eq(xf_future_new(&d.free), XF_OK);
  ck_assert_int_eq(xf_loop_call_soon(d.loop, wait_on_own_loop, &d, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_run(d.loop, XF_RUN_DEFAULT), XF_OK);
  ck_assert_int_eq(d.ran, 1);
  ck_assert_int_eq(d.rc[0], XF_EDEADLK);
  ck_assert_int_eq(d.rc[1], XF_EDEADLK);
  ck_assert_int_eq(d.rc[2], 1);
  ck_assert_int_eq(d.rc[3], XF_EDEADLK);
  ck_assert_int_eq(d.rc[4], 1);
  ck_assert_int_eq(d.rc[5], XF_ETIMEDOUT);
  ck_assert_int_eq(d.rc[6], XF_EDEADLK);
  ck_assert_int_eq(d.rc[7], XF_EDEADLK);
  ck_assert_int_eq(d.rc[8], XF_OK);
  ck_assert_int_eq(d.rc[9], XF_EDEADLK);
  ck_assert_int_eq(d.rc[10], 1);
  ck_assert_int_eq(d.rc[11], XF_EDEADLK);
  /* Outside the loop's run the same future can be waited on, and once done
   * it is read from anywhere. */
  ck_assert_int_eq(xf_future_wait(d.lf, 1), XF_ETIMEDOUT);
  ck_assert_int_eq(xf_future_set_result(d.lf, xft_int(3)), XF_OK);
  ck_assert_int_eq(xft_result_int(d.lf), 3);
  xf_future_unref(d.lf);
  xf_future_unref(d.free);
  xft_loop_free(d.loop);
}
END_TEST

typedef struct {
  xf_loop_t *loop;
  xf_future_t *lf;
  int rc;
} done_read_t;

static void read_done_on_loop(void *data) {
  done_read_t *d = data;
  xf_value_t *v = NULL;
  d->rc = xf_future_result(d->lf, -1, &v);
  xf_value_unref(v);
  xf_loop_stop(d->loop);
}

START_TEST(test_wait_on_own_loop_done_future) {
  /* A done loop future is read on its loop's thread with any timeout: only
   * a wait that would block is refused. */
  done_read_t d = {.loop = xft_loop()};
  ck_assert_int_eq(xf_loop_create_future(d.loop, &d.lf), XF_OK);
  ck_assert_int_eq(xf_future_set_result(d.lf, xft_int(1)), XF_OK);
  ck_assert_int_eq(xf_loop_call_soon(d.loop, read_done_on_loop, &d, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_run(d.loop, XF_RUN_DEFAULT), XF_OK);
  ck_assert_int_eq(d.rc, XF_OK);
  xf_future_unref(d.lf);
  xft_loop_free(d.loop);
}
END_TEST

/* ---- callbacks -------------------------------------------------------- */

typedef struct {
  int order[16];
  int n;
  int freed;
  pthread_t thread;
} trace_t;

typedef struct {
  trace_t *trace;
  int id;
} tag_t;

static void record_cb(xf_future_t *f, void *data) {
  tag_t *t = data;
  ck_assert(xf_future_done(f));
  t->trace->order[t->trace->n++] = t->id;
  t->trace->thread = pthread_self();
}

static void free_tag(void *data) {
  tag_t *t = data;
  t->trace->freed++;
  free(t);
}

static tag_t *tag(trace_t *trace, int id) {
  tag_t *t = malloc(sizeof *t);
  t->trace = trace;
  t->id = id;
  return t;
}

START_TEST(test_callbacks_in_order_once) {
  trace_t trace = {0};
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(
        xf_future_add_done_callback(f, record_cb, tag(&trace, i), free_tag, NULL), XF_OK);
  ck_assert_int_eq(trace.n, 0);
  ck_assert_int_eq(xf_future_set_result(f, NULL), XF_OK);
  ck_assert_int_eq(trace.n, 5);
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(trace.order[i], i);
  ck_assert_int_eq(trace.freed, 5);
  /* Finishing attempts after that run nothing again. */
  xf_future_cancel(f);
  xf_future_set_result(f, NULL);
  ck_assert_int_eq(trace.n, 5);
  xf_future_unref(f);
}
END_TEST

START_TEST(test_callback_after_done_runs_at_once) {
  trace_t trace = {0};
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_cancel(f), XF_OK);
  ck_assert_int_eq(
      xf_future_add_done_callback(f, record_cb, tag(&trace, 9), free_tag, NULL), XF_OK);
  ck_assert_int_eq(trace.n, 1);
  ck_assert_int_eq(trace.order[0], 9);
  ck_assert_int_eq(trace.freed, 1);
  ck_assert(pthread_equal(trace.thread, pthread_self()));
  xf_future_unref(f);
}
END_TEST

START_TEST(test_callback_runs_in_finishing_thread) {
  trace_t trace = {0};
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(
      xf_future_add_done_callback(f, record_cb, tag(&trace, 1), free_tag, NULL), XF_OK);
  setter_t s = {f, 0, 1};
  pthread_t t;
  pthread_create(&t, NULL, setter_thread, &s);
  pthread_join(t, NULL);
  ck_assert_int_eq(trace.n, 1);
  ck_assert(pthread_equal(trace.thread, t));
  xf_future_unref(f);
}
END_TEST

START_TEST(test_remove_callback) {
  trace_t trace = {0};
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  tag_t *a = tag(&trace, 1), *b = tag(&trace, 2);
  ck_assert_int_eq(xf_future_add_done_callback(f, record_cb, a, free_tag, NULL), XF_OK);
  ck_assert_int_eq(xf_future_add_done_callback(f, record_cb, b, free_tag, NULL), XF_OK);
  ck_assert_int_eq(xf_future_add_done_callback(f, record_cb, a, NULL, NULL), XF_OK);
  /* Both registrations of (record_cb, a) go; a's data is freed once, by the
   * registration that owned it. */
  ck_assert_int_eq(xf_future_remove_done_callback(f, record_cb, a), 2);
  ck_assert_int_eq(trace.freed, 1);
  ck_assert_int_eq(xf_future_remove_done_callback(f, record_cb, a), 0);
  ck_assert_int_eq(xf_future_set_result(f, NULL), XF_OK);
  ck_assert_int_eq(trace.n, 1);
  ck_assert_int_eq(trace.order[0], 2);
  ck_assert_int_eq(trace.freed, 2);
  /* After done there is nothing left to remove. */
  ck_assert_int_eq(xf_future_remove_done_callback(f, record_cb, b), 0);
  xf_future_unref(f);
}
END_TEST

static void unref_in_cb(xf_future_t *f, void *data) {
  (void) data;
  xf_future_unref(f);
}

static void touch_cb(xf_future_t *f, void *data) {
  *(int *) data = xf_future_state(f);
}

START_TEST(test_callback_may_drop_last_reference) {
  xf_future_t *f;
  int seen = -1;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_add_done_callback(f, unref_in_cb, NULL, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_future_add_done_callback(f, touch_cb, &seen, NULL, NULL), XF_OK);
  /* The caller's reference is handed to the first callback. */
  ck_assert_int_eq(xf_future_set_result(f, NULL), XF_OK);
  ck_assert_int_eq(seen, XF_FINISHED);
}
END_TEST

START_TEST(test_unref_pending_frees_callbacks) {
  trace_t trace = {0};
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(
      xf_future_add_done_callback(f, record_cb, tag(&trace, 1), free_tag, NULL), XF_OK);
  xf_future_unref(f);
  ck_assert_int_eq(trace.n, 0);
  ck_assert_int_eq(trace.freed, 1);
}
END_TEST

/* ---- bad input -------------------------------------------------------- */

static void noop_cb(xf_future_t *f, void *data) {
  (void) f;
  (void) data;
}

START_TEST(test_null_handles) {
  xf_value_t *v = (xf_value_t *) 1;
  xf_error_t *e = (xf_error_t *) 1;
  ck_assert_int_eq(xf_future_new(NULL), XF_EINVAL);
  ck_assert_int_eq(xf_future_set_result(NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_future_set_error(NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_future_fail(NULL, XF_EFAILED, NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_future_cancel(NULL), XF_EINVAL);
  ck_assert_int_eq(xf_future_cancel_msg(NULL, "x"), XF_EINVAL);
  ck_assert_int_eq(xf_future_set_running_or_notify_cancel(NULL), XF_EINVAL);
  ck_assert_int_eq(xf_future_state(NULL), XF_EINVAL);
  ck_assert(!xf_future_done(NULL));
  ck_assert(!xf_future_cancelled(NULL));
  ck_assert(!xf_future_running(NULL));
  ck_assert_int_eq(xf_future_wait(NULL, 0), XF_EINVAL);
  ck_assert_int_eq(xf_future_result(NULL, 0, &v), XF_EINVAL);
  ck_assert_ptr_null(v);
  ck_assert_int_eq(xf_future_error(NULL, 0, &e), XF_EINVAL);
  ck_assert_ptr_null(e);
  ck_assert_int_eq(xf_future_add_done_callback(NULL, noop_cb, NULL, NULL, NULL),
                   XF_EINVAL);
  ck_assert_int_eq(xf_future_remove_done_callback(NULL, noop_cb, NULL), XF_EINVAL);
  xf_future_ref(NULL);
  xf_future_unref(NULL);

  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_result(f, 0, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_future_error(f, 0, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_future_add_done_callback(f, NULL, NULL, NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_future_remove_done_callback(f, NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_future_fail(f, XF_OK, NULL, NULL), XF_EINVAL);
  ck_assert(!xf_future_done(f));
  xf_future_unref(f);
}
END_TEST

START_TEST(test_error_names) {
  ck_assert_str_eq(xf_err_name(XF_OK), "XF_OK");
  ck_assert_str_eq(xf_err_name(XF_ESTATE), "XF_ESTATE");
  ck_assert_str_eq(xf_err_name(12345), "XF_UNKNOWN");
  ck_assert_str_eq(xf_strerror(XF_ETIMEDOUT), "timed out");
  ck_assert_str_eq(xf_strerror(-9999), "unknown error");
  ck_assert_int_eq(xf_abi_version(), XF_ABI_VERSION);
  ck_assert_ptr_nonnull(xf_version());
  ck_assert_int_eq(xf_set_allocator(malloc, NULL, free), XF_EINVAL);
}
END_TEST

/* ---- allocation failures ---------------------------------------------- */

START_TEST(test_enomem_everywhere) {
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_future_t *f;
    int rc = xf_future_new(&f);
    if (rc == XF_ENOMEM)
      continue;
    ck_assert_int_eq(rc, XF_OK);
    xf_future_unref(f);
  }
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  long base = xft_alloc_live();
  trace_t trace = {0};
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    tag_t *t = tag(&trace, 1);
    int rc = xf_future_add_done_callback(f, record_cb, t, free_tag, NULL);
    if (rc == XF_ENOMEM) {
      free(t); /* on failure the caller keeps its data */
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    ck_assert_int_eq(xf_future_remove_done_callback(f, record_cb, t), 1);
  }
  xf_future_unref(f);
  ck_assert_int_lt(xft_alloc_live(), base);

  /* Operations that change a future run on a fresh one each pass. */
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_future_t *c;
    xft_alloc_fail_at(-1); /* the fresh future is not the operation */
    ck_assert_int_eq(xf_future_new(&c), XF_OK);
    xft_alloc_fail_at(n);
    int rc = xf_future_cancel_msg(c, "why");
    if (rc == XF_ENOMEM) {
      ck_assert(!xf_future_done(c));
      xf_future_unref(c);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    ck_assert(xf_future_cancelled(c));
    xf_future_unref(c);
  }
  xf_future_t *c;
  ck_assert_int_eq(xf_future_new(&c), XF_OK);
  ck_assert_int_eq(xf_future_cancel_msg(c, "why"), XF_OK);
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_error_t *e;
    int rc = xf_future_error(c, 0, &e);
    if (rc == XF_ENOMEM)
      continue;
    ck_assert_int_eq(rc, XF_OK);
    xf_error_unref(e);
  }
  xf_future_unref(c);
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_future_t *g;
    xft_alloc_fail_at(-1);
    ck_assert_int_eq(xf_future_new(&g), XF_OK);
    xft_alloc_fail_at(n);
    int rc = xf_future_fail(g, XF_EFAILED, "KeyError", "k");
    if (rc == XF_ENOMEM) {
      ck_assert(!xf_future_done(g));
      xf_future_unref(g);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    ck_assert(xf_future_done(g));
    xf_future_unref(g);
  }
}
END_TEST

/* ---- stress ----------------------------------------------------------- */

#define STRESS_FUTURES 2000
#define STRESS_THREADS 4

typedef struct {
  xf_future_t *fs[STRESS_FUTURES];
  _Atomic int fired[STRESS_FUTURES];
  _Atomic int freed[STRESS_FUTURES];
  _Atomic int added[STRESS_FUTURES];
  _Atomic int removed[STRESS_FUTURES];
  _Atomic int wins[STRESS_FUTURES];
} stress_t;

static stress_t *stress;

static void stress_cb(xf_future_t *f, void *data) {
  (void) f;
  atomic_fetch_add(&stress->fired[(intptr_t) data], 1);
}

static void stress_free(void *data) {
  atomic_fetch_add(&stress->freed[(intptr_t) data], 1);
}

static void *stress_thread(void *arg) {
  unsigned seed = (unsigned) (uintptr_t) arg;
  for (int round = 0; round < 3 * STRESS_FUTURES; round++) {
    intptr_t i = rand_r(&seed) % STRESS_FUTURES;
    xf_future_t *f = stress->fs[i];
    switch (rand_r(&seed) % 6) {
    case 0:
      if (xf_future_set_result(f, NULL) == XF_OK)
        atomic_fetch_add(&stress->wins[i], 1);
      break;
    case 1:
      if (xf_future_cancel(f) == XF_OK && xf_future_cancelled(f))
        atomic_fetch_add(&stress->wins[i], 0);
      break;
    case 2:
    case 3:
      if (xf_future_add_done_callback(f, stress_cb, (void *) i, stress_free, NULL) ==
          XF_OK)
        atomic_fetch_add(&stress->added[i], 1);
      break;
    case 4: {
      int removed = xf_future_remove_done_callback(f, stress_cb, (void *) i);
      ck_assert_int_ge(removed, 0);
      atomic_fetch_add(&stress->removed[i], removed);
      break;
    }
    case 5:
      xf_future_wait(f, rand_r(&seed) % 2 ? 0 : 50000);
      break;
    }
  }
  return NULL;
}

START_TEST(test_stress_races) {
  stress = calloc(1, sizeof *stress);
  for (int i = 0; i < STRESS_FUTURES; i++)
    ck_assert_int_eq(xf_future_new(&stress->fs[i]), XF_OK);
  pthread_t threads[STRESS_THREADS];
  for (int t = 0; t < STRESS_THREADS; t++)
    pthread_create(&threads[t], NULL, stress_thread, (void *) (uintptr_t) (t + 1));
  for (int t = 0; t < STRESS_THREADS; t++)
    pthread_join(threads[t], NULL);
  /* Finish whatever is left, so every registration has had its chance. */
  for (int i = 0; i < STRESS_FUTURES; i++) {
    if (xf_future_set_result(stress->fs[i], NULL) == XF_OK)
      atomic_fetch_add(&stress->wins[i], 1);
    ck_assert_int_eq(xf_future_wait(stress->fs[i], -1), XF_OK);
  }
  for (int i = 0; i < STRESS_FUTURES; i++) {
    int added = atomic_load(&stress->added[i]),
        removed = atomic_load(&stress->removed[i]);
    int fired = atomic_load(&stress->fired[i]);
    /* Every registration either fired exactly once or was removed, and
     * every one had its data freed exactly once. */
    ck_assert_int_eq(fired + removed, added);
    ck_assert_int_eq(atomic_load(&stress->freed[i]), added);
    ck_assert_int_le(atomic_load(&stress->wins[i]), 1);
    ck_assert(xf_future_done(stress->fs[i]));
    ck_assert_int_eq(xf_future_cancelled(stress->fs[i]),
                     atomic_load(&stress->wins[i]) == 0);
    xf_future_unref(stress->fs[i]);
  }
  free(stress);
}
END_TEST

/* ---- outcome ---------------------------------------------------------- */

/* xf_future_outcome reads, without blocking, what a binding needs to turn a
 * future into its language's answer: the state and the value or the error. */
START_TEST(test_outcome_of_each_state) {
  xf_future_t *f;
  xf_value_t *v = (xf_value_t *) 1;
  xf_error_t *e = (xf_error_t *) 1;

  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_outcome(f, &v, &e), XF_PENDING);
  ck_assert_ptr_null(v);
  ck_assert_ptr_null(e);
  ck_assert_int_eq(xf_future_set_running_or_notify_cancel(f), XF_OK);
  v = (xf_value_t *) 1;
  e = (xf_error_t *) 1;
  ck_assert_int_eq(xf_future_outcome(f, &v, &e), XF_RUNNING);
  ck_assert_ptr_null(v);
  ck_assert_ptr_null(e);
  ck_assert_int_eq(xf_future_set_result(f, xft_int(42)), XF_OK);
  ck_assert_int_eq(xf_future_outcome(f, &v, &e), XF_FINISHED);
  ck_assert_ptr_null(e);
  int64_t i = 0;
  ck_assert_int_eq(xf_value_get_int(v, &i), XF_OK);
  ck_assert_int_eq(i, 42);
  xf_value_unref(v);
  /* Either part may be left out. */
  ck_assert_int_eq(xf_future_outcome(f, NULL, &e), XF_FINISHED);
  ck_assert_ptr_null(e);
  ck_assert_int_eq(xf_future_outcome(f, NULL, NULL), XF_FINISHED);
  xf_future_unref(f);

  /* A void result is a void value, not NULL. */
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_set_result(f, NULL), XF_OK);
  ck_assert_int_eq(xf_future_outcome(f, &v, NULL), XF_FINISHED);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_VOID);
  xf_future_unref(f);

  /* An error: the very error that was set, and no value. */
  xf_error_t *err;
  ck_assert_int_eq(xf_error_new(XF_EINVAL, "KeyError", "no such key", &err), XF_OK);
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_set_error(f, xf_error_ref(err)), XF_OK);
  v = (xf_value_t *) 1;
  ck_assert_int_eq(xf_future_outcome(f, &v, &e), XF_FINISHED);
  ck_assert_ptr_null(v);
  ck_assert_ptr_eq(e, err);
  xf_error_unref(e);
  ck_assert_int_eq(xf_future_outcome(f, &v, NULL), XF_FINISHED);
  ck_assert_ptr_null(v);
  xf_error_unref(err);
  xf_future_unref(f);

  /* Cancelled: a CancelledError carrying the message, or none. */
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_cancel_msg(f, "not needed"), XF_OK);
  v = (xf_value_t *) 1;
  ck_assert_int_eq(xf_future_outcome(f, &v, &e), XF_CANCELLED);
  ck_assert_ptr_null(v);
  ck_assert_int_eq(xf_error_code(e), XF_ECANCELLED);
  ck_assert_str_eq(xf_error_type(e), "CancelledError");
  ck_assert_str_eq(xf_error_message(e), "not needed");
  xf_error_unref(e);
  xf_future_unref(f);
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_cancel(f), XF_OK);
  ck_assert_int_eq(xf_future_outcome(f, NULL, &e), XF_CANCELLED);
  ck_assert_int_eq(xf_error_code(e), XF_ECANCELLED);
  ck_assert_str_eq(xf_error_message(e), "");
  xf_error_unref(e);
  xf_future_unref(f);

  ck_assert_int_eq(xf_future_outcome(NULL, &v, &e), XF_EINVAL);
  ck_assert_ptr_null(v);
  ck_assert_ptr_null(e);
}
END_TEST

static int outcome_handler_calls;

static void outcome_handler(xf_loop_t *loop, const char *message, xf_error_t *err,
                            void *data) {
  (void) loop;
  (void) message;
  (void) err;
  (void) data;
  outcome_handler_calls++;
}

/* Reading the error through the outcome counts as retrieving it, as
 * xf_future_error does: a loop future freed afterwards is not reported as
 * "never retrieved". Asking for the state alone does not count. */
START_TEST(test_outcome_retrieves_the_error) {
  xf_loop_t *loop = xft_loop();
  ck_assert_int_eq(xf_loop_set_exception_handler(loop, outcome_handler, NULL, NULL),
                   XF_OK);
  for (int read_error = 0; read_error < 2; read_error++) {
    outcome_handler_calls = 0;
    xf_future_t *f;
    ck_assert_int_eq(xf_loop_create_future(loop, &f), XF_OK);
    ck_assert_int_eq(xf_future_fail(f, XF_EFAILED, NULL, "boom"), XF_OK);
    xf_value_t *v;
    ck_assert_int_eq(xf_future_outcome(f, &v, NULL), XF_FINISHED);
    if (read_error) {
      xf_error_t *e;
      ck_assert_int_eq(xf_future_outcome(f, NULL, &e), XF_FINISHED);
      ck_assert_str_eq(xf_error_message(e), "boom");
      xf_error_unref(e);
    }
    xf_future_unref(f);
    ck_assert_int_eq(outcome_handler_calls, read_error ? 0 : 1);
  }
  xft_loop_free(loop);
}
END_TEST

/* Failing allocations: the only allocation is a cancelled future's
 * CancelledError; without it the call fails cleanly with nothing returned. */
START_TEST(test_outcome_enomem) {
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_cancel_msg(f, "why"), XF_OK);
  int failures = 0;
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_value_t *v = (xf_value_t *) 1;
    xf_error_t *e = (xf_error_t *) 1;
    int rc = xf_future_outcome(f, &v, &e);
    ck_assert_ptr_null(v);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(e);
      failures++;
      continue;
    }
    ck_assert_int_eq(rc, XF_CANCELLED);
    ck_assert_str_eq(xf_error_message(e), "why");
    xf_error_unref(e);
  }
  ck_assert_int_ge(failures, 1);
  xf_future_unref(f);
}
END_TEST

/* A future finished by another thread: the outcome seen once the state says
 * FINISHED is complete (the value written before the state was published). */
static void *outcome_finisher(void *arg) {
  xf_future_t **fs = arg;
  for (int i = 0; i < 200; i++)
    xf_future_set_result(fs[i], xft_int(i));
  return NULL;
}

START_TEST(test_outcome_across_threads) {
  xf_future_t *fs[200];
  for (int i = 0; i < 200; i++)
    ck_assert_int_eq(xf_future_new(&fs[i]), XF_OK);
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, outcome_finisher, fs), 0);
  for (int i = 0; i < 200; i++) {
    xf_value_t *v = NULL;
    int state;
    while ((state = xf_future_outcome(fs[i], &v, NULL)) != XF_FINISHED) {
      ck_assert_int_eq(state, XF_PENDING);
      ck_assert_ptr_null(v);
    }
    int64_t got = -1;
    ck_assert_int_eq(xf_value_get_int(v, &got), XF_OK);
    ck_assert_int_eq(got, i);
    xf_value_unref(v);
  }
  pthread_join(t, NULL);
  for (int i = 0; i < 200; i++)
    xf_future_unref(fs[i]);
}
END_TEST

static Suite *future_suite(void) {
  Suite *s = suite_create("future");
  TCase *tc = tcase_create("states");
  tcase_add_test(tc, test_new_is_pending);
  tcase_add_test(tc, test_set_result_once);
  tcase_add_test(tc, test_void_result);
  tcase_add_test(tc, test_set_error);
  tcase_add_test(tc, test_fail_shorthand);
  tcase_add_test(tc, test_cancel_pending);
  tcase_add_test(tc, test_running_cannot_cancel);
  suite_add_tcase(s, tc);
  tc = tcase_create("waiting");
  tcase_add_test(tc, test_wait_timeout);
  tcase_add_test(tc, test_wait_across_threads);
  tcase_add_test(tc, test_wait_on_own_loop_deadlocks);
  tcase_add_test(tc, test_wait_on_own_loop_done_future);
  suite_add_tcase(s, tc);
  tc = tcase_create("callbacks");
  tcase_add_test(tc, test_callbacks_in_order_once);
  tcase_add_test(tc, test_callback_after_done_runs_at_once);
  tcase_add_test(tc, test_callback_runs_in_finishing_thread);
  tcase_add_test(tc, test_remove_callback);
  tcase_add_test(tc, test_callback_may_drop_last_reference);
  tcase_add_test(tc, test_unref_pending_frees_callbacks);
  suite_add_tcase(s, tc);
  tc = tcase_create("outcome");
  tcase_add_test(tc, test_outcome_of_each_state);
  tcase_add_test(tc, test_outcome_retrieves_the_error);
  tcase_add_test(tc, test_outcome_enomem);
  tcase_add_test(tc, test_outcome_across_threads);
  suite_add_tcase(s, tc);
  tc = tcase_create("bad_input");
  tcase_add_test(tc, test_null_handles);
  tcase_add_test(tc, test_error_names);
  suite_add_tcase(s, tc);
  tc = tcase_create("enomem");
  tcase_add_test(tc, test_enomem_everywhere);
  suite_add_tcase(s, tc);
  tc = tcase_create("stress");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_stress_races);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return xft_main(future_suite());
}

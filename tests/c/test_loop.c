/* The event loop: life cycle, callbacks, timers, the thread-safe queue, fd
 * readiness, loop futures, executors, timeouts, the exception handler,
 * embedding in a host loop, threads and bad input. */
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"
#include <xf/xf.h>

static int64_t value_int(xf_value_t *v) {
  int64_t i = -1;
  ck_assert_int_eq(xf_value_get_int(v, &i), XF_OK);
  xf_value_unref(v);
  return i;
}

/* A log of small integers, appended to by callbacks. */
typedef struct record {
  int n;
  int items[64];
  _Atomic int freed;
} record_t;

typedef struct entry {
  record_t *r;
  int value;
} entry_t;

static entry_t *entry(record_t *r, int value) {
  entry_t *e = malloc(sizeof *e);
  e->r = r;
  e->value = value;
  return e;
}

static void entry_run(void *data) {
  entry_t *e = data;
  e->r->items[e->r->n++] = e->value;
}

static void entry_free(void *data) {
  entry_t *e = data;
  atomic_fetch_add(&e->r->freed, 1);
  free(e);
}

static void stop_loop(void *data) {
  xf_loop_stop(data);
}

/* ---- life cycle ------------------------------------------------------- */

START_TEST(test_new_close) {
  xf_loop_t *loop = xft_loop();
  ck_assert(!xf_loop_is_closed(loop));
  ck_assert(!xf_loop_is_running(loop));
  ck_assert_int_ge(xf_loop_backend_fd(loop), 0);
  ck_assert_int_eq(xf_loop_close(loop), XF_OK);
  ck_assert(xf_loop_is_closed(loop));
  ck_assert_int_eq(xf_loop_close(loop), XF_OK);
  record_t r = {0};
  entry_t *e = entry(&r, 1);
  ck_assert_int_eq(xf_loop_call_soon(loop, entry_run, e, entry_free, NULL), XF_ECLOSED);
  ck_assert_int_eq(xf_loop_call_soon_threadsafe(loop, entry_run, e, entry_free),
                   XF_ECLOSED);
  ck_assert_int_eq(xf_loop_call_later(loop, MS, entry_run, e, entry_free, NULL),
                   XF_ECLOSED);
  ck_assert_int_eq(r.freed, 0); /* refused: the caller still owns e */
  free(e);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_ECLOSED);
  ck_assert_int_eq(xf_loop_stop(loop), XF_ECLOSED);
  xf_future_t *f;
  ck_assert_int_eq(xf_loop_create_future(loop, &f), XF_ECLOSED);
  ck_assert_ptr_null(f);
  ck_assert_int_eq(xf_loop_backend_fd(loop), XF_ECLOSED);
  xf_loop_unref(loop);
}
END_TEST

START_TEST(test_close_frees_pending) {
  xf_loop_t *loop = xft_loop();
  record_t r = {0};
  ck_assert_int_eq(xf_loop_call_soon(loop, entry_run, entry(&r, 1), entry_free, NULL),
                   XF_OK);
  ck_assert_int_eq(
      xf_loop_call_later(loop, 1000 * MS, entry_run, entry(&r, 2), entry_free, NULL),
      XF_OK);
  ck_assert_int_eq(
      xf_loop_call_soon_threadsafe(loop, entry_run, entry(&r, 3), entry_free), XF_OK);
  xf_handle_t *h;
  ck_assert_int_eq(
      xf_loop_call_later(loop, 1000 * MS, entry_run, entry(&r, 4), entry_free, &h),
      XF_OK);
  xft_loop_free(loop);
  ck_assert_int_eq(r.n, 0);
  ck_assert_int_eq(r.freed, 4);
  /* A handle outlives its loop harmlessly. */
  ck_assert_int_eq(xf_handle_cancel(h), XF_OK);
  xf_handle_unref(h);
}
END_TEST

START_TEST(test_unref_closes) {
  xf_loop_t *loop = xft_loop();
  record_t r = {0};
  ck_assert_int_eq(xf_loop_call_soon(loop, entry_run, entry(&r, 1), entry_free, NULL),
                   XF_OK);
  xf_future_t *f;
  ck_assert_int_eq(xf_loop_create_future(loop, &f), XF_OK);
  xf_loop_unref(loop); /* the future keeps the memory, not the loop open */
  ck_assert_int_eq(r.freed, 1);
  ck_assert_ptr_eq(xf_future_loop(f), loop);
  ck_assert(xf_loop_is_closed(loop));
  xf_future_unref(f);
}
END_TEST

static void check_running(void *data) {
  xf_loop_t *loop = data;
  ck_assert_ptr_eq(xf_loop_current(), loop);
  ck_assert(xf_loop_is_running(loop));
  ck_assert_int_eq(xf_loop_close(loop), XF_EBUSY);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_EBUSY);
  xf_future_t *f;
  ck_assert_int_eq(xf_loop_create_future(loop, &f), XF_OK);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, f, NULL), XF_EBUSY);
  xf_future_unref(f);
  /* A thread runs at most one loop. */
  xf_loop_t *other = xft_loop();
  ck_assert_int_eq(xf_loop_run(other, XF_RUN_NOWAIT), XF_EBUSY);
  xft_loop_free(other);
  xf_loop_stop(loop);
}

START_TEST(test_run_and_stop) {
  xf_loop_t *loop = xft_loop();
  ck_assert_ptr_null(xf_loop_current());
  ck_assert_int_eq(xf_loop_call_soon(loop, check_running, loop, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_DEFAULT), XF_OK);
  ck_assert_ptr_null(xf_loop_current());
  ck_assert(!xf_loop_is_running(loop));
  /* A stop before the run: one iteration, then return. */
  record_t r = {0};
  ck_assert_int_eq(xf_loop_stop(loop), XF_OK);
  ck_assert_int_eq(xf_loop_call_soon(loop, entry_run, entry(&r, 1), entry_free, NULL),
                   XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_DEFAULT), XF_OK);
  ck_assert_int_eq(r.n, 1);
  ck_assert_int_eq(xf_loop_run(loop, 7), XF_EINVAL);
  xft_loop_free(loop);
}
END_TEST

static void set_flag(void *data) {
  *(int *) data = 1;
}

typedef struct rendezvous_post {
  xf_loop_t *loop;
  pthread_barrier_t met;
  int ran; /* set on the loop's thread */
  int rc;
} rendezvous_post_t;

static void *post_after_rendezvous(void *p) {
  rendezvous_post_t *rp = p;
  pthread_barrier_wait(&rp->met);
  rp->rc = xf_loop_call_soon_threadsafe(rp->loop, set_flag, &rp->ran, NULL);
  return NULL;
}

/* A stop requested while the loop is idle is consumed by the next run (one
 * iteration); it leaves no wake-up behind that would make a later RUN_ONCE
 * return before anything is ready. */
START_TEST(test_run_once_after_stop) {
  xf_loop_t *loop = xft_loop();
  int fired = 0;
  ck_assert_int_eq(xf_loop_stop(loop), XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_DEFAULT), XF_OK);
  ck_assert_int_eq(xf_loop_call_later(loop, 2 * MS, set_flag, &fired, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_ONCE), XF_OK);
  ck_assert_int_eq(fired, 1);

  /* The same with a post from another thread, made once both threads met. */
  rendezvous_post_t rp = {.loop = loop};
  pthread_barrier_init(&rp.met, NULL, 2);
  ck_assert_int_eq(xf_loop_stop(loop), XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_DEFAULT), XF_OK);
  pthread_t t;
  pthread_create(&t, NULL, post_after_rendezvous, &rp);
  pthread_barrier_wait(&rp.met);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_ONCE), XF_OK);
  ck_assert_int_eq(rp.ran, 1);
  pthread_join(t, NULL);
  ck_assert_int_eq(rp.rc, XF_OK);
  pthread_barrier_destroy(&rp.met);
  xft_loop_free(loop);
}
END_TEST

static void set_42(void *data) {
  xf_future_set_result(data, xft_int(42));
}

START_TEST(test_run_until_complete) {
  xf_loop_t *loop = xft_loop();
  xf_future_t *f;
  ck_assert_int_eq(xf_loop_create_future(loop, &f), XF_OK);
  ck_assert_int_eq(xf_loop_call_later(loop, 2 * MS, set_42, f, NULL, NULL), XF_OK);
  xf_value_t *v;
  ck_assert_int_eq(xf_loop_run_until_complete(loop, f, &v), XF_OK);
  ck_assert_int_eq(value_int(v), 42);
  /* Already done: its outcome at once. */
  ck_assert_int_eq(xf_loop_run_until_complete(loop, f, NULL), XF_OK);
  xf_future_unref(f);
  /* Failed and cancelled futures report as xf_future_result does. */
  ck_assert_int_eq(xf_loop_create_future(loop, &f), XF_OK);
  ck_assert_int_eq(xf_future_fail(f, XF_EFAILED, "ValueError", "bad"), XF_OK);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, f, &v), XF_EFAILED);
  ck_assert_ptr_null(v);
  xf_future_unref(f);
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_cancel(f), XF_OK);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, f, &v), XF_ECANCELLED);
  xf_future_unref(f);
  /* Stopped before the future was done. */
  ck_assert_int_eq(xf_loop_create_future(loop, &f), XF_OK);
  ck_assert_int_eq(xf_loop_call_soon(loop, stop_loop, loop, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, f, &v), XF_ESTATE);
  /* A later completion does not stop a later run. */
  xf_future_set_result(f, NULL);
  record_t r = {0};
  ck_assert_int_eq(
      xf_loop_call_later(loop, 5 * MS, entry_run, entry(&r, 1), entry_free, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_call_later(loop, 6 * MS, stop_loop, loop, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_DEFAULT), XF_OK);
  ck_assert_int_eq(r.n, 1);
  xf_future_unref(f);
  xft_loop_free(loop);
}
END_TEST

typedef struct runner {
  xf_loop_t *loop;
  int rc;
} runner_t;

static void *run_thread(void *p) {
  runner_t *r = p;
  r->rc = xf_loop_run(r->loop, XF_RUN_NOWAIT);
  return NULL;
}

static void try_run_elsewhere(void *data) {
  runner_t *r = data;
  pthread_t t;
  pthread_create(&t, NULL, run_thread, r);
  pthread_join(t, NULL);
}

START_TEST(test_second_thread_cannot_run) {
  runner_t r = {xft_loop(), 0};
  ck_assert_int_eq(xf_loop_call_soon(r.loop, try_run_elsewhere, &r, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_run(r.loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(r.rc, XF_EBUSY);
  /* Once this thread is done with it, another thread may run it. */
  r.rc = -100;
  try_run_elsewhere(&r);
  ck_assert_int_eq(r.rc, XF_OK);
  xft_loop_free(r.loop);
}
END_TEST

/* ---- call_soon -------------------------------------------------------- */

typedef struct resched {
  xf_loop_t *loop;
  int runs;
} resched_t;

static void reschedule(void *data) {
  resched_t *s = data;
  if (++s->runs < 3)
    xf_loop_call_soon(s->loop, reschedule, s, NULL, NULL);
}

START_TEST(test_call_soon_fifo) {
  xf_loop_t *loop = xft_loop();
  record_t r = {0};
  for (int i = 0; i < 10; i++)
    ck_assert_int_eq(xf_loop_call_soon(loop, entry_run, entry(&r, i), entry_free, NULL),
                     XF_OK);
  ck_assert_int_eq(r.n, 0); /* never synchronously */
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(r.n, 10);
  for (int i = 0; i < 10; i++)
    ck_assert_int_eq(r.items[i], i);
  ck_assert_int_eq(r.freed, 10);
  /* What a callback schedules waits for the next iteration. */
  resched_t s = {loop, 0};
  ck_assert_int_eq(xf_loop_call_soon(loop, reschedule, &s, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(s.runs, 1);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_ONCE), XF_OK);
  ck_assert_int_eq(s.runs, 2);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(s.runs, 3);
  xft_loop_free(loop);
}
END_TEST

/* On the loop's own thread, call_soon_threadsafe is call_soon (asyncio's
 * is call_soon plus a wake-up): what a callback schedules runs in the order
 * it was scheduled, whichever of the two it used. */
typedef struct mixed {
  xf_loop_t *loop;
  record_t *r;
  bool threadsafe_first_ran; /* entry 0 had run when the callback returned */
} mixed_t;

static void schedule_mixed(void *data) {
  mixed_t *m = data;
  ck_assert_int_eq(
      xf_loop_call_soon_threadsafe(m->loop, entry_run, entry(m->r, 0), entry_free),
      XF_OK);
  ck_assert_int_eq(
      xf_loop_call_soon(m->loop, entry_run, entry(m->r, 1), entry_free, NULL), XF_OK);
  ck_assert_int_eq(
      xf_loop_call_soon_threadsafe(m->loop, entry_run, entry(m->r, 2), entry_free),
      XF_OK);
  m->threadsafe_first_ran = m->r->n > 0;
}

START_TEST(test_threadsafe_on_loop_thread_keeps_order) {
  xf_loop_t *loop = xft_loop();
  record_t r = {0};
  mixed_t m = {loop, &r, false};
  ck_assert_int_eq(xf_loop_call_soon(loop, schedule_mixed, &m, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert(!m.threadsafe_first_ran); /* never synchronously */
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(r.n, 3);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(r.items[i], i);
  ck_assert_int_eq(r.freed, 3);
  xft_loop_free(loop);
}
END_TEST

/* A loop future finished by a callback on the loop's thread posts its done
 * callbacks there: they run in a later iteration, in the order of what the
 * callback scheduled around the completion (asyncio's set_result schedules
 * them with call_soon). */
typedef struct finisher {
  xf_loop_t *loop;
  record_t *r;
  xf_future_t *f;
  int seen_after_set; /* entries run when set_result returned */
} finisher_t;

static void record_done(xf_future_t *f, void *data) {
  (void) f;
  entry_run(data);
}

static void finish_on_loop(void *data) {
  finisher_t *fin = data;
  ck_assert_int_eq(
      xf_loop_call_soon(fin->loop, entry_run, entry(fin->r, 0), entry_free, NULL), XF_OK);
  ck_assert_int_eq(xf_future_set_result(fin->f, NULL), XF_OK);
  fin->seen_after_set = fin->r->n;
  ck_assert_int_eq(
      xf_loop_call_soon(fin->loop, entry_run, entry(fin->r, 2), entry_free, NULL), XF_OK);
}

START_TEST(test_done_callback_posted_on_loop_thread) {
  xf_loop_t *loop = xft_loop();
  record_t r = {0};
  finisher_t fin = {loop, &r, NULL, -1};
  ck_assert_int_eq(xf_loop_create_future(loop, &fin.f), XF_OK);
  ck_assert_int_eq(
      xf_future_add_done_callback(fin.f, record_done, entry(&r, 1), entry_free, NULL),
      XF_OK);
  ck_assert_int_eq(xf_loop_call_soon(loop, finish_on_loop, &fin, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(fin.seen_after_set, 0); /* not inside set_result */
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(r.n, 3);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(r.items[i], i);
  ck_assert_int_eq(r.freed, 3);
  xf_future_unref(fin.f);
  xft_loop_free(loop);
}
END_TEST

START_TEST(test_cancel_soon) {
  xf_loop_t *loop = xft_loop();
  record_t r = {0};
  xf_handle_t *a, *b;
  ck_assert_int_eq(xf_loop_call_soon(loop, entry_run, entry(&r, 1), entry_free, &a),
                   XF_OK);
  ck_assert_int_eq(xf_loop_call_soon(loop, entry_run, entry(&r, 2), entry_free, &b),
                   XF_OK);
  ck_assert(!xf_handle_cancelled(a));
  ck_assert_int_eq(xf_handle_cancel(a), XF_OK);
  ck_assert(xf_handle_cancelled(a));
  ck_assert_int_eq(xf_handle_cancel(a), XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(r.n, 1);
  ck_assert_int_eq(r.items[0], 2);
  ck_assert_int_eq(r.freed, 2);
  /* Cancelling after it ran changes nothing. */
  ck_assert_int_eq(xf_handle_cancel(b), XF_OK);
  xf_handle_unref(a);
  xf_handle_unref(b);
  xft_loop_free(loop);
}
END_TEST

/* ---- timers ----------------------------------------------------------- */

START_TEST(test_timer_order) {
  xf_loop_t *loop = xft_loop();
  record_t r = {0};
  int64_t now = xf_loop_time(loop);
  /* Deadlines out of order, and ties that must keep scheduling order. */
  int64_t offsets[] = {30, 10, 20, 10, 0, 20, 10};
  for (int i = 0; i < 7; i++)
    ck_assert_int_eq(xf_loop_call_at(loop, now + offsets[i] * MS, entry_run, entry(&r, i),
                                     entry_free, NULL),
                     XF_OK);
  ck_assert_int_eq(xf_loop_call_at(loop, now + 31 * MS, stop_loop, loop, NULL, NULL),
                   XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_DEFAULT), XF_OK);
  ck_assert_int_ge(xf_loop_time(loop), now + 31 * MS);
  int expected[] = {4, 1, 3, 6, 2, 5, 0};
  ck_assert_int_eq(r.n, 7);
  for (int i = 0; i < 7; i++)
    ck_assert_int_eq(r.items[i], expected[i]);
  xft_loop_free(loop);
}
END_TEST

typedef struct many {
  int64_t last_when;
  int64_t last_index;
  long ran;
  bool ordered;
  _Atomic long freed;
  int64_t *when;
} many_t;

typedef struct many_entry {
  many_t *m;
  int64_t index;
} many_entry_t;

static void many_run(void *data) {
  many_entry_t *e = data;
  many_t *m = e->m;
  int64_t when = m->when[e->index];
  if (when < m->last_when || (when == m->last_when && e->index < m->last_index))
    m->ordered = false;
  m->last_when = when;
  m->last_index = e->index;
  m->ran++;
}

static void many_free(void *data) {
  many_entry_t *e = data;
  atomic_fetch_add(&e->m->freed, 1);
  free(e);
}

START_TEST(test_many_timers_half_cancelled) {
  enum { N = 100000 };
  xf_loop_t *loop = xft_loop();
  many_t m = {.last_when = INT64_MIN, .last_index = -1, .ordered = true};
  m.when = malloc(N * sizeof *m.when);
  xf_handle_t **hs = malloc(N * sizeof *hs);
  int64_t base = xf_loop_time(loop);
  unsigned seed = 12345;
  for (int i = 0; i < N; i++) {
    seed = seed * 1103515245u + 12345u;
    /* 64 distinct deadlines: many ties. */
    m.when[i] = base + (int64_t) ((seed >> 16) % 64) * 100000;
    many_entry_t *e = malloc(sizeof *e);
    e->m = &m;
    e->index = i;
    ck_assert_int_eq(xf_loop_call_at(loop, m.when[i], many_run, e, many_free, &hs[i]),
                     XF_OK);
  }
  for (int i = 0; i < N; i += 2)
    ck_assert_int_eq(xf_handle_cancel(hs[i]), XF_OK);
  /* Cancelled on the loop's thread: freed at once, not at their deadline. */
  ck_assert_int_eq(m.freed, N / 2);
  for (int i = 0; i < N; i++)
    xf_handle_unref(hs[i]);
  ck_assert_int_eq(xf_loop_call_at(loop, base + 64 * 100000, stop_loop, loop, NULL, NULL),
                   XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_DEFAULT), XF_OK);
  ck_assert_int_eq(m.ran, N / 2);
  ck_assert_int_eq(m.freed, N);
  ck_assert(m.ordered);
  free(hs);
  free(m.when);
  xft_loop_free(loop);
}
END_TEST

typedef struct cancel_from {
  xf_handle_t *h;
} cancel_from_t;

static void *cancel_thread(void *p) {
  xf_handle_cancel(((cancel_from_t *) p)->h);
  return NULL;
}

static void cancel_elsewhere(void *data) {
  pthread_t t;
  pthread_create(&t, NULL, cancel_thread, data);
  pthread_join(t, NULL);
}

START_TEST(test_cancel_timer_from_other_thread) {
  xf_loop_t *loop = xft_loop();
  record_t r = {0};
  cancel_from_t c;
  ck_assert_int_eq(
      xf_loop_call_later(loop, 5 * MS, entry_run, entry(&r, 1), entry_free, &c.h), XF_OK);
  ck_assert_int_eq(xf_loop_call_soon(loop, cancel_elsewhere, &c, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_call_later(loop, 10 * MS, stop_loop, loop, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_DEFAULT), XF_OK);
  ck_assert_int_eq(r.n, 0);
  ck_assert_int_eq(r.freed, 1);
  ck_assert(xf_handle_cancelled(c.h));
  xf_handle_unref(c.h);
  xft_loop_free(loop);
}
END_TEST

/* ---- call_soon_threadsafe --------------------------------------------- */

enum { FLOOD = 100000 };

typedef struct flood {
  xf_loop_t *loop;
  long next[2]; /* the next sequence number expected from each producer */
  long received;
  bool ordered;
  _Atomic int producers_done;
} flood_t;

typedef struct flood_item {
  flood_t *fl;
  int producer;
  long seq;
} flood_item_t;

static void flood_run(void *data) {
  flood_item_t *it = data;
  flood_t *fl = it->fl;
  if (it->seq != fl->next[it->producer])
    fl->ordered = false;
  fl->next[it->producer] = it->seq + 1;
  if (++fl->received == 2L * FLOOD)
    xf_loop_stop(fl->loop);
}

typedef struct producer {
  flood_t *fl;
  int id;
} producer_t;

static void *produce(void *p) {
  producer_t *pr = p;
  for (long i = 0; i < FLOOD; i++) {
    flood_item_t *it = malloc(sizeof *it);
    it->fl = pr->fl;
    it->producer = pr->id;
    it->seq = i;
    int rc = xf_loop_call_soon_threadsafe(pr->fl->loop, flood_run, it, free);
    if (rc != XF_OK)
      abort();
  }
  return NULL;
}

START_TEST(test_threadsafe_flood) {
  flood_t fl = {.loop = xft_loop(), .ordered = true};
  producer_t p[2] = {{&fl, 0}, {&fl, 1}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    pthread_create(&t[i], NULL, produce, &p[i]);
  ck_assert_int_eq(xf_loop_run(fl.loop, XF_RUN_DEFAULT), XF_OK);
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  ck_assert_int_eq(fl.received, 2L * FLOOD);
  ck_assert_int_eq(fl.next[0], FLOOD);
  ck_assert_int_eq(fl.next[1], FLOOD);
  ck_assert(fl.ordered);
  xft_loop_free(fl.loop);
}
END_TEST

static void *post_later(void *p) {
  struct timespec ts = {0, 20 * MS};
  nanosleep(&ts, NULL);
  xf_loop_call_soon_threadsafe(p, stop_loop, p, NULL);
  return NULL;
}

START_TEST(test_threadsafe_wakes_blocked_loop) {
  xf_loop_t *loop = xft_loop();
  pthread_t t;
  pthread_create(&t, NULL, post_later, loop);
  /* Nothing scheduled: the loop blocks until the other thread posts. */
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_DEFAULT), XF_OK);
  pthread_join(t, NULL);
  xft_loop_free(loop);
}
END_TEST

static void *stop_later(void *p) {
  struct timespec ts = {0, 20 * MS};
  nanosleep(&ts, NULL);
  xf_loop_stop(p);
  return NULL;
}

START_TEST(test_stop_from_other_thread) {
  xf_loop_t *loop = xft_loop();
  pthread_t t;
  pthread_create(&t, NULL, stop_later, loop);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_DEFAULT), XF_OK);
  pthread_join(t, NULL);
  xft_loop_free(loop);
}
END_TEST

/* A post from another thread racing the loop's end: the owner closes and
 * drops the last reference as soon as the post has landed (or even before),
 * while the poster may still be inside the call. The sanitizers check that
 * the poster no longer touches the loop by then. Two kinds of post: a done
 * callback bound to the loop, of a free-standing future finished by the
 * other thread, with the owner closing at once; and call_soon_threadsafe,
 * with the owner closing once the callback ran, or once backend_fd showed
 * the post while the loop was not running. While the callback runs, the
 * loop is kept busy (a callback that reschedules itself), so that it never
 * sleeps and the poster has no reason to write to its wake-up fd: nothing
 * but the queue's lock orders the poster's last access before the loop's
 * end. Seen through backend_fd, the post is made to a loop that does not
 * run, which the poster wakes, and the owner frees the loop as soon as that
 * wake-up is visible. */
enum { POST_FUTURE, POST_RUNNING, POST_IDLE, POST_MODES };
enum { POST_ROUNDS = 700 };

typedef struct post_race {
  pthread_barrier_t start, end;
  xf_loop_t *loop;
  xf_future_t *f;
  int mode;
  bool quit;
  int ran_before; /* r.ran when the round began */
  _Atomic int ran, freed, failed;
} post_race_t;

static void race_ran(void *data) {
  atomic_fetch_add(&((post_race_t *) data)->ran, 1);
}

static void race_done(xf_future_t *f, void *data) {
  (void) f;
  race_ran(data);
}

static void race_freed(void *data) {
  atomic_fetch_add(&((post_race_t *) data)->freed, 1);
}

static void race_spin(void *data) {
  post_race_t *r = data;
  if (atomic_load(&r->ran) == r->ran_before)
    ck_assert_int_eq(xf_loop_call_soon(r->loop, race_spin, r, NULL, NULL), XF_OK);
  else
    xf_loop_stop(r->loop);
}

/* A dropped done callback is reported; these tests expect that quietly. */
static void quiet_handler(xf_loop_t *loop, const char *message, xf_error_t *err,
                          void *data) {
  (void) loop, (void) message, (void) err, (void) data;
}

static void *race_poster(void *p) {
  post_race_t *r = p;
  for (;;) {
    pthread_barrier_wait(&r->start);
    if (r->quit)
      return NULL;
    int rc = r->mode != POST_FUTURE
                 ? xf_loop_call_soon_threadsafe(r->loop, race_ran, r, race_freed)
                 : xf_future_set_result(r->f, NULL);
    if (rc != XF_OK)
      atomic_fetch_add(&r->failed, 1);
    pthread_barrier_wait(&r->end);
  }
}

START_TEST(test_post_races_close) {
  post_race_t r = {0};
  pthread_barrier_init(&r.start, NULL, 2);
  pthread_barrier_init(&r.end, NULL, 2);
  pthread_t t;
  pthread_create(&t, NULL, race_poster, &r);
  for (int round = 0; round < POST_MODES * POST_ROUNDS; round++) {
    r.mode = round % POST_MODES;
    r.loop = xft_loop();
    ck_assert_int_eq(xf_loop_set_exception_handler(r.loop, quiet_handler, NULL, NULL),
                     XF_OK);
    r.f = NULL;
    if (r.mode == POST_FUTURE) {
      ck_assert_int_eq(xf_future_new(&r.f), XF_OK);
      ck_assert_int_eq(
          xf_future_add_done_callback(r.f, race_done, &r, race_freed, r.loop), XF_OK);
    }
    r.ran_before = atomic_load(&r.ran);
    if (r.mode == POST_RUNNING)
      ck_assert_int_eq(xf_loop_call_soon(r.loop, race_spin, &r, NULL, NULL), XF_OK);
    struct pollfd pfd = {.fd = xf_loop_backend_fd(r.loop), .events = POLLIN};
    pthread_barrier_wait(&r.start);
    if (r.mode == POST_RUNNING)
      ck_assert_int_eq(xf_loop_run(r.loop, XF_RUN_DEFAULT), XF_OK);
    else if (r.mode == POST_IDLE)
      ck_assert_int_eq(poll(&pfd, 1, -1), 1);
    /* The loop's memory goes here, with the dropped callback or with the
     * poster's wake-up. */
    xft_loop_free(r.loop);
    pthread_barrier_wait(&r.end);
    xf_future_unref(r.f);
  }
  r.quit = true;
  pthread_barrier_wait(&r.start);
  pthread_join(t, NULL);
  pthread_barrier_destroy(&r.start);
  pthread_barrier_destroy(&r.end);
  /* Every post was taken and its data freed once; the calls posted to the
   * running loop ran, the others went with their loop. */
  int failed = atomic_load(&r.failed), freed = atomic_load(&r.freed),
      ran = atomic_load(&r.ran);
  ck_assert_int_eq(failed, 0);
  ck_assert_int_eq(freed, POST_MODES * POST_ROUNDS);
  ck_assert_int_eq(ran, POST_ROUNDS);
}
END_TEST

/* The last user reference to a loop that does not run may go on any
 * thread, which closes the loop there, while its home thread cancels a
 * timer: closing retires the heap's timers as cancelling removes one. The
 * two must not touch the heap at once; each timer's data is freed once. */
enum { CLOSE_RACE_ROUNDS = 300 };

typedef struct close_race {
  pthread_barrier_t start, end;
  xf_loop_t *loop;
  bool quit;
  _Atomic int freed;
} close_race_t;

static void close_race_never(void *data) {
  (void) data;
  ck_abort_msg("a timer of a closed loop ran");
}

static void close_race_freed(void *data) {
  atomic_fetch_add(&((close_race_t *) data)->freed, 1);
}

static void *close_race_closer(void *p) {
  close_race_t *r = p;
  for (;;) {
    pthread_barrier_wait(&r->start);
    if (r->quit)
      return NULL;
    xf_loop_unref(r->loop);
    pthread_barrier_wait(&r->end);
  }
}

START_TEST(test_cancel_races_foreign_close) {
  close_race_t r = {0};
  pthread_barrier_init(&r.start, NULL, 2);
  pthread_barrier_init(&r.end, NULL, 2);
  pthread_t t;
  pthread_create(&t, NULL, close_race_closer, &r);
  for (int round = 0; round < CLOSE_RACE_ROUNDS; round++) {
    ck_assert_int_eq(xf_loop_new(&r.loop), XF_OK);
    xf_handle_t *h[3];
    for (int i = 0; i < 3; i++)
      ck_assert_int_eq(xf_loop_call_later(r.loop, (int64_t) (i + 1) * 3600 * 1000 * MS,
                                          close_race_never, &r, close_race_freed, &h[i]),
                       XF_OK);
    pthread_barrier_wait(&r.start);
    for (int i = 0; i < 3; i++)
      ck_assert_int_eq(xf_handle_cancel(h[i]), XF_OK);
    pthread_barrier_wait(&r.end);
    for (int i = 0; i < 3; i++)
      xf_handle_unref(h[i]);
  }
  r.quit = true;
  pthread_barrier_wait(&r.start);
  pthread_join(t, NULL);
  pthread_barrier_destroy(&r.start);
  pthread_barrier_destroy(&r.end);
  ck_assert_int_eq(atomic_load(&r.freed), 3 * CLOSE_RACE_ROUNDS);
}
END_TEST

/* ---- fds -------------------------------------------------------------- */

typedef struct io_state {
  xf_loop_t *loop;
  int fd;
  int reads, writes;
  char buf[16];
  _Atomic int freed;
} io_state_t;

static void on_readable(int fd, void *data) {
  io_state_t *s = data;
  ck_assert_int_eq(fd, s->fd);
  ck_assert_int_gt(read(fd, s->buf, sizeof s->buf), 0);
  s->reads++;
  xf_loop_stop(s->loop);
}

static void on_writable(int fd, void *data) {
  io_state_t *s = data;
  ck_assert_int_eq(fd, s->fd);
  s->writes++;
  ck_assert_int_eq(xf_loop_remove_writer(s->loop, fd), 1);
}

static void count_free(void *data) {
  atomic_fetch_add(&((io_state_t *) data)->freed, 1);
}

static void write_byte(void *data) {
  ck_assert_int_eq(write(*(int *) data, "x", 1), 1);
}

START_TEST(test_pipe_reader) {
  xf_loop_t *loop = xft_loop();
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  io_state_t s = {.loop = loop, .fd = p[0]};
  ck_assert_int_eq(xf_loop_add_reader(loop, p[0], on_readable, &s, count_free), XF_OK);
  ck_assert_int_eq(xf_loop_call_later(loop, 2 * MS, write_byte, &p[1], NULL, NULL),
                   XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_DEFAULT), XF_OK);
  ck_assert_int_eq(s.reads, 1);
  ck_assert_int_eq(s.buf[0], 'x');
  ck_assert_int_eq(xf_loop_remove_reader(loop, p[0]), 1);
  ck_assert_int_eq(s.freed, 1);
  ck_assert_int_eq(xf_loop_remove_reader(loop, p[0]), 0);
  /* Nothing readable: a non-blocking run calls nothing. */
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(s.reads, 1);
  close(p[0]);
  close(p[1]);
  xft_loop_free(loop);
}
END_TEST

START_TEST(test_socket_reader_writer) {
  xf_loop_t *loop = xft_loop();
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(ls, (struct sockaddr *) &addr, sizeof addr), 0);
  socklen_t len = sizeof addr;
  ck_assert_int_eq(getsockname(ls, (struct sockaddr *) &addr, &len), 0);
  ck_assert_int_eq(listen(ls, 1), 0);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_eq(connect(c, (struct sockaddr *) &addr, sizeof addr), 0);
  int a = accept(ls, NULL, NULL);
  ck_assert_int_ge(a, 0);

  io_state_t w = {.loop = loop, .fd = c}, r = {.loop = loop, .fd = a};
  ck_assert_int_eq(xf_loop_add_writer(loop, c, on_writable, &w, count_free), XF_OK);
  ck_assert_int_eq(xf_loop_add_reader(loop, a, on_readable, &r, count_free), XF_OK);
  ck_assert_int_eq(xf_loop_call_later(loop, 2 * MS, write_byte, &c, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_DEFAULT), XF_OK);
  ck_assert_int_eq(w.writes, 1); /* removed itself after the first */
  ck_assert_int_eq(w.freed, 1);
  ck_assert_int_eq(r.reads, 1);
  /* Replacing a reader frees the old one's data; closing frees the rest. */
  io_state_t r2 = {.loop = loop, .fd = a};
  ck_assert_int_eq(xf_loop_add_reader(loop, a, on_readable, &r2, count_free), XF_OK);
  ck_assert_int_eq(r.freed, 1);
  xft_loop_free(loop);
  ck_assert_int_eq(r2.freed, 1);
  close(a);
  close(c);
  close(ls);
}
END_TEST

START_TEST(test_io_bad_input) {
  xf_loop_t *loop = xft_loop();
  io_state_t s = {.loop = loop};
  ck_assert_int_eq(xf_loop_add_reader(loop, -1, on_readable, &s, count_free), XF_EINVAL);
  ck_assert_int_eq(xf_loop_add_reader(loop, 0, NULL, &s, count_free), XF_EINVAL);
  ck_assert_int_eq(xf_loop_add_reader(NULL, 0, on_readable, &s, count_free), XF_EINVAL);
  int fd = open("/proc/self/exe", O_RDONLY);
  ck_assert_int_ge(fd, 0);
  /* A regular file cannot be polled. */
  ck_assert_int_eq(xf_loop_add_reader(loop, fd, on_readable, &s, count_free), XF_ESYS);
  ck_assert_int_eq(s.freed, 0);
  ck_assert_int_eq(xf_loop_remove_reader(loop, fd), 0);
  ck_assert_int_eq(xf_loop_remove_writer(loop, 100000), 0);
  close(fd);
  xft_loop_free(loop);
}
END_TEST

/* ---- loop futures ----------------------------------------------------- */

typedef struct cb_probe {
  xf_loop_t *loop;
  _Atomic int calls;
  bool on_loop;
} cb_probe_t;

static void probe_cb(xf_future_t *f, void *data) {
  (void) f;
  cb_probe_t *p = data;
  p->on_loop = xf_loop_current() == p->loop;
  atomic_fetch_add(&p->calls, 1);
  xf_loop_stop(p->loop);
}

START_TEST(test_loop_future_callbacks_on_loop) {
  xf_loop_t *loop = xft_loop();
  xf_future_t *f;
  ck_assert_int_eq(xf_loop_create_future(loop, &f), XF_OK);
  ck_assert_ptr_eq(xf_future_loop(f), loop);
  cb_probe_t p = {.loop = loop};
  ck_assert_int_eq(xf_future_add_done_callback(f, probe_cb, &p, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_future_set_result(f, xft_int(1)), XF_OK);
  ck_assert_int_eq(p.calls, 0); /* not inside set_result */
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_DEFAULT), XF_OK);
  ck_assert_int_eq(p.calls, 1);
  ck_assert(p.on_loop);
  /* Added to a done future: posted too. */
  ck_assert_int_eq(xf_future_add_done_callback(f, probe_cb, &p, NULL, NULL), XF_OK);
  ck_assert_int_eq(p.calls, 1);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_DEFAULT), XF_OK);
  ck_assert_int_eq(p.calls, 2);
  xf_future_unref(f);
  xft_loop_free(loop);
}
END_TEST

static void *finish_later(void *p) {
  struct timespec ts = {0, 5 * MS};
  nanosleep(&ts, NULL);
  xf_future_set_result(p, xft_int(7));
  return NULL;
}

START_TEST(test_future_finished_by_other_thread) {
  xf_loop_t *loop = xft_loop();
  /* A loop future, and a free-standing one whose callback targets the loop. */
  for (int kind = 0; kind < 2; kind++) {
    xf_future_t *f;
    if (kind == 0)
      ck_assert_int_eq(xf_loop_create_future(loop, &f), XF_OK);
    else
      ck_assert_int_eq(xf_future_new(&f), XF_OK);
    cb_probe_t p = {.loop = loop};
    ck_assert_int_eq(xf_future_add_done_callback(f, probe_cb, &p, NULL, loop), XF_OK);
    pthread_t t;
    pthread_create(&t, NULL, finish_later, f);
    ck_assert_int_eq(xf_loop_run(loop, XF_RUN_DEFAULT), XF_OK);
    pthread_join(t, NULL);
    ck_assert_int_eq(p.calls, 1);
    ck_assert(p.on_loop);
    xf_value_t *v;
    ck_assert_int_eq(xf_loop_run_until_complete(loop, f, &v), XF_OK);
    ck_assert_int_eq(value_int(v), 7);
    xf_future_unref(f);
  }
  xft_loop_free(loop);
}
END_TEST

typedef struct handler_log {
  int calls;
  int last_code;
  _Atomic int freed;
} handler_log_t;

static void log_handler(xf_loop_t *loop, const char *message, xf_error_t *err,
                        void *data) {
  (void) loop;
  handler_log_t *h = data;
  ck_assert_ptr_nonnull(message);
  h->calls++;
  h->last_code = err ? xf_error_code(err) : 0;
}

static void handler_free(void *data) {
  atomic_fetch_add(&((handler_log_t *) data)->freed, 1);
}

static void noop_done(xf_future_t *f, void *data) {
  (void) f;
  (void) data;
}

static void counted_free(void *data) {
  atomic_fetch_add((_Atomic int *) data, 1);
}

START_TEST(test_exception_handler) {
  xf_loop_t *loop = xft_loop();
  handler_log_t h = {0};
  ck_assert_int_eq(xf_loop_set_exception_handler(loop, log_handler, &h, handler_free),
                   XF_OK);
  xf_future_t *f;
  ck_assert_int_eq(xf_loop_create_future(loop, &f), XF_OK);
  _Atomic int freed = 0;
  ck_assert_int_eq(
      xf_future_add_done_callback(f, noop_done, (void *) &freed, counted_free, NULL),
      XF_OK);
  ck_assert_int_eq(xf_loop_close(loop), XF_OK);
  /* The loop is gone: the callback is dropped, its data freed, and the loss
   * reported rather than lost silently. */
  ck_assert_int_eq(xf_future_set_result(f, NULL), XF_OK);
  ck_assert_int_eq(freed, 1);
  ck_assert_int_eq(h.calls, 1);
  ck_assert_int_eq(h.last_code, XF_ECLOSED);
  xf_error_t *err;
  ck_assert_int_eq(xf_error_new(XF_EFAILED, "ValueError", "x", &err), XF_OK);
  ck_assert_int_eq(xf_loop_call_exception_handler(loop, "by hand", err), XF_OK);
  ck_assert_int_eq(h.calls, 2);
  ck_assert_int_eq(h.last_code, XF_EFAILED);
  xf_error_unref(err);
  xf_future_unref(f);
  ck_assert_int_eq(h.freed, 0);
  xf_loop_unref(loop);
  ck_assert_int_eq(h.freed, 1);
}
END_TEST

START_TEST(test_error_never_retrieved) {
  xf_loop_t *loop = xft_loop();
  handler_log_t h = {0};
  ck_assert_int_eq(xf_loop_set_exception_handler(loop, log_handler, &h, NULL), XF_OK);
  /* A loop future that fails and is dropped unread is reported once. */
  xf_future_t *f;
  ck_assert_int_eq(xf_loop_create_future(loop, &f), XF_OK);
  ck_assert_int_eq(xf_future_fail(f, XF_EFAILED, "ValueError", "lost"), XF_OK);
  xf_future_unref(f);
  ck_assert_int_eq(h.calls, 1);
  ck_assert_int_eq(h.last_code, XF_EFAILED);
  /* Read, or cancelled, or free-standing: nothing to report. */
  xf_error_t *err;
  ck_assert_int_eq(xf_loop_create_future(loop, &f), XF_OK);
  ck_assert_int_eq(xf_future_fail(f, XF_EFAILED, "ValueError", "seen"), XF_OK);
  ck_assert_int_eq(xf_future_error(f, 0, &err), XF_OK);
  xf_error_unref(err);
  xf_future_unref(f);
  ck_assert_int_eq(xf_loop_create_future(loop, &f), XF_OK);
  ck_assert_int_eq(xf_future_cancel(f), XF_OK);
  xf_future_unref(f);
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_fail(f, XF_EFAILED, "ValueError", "free"), XF_OK);
  xf_future_unref(f);
  ck_assert_int_eq(h.calls, 1);
  xf_loop_unref(loop);
}
END_TEST

/* ---- executors -------------------------------------------------------- */

static int job_square(void *data, xf_future_t *f) {
  int64_t x = (int64_t) (intptr_t) data;
  return xf_future_set_result(f, xft_int(x * x));
}

START_TEST(test_run_in_executor_default) {
  xf_loop_t *loop = xft_loop();
  xf_future_t *fs[4];
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(xf_loop_run_in_executor(loop, NULL, job_square,
                                             (void *) (intptr_t) (i + 1), NULL, &fs[i]),
                     XF_OK);
  for (int i = 0; i < 4; i++) {
    ck_assert_ptr_eq(xf_future_loop(fs[i]), loop);
    xf_value_t *v;
    ck_assert_int_eq(xf_loop_run_until_complete(loop, fs[i], &v), XF_OK);
    ck_assert_int_eq(value_int(v), (i + 1) * (i + 1));
    xf_future_unref(fs[i]);
  }
  xft_loop_free(loop); /* shuts the default pool down */
}
END_TEST

typedef struct gate {
  _Atomic int open;
  _Atomic int started;
} gate_t;

static int job_wait_gate(void *data, xf_future_t *f) {
  (void) f;
  gate_t *g = data;
  atomic_store(&g->started, 1);
  while (!atomic_load(&g->open)) {
    struct timespec ts = {0, MS};
    nanosleep(&ts, NULL);
  }
  return XF_OK;
}

typedef struct counts {
  _Atomic int ran, freed;
} counts_t;

static int job_count(void *data, xf_future_t *f) {
  (void) f;
  if (data)
    atomic_fetch_add(&((counts_t *) data)->ran, 1);
  return XF_OK;
}

static void counts_free(void *data) {
  atomic_fetch_add(&((counts_t *) data)->freed, 1);
}

START_TEST(test_run_in_executor_cancel) {
  xf_loop_t *loop = xft_loop();
  xf_thread_pool_options_t opts = XF_THREAD_POOL_OPTIONS_INIT;
  opts.max_workers = 1;
  xf_executor_t *ex;
  ck_assert_int_eq(xf_thread_pool_new(&opts, &ex), XF_OK);
  gate_t g = {0};
  counts_t c = {0};
  xf_future_t *busy, *queued;
  ck_assert_int_eq(xf_loop_run_in_executor(loop, ex, job_wait_gate, &g, NULL, &busy),
                   XF_OK);
  while (!atomic_load(&g.started)) {
    struct timespec ts = {0, MS};
    nanosleep(&ts, NULL);
  }
  ck_assert_int_eq(xf_loop_run_in_executor(loop, ex, job_count, &c, counts_free, &queued),
                   XF_OK);
  ck_assert_int_eq(xf_future_cancel(queued), XF_OK);
  atomic_store(&g.open, 1);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, busy, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, queued, NULL), XF_ECANCELLED);
  xf_executor_shutdown(ex, true, false);
  ck_assert_int_eq(c.ran, 0); /* the pending job never ran */
  ck_assert_int_eq(c.freed, 1);
  xf_future_unref(busy);
  xf_future_unref(queued);
  xf_executor_unref(ex);
  xft_loop_free(loop);
}
END_TEST

static int then_on_loop(void *data, xf_future_t *antecedent, xf_future_t *result) {
  (void) antecedent;
  return xf_future_set_result(result, xf_value_bool(xf_loop_current() == data));
}

START_TEST(test_loop_executor) {
  xf_loop_t *loop = xft_loop();
  xf_executor_t *ex;
  ck_assert_int_eq(xf_loop_executor(loop, &ex), XF_OK);
  xf_future_t *f, *g;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_then(f, ex, then_on_loop, loop, NULL, &g), XF_OK);
  pthread_t t;
  pthread_create(&t, NULL, finish_later, f);
  xf_value_t *v;
  ck_assert_int_eq(xf_loop_run_until_complete(loop, g, &v), XF_OK);
  pthread_join(t, NULL);
  bool b = false;
  ck_assert_int_eq(xf_value_get_bool(v, &b), XF_OK);
  ck_assert(b);
  xf_value_unref(v);
  xf_future_unref(g);
  xf_future_unref(f);
  /* Submissions queued when the loop closes are cancelled. */
  counts_t c = {0};
  xf_future_t *h;
  ck_assert_int_eq(xf_executor_submit(ex, job_count, &c, counts_free, &h), XF_OK);
  ck_assert_int_eq(xf_loop_close(loop), XF_OK);
  ck_assert(xf_future_cancelled(h));
  ck_assert_int_eq(c.ran, 0);
  ck_assert_int_eq(c.freed, 1);
  xf_future_unref(h);
  ck_assert_int_eq(xf_executor_submit(ex, job_count, &c, NULL, &h), XF_ESHUTDOWN);
  xf_executor_unref(ex);
  xf_loop_unref(loop);
}
END_TEST

/* ---- sleep and timeouts ----------------------------------------------- */

START_TEST(test_sleep) {
  xf_loop_t *loop = xft_loop();
  xf_future_t *s;
  int64_t t0 = xf_loop_time(loop);
  ck_assert_int_eq(xf_loop_sleep(loop, 10 * MS, &s), XF_OK);
  xf_value_t *v;
  ck_assert_int_eq(xf_loop_run_until_complete(loop, s, &v), XF_OK);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_VOID);
  ck_assert_int_ge(xf_loop_time(loop) - t0, 10 * MS);
  xf_future_unref(s);
  /* A cancelled sleep takes its timer with it. */
  ck_assert_int_eq(xf_loop_sleep(loop, 1000 * MS, &s), XF_OK);
  ck_assert_int_eq(xf_future_cancel(s), XF_OK);
  ck_assert_int_eq(xf_loop_backend_timeout(loop), -1);
  xf_future_unref(s);
  xft_loop_free(loop);
}
END_TEST

START_TEST(test_timeout_expires) {
  xf_loop_t *loop = xft_loop();
  xf_future_t *inner, *outer;
  ck_assert_int_eq(xf_loop_create_future(loop, &inner), XF_OK);
  ck_assert_int_eq(xf_future_timeout(loop, inner, 5 * MS, &outer), XF_OK);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, outer, NULL), XF_EFAILED);
  xf_error_t *err;
  ck_assert_int_eq(xf_future_error(outer, 0, &err), XF_OK);
  ck_assert_int_eq(xf_error_code(err), XF_ETIMEDOUT);
  ck_assert_str_eq(xf_error_type(err), "TimeoutError");
  xf_error_unref(err);
  ck_assert(xf_future_cancelled(inner));
  xf_future_unref(outer);
  xf_future_unref(inner);
  xft_loop_free(loop);
}
END_TEST

START_TEST(test_timeout_not_reached) {
  xf_loop_t *loop = xft_loop();
  xf_future_t *inner, *outer;
  ck_assert_int_eq(xf_loop_create_future(loop, &inner), XF_OK);
  ck_assert_int_eq(xf_future_timeout(loop, inner, 1000 * MS, &outer), XF_OK);
  ck_assert_int_eq(xf_loop_call_later(loop, MS, set_42, inner, NULL, NULL), XF_OK);
  xf_value_t *v;
  ck_assert_int_eq(xf_loop_run_until_complete(loop, outer, &v), XF_OK);
  ck_assert_int_eq(value_int(v), 42);
  /* The timer went with the outcome. */
  ck_assert_int_eq(xf_loop_backend_timeout(loop), -1);
  xf_future_unref(outer);
  xf_future_unref(inner);
  /* Cancelling the outer future cancels the inner one. */
  ck_assert_int_eq(xf_loop_create_future(loop, &inner), XF_OK);
  ck_assert_int_eq(xf_future_timeout(loop, inner, -1, &outer), XF_OK);
  ck_assert_int_eq(xf_future_cancel(outer), XF_OK);
  ck_assert(xf_future_cancelled(inner));
  xf_future_unref(outer);
  xf_future_unref(inner);
  xft_loop_free(loop);
}
END_TEST

START_TEST(test_timeout_shielded) {
  xf_loop_t *loop = xft_loop();
  xf_future_t *inner, *shield, *outer;
  ck_assert_int_eq(xf_loop_create_future(loop, &inner), XF_OK);
  ck_assert_int_eq(xf_future_shield(inner, &shield), XF_OK);
  ck_assert_int_eq(xf_future_timeout(loop, shield, 2 * MS, &outer), XF_OK);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, outer, NULL), XF_EFAILED);
  ck_assert(xf_future_cancelled(shield));
  ck_assert(!xf_future_done(inner)); /* survived */
  ck_assert_int_eq(xf_loop_call_later(loop, MS, set_42, inner, NULL, NULL), XF_OK);
  xf_value_t *v;
  ck_assert_int_eq(xf_loop_run_until_complete(loop, inner, &v), XF_OK);
  ck_assert_int_eq(value_int(v), 42);
  xf_future_unref(outer);
  xf_future_unref(shield);
  xf_future_unref(inner);
  xft_loop_free(loop);
}
END_TEST

/* Dropping every reference to a timeout and the future it waits for frees
 * both, in either order and with or without a timer; an outer future kept
 * alone is cancelled when the future it waits for is freed unfinished, so
 * that its waiters do not hang. */
START_TEST(test_timeout_dropped_frees) {
  xf_loop_t *loop = xft_loop();
  for (int timed = 0; timed < 2; timed++) {
    for (int inner_first = 0; inner_first < 2; inner_first++) {
      long base = xft_alloc_live();
      xf_future_t *inner, *outer;
      ck_assert_int_eq(xf_loop_create_future(loop, &inner), XF_OK);
      ck_assert_int_eq(xf_future_timeout(loop, inner, timed ? 1000 * MS : -1, &outer),
                       XF_OK);
      xf_future_unref(inner_first ? inner : outer);
      xf_future_unref(inner_first ? outer : inner);
      if (timed) /* the timer goes when the loop sees the outer future done */
        ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
      ck_assert_int_eq(xft_alloc_live(), base);
    }
  }
  xf_future_t *inner, *outer;
  ck_assert_int_eq(xf_loop_create_future(loop, &inner), XF_OK);
  ck_assert_int_eq(xf_future_timeout(loop, inner, -1, &outer), XF_OK);
  xf_future_unref(inner);
  ck_assert(xf_future_cancelled(outer));
  xf_future_unref(outer);
  xft_loop_free(loop);
}
END_TEST

/* ---- embedding -------------------------------------------------------- */

typedef struct embed {
  xf_loop_t *loop;
  int timers;
  _Atomic int posted;
  bool done;
} embed_t;

static void embed_timer(void *data) {
  ((embed_t *) data)->timers++;
}

static void embed_posted(void *data) {
  embed_t *e = data;
  if (atomic_fetch_add(&e->posted, 1) + 1 == 3)
    e->done = true;
}

static void *embed_producer(void *p) {
  embed_t *e = p;
  for (int i = 0; i < 3; i++) {
    struct timespec ts = {0, 3 * MS};
    nanosleep(&ts, NULL);
    xf_loop_call_soon_threadsafe(e->loop, embed_posted, e, NULL);
  }
  return NULL;
}

START_TEST(test_embedding) {
  embed_t e = {.loop = xft_loop()};
  for (int i = 1; i <= 3; i++)
    ck_assert_int_eq(xf_loop_call_later(e.loop, i * 4 * MS, embed_timer, &e, NULL, NULL),
                     XF_OK);
  pthread_t t;
  pthread_create(&t, NULL, embed_producer, &e);
  struct pollfd pfd = {.fd = xf_loop_backend_fd(e.loop), .events = POLLIN};
  int rounds = 0;
  /* A host loop: it blocks in poll(), xf never blocks. */
  while (!(e.done && e.timers == 3)) {
    int64_t timeout = xf_loop_backend_timeout(e.loop);
    ck_assert_int_ge(timeout, -1);
    int ms = timeout < 0 ? 2000 : (int) ((timeout + MS - 1) / MS);
    ck_assert_int_ge(poll(&pfd, 1, ms), 0);
    int64_t before = xf_now();
    ck_assert_int_eq(xf_loop_run(e.loop, XF_RUN_NOWAIT), XF_OK);
    ck_assert_int_lt(xf_now() - before, 1000 * MS);
    ck_assert_int_lt(++rounds, 10000);
  }
  pthread_join(t, NULL);
  ck_assert_int_eq(e.posted, 3);
  ck_assert_int_eq(xf_loop_backend_timeout(e.loop), -1);
  xft_loop_free(e.loop);
}
END_TEST

/* How long a host waits on backend_fd for a timer of a few milliseconds
 * before it gives up: only a bound that turns a hang into a failure. */
#define HOST_WAIT_MS 30000

static bool fd_readable(int fd, int timeout_ms) {
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  int n = poll(&pfd, 1, timeout_ms);
  ck_assert_int_ge(n, 0);
  return n == 1 && (pfd.revents & POLLIN);
}

typedef struct host {
  xf_loop_t *loop;
  int ran; /* on the loop's thread */
  int rc;  /* of the post from another thread */
} host_t;

static void host_count(void *data) {
  ((host_t *) data)->ran++;
}

static void host_soon(void *data) {
  host_count(data);
  ck_assert_int_eq(
      xf_loop_call_soon(((host_t *) data)->loop, host_count, data, NULL, NULL), XF_OK);
}

static void host_later(void *data) {
  host_count(data);
  ck_assert_int_eq(
      xf_loop_call_later(((host_t *) data)->loop, MS, host_count, data, NULL, NULL),
      XF_OK);
}

static void *host_post(void *p) {
  host_t *h = p;
  h->rc = xf_loop_call_soon_threadsafe(h->loop, host_count, h, NULL);
  return NULL;
}

/* A host that knows nothing of timeouts: it waits for backend_fd alone, then
 * runs the loop with NOWAIT. The fd must be readable for every kind of
 * queued work, and not readable once the loop has nothing to do. */
START_TEST(test_backend_fd_readable_for_queued_work) {
  host_t h = {.loop = xft_loop()};
  int fd = xf_loop_backend_fd(h.loop);
  ck_assert_int_ge(fd, 0);
  ck_assert(!fd_readable(fd, 0));

  /* call_soon on the loop's thread. */
  ck_assert_int_eq(xf_loop_call_soon(h.loop, host_count, &h, NULL, NULL), XF_OK);
  ck_assert(fd_readable(fd, 0));
  ck_assert_int_eq(xf_loop_run(h.loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(h.ran, 1);
  ck_assert(!fd_readable(fd, 0));

  /* A callback scheduled by a callback waits for the next run. */
  ck_assert_int_eq(xf_loop_call_soon(h.loop, host_soon, &h, NULL, NULL), XF_OK);
  ck_assert(fd_readable(fd, 0));
  ck_assert_int_eq(xf_loop_run(h.loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(h.ran, 2);
  ck_assert(fd_readable(fd, 0));
  ck_assert_int_eq(xf_loop_run(h.loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(h.ran, 3);
  ck_assert(!fd_readable(fd, 0));

  /* A timer falling due, scheduled while the loop does not run, then one
   * scheduled by a callback while it runs. */
  ck_assert_int_eq(xf_loop_call_later(h.loop, 2 * MS, host_later, &h, NULL, NULL), XF_OK);
  for (int want = 4; want <= 5; want++) {
    ck_assert(fd_readable(fd, HOST_WAIT_MS));
    ck_assert_int_eq(xf_loop_run(h.loop, XF_RUN_NOWAIT), XF_OK);
    ck_assert_int_eq(h.ran, want);
  }
  ck_assert(!fd_readable(fd, 0));

  /* call_soon_threadsafe from another thread. */
  pthread_t t;
  pthread_create(&t, NULL, host_post, &h);
  pthread_join(t, NULL);
  ck_assert_int_eq(h.rc, XF_OK);
  ck_assert(fd_readable(fd, 0));
  ck_assert_int_eq(xf_loop_run(h.loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(h.ran, 6);
  ck_assert(!fd_readable(fd, 0));
  xft_loop_free(h.loop);
}
END_TEST

/* ---- threads and bad input ------------------------------------------- */

typedef struct wrong {
  xf_loop_t *loop;
  int rc_soon, rc_later, rc_reader, rc_sleep, rc_safe, rc_timeout;
  int64_t rc_backend;
} wrong_t;

static void *wrong_thread(void *p) {
  wrong_t *w = p;
  w->rc_soon = xf_loop_call_soon(w->loop, stop_loop, w->loop, NULL, NULL);
  w->rc_later = xf_loop_call_later(w->loop, 0, stop_loop, w->loop, NULL, NULL);
  w->rc_reader = xf_loop_add_reader(w->loop, 0, on_readable, NULL, NULL);
  xf_future_t *f = NULL;
  w->rc_sleep = xf_loop_sleep(w->loop, MS, &f);
  w->rc_backend = xf_loop_backend_timeout(w->loop);
  w->rc_safe = xf_loop_call_soon_threadsafe(w->loop, stop_loop, w->loop, NULL);
  return NULL;
}

static void check_from_thread(void *data) {
  pthread_t t;
  pthread_create(&t, NULL, wrong_thread, data);
  pthread_join(t, NULL);
}

START_TEST(test_wrong_thread) {
  wrong_t w = {.loop = xft_loop()};
  ck_assert_int_eq(xf_loop_call_soon(w.loop, check_from_thread, &w, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_run(w.loop, XF_RUN_DEFAULT), XF_OK);
  ck_assert_int_eq(w.rc_soon, XF_EWRONGTHREAD);
  ck_assert_int_eq(w.rc_later, XF_EWRONGTHREAD);
  ck_assert_int_eq(w.rc_reader, XF_EWRONGTHREAD);
  ck_assert_int_eq(w.rc_sleep, XF_EWRONGTHREAD);
  ck_assert_int_eq(w.rc_backend, XF_EWRONGTHREAD);
  ck_assert_int_eq(w.rc_safe, XF_OK);
  xft_loop_free(w.loop);
}
END_TEST

START_TEST(test_null_handles) {
  xf_handle_t *h = (xf_handle_t *) 1;
  xf_future_t *f = (xf_future_t *) 1;
  ck_assert_int_eq(xf_loop_new(NULL), XF_EINVAL);
  ck_assert_int_eq(xf_loop_close(NULL), XF_EINVAL);
  xf_loop_unref(NULL);
  ck_assert_ptr_null(xf_loop_ref(NULL));
  ck_assert_int_eq(xf_loop_run(NULL, XF_RUN_NOWAIT), XF_EINVAL);
  ck_assert_int_eq(xf_loop_run_until_complete(NULL, NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_loop_stop(NULL), XF_EINVAL);
  ck_assert_int_eq(xf_loop_call_soon(NULL, stop_loop, NULL, NULL, &h), XF_EINVAL);
  ck_assert_ptr_null(h);
  ck_assert_int_eq(xf_loop_call_soon_threadsafe(NULL, stop_loop, NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_loop_call_later(NULL, 0, stop_loop, NULL, NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_handle_cancel(NULL), XF_EINVAL);
  ck_assert(!xf_handle_cancelled(NULL));
  xf_handle_unref(NULL);
  ck_assert_int_eq(xf_loop_create_future(NULL, &f), XF_EINVAL);
  ck_assert_ptr_null(f);
  ck_assert_int_eq(xf_loop_sleep(NULL, 0, &f), XF_EINVAL);
  ck_assert_int_eq(xf_future_timeout(NULL, NULL, 0, &f), XF_EINVAL);
  ck_assert_int_eq(xf_loop_run_in_executor(NULL, NULL, job_count, NULL, NULL, &f),
                   XF_EINVAL);
  ck_assert_int_eq(xf_loop_backend_fd(NULL), XF_EINVAL);
  ck_assert_int_eq(xf_loop_backend_timeout(NULL), -1);
  ck_assert_int_eq(xf_loop_set_exception_handler(NULL, NULL, NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_loop_call_exception_handler(NULL, "x", NULL), XF_EINVAL);
  ck_assert(!xf_loop_is_closed(NULL));
  ck_assert(!xf_loop_is_running(NULL));
  xf_loop_t *loop = xft_loop();
  ck_assert_int_eq(xf_loop_call_soon(loop, NULL, NULL, NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, NULL, NULL), XF_EINVAL);
  xft_loop_free(loop);
}
END_TEST

/* Two loops in two threads pass a counter back and forth. */
typedef struct pingpong {
  xf_loop_t *loops[2];
  _Atomic int ready;
  long hits[2];
} pingpong_t;

typedef struct ball {
  pingpong_t *pp;
  int side;
  long count;
} ball_t;

enum { BOUNCES = 2000 };

static void bounce(void *data) {
  ball_t *b = data;
  pingpong_t *pp = b->pp;
  ck_assert_ptr_eq(xf_loop_current(), pp->loops[b->side]);
  pp->hits[b->side]++;
  if (++b->count == BOUNCES) {
    xf_loop_stop(pp->loops[0]);
    xf_loop_stop(pp->loops[1]);
    free(b);
    return;
  }
  b->side ^= 1;
  ck_assert_int_eq(xf_loop_call_soon_threadsafe(pp->loops[b->side], bounce, b, NULL),
                   XF_OK);
}

static void *loop_thread(void *p) {
  xf_loop_t *loop = p;
  xf_loop_run(loop, XF_RUN_DEFAULT);
  return NULL;
}

START_TEST(test_two_loops_exchange) {
  pingpong_t pp = {{xft_loop(), xft_loop()}, 0, {0, 0}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    pthread_create(&t[i], NULL, loop_thread, pp.loops[i]);
  ball_t *b = malloc(sizeof *b);
  *b = (ball_t){&pp, 0, 0};
  ck_assert_int_eq(xf_loop_call_soon_threadsafe(pp.loops[0], bounce, b, NULL), XF_OK);
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  ck_assert_int_eq(pp.hits[0], BOUNCES / 2);
  ck_assert_int_eq(pp.hits[1], BOUNCES / 2);
  xft_loop_free(pp.loops[0]);
  xft_loop_free(pp.loops[1]);
}
END_TEST

/* ---- allocation failures ---------------------------------------------- */

START_TEST(test_enomem) {
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_loop_t *loop;
    int rc = xf_loop_new(&loop);
    if (rc == XF_ENOMEM)
      continue;
    ck_assert_int_eq(rc, XF_OK);
    xf_loop_unref(loop);
  }
  xf_loop_t *loop = xft_loop();
  xf_future_t *inner;
  ck_assert_int_eq(xf_loop_create_future(loop, &inner), XF_OK);
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    record_t r = {0};
    entry_t *e = entry(&r, 1);
    xf_handle_t *h;
    int rc = xf_loop_call_later(loop, 0, entry_run, e, entry_free, &h);
    xft_alloc_fail_at(-1);
    if (rc == XF_ENOMEM) {
      ck_assert_int_eq(r.freed, 0);
      free(e);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    ck_assert_int_eq(xf_handle_cancel(h), XF_OK);
    ck_assert_int_eq(r.freed, 1);
    xf_handle_unref(h);
  }
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_future_t *s;
    int rc = xf_loop_sleep(loop, 1000 * MS, &s);
    if (rc == XF_ENOMEM)
      continue;
    ck_assert_int_eq(rc, XF_OK);
    xft_alloc_fail_at(-1);
    xf_future_cancel(s);
    xf_future_unref(s);
  }
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_future_t *out;
    int rc = xf_future_timeout(loop, inner, 1000 * MS, &out);
    if (rc == XF_ENOMEM)
      continue;
    ck_assert_int_eq(rc, XF_OK);
    xft_alloc_fail_at(-1);
    xf_future_cancel(out);
    xf_future_unref(out);
  }
  xf_future_unref(inner);
  xft_loop_free(loop);
}
END_TEST

static Suite *loop_suite(void) {
  Suite *s = suite_create("loop");
  TCase *tc = tcase_create("lifecycle");
  tcase_add_test(tc, test_new_close);
  tcase_add_test(tc, test_close_frees_pending);
  tcase_add_test(tc, test_unref_closes);
  tcase_add_test(tc, test_run_and_stop);
  tcase_add_test(tc, test_run_until_complete);
  tcase_add_test(tc, test_second_thread_cannot_run);
  tcase_add_test(tc, test_run_once_after_stop);
  suite_add_tcase(s, tc);
  tc = tcase_create("call_soon");
  tcase_add_test(tc, test_call_soon_fifo);
  tcase_add_test(tc, test_cancel_soon);
  tcase_add_test(tc, test_threadsafe_on_loop_thread_keeps_order);
  tcase_add_test(tc, test_done_callback_posted_on_loop_thread);
  suite_add_tcase(s, tc);
  tc = tcase_create("timers");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_timer_order);
  tcase_add_test(tc, test_many_timers_half_cancelled);
  tcase_add_test(tc, test_cancel_timer_from_other_thread);
  suite_add_tcase(s, tc);
  tc = tcase_create("threadsafe");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_threadsafe_flood);
  tcase_add_test(tc, test_threadsafe_wakes_blocked_loop);
  tcase_add_test(tc, test_stop_from_other_thread);
  tcase_add_test(tc, test_post_races_close);
  tcase_add_test(tc, test_cancel_races_foreign_close);
  suite_add_tcase(s, tc);
  tc = tcase_create("fds");
  tcase_add_test(tc, test_pipe_reader);
  tcase_add_test(tc, test_socket_reader_writer);
  tcase_add_test(tc, test_io_bad_input);
  suite_add_tcase(s, tc);
  tc = tcase_create("loop_futures");
  tcase_add_test(tc, test_loop_future_callbacks_on_loop);
  tcase_add_test(tc, test_future_finished_by_other_thread);
  tcase_add_test(tc, test_exception_handler);
  tcase_add_test(tc, test_error_never_retrieved);
  suite_add_tcase(s, tc);
  tc = tcase_create("executors");
  tcase_add_test(tc, test_run_in_executor_default);
  tcase_add_test(tc, test_run_in_executor_cancel);
  tcase_add_test(tc, test_loop_executor);
  suite_add_tcase(s, tc);
  tc = tcase_create("timeouts");
  tcase_add_test(tc, test_sleep);
  tcase_add_test(tc, test_timeout_expires);
  tcase_add_test(tc, test_timeout_not_reached);
  tcase_add_test(tc, test_timeout_shielded);
  tcase_add_test(tc, test_timeout_dropped_frees);
  suite_add_tcase(s, tc);
  tc = tcase_create("embedding");
  tcase_add_test(tc, test_embedding);
  tcase_add_test(tc, test_backend_fd_readable_for_queued_work);
  suite_add_tcase(s, tc);
  tc = tcase_create("threads");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_wrong_thread);
  tcase_add_test(tc, test_two_loops_exchange);
  suite_add_tcase(s, tc);
  tc = tcase_create("bad_input");
  tcase_add_test(tc, test_null_handles);
  suite_add_tcase(s, tc);
  tc = tcase_create("enomem");
  tcase_add_test(tc, test_enomem);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return xft_main(loop_suite());
}

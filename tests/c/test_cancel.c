/* Cancellation tokens: sources and reasons, callbacks inline and on a loop,
 * the token's future, linked tokens, futures bound to a token, tasks with a
 * token (queued and running, on a plain submission, through a token
 * executor and through submit_native), bad input and allocation failures. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "testutil.h"
#include <xf/xf.h>

static xf_cancel_source_t *source(void) {
  xf_cancel_source_t *src;
  ck_assert_int_eq(xf_cancel_source_new(&src), XF_OK);
  return src;
}

static xf_error_t *reason(const char *msg) {
  xf_error_t *e;
  ck_assert_int_eq(xf_error_new(XF_EFAILED, "ValueError", msg, &e), XF_OK);
  return e;
}

/* A log of callback runs. */
typedef struct log {
  _Atomic int n;
  int order[8];
  _Atomic int freed;
  const char *last_msg;
} log_t;

typedef struct entry {
  log_t *log;
  int id;
} entry_t;

static void on_cancel(xf_cancel_token_t *t, xf_error_t *why, void *data) {
  (void) t;
  entry_t *e = data;
  e->log->last_msg = xf_error_message(why);
  e->log->order[atomic_fetch_add(&e->log->n, 1)] = e->id;
}

static void entry_free(void *data) {
  entry_t *e = data;
  atomic_fetch_add(&e->log->freed, 1);
  free(e);
}

static entry_t *entry(log_t *log, int id) {
  entry_t *e = malloc(sizeof *e);
  e->log = log;
  e->id = id;
  return e;
}

/* ---- sources and tokens ------------------------------------------------ */

START_TEST(test_cancel_with_reason) {
  xf_cancel_source_t *src = source();
  xf_cancel_token_t *t = xf_cancel_source_token(src);
  ck_assert(!xf_cancel_token_cancelled(t));
  ck_assert_int_eq(xf_cancel_token_check(t), XF_OK);
  xf_error_t *got;
  ck_assert_int_eq(xf_cancel_token_reason(t, &got), XF_OK);
  ck_assert_ptr_null(got);
  xf_error_t *why = reason("stop now");
  ck_assert_int_eq(xf_cancel_source_cancel(src, xf_error_ref(why)), XF_OK);
  ck_assert(xf_cancel_token_cancelled(t));
  ck_assert_int_eq(xf_cancel_token_check(t), XF_ECANCELLED);
  ck_assert_int_eq(xf_cancel_token_reason(t, &got), XF_OK);
  ck_assert_ptr_eq(got, why);
  xf_error_unref(got);
  /* The first reason stays. */
  ck_assert_int_eq(xf_cancel_source_cancel(src, reason("later")), XF_ESTATE);
  ck_assert_int_eq(xf_cancel_token_reason(t, &got), XF_OK);
  ck_assert_str_eq(xf_error_message(got), "stop now");
  xf_error_unref(got);
  xf_error_unref(why);
  /* The token outlives its source for whoever holds it. */
  xf_cancel_token_ref(t);
  xf_cancel_source_unref(src);
  ck_assert(xf_cancel_token_cancelled(t));
  xf_cancel_token_unref(t);
  /* No reason: a CancelledError. */
  src = source();
  ck_assert_int_eq(xf_cancel_source_cancel(src, NULL), XF_OK);
  ck_assert_int_eq(xf_cancel_token_reason(xf_cancel_source_token(src), &got), XF_OK);
  ck_assert_int_eq(xf_error_code(got), XF_ECANCELLED);
  ck_assert_str_eq(xf_error_type(got), "CancelledError");
  xf_error_unref(got);
  xf_cancel_source_unref(src);
}
END_TEST

START_TEST(test_inline_callbacks) {
  log_t log = {0};
  xf_cancel_source_t *src = source();
  xf_cancel_token_t *t = xf_cancel_source_token(src);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(
        xf_cancel_token_add_callback(t, on_cancel, entry(&log, i), entry_free, NULL),
        XF_OK);
  /* A removed registration never runs; its data is freed at once. */
  entry_t *gone = entry(&log, 9);
  ck_assert_int_eq(xf_cancel_token_add_callback(t, on_cancel, gone, entry_free, NULL),
                   XF_OK);
  ck_assert_int_eq(xf_cancel_token_remove_callback(t, on_cancel, gone), 1);
  ck_assert_int_eq(log.freed, 1);
  ck_assert_int_eq(log.n, 0);
  ck_assert_int_eq(xf_cancel_source_cancel(src, reason("why")), XF_OK);
  /* All ran before cancel returned, in order, with the reason. */
  ck_assert_int_eq(log.n, 3);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(log.order[i], i);
  ck_assert_str_eq(log.last_msg, "why");
  ck_assert_int_eq(log.freed, 4);
  /* Added to a cancelled token: runs at once. */
  ck_assert_int_eq(
      xf_cancel_token_add_callback(t, on_cancel, entry(&log, 5), entry_free, NULL),
      XF_OK);
  ck_assert_int_eq(log.n, 4);
  ck_assert_int_eq(log.freed, 5);
  xf_cancel_source_unref(src);
}
END_TEST

/* A token freed without ever being cancelled frees its callbacks' data and
 * never calls them. */
START_TEST(test_token_freed_uncancelled) {
  log_t log = {0};
  xf_cancel_source_t *src = source();
  ck_assert_int_eq(xf_cancel_token_add_callback(xf_cancel_source_token(src), on_cancel,
                                                entry(&log, 1), entry_free, NULL),
                   XF_OK);
  xf_cancel_source_unref(src);
  ck_assert_int_eq(log.n, 0);
  ck_assert_int_eq(log.freed, 1);
}
END_TEST

START_TEST(test_loop_callbacks) {
  log_t log = {0};
  xf_loop_t *loop = xft_loop();
  xf_cancel_source_t *src = source();
  xf_cancel_token_t *t = xf_cancel_source_token(src);
  ck_assert_int_eq(
      xf_cancel_token_add_callback(t, on_cancel, entry(&log, 1), entry_free, loop),
      XF_OK);
  ck_assert_int_eq(xf_cancel_source_cancel(src, NULL), XF_OK);
  /* Posted, not run inside the cancel. */
  ck_assert_int_eq(log.n, 0);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(log.n, 1);
  ck_assert_int_eq(log.freed, 1);
  /* A loop closed before the call ran: dropped, its data freed. */
  ck_assert_int_eq(
      xf_cancel_token_add_callback(t, on_cancel, entry(&log, 2), entry_free, loop),
      XF_OK);
  xft_loop_free(loop);
  ck_assert_int_eq(log.n, 1);
  ck_assert_int_eq(log.freed, 2);
  /* A closed loop refuses; the caller keeps its data. */
  loop = xft_loop();
  ck_assert_int_eq(xf_loop_close(loop), XF_OK);
  entry_t *e = entry(&log, 3);
  ck_assert_int_eq(xf_cancel_token_add_callback(t, on_cancel, e, entry_free, loop),
                   XF_ECLOSED);
  ck_assert_int_eq(log.freed, 2);
  free(e);
  xf_loop_unref(loop);
  xf_cancel_source_unref(src);
}
END_TEST

START_TEST(test_token_future) {
  xf_cancel_source_t *src = source();
  xf_cancel_token_t *t = xf_cancel_source_token(src);
  xf_future_t *f;
  ck_assert_int_eq(xf_cancel_token_future(t, NULL, &f), XF_OK);
  ck_assert(!xf_future_done(f));
  ck_assert_int_eq(xf_cancel_source_cancel(src, reason("go")), XF_OK);
  xf_error_t *err;
  ck_assert_int_eq(xf_future_error(f, 0, &err), XF_OK);
  ck_assert_str_eq(xf_error_message(err), "go");
  xf_error_unref(err);
  xf_future_unref(f);
  /* Made on a cancelled token: done at once. */
  ck_assert_int_eq(xf_cancel_token_future(t, NULL, &f), XF_OK);
  ck_assert(xf_future_done(f));
  xf_future_unref(f);
  xf_cancel_source_unref(src);
  /* A token freed uncancelled cancels its future: nobody waits forever. */
  src = source();
  ck_assert_int_eq(xf_cancel_token_future(xf_cancel_source_token(src), NULL, &f), XF_OK);
  xf_cancel_source_unref(src);
  ck_assert(xf_future_cancelled(f));
  xf_future_unref(f);
  /* On a loop: a loop future. */
  xf_loop_t *loop = xft_loop();
  src = source();
  ck_assert_int_eq(xf_cancel_token_future(xf_cancel_source_token(src), loop, &f), XF_OK);
  ck_assert_ptr_eq(xf_future_loop(f), loop);
  xf_cancel_source_cancel(src, NULL);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, f, NULL), XF_EFAILED);
  xf_future_unref(f);
  xf_cancel_source_unref(src);
  xft_loop_free(loop);
}
END_TEST

/* ---- links -------------------------------------------------------------- */

START_TEST(test_linked_two_parents) {
  for (int which = 0; which < 2; which++) {
    xf_cancel_source_t *a = source(), *b = source(), *child;
    xf_cancel_token_t *parents[2] = {xf_cancel_source_token(a),
                                     xf_cancel_source_token(b)};
    ck_assert_int_eq(xf_cancel_source_new_linked(parents, 2, &child), XF_OK);
    xf_cancel_token_t *t = xf_cancel_source_token(child);
    ck_assert(!xf_cancel_token_cancelled(t));
    ck_assert_int_eq(xf_cancel_source_cancel(which ? b : a, reason(which ? "b" : "a")),
                     XF_OK);
    ck_assert(xf_cancel_token_cancelled(t));
    xf_error_t *got;
    xf_cancel_token_reason(t, &got);
    ck_assert_str_eq(xf_error_message(got), which ? "b" : "a");
    xf_error_unref(got);
    /* The other parent is untouched, and cancelling it later is harmless. */
    ck_assert(!xf_cancel_token_cancelled(parents[which ? 0 : 1]));
    ck_assert_int_eq(xf_cancel_source_cancel(which ? a : b, NULL), XF_OK);
    /* A child does not cancel its parents. */
    xf_cancel_source_unref(child);
    xf_cancel_source_unref(a);
    xf_cancel_source_unref(b);
  }
  /* Cancelling the child does not reach the parent. */
  xf_cancel_source_t *p = source(), *child;
  xf_cancel_token_t *pt = xf_cancel_source_token(p);
  ck_assert_int_eq(xf_cancel_source_new_linked(&pt, 1, &child), XF_OK);
  ck_assert_int_eq(xf_cancel_source_cancel(child, NULL), XF_OK);
  ck_assert(!xf_cancel_token_cancelled(pt));
  xf_cancel_source_unref(child);
  /* A parent cancelled already cancels the child at once. */
  xf_cancel_source_cancel(p, reason("early"));
  ck_assert_int_eq(xf_cancel_source_new_linked(&pt, 1, &child), XF_OK);
  ck_assert(xf_cancel_token_cancelled(xf_cancel_source_token(child)));
  xf_cancel_source_unref(child);
  xf_cancel_source_unref(p);
}
END_TEST

/* A parent lists its children weakly: dropping a child frees it while the
 * parent lives, and a chain of links cancels all the way down. */
START_TEST(test_linked_child_dropped) {
  xf_cancel_source_t *p = source();
  xf_cancel_token_t *pt = xf_cancel_source_token(p);
  long base = xft_alloc_live();
  for (int i = 0; i < 10; i++) {
    xf_cancel_source_t *child;
    ck_assert_int_eq(xf_cancel_source_new_linked(&pt, 1, &child), XF_OK);
    xf_cancel_source_unref(child);
  }
  ck_assert_int_eq(xft_alloc_live(), base);
  /* A chain p -> c1 -> c2: the grandchild follows. */
  xf_cancel_source_t *c1, *c2;
  ck_assert_int_eq(xf_cancel_source_new_linked(&pt, 1, &c1), XF_OK);
  xf_cancel_token_t *t1 = xf_cancel_source_token(c1);
  ck_assert_int_eq(xf_cancel_source_new_linked(&t1, 1, &c2), XF_OK);
  xf_cancel_token_t *t2 = xf_cancel_token_ref(xf_cancel_source_token(c2));
  xf_cancel_source_unref(c2);
  /* The middle one is held by its child alone now. */
  xf_cancel_source_unref(c1);
  ck_assert_int_eq(xf_cancel_source_cancel(p, NULL), XF_OK);
  ck_assert(xf_cancel_token_cancelled(t2));
  xf_cancel_token_unref(t2);
  xf_cancel_source_unref(p);
}
END_TEST

/* Children made and dropped in one thread while another cancels their
 * parent: each child is either cancelled with the parent or freed first,
 * and the ones made after the cancel are cancelled at once. */
typedef struct churn {
  xf_cancel_token_t *parent;
  struct gate *gate;
  int cancelled_after;
} churn_t;

static void *link_churn(void *arg);

/* ---- bound futures ------------------------------------------------------- */

START_TEST(test_bind_future) {
  xf_cancel_source_t *src = source();
  xf_cancel_token_t *t = xf_cancel_source_token(src);
  xf_future_t *a, *b, *done;
  ck_assert_int_eq(xf_future_new(&a), XF_OK);
  ck_assert_int_eq(xf_future_new(&b), XF_OK);
  ck_assert_int_eq(xf_future_new(&done), XF_OK);
  ck_assert_int_eq(xf_cancel_token_bind(t, a), XF_OK);
  /* A future done first drops its binding at once. */
  long base = xft_alloc_live();
  ck_assert_int_eq(xf_cancel_token_bind(t, done), XF_OK);
  ck_assert_int_gt(xft_alloc_live(), base);
  ck_assert_int_eq(xf_future_set_result(done, NULL), XF_OK);
  ck_assert_int_eq(xft_alloc_live(), base);
  ck_assert_int_eq(xf_cancel_token_bind(t, b), XF_OK);
  ck_assert_int_eq(xf_future_set_running_or_notify_cancel(b), XF_OK);
  ck_assert_int_eq(xf_cancel_source_cancel(src, reason("deadline")), XF_OK);
  ck_assert(xf_future_cancelled(a));
  xf_error_t *err;
  ck_assert_int_eq(xf_future_error(a, 0, &err), XF_OK);
  ck_assert_str_eq(xf_error_message(err), "deadline");
  xf_error_unref(err);
  /* A running future is not cancelled by its token. */
  ck_assert(!xf_future_done(b));
  ck_assert(!xf_future_cancelled(done));
  /* Bound to a cancelled token: cancelled at once. */
  xf_future_t *c;
  ck_assert_int_eq(xf_future_new(&c), XF_OK);
  ck_assert_int_eq(xf_cancel_token_bind(t, c), XF_OK);
  ck_assert(xf_future_cancelled(c));
  xf_future_unref(c);
  xf_future_set_result(b, NULL);
  xf_future_unref(a);
  xf_future_unref(b);
  xf_future_unref(done);
  xf_cancel_source_unref(src);
}
END_TEST

/* ---- tasks with a token -------------------------------------------------- */

/* A gate: a test thread opens it, a task waits for it. */
typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int started, open;
  _Atomic int ran;
  _Atomic int saw_token;
  _Atomic int freed;
  xf_cancel_token_t *expect;
} gate_t;

#define GATE_INIT                                                                        \
  { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, NULL }

static void gate_signal(gate_t *g, int *field) {
  pthread_mutex_lock(&g->mu);
  (*field)++;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

static void gate_await(gate_t *g, int *field, int n) {
  pthread_mutex_lock(&g->mu);
  while (*field < n)
    pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

/* Long native work that polls its token: it says it started, then spins on
 * the token (the test cancels it after the rendezvous). */
static int poll_task(void *data, xf_future_t *fut) {
  (void) fut;
  gate_t *g = data;
  atomic_fetch_add(&g->ran, 1);
  if (xf_cancel_token_current() == g->expect)
    atomic_fetch_add(&g->saw_token, 1);
  gate_signal(g, &g->started);
  while (!xf_cancel_token_cancelled(xf_cancel_token_current()))
    xft_sleep_ns(100000); /* polling pace only; the token ends the loop */
  return XF_ECANCELLED;
}

/* Blocks until the gate opens. */
static int blocking_task(void *data, xf_future_t *fut) {
  (void) fut;
  gate_t *g = data;
  gate_signal(g, &g->started);
  gate_await(g, &g->open, 1);
  return XF_OK;
}

static int counting_task(void *data, xf_future_t *fut) {
  (void) fut;
  atomic_fetch_add(&((gate_t *) data)->ran, 1);
  return XF_OK;
}

static void gate_freed(void *data) {
  atomic_fetch_add(&((gate_t *) data)->freed, 1);
}

START_TEST(test_running_task_polls_token) {
  xf_executor_t *pool = xft_pool(2);
  xf_cancel_source_t *src = source();
  gate_t g = GATE_INIT;
  g.expect = xf_cancel_source_token(src);
  xf_future_t *f;
  ck_assert_int_eq(
      xf_executor_submit_token(pool, g.expect, poll_task, &g, gate_freed, &f), XF_OK);
  gate_await(&g, &g.started, 1);
  ck_assert(xf_future_running(f));
  ck_assert_int_eq(xf_cancel_source_cancel(src, reason("user gave up")), XF_OK);
  ck_assert_int_eq(xf_future_wait(f, -1), XF_OK);
  /* The task acknowledged: its future ends cancelled, with the reason. */
  ck_assert(xf_future_cancelled(f));
  xf_error_t *err;
  ck_assert_int_eq(xf_future_error(f, 0, &err), XF_OK);
  ck_assert_str_eq(xf_error_message(err), "user gave up");
  xf_error_unref(err);
  ck_assert_int_eq(g.saw_token, 1);
  xf_future_unref(f);
  xf_executor_unref(pool);
  ck_assert_int_eq(g.freed, 1);
  /* Off the task, the thread has no current token. */
  ck_assert_ptr_null(xf_cancel_token_current());
  xf_cancel_source_unref(src);
}
END_TEST

START_TEST(test_queued_task_cancelled) {
  xf_executor_t *pool = xft_pool(1);
  xf_cancel_source_t *src = source();
  gate_t g = GATE_INIT;
  xf_future_t *blocker, *queued;
  ck_assert_int_eq(xf_executor_submit(pool, blocking_task, &g, NULL, &blocker), XF_OK);
  gate_await(&g, &g.started, 1);
  ck_assert_int_eq(xf_executor_submit_token(pool, xf_cancel_source_token(src),
                                            counting_task, &g, gate_freed, &queued),
                   XF_OK);
  ck_assert_int_eq(xf_cancel_source_cancel(src, NULL), XF_OK);
  ck_assert(xf_future_cancelled(queued));
  gate_signal(&g, &g.open);
  ck_assert_int_eq(xf_future_wait(blocker, -1), XF_OK);
  xf_executor_shutdown(pool, true, false);
  ck_assert_int_eq(g.ran, 0);
  ck_assert_int_eq(g.freed, 1);
  /* After shutdown the submission is refused as any other. */
  xf_future_t *late;
  ck_assert_int_eq(xf_executor_submit_token(pool, xf_cancel_source_token(src),
                                            counting_task, &g, gate_freed, &late),
                   XF_ESHUTDOWN);
  ck_assert_ptr_null(late);
  ck_assert_int_eq(g.freed, 1);
  xf_future_unref(blocker);
  xf_future_unref(queued);
  xf_executor_unref(pool);
  xf_cancel_source_unref(src);
}
END_TEST

/* A native function run through submit_native on a token executor polls
 * the token it was given. */
static int64_t native_poll(int64_t limit) {
  int64_t polls = 0;
  while (!xf_cancel_token_cancelled(xf_cancel_token_current()) && polls < limit)
    polls++;
  return xf_cancel_token_cancelled(xf_cancel_token_current()) ? -1 : polls;
}

START_TEST(test_token_executor_native) {
  xf_executor_t *pool = xft_pool(2), *with;
  xf_cancel_source_t *src = source();
  ck_assert_int_eq(xf_executor_with_token(pool, xf_cancel_source_token(src), &with),
                   XF_OK);
  xf_value_t *arg = xft_int(5);
  xf_future_t *f;
  ck_assert_int_eq(
      xf_executor_submit_native(with, (void *) native_poll, "int64(int64)", &arg, 1, &f),
      XF_OK);
  ck_assert_int_eq(xft_result_int(f), 5);
  xf_future_unref(f);
  ck_assert_int_eq(xf_cancel_source_cancel(src, NULL), XF_OK);
  ck_assert_int_eq(
      xf_executor_submit_native(with, (void *) native_poll, "int64(int64)", &arg, 1, &f),
      XF_OK);
  /* Queued behind a cancelled token: cancelled before it runs. */
  ck_assert_int_eq(xf_future_wait(f, -1), XF_OK);
  ck_assert(xf_future_cancelled(f));
  xf_future_unref(f);
  xf_value_unref(arg);
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  ck_assert_int_eq(xf_executor_stats(with, &st), XF_OK);
  ck_assert_int_eq(st.max_workers, 2);
  /* Shut down, it refuses; the pool goes on. */
  ck_assert_int_eq(xf_executor_shutdown(with, true, false), XF_OK);
  gate_t g = GATE_INIT;
  ck_assert_int_eq(xf_executor_submit(with, counting_task, &g, NULL, &f), XF_ESHUTDOWN);
  ck_assert_int_eq(xf_executor_submit(pool, counting_task, &g, NULL, &f), XF_OK);
  ck_assert_int_eq(xf_future_wait(f, -1), XF_OK);
  xf_future_unref(f);
  xf_executor_unref(with);
  xf_executor_unref(pool);
  xf_cancel_source_unref(src);
}
END_TEST

/* Long native work run through submit_native polls its token and returns
 * early when it is cancelled while it runs. */
static gate_t *native_gate;

static int64_t native_spin(int64_t early) {
  gate_signal(native_gate, &native_gate->started);
  while (!xf_cancel_token_cancelled(xf_cancel_token_current()))
    xft_sleep_ns(100000); /* polling pace only; the token ends the loop */
  return early;
}

START_TEST(test_token_cancels_running_native) {
  xf_executor_t *pool = xft_pool(1), *with;
  xf_cancel_source_t *src = source();
  ck_assert_int_eq(xf_executor_with_token(pool, xf_cancel_source_token(src), &with),
                   XF_OK);
  gate_t g = GATE_INIT;
  native_gate = &g;
  xf_value_t *arg = xft_int(-1);
  xf_future_t *f;
  ck_assert_int_eq(
      xf_executor_submit_native(with, (void *) native_spin, "int64(int64)", &arg, 1, &f),
      XF_OK);
  xf_value_unref(arg);
  gate_await(&g, &g.started, 1);
  ck_assert(xf_future_running(f));
  ck_assert_int_eq(xf_cancel_source_cancel(src, NULL), XF_OK);
  ck_assert_int_eq(xft_result_int(f), -1);
  xf_future_unref(f);
  xf_executor_unref(with);
  xf_executor_unref(pool);
  xf_cancel_source_unref(src);
}
END_TEST

static void *link_churn(void *arg) {
  churn_t *c = arg;
  /* Churn before the cancel, then on through it until this thread sees
   * the parent cancelled, then make one last child. */
  for (int i = 0; i < 1000 || !xf_cancel_token_cancelled(c->parent); i++) {
    xf_cancel_source_t *child;
    ck_assert_int_eq(xf_cancel_source_new_linked(&c->parent, 1, &child), XF_OK);
    if (i == 1000)
      gate_signal(c->gate, &c->gate->started);
    xf_cancel_source_unref(child);
  }
  xf_cancel_source_t *last;
  ck_assert_int_eq(xf_cancel_source_new_linked(&c->parent, 1, &last), XF_OK);
  c->cancelled_after = xf_cancel_token_cancelled(xf_cancel_source_token(last));
  xf_cancel_source_unref(last);
  return NULL;
}

START_TEST(test_link_race) {
  xf_cancel_source_t *p = source();
  gate_t g = GATE_INIT;
  churn_t c = {xf_cancel_source_token(p), &g, -1};
  pthread_t t;
  pthread_create(&t, NULL, link_churn, &c);
  gate_await(&g, &g.started, 1);
  ck_assert_int_eq(xf_cancel_source_cancel(p, NULL), XF_OK);
  pthread_join(t, NULL);
  /* The last child was made after the cancel: cancelled at birth. */
  ck_assert_int_eq(c.cancelled_after, 1);
  xf_cancel_source_unref(p);
}
END_TEST

/* A token executor over an executor that drops the job (shut down with
 * cancel_futures while queued): the outer task never runs, its data goes. */
START_TEST(test_token_executor_inner_drops) {
  xf_executor_t *pool = xft_pool(1), *with;
  xf_cancel_source_t *src = source();
  ck_assert_int_eq(xf_executor_with_token(pool, xf_cancel_source_token(src), &with),
                   XF_OK);
  gate_t g = GATE_INIT;
  xf_future_t *blocker, *f;
  ck_assert_int_eq(xf_executor_submit(pool, blocking_task, &g, NULL, &blocker), XF_OK);
  gate_await(&g, &g.started, 1);
  ck_assert_int_eq(xf_executor_submit(with, counting_task, &g, gate_freed, &f), XF_OK);
  ck_assert_int_eq(xf_executor_shutdown(pool, false, true), XF_OK);
  gate_signal(&g, &g.open);
  ck_assert_int_eq(xf_future_wait(f, -1), XF_OK);
  ck_assert(xf_future_cancelled(f));
  ck_assert_int_eq(g.ran, 0);
  ck_assert_int_eq(g.freed, 1);
  xf_future_unref(f);
  xf_future_unref(blocker);
  xf_executor_unref(with);
  xf_executor_unref(pool);
  xf_cancel_source_unref(src);
}
END_TEST

/* ---- bad input and allocation failures ------------------------------------ */

START_TEST(test_bad_input) {
  xf_cancel_source_t *src = NULL;
  ck_assert_int_eq(xf_cancel_source_new(NULL), XF_EINVAL);
  ck_assert_int_eq(xf_cancel_source_new_linked(NULL, 1, &src), XF_EINVAL);
  xf_cancel_token_t *none = NULL;
  ck_assert_int_eq(xf_cancel_source_new_linked(&none, 1, &src), XF_EINVAL);
  ck_assert_ptr_null(src);
  ck_assert_int_eq(xf_cancel_source_cancel(NULL, reason("dropped")), XF_EINVAL);
  ck_assert_ptr_null(xf_cancel_source_token(NULL));
  ck_assert(!xf_cancel_token_cancelled(NULL));
  ck_assert_int_eq(xf_cancel_token_check(NULL), XF_OK);
  xf_error_t *e;
  ck_assert_int_eq(xf_cancel_token_reason(NULL, &e), XF_EINVAL);
  ck_assert_int_eq(xf_cancel_token_add_callback(NULL, on_cancel, NULL, NULL, NULL),
                   XF_EINVAL);
  src = source();
  xf_cancel_token_t *t = xf_cancel_source_token(src);
  ck_assert_int_eq(xf_cancel_token_reason(t, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_cancel_token_add_callback(t, NULL, NULL, NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_cancel_token_remove_callback(t, NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_cancel_token_remove_callback(NULL, on_cancel, NULL), XF_EINVAL);
  xf_future_t *f;
  ck_assert_int_eq(xf_cancel_token_future(NULL, NULL, &f), XF_EINVAL);
  ck_assert_int_eq(xf_cancel_token_future(t, NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_cancel_token_bind(NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_executor_submit_token(NULL, t, counting_task, NULL, NULL, &f),
                   XF_EINVAL);
  xf_executor_t *pool = xft_pool(1), *with;
  ck_assert_int_eq(xf_executor_submit_token(pool, t, NULL, NULL, NULL, &f), XF_EINVAL);
  ck_assert_int_eq(xf_executor_submit_token(pool, t, counting_task, NULL, NULL, NULL),
                   XF_EINVAL);
  ck_assert_int_eq(xf_executor_with_token(pool, NULL, &with), XF_EINVAL);
  ck_assert_int_eq(xf_executor_with_token(NULL, t, &with), XF_EINVAL);
  ck_assert_int_eq(xf_executor_with_token(pool, t, NULL), XF_EINVAL);
  xf_cancel_source_unref(NULL);
  xf_cancel_token_unref(NULL);
  xf_executor_unref(pool);
  xf_cancel_source_unref(src);
}
END_TEST

START_TEST(test_enomem) {
  xf_cancel_source_t *parent = source();
  xf_cancel_token_t *pt = xf_cancel_source_token(parent);
  xf_executor_t *pool = xft_pool(1);
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_cancel_source_t *src;
    int rc = xf_cancel_source_new_linked(&pt, 1, &src);
    if (rc == XF_ENOMEM)
      continue;
    ck_assert_int_eq(rc, XF_OK);
    xf_cancel_source_unref(src);
  }
  xf_cancel_source_t *src = source();
  xf_cancel_token_t *t = xf_cancel_source_token(src);
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    log_t log = {0};
    entry_t *e = entry(&log, 1);
    int rc = xf_cancel_token_add_callback(t, on_cancel, e, entry_free, NULL);
    if (rc == XF_ENOMEM) {
      free(e);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    xf_cancel_token_remove_callback(t, on_cancel, e);
  }
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_future_t *f;
    int rc = xf_cancel_token_future(t, NULL, &f);
    if (rc == XF_ENOMEM)
      continue;
    ck_assert_int_eq(rc, XF_OK);
    /* Done otherwise: its registration on the token goes. */
    xft_alloc_fail_at(-1);
    ck_assert_int_eq(xf_future_cancel(f), XF_OK);
    xf_future_unref(f);
  }
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_future_t *f;
    int rc = xf_future_new(&f);
    if (rc == XF_ENOMEM)
      continue;
    if ((rc = xf_cancel_token_bind(t, f)) == XF_ENOMEM) {
      xf_future_unref(f);
      continue;
    }
    xft_alloc_fail_at(-1);
    ck_assert_int_eq(rc, XF_OK);
    /* Done: the binding goes. */
    xf_future_set_result(f, NULL);
    xf_future_unref(f);
  }
  /* Submissions on the loop's executor run in this thread, so that every
   * block is back before the pass ends. */
  xf_loop_t *loop = xft_loop();
  xf_executor_t *lex;
  ck_assert_int_eq(xf_loop_executor(loop, &lex), XF_OK);
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    gate_t g = GATE_INIT;
    xf_future_t *job;
    int rc = xf_executor_submit_token(lex, t, counting_task, &g, NULL, &job);
    if (rc == XF_ENOMEM)
      continue;
    xft_alloc_fail_at(-1);
    ck_assert_int_eq(rc, XF_OK);
    ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
    ck_assert(xf_future_done(job));
    xf_future_unref(job);
  }
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_executor_t *with;
    int rc = xf_executor_with_token(lex, t, &with);
    if (rc == XF_ENOMEM)
      continue;
    xf_future_t *job;
    gate_t g = GATE_INIT;
    if ((rc = xf_executor_submit(with, counting_task, &g, NULL, &job)) == XF_ENOMEM) {
      xf_executor_unref(with);
      continue;
    }
    xft_alloc_fail_at(-1);
    ck_assert_int_eq(rc, XF_OK);
    ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
    ck_assert(xf_future_done(job));
    xf_future_unref(job);
    xf_executor_unref(with);
  }
  xf_executor_unref(lex);
  xft_loop_free(loop);
  /* The cancel itself cannot fail: with no memory for a reason it uses the
   * preallocated one. */
  xft_alloc_fail_from(0);
  ck_assert_int_eq(xf_cancel_source_cancel(src, NULL), XF_OK);
  xft_alloc_fail_at(-1);
  xf_error_t *why;
  xf_cancel_token_reason(t, &why);
  ck_assert_int_eq(xf_error_code(why), XF_ENOMEM);
  xf_error_unref(why);
  xf_cancel_source_unref(src);
  xf_cancel_source_unref(parent);
  xf_executor_unref(pool);
}
END_TEST

static Suite *cancel_suite(void) {
  Suite *s = suite_create("cancel");
  TCase *tc = tcase_create("tokens");
  tcase_add_test(tc, test_cancel_with_reason);
  tcase_add_test(tc, test_inline_callbacks);
  tcase_add_test(tc, test_token_freed_uncancelled);
  tcase_add_test(tc, test_loop_callbacks);
  tcase_add_test(tc, test_token_future);
  suite_add_tcase(s, tc);
  tc = tcase_create("links");
  tcase_add_test(tc, test_linked_two_parents);
  tcase_add_test(tc, test_linked_child_dropped);
  tcase_add_test(tc, test_link_race);
  tcase_add_test(tc, test_bind_future);
  suite_add_tcase(s, tc);
  tc = tcase_create("tasks");
  tcase_add_test(tc, test_running_task_polls_token);
  tcase_add_test(tc, test_queued_task_cancelled);
  tcase_add_test(tc, test_token_executor_native);
  tcase_add_test(tc, test_token_cancels_running_native);
  tcase_add_test(tc, test_token_executor_inner_drops);
  suite_add_tcase(s, tc);
  tc = tcase_create("bad_input");
  tcase_add_test(tc, test_bad_input);
  suite_add_tcase(s, tc);
  tc = tcase_create("enomem");
  tcase_add_test(tc, test_enomem);
  tcase_set_timeout(tc, 120);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return xft_main(cancel_suite());
}

/* Task groups and error groups: fail-fast on an executor (siblings' tokens
 * and queued work), on a loop, an explicit cancel, joining, dropping, the
 * group inside a scope, bad input and allocation failures. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "testutil.h"
#include <xf/xf.h>

/* ---- error groups ------------------------------------------------------- */

START_TEST(test_error_group) {
  xf_error_t *a, *b, *eg, *got;
  ck_assert_int_eq(xf_error_new(XF_EFAILED, "ValueError", "a", &a), XF_OK);
  ck_assert_int_eq(xf_error_new(XF_ETIMEDOUT, NULL, "b", &b), XF_OK);
  xf_error_t *both[2] = {a, b};
  ck_assert_int_eq(xf_error_group_new(NULL, both, 2, &eg), XF_OK);
  ck_assert_int_eq(xf_error_code(eg), XF_EFAILED);
  ck_assert_str_eq(xf_error_type(eg), "ExceptionGroup");
  ck_assert_str_eq(xf_error_message(eg),
                   "unhandled errors in a task group (2 sub-errors)");
  ck_assert_int_eq(xf_error_group_len(eg), 2);
  ck_assert_int_eq(xf_error_group_get(eg, 0, &got), XF_OK);
  ck_assert_ptr_eq(got, a);
  ck_assert_int_eq(xf_error_group_get(eg, 1, &got), XF_OK);
  ck_assert_ptr_eq(got, b);
  ck_assert_int_eq(xf_error_group_get(eg, 2, &got), XF_ERANGE);
  xf_error_unref(a);
  xf_error_unref(b);
  xf_error_unref(eg);
  ck_assert_int_eq(xf_error_group_new("none", NULL, 0, &eg), XF_OK);
  ck_assert_int_eq(xf_error_group_len(eg), 0);
  ck_assert_str_eq(xf_error_message(eg), "none");
  xf_error_unref(eg);
  /* Not a group. */
  ck_assert_int_eq(xf_error_new(XF_EFAILED, NULL, NULL, &a), XF_OK);
  ck_assert_int_eq(xf_error_group_len(a), XF_EINVAL);
  ck_assert_int_eq(xf_error_group_get(a, 0, &got), XF_EINVAL);
  ck_assert_int_eq(xf_error_group_len(NULL), XF_EINVAL);
  xf_error_t *holes[1] = {NULL};
  ck_assert_int_eq(xf_error_group_new(NULL, holes, 1, &eg), XF_EINVAL);
  ck_assert_int_eq(xf_error_group_new(NULL, NULL, 1, &eg), XF_EINVAL);
  ck_assert_int_eq(xf_error_group_new(NULL, &a, 1, NULL), XF_EINVAL);
  xf_error_unref(a);
}
END_TEST

/* ---- on an executor --------------------------------------------------------- */

/* Rendezvous for the pool's tasks. */
typedef struct board {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int started;
  int release; /* how many "fail_when_released" tasks may go */
  _Atomic int queued_ran;
  _Atomic int freed;
} board_t;

#define BOARD_INIT                                                                       \
  { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0 }

static void board_bump(board_t *b, int *field) {
  pthread_mutex_lock(&b->mu);
  (*field)++;
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

static void board_wait(board_t *b, int *field, int n) {
  pthread_mutex_lock(&b->mu);
  while (*field < n)
    pthread_cond_wait(&b->cv, &b->mu);
  pthread_mutex_unlock(&b->mu);
}

typedef struct job {
  board_t *b;
  int release_at; /* fail once release reaches this */
  const char *msg;
} job_t;

/* Says it started, waits for its turn, fails, whatever the token says. */
static int fail_when_released(void *data, xf_future_t *fut) {
  job_t *j = data;
  board_bump(j->b, &j->b->started);
  board_wait(j->b, &j->b->release, j->release_at);
  return xf_future_fail(fut, XF_EFAILED, "ValueError", j->msg);
}

/* Says it started, then polls its token until the group cancels it. */
static int poll_token(void *data, xf_future_t *fut) {
  (void) fut;
  job_t *j = data;
  board_bump(j->b, &j->b->started);
  while (!xf_cancel_token_cancelled(xf_cancel_token_current()))
    xft_sleep_ns(100000); /* polling pace only; the token ends the loop */
  return XF_ECANCELLED;
}

static int count_run(void *data, xf_future_t *fut) {
  (void) fut;
  atomic_fetch_add(&((job_t *) data)->b->queued_ran, 1);
  return XF_OK;
}

static void job_freed(void *data) {
  atomic_fetch_add(&((job_t *) data)->b->freed, 1);
}

/* Three workers, four children: 0 fails late, 1 fails first, 2 polls its
 * token, 3 is queued behind them. The first failure cancels 2 (through its
 * token) and 3 (never runs); the join holds exactly the two failures, in
 * the order the children were added. */
START_TEST(test_executor_fail_fast) {
  xf_executor_t *pool = xft_pool(3);
  board_t b = BOARD_INIT;
  job_t late = {&b, 2, "late"}, first = {&b, 1, "first"}, poller = {&b, 0, NULL},
        queued = {&b, 0, NULL};
  xf_group_t *g;
  ck_assert_int_eq(xf_group_new(NULL, NULL, &g), XF_OK);
  xf_future_t *f0, *f1, *f2, *f3;
  ck_assert_int_eq(xf_group_submit(g, pool, fail_when_released, &late, job_freed, &f0),
                   XF_OK);
  ck_assert_int_eq(xf_group_submit(g, pool, fail_when_released, &first, job_freed, &f1),
                   XF_OK);
  ck_assert_int_eq(xf_group_submit(g, pool, poll_token, &poller, job_freed, &f2), XF_OK);
  board_wait(&b, &b.started, 3);
  ck_assert_int_eq(xf_group_submit(g, pool, count_run, &queued, job_freed, &f3), XF_OK);
  /* Child 1 fails; the group cancels 2 and 3 in that thread. */
  board_bump(&b, &b.release);
  ck_assert_int_eq(xf_future_wait(f2, -1), XF_OK);
  ck_assert(xf_future_cancelled(f2));
  ck_assert_int_eq(xf_future_wait(f3, -1), XF_OK);
  ck_assert(xf_future_cancelled(f3));
  /* New work is refused once the group is cancelled. */
  ck_assert_int_eq(xf_group_submit(g, pool, count_run, &queued, job_freed, NULL),
                   XF_ECANCELLED);
  /* The join waits for child 0, still running. */
  xf_future_t *join;
  ck_assert_int_eq(xf_group_join(g, &join), XF_OK);
  ck_assert(!xf_future_done(join));
  board_bump(&b, &b.release);
  ck_assert_int_eq(xf_future_wait(join, -1), XF_OK);
  xf_error_t *eg, *sub;
  ck_assert_int_eq(xf_future_error(join, 0, &eg), XF_OK);
  ck_assert_str_eq(xf_error_type(eg), "ExceptionGroup");
  ck_assert_int_eq(xf_error_group_len(eg), 2);
  ck_assert_int_eq(xf_error_group_get(eg, 0, &sub), XF_OK);
  ck_assert_str_eq(xf_error_message(sub), "late");
  ck_assert_int_eq(xf_error_group_get(eg, 1, &sub), XF_OK);
  ck_assert_str_eq(xf_error_message(sub), "first");
  xf_error_unref(eg);
  /* Over: nothing more can join it. */
  ck_assert_int_eq(xf_group_add(g, join), XF_ESTATE);
  xf_future_t *again;
  ck_assert_int_eq(xf_group_join(g, &again), XF_OK);
  ck_assert_ptr_eq(again, join);
  xf_future_unref(again);
  xf_future_unref(join);
  xf_group_unref(g);
  xf_future_unref(f0);
  xf_future_unref(f1);
  xf_future_unref(f2);
  xf_future_unref(f3);
  xf_executor_unref(pool);
  ck_assert_int_eq(b.queued_ran, 0);
  ck_assert_int_eq(b.freed, 4);
}
END_TEST

START_TEST(test_join_success_and_empty) {
  xf_group_t *g;
  ck_assert_int_eq(xf_group_new(NULL, NULL, &g), XF_OK);
  xf_future_t *join;
  ck_assert_int_eq(xf_group_join(g, &join), XF_OK);
  ck_assert(xf_future_done(join)); /* no children: done at once */
  xf_value_t *v;
  ck_assert_int_eq(xf_future_result(join, 0, &v), XF_OK);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_VOID);
  xf_value_unref(v);
  xf_future_unref(join);
  xf_group_unref(g);
  /* Two children that succeed. */
  xf_executor_t *pool = xft_pool(2);
  board_t b = BOARD_INIT;
  job_t j = {&b, 0, NULL};
  ck_assert_int_eq(xf_group_new(NULL, NULL, &g), XF_OK);
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(xf_group_submit(g, pool, count_run, &j, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_group_join(g, &join), XF_OK);
  ck_assert_int_eq(xf_future_result(join, -1, &v), XF_OK);
  xf_value_unref(v);
  ck_assert_int_eq(b.queued_ran, 2);
  xf_future_unref(join);
  xf_group_unref(g);
  xf_executor_unref(pool);
}
END_TEST

/* ---- cancelling, adding, dropping ------------------------------------------ */

START_TEST(test_cancel_group) {
  xf_group_t *g;
  ck_assert_int_eq(xf_group_new(NULL, NULL, &g), XF_OK);
  xf_future_t *a, *b;
  ck_assert_int_eq(xf_future_new(&a), XF_OK);
  ck_assert_int_eq(xf_future_new(&b), XF_OK);
  ck_assert_int_eq(xf_group_add(g, a), XF_OK);
  ck_assert_int_eq(xf_group_add(g, b), XF_OK);
  xf_error_t *why;
  ck_assert_int_eq(xf_error_new(XF_ECANCELLED, NULL, "enough", &why), XF_OK);
  ck_assert_int_eq(xf_group_cancel(g, why), XF_OK);
  ck_assert(xf_future_cancelled(a) && xf_future_cancelled(b));
  ck_assert(xf_cancel_token_cancelled(xf_group_token(g)));
  ck_assert_int_eq(xf_group_cancel(g, NULL), XF_ESTATE);
  xf_future_t *join;
  ck_assert_int_eq(xf_group_join(g, &join), XF_OK);
  ck_assert(xf_future_cancelled(join));
  xf_error_t *err;
  ck_assert_int_eq(xf_future_error(join, 0, &err), XF_OK);
  ck_assert_str_eq(xf_error_message(err), "enough");
  xf_error_unref(err);
  xf_future_unref(join);
  xf_future_unref(a);
  xf_future_unref(b);
  xf_group_unref(g);
}
END_TEST

/* Cancelling the join future cancels the group, and a child that is done
 * already when it is added counts at once. */
START_TEST(test_cancel_join_future) {
  xf_group_t *g;
  ck_assert_int_eq(xf_group_new(NULL, NULL, &g), XF_OK);
  xf_future_t *done, *pending, *join;
  ck_assert_int_eq(xf_future_new(&done), XF_OK);
  xf_future_fail(done, XF_EFAILED, "KeyError", "k");
  ck_assert_int_eq(xf_future_new(&pending), XF_OK);
  ck_assert_int_eq(xf_group_add(g, pending), XF_OK);
  ck_assert_int_eq(xf_group_join(g, &join), XF_OK);
  ck_assert_int_eq(xf_future_cancel(join), XF_OK);
  ck_assert(xf_future_cancelled(pending));
  xf_future_unref(join);
  xf_future_unref(pending);
  xf_group_unref(g);
  /* A failed child added late still counts. */
  ck_assert_int_eq(xf_group_new(NULL, NULL, &g), XF_OK);
  ck_assert_int_eq(xf_group_add(g, done), XF_OK);
  ck_assert_int_eq(xf_group_join(g, &join), XF_OK);
  xf_error_t *eg;
  ck_assert_int_eq(xf_future_error(join, 0, &eg), XF_OK);
  ck_assert_int_eq(xf_error_group_len(eg), 1);
  xf_error_unref(eg);
  xf_future_unref(join);
  xf_future_unref(done);
  xf_group_unref(g);
}
END_TEST

/* A group dropped before it was joined cancels what it still runs, and
 * frees itself once they are done. */
START_TEST(test_drop_unjoined) {
  long base = xft_alloc_live();
  xf_group_t *g;
  ck_assert_int_eq(xf_group_new(NULL, NULL, &g), XF_OK);
  xf_future_t *child;
  ck_assert_int_eq(xf_future_new(&child), XF_OK);
  ck_assert_int_eq(xf_group_add(g, child), XF_OK);
  xf_group_unref(g);
  ck_assert(xf_future_cancelled(child));
  xf_future_unref(child);
  ck_assert_int_eq(xft_alloc_live(), base);
}
END_TEST

/* ---- on a loop ---------------------------------------------------------------- */

typedef struct loop_child {
  xf_future_t *waits_on; /* NULL: fail at once */
  bool cancelled;
  bool saw_token;
  xf_group_t *g;
} loop_child_t;

static int loop_step(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  loop_child_t *c = data;
  if (!awaited && status == XF_OK) {
    c->saw_token = xf_cancel_token_current() == xf_group_token(c->g);
    if (!c->waits_on)
      return XF_EFAILED;
    ck_assert_int_eq(xf_task_await(task, c->waits_on), XF_OK);
    return XF_TASK_AWAIT;
  }
  c->cancelled = status == XF_ECANCELLED;
  return status;
}

START_TEST(test_loop_group) {
  xf_loop_t *loop = xft_loop();
  xf_group_t *g;
  ck_assert_int_eq(xf_group_new(loop, NULL, &g), XF_OK);
  xf_future_t *never;
  ck_assert_int_eq(xf_loop_create_future(loop, &never), XF_OK);
  loop_child_t waiting = {never, false, false, g}, failing = {NULL, false, false, g};
  ck_assert_int_eq(xf_group_spawn(g, loop, loop_step, &waiting, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_group_spawn(g, loop, loop_step, &failing, NULL, NULL), XF_OK);
  xf_future_t *join;
  ck_assert_int_eq(xf_group_join(g, &join), XF_OK);
  ck_assert_ptr_eq(xf_future_loop(join), loop);
  ck_assert_int_eq(xf_loop_run_until_complete(loop, join, NULL), XF_EFAILED);
  ck_assert(waiting.cancelled);
  ck_assert(waiting.saw_token && failing.saw_token);
  ck_assert(xf_future_cancelled(never));
  xf_error_t *eg;
  ck_assert_int_eq(xf_future_error(join, 0, &eg), XF_OK);
  ck_assert_int_eq(xf_error_group_len(eg), 1);
  xf_error_unref(eg);
  xf_future_unref(join);
  xf_future_unref(never);
  xf_group_unref(g);
  xft_loop_free(loop);
}
END_TEST

/* A group made inside a scope is cancelled with it; the scope's owner sees
 * the timeout. */
START_TEST(test_group_in_scope) {
  xf_loop_t *loop = xft_loop();
  xf_scope_t *s;
  ck_assert_int_eq(xf_scope_new(loop, 1 * MS, 0, &s), XF_OK);
  ck_assert_int_eq(xf_scope_enter(s), XF_OK);
  xf_group_t *g;
  ck_assert_int_eq(xf_group_new(loop, NULL, &g), XF_OK);
  xf_future_t *never;
  ck_assert_int_eq(xf_future_new(&never), XF_OK); /* free-standing: only the group */
  loop_child_t waiting = {never, false, false, g};
  ck_assert_int_eq(xf_group_spawn(g, loop, loop_step, &waiting, NULL, NULL), XF_OK);
  xf_future_t *join;
  ck_assert_int_eq(xf_group_join(g, &join), XF_OK);
  int rc = xf_loop_run_until_complete(loop, join, NULL);
  ck_assert_int_eq(rc, XF_ECANCELLED);
  ck_assert(waiting.cancelled);
  ck_assert_int_eq(xf_scope_exit(s, rc), XF_ETIMEDOUT);
  xf_future_unref(join);
  xf_future_unref(never);
  xf_group_unref(g);
  xf_scope_unref(s);
  xft_loop_free(loop);
}
END_TEST

/* ---- bad input and allocation failures ----------------------------------------- */

START_TEST(test_bad_input) {
  xf_group_t *g;
  ck_assert_int_eq(xf_group_new(NULL, NULL, NULL), XF_EINVAL);
  ck_assert_ptr_null(xf_group_token(NULL));
  ck_assert_int_eq(xf_group_cancel(NULL, NULL), XF_EINVAL);
  xf_future_t *f;
  ck_assert_int_eq(xf_group_join(NULL, &f), XF_EINVAL);
  ck_assert_int_eq(xf_group_add(NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_group_new(NULL, NULL, &g), XF_OK);
  ck_assert_int_eq(xf_group_join(g, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_group_add(g, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_group_submit(g, NULL, count_run, NULL, NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_group_spawn(g, NULL, loop_step, NULL, NULL, NULL), XF_EINVAL);
  xf_loop_t *loop = xft_loop();
  ck_assert_int_eq(xf_group_spawn(g, loop, NULL, NULL, NULL, NULL), XF_EINVAL);
  xf_group_unref(g);
  xf_group_unref(NULL);
  ck_assert_int_eq(xf_loop_close(loop), XF_OK);
  ck_assert_int_eq(xf_group_new(loop, NULL, &g), XF_ECLOSED);
  xf_loop_unref(loop);
}
END_TEST

START_TEST(test_enomem) {
  xf_loop_t *loop = xft_loop();
  xf_executor_t *lex;
  ck_assert_int_eq(xf_loop_executor(loop, &lex), XF_OK);
  board_t b = BOARD_INIT;
  job_t j = {&b, 0, NULL};
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_group_t *g;
    int rc = xf_group_new(loop, NULL, &g);
    if (rc == XF_ENOMEM)
      continue;
    ck_assert_int_eq(rc, XF_OK);
    xf_group_unref(g);
  }
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_group_t *g;
    int rc = xf_group_new(NULL, NULL, &g);
    if (rc == XF_ENOMEM)
      continue;
    for (int i = 0; i < 2 && rc != XF_ENOMEM; i++)
      rc = xf_group_submit(g, lex, count_run, &j, NULL, NULL);
    xf_future_t *join = NULL;
    if (rc != XF_ENOMEM)
      rc = xf_group_join(g, &join);
    xft_alloc_fail_at(-1);
    ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
    xf_future_unref(join);
    xf_group_unref(g);
    ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  }
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_group_t *g;
    int rc = xf_group_new(loop, NULL, &g);
    if (rc == XF_ENOMEM)
      continue;
    loop_child_t c = {NULL, false, false, g};
    rc = xf_group_spawn(g, loop, loop_step, &c, NULL, NULL);
    xf_future_t *join = NULL;
    if (rc != XF_ENOMEM)
      rc = xf_group_join(g, &join);
    xft_alloc_fail_at(-1);
    ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
    ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
    if (join)
      ck_assert(xf_future_done(join));
    xf_error_t *err = NULL;
    if (join)
      xf_future_error(join, 0, &err);
    xf_error_unref(err);
    xf_future_unref(join);
    xf_group_unref(g);
  }
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_error_t *a, *eg;
    int rc = xf_error_new(XF_EFAILED, NULL, "x", &a);
    if (rc == XF_ENOMEM)
      continue;
    xf_error_t *two[2] = {a, a};
    rc = xf_error_group_new(NULL, two, 2, &eg);
    xf_error_unref(a);
    if (rc == XF_ENOMEM)
      continue;
    xf_error_unref(eg);
  }
  xf_executor_unref(lex);
  xft_loop_free(loop);
}
END_TEST

static Suite *group_suite(void) {
  Suite *s = suite_create("group");
  TCase *tc = tcase_create("errors");
  tcase_add_test(tc, test_error_group);
  suite_add_tcase(s, tc);
  tc = tcase_create("executor");
  tcase_add_test(tc, test_executor_fail_fast);
  tcase_add_test(tc, test_join_success_and_empty);
  suite_add_tcase(s, tc);
  tc = tcase_create("cancel");
  tcase_add_test(tc, test_cancel_group);
  tcase_add_test(tc, test_cancel_join_future);
  tcase_add_test(tc, test_drop_unjoined);
  suite_add_tcase(s, tc);
  tc = tcase_create("loop");
  tcase_add_test(tc, test_loop_group);
  tcase_add_test(tc, test_group_in_scope);
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
  return xft_main(group_suite());
}

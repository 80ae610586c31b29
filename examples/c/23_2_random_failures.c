/* Tasks that randomly fail, in a process pool (seed 004, example 23.2):
 * each future gets a done callback, registered before its task is done,
 * and the futures are also taken as they complete (as_completed); both see
 * the same results and the same errors.
 *
 * The randomness is a seeded generator, a small LCG (state = 1664525 *
 * state + 1013904223 mod 2^32, seed 23, a draw is (state >> 16) % 100) that
 * every language of the tour computes alike; the draws are made here and
 * handed to the tasks, and a task fails when its draw is below 30. A C
 * function has no exceptions: the task (examples/c/tasks) returns -1 for a
 * failure, and a continuation (xf_future_then) turns that into a failed
 * future, which is what the callbacks and as_completed see. What finishes
 * first depends on the machine, so nothing is printed in that order: the
 * callbacks (which run in the pool's thread as a task finishes) and the
 * as_completed loop note what they saw, and the program prints it in task
 * order. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <xf/process.h>
#include <xf/xf.h>

#define N 10

static int64_t draws[N + 1];
static char by_callback[N + 1][64], by_as_completed[N + 1][64];
static _Atomic int called;
static xf_future_t *all_called; /* finished by the last callback */

static void lcg_draws(uint32_t state) {
  for (int n = 1; n <= N; n++) {
    state = 1664525u * state + 1013904223u; /* mod 2^32 by the type */
    draws[n] = (state >> 16) % 100;
  }
}

/* What a finished future holds, as text. */
static void outcome(xf_future_t *f, char *out, size_t size) {
  xf_value_t *v;
  xf_error_t *e;
  int64_t i;
  if (xf_future_result(f, 0, &v) == XF_OK && xf_value_get_int(v, &i) == XF_OK)
    snprintf(out, size, "result %lld", (long long) i);
  else if (xf_future_error(f, 0, &e) == XF_OK && e) {
    snprintf(out, size, "error \"%s\"", xf_error_message(e));
    xf_error_unref(e);
  }
  xf_value_unref(v);
}

/* The continuation of task n: its -1 becomes a ValueError. */
static int check(void *data, xf_future_t *task, xf_future_t *result) {
  int n = (int) (intptr_t) data;
  xf_value_t *v;
  int64_t i;
  if (xf_future_result(task, 0, &v) != XF_OK) { /* the pool failed it */
    xf_error_t *e;
    xf_future_error(task, 0, &e);
    return xf_future_set_error(result, e); /* takes over the reference */
  }
  int rc = xf_value_get_int(v, &i);
  if (rc == XF_OK && i < 0) {
    char msg[32];
    snprintf(msg, sizeof msg, "task %d failed", n);
    rc = xf_future_fail(result, XF_EFAILED, "ValueError", msg);
  } else if (rc == XF_OK) {
    rc = xf_future_set_result(result, xf_value_ref(v));
  }
  xf_value_unref(v);
  return rc;
}

static void callback(xf_future_t *f, void *data) { /* in the pool's thread */
  int n = (int) (intptr_t) data;
  outcome(f, by_callback[n], sizeof by_callback[n]);
  if (atomic_fetch_add(&called, 1) + 1 == N)
    xf_future_set_result(all_called, NULL);
}

static int count_errors(char texts[][64]) {
  int errors = 0;
  for (int n = 1; n <= N; n++)
    errors += strncmp(texts[n], "error", 5) == 0;
  return errors;
}

int main(void) {
  lcg_draws(23);
  xf_process_pool_options_t opts = XF_PROCESS_POOL_OPTIONS_INIT;
  opts.max_workers = 4;
  xf_executor_t *pool;
  if (xf_future_new(&all_called) != XF_OK || xf_process_pool_new(&opts, &pool) != XF_OK)
    return 1;
  xf_future_t *tasks[N + 1], *futures[N + 1];
  for (int n = 1; n <= N; n++) {
    xf_value_t *args[2];
    if (xf_value_new_int(n, &args[0]) != XF_OK ||
        xf_value_new_int(draws[n], &args[1]) != XF_OK ||
        xf_process_pool_submit_symbol(pool, XF_EXAMPLE_TASKS, "xfex_risky_task",
                                      "int64(int64, int64)", args, 2, -1,
                                      &tasks[n]) != XF_OK ||
        xf_future_then(tasks[n], NULL, check, (void *) (intptr_t) n, NULL, &futures[n]) !=
            XF_OK ||
        xf_future_add_done_callback(futures[n], callback, (void *) (intptr_t) n, NULL,
                                    NULL) != XF_OK)
      return 1;
    xf_value_unref(args[0]);
    xf_value_unref(args[1]);
  }
  xf_as_completed_t *it;
  if (xf_as_completed_new(futures + 1, N, -1, &it) != XF_OK)
    return 1;
  xf_future_t *future;
  int yielded = 0;
  while (xf_as_completed_next(it, &future) == XF_OK && future) { /* blocks */
    for (int n = 1; n <= N; n++)
      if (futures[n] == future)
        outcome(future, by_as_completed[n], sizeof by_as_completed[n]);
    yielded++;
    xf_future_unref(future);
  }
  xf_as_completed_free(it);
  xf_future_wait(all_called, -1);

  bool agree = true;
  for (int n = 1; n <= N; n++) {
    printf("task %d (draw %lld): %s\n", n, (long long) draws[n], by_as_completed[n]);
    agree = agree && strcmp(by_callback[n], by_as_completed[n]) == 0;
  }
  printf("done callbacks: %d called, %d saw an exception\n", (int) called,
         count_errors(by_callback));
  printf("as_completed: %d yielded, %d raised\n", yielded, count_errors(by_as_completed));
  printf("callbacks and as_completed agree: %s\n", agree ? "True" : "False");
  for (int n = 1; n <= N; n++) {
    xf_future_unref(futures[n]);
    xf_future_unref(tasks[n]);
  }
  xf_executor_unref(pool);
  xf_future_unref(all_called);
  return 0;
}

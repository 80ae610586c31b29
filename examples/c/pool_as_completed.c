/* The seed's thread-pool program in C: ten tasks that sleep i * 100 ms each
 * (scaled down to i * 20 ms) are submitted to a pool, and their results are
 * printed as they complete, so they come back in order 0, 1, ..., 9. Then a
 * first-completed race: the fastest task wins and the others are cancelled
 * before they start. */
#include <stdio.h>
#include <time.h>

#include <xf/xf.h>

#define MS 1000000LL

static int task(void *data, xf_future_t *self) {
  int64_t i = (int64_t) (intptr_t) data;
  struct timespec ts = {0, (long) (i * 20 * MS)};
  nanosleep(&ts, NULL);
  xf_value_t *v;
  int rc = xf_value_new_int(i, &v);
  return rc == XF_OK ? xf_future_set_result(self, v) : rc;
}

static int check(int rc, const char *what) {
  if (rc != XF_OK)
    fprintf(stderr, "%s: %s\n", what, xf_strerror(rc));
  return rc;
}

int main(void) {
  xf_executor_t *pool;
  if (check(xf_thread_pool_new(NULL, &pool), "thread pool"))
    return 1;

  /* Submit ten tasks, print each result as it completes. */
  xf_future_t *fs[10];
  for (intptr_t i = 0; i < 10; i++)
    if (check(xf_executor_submit(pool, task, (void *) i, NULL, &fs[i]), "submit"))
      return 1;
  xf_as_completed_t *it;
  if (check(xf_as_completed_new(fs, 10, -1, &it), "as_completed"))
    return 1;
  xf_future_t *done;
  while (xf_as_completed_next(it, &done) == XF_OK && done) {
    xf_value_t *v;
    int64_t i;
    if (xf_future_result(done, -1, &v) == XF_OK && xf_value_get_int(v, &i) == XF_OK)
      printf("%lld\n", (long long) i);
    xf_value_unref(v);
    xf_future_unref(done);
  }
  xf_as_completed_free(it);
  for (int i = 0; i < 10; i++)
    xf_future_unref(fs[i]);

  /* First completed, the rest cancelled: xf_future_first watches the
   * racers with inline callbacks, so the winner's worker cancels the others
   * the moment it finishes, before it could start them. */
  xf_thread_pool_options_t one = XF_THREAD_POOL_OPTIONS_INIT;
  one.max_workers = 1;
  xf_executor_t *single;
  if (check(xf_thread_pool_new(&one, &single), "thread pool"))
    return 1;
  xf_future_t *race[3], *first;
  intptr_t delays[3] = {1, 5, 3};
  for (int i = 0; i < 3; i++)
    if (check(xf_executor_submit(single, task, (void *) delays[i], NULL, &race[i]),
              "submit"))
      return 1;
  if (check(xf_future_first(race, 3, true, &first), "first"))
    return 1;
  xf_value_t *v;
  int64_t winner = -1;
  if (xf_future_result(first, -1, &v) == XF_OK)
    xf_value_get_int(v, &winner);
  xf_value_unref(v);
  printf("first completed: the task that slept %d ms\n", (int) winner * 20);
  for (int i = 0; i < 3; i++) {
    xf_future_wait(race[i], -1);
    printf("task %d: %s\n", i, xf_future_cancelled(race[i]) ? "cancelled" : "finished");
    xf_future_unref(race[i]);
  }
  xf_future_unref(first);

  xf_executor_shutdown(pool, true, false);
  xf_executor_unref(pool);
  xf_executor_unref(single);
  return 0;
}

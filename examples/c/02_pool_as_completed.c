/* A thread pool with results as they complete (seed 000): ten tasks sleep
 * i * 30 ms and return i; submitted longest first, they come back in the
 * order they finish: 1, 2, ... 10. Sleeps alone do not fix that order on a
 * busy machine, so task i, after its sleep, also waits until the result
 * i - 1 has been handed out (a future the main program sets as it prints):
 * the order holds whatever the scheduling. */
#include <stdio.h>
#include <time.h>

#include <xf/xf.h>

#define MS 1000000LL

typedef struct {
  int64_t i;
  xf_future_t *after; /* NULL for the first task */
} job_t;

static int task(void *data, xf_future_t *self) {
  job_t *job = data;
  struct timespec ts = {0, (long) (job->i * 30 * MS)};
  nanosleep(&ts, NULL);
  if (job->after)
    xf_future_wait(job->after, -1);
  xf_value_t *v;
  int rc = xf_value_new_int(job->i, &v);
  return rc == XF_OK ? xf_future_set_result(self, v) : rc;
}

int main(void) {
  xf_thread_pool_options_t opts = XF_THREAD_POOL_OPTIONS_INIT;
  opts.max_workers = 10;
  xf_executor_t *executor;
  if (xf_thread_pool_new(&opts, &executor) != XF_OK)
    return 1;
  xf_future_t *handed_out[11] = {NULL}; /* handed_out[i]: i was printed */
  for (int i = 1; i <= 10; i++)
    if (xf_future_new(&handed_out[i]) != XF_OK)
      return 1;
  job_t jobs[11];
  xf_future_t *futures[10];
  for (int i = 10; i >= 1; i--) {
    jobs[i] = (job_t){.i = i, .after = handed_out[i - 1]};
    if (xf_executor_submit(executor, task, &jobs[i], NULL, &futures[10 - i]) != XF_OK)
      return 1;
  }
  xf_as_completed_t *it;
  if (xf_as_completed_new(futures, 10, -1, &it) != XF_OK)
    return 1;
  xf_future_t *future;
  while (xf_as_completed_next(it, &future) == XF_OK && future) { /* blocks */
    xf_value_t *v;
    int64_t i;
    if (xf_future_result(future, -1, &v) == XF_OK && xf_value_get_int(v, &i) == XF_OK) {
      printf("%lld\n", (long long) i);
      xf_future_set_result(handed_out[i], NULL);
    }
    xf_value_unref(v);
    xf_future_unref(future);
  }
  xf_as_completed_free(it);
  for (int i = 0; i < 10; i++)
    xf_future_unref(futures[i]);
  xf_executor_unref(executor); /* shuts down and joins */
  for (int i = 1; i <= 10; i++)
    xf_future_unref(handed_out[i]);
  return 0;
}

/* A thread pool with results as they complete (seed 000): ten tasks sleep
 * i * 30 ms and return i; submitted longest first, they come back in the
 * order they finish: 1, 2, ... 10. */
#include <stdio.h>
#include <time.h>

#include <xf/xf.h>

#define MS 1000000LL

static int task(void *data, xf_future_t *self) {
  int64_t i = (int64_t) (intptr_t) data;
  struct timespec ts = {0, (long) (i * 30 * MS)};
  nanosleep(&ts, NULL);
  xf_value_t *v;
  int rc = xf_value_new_int(i, &v);
  return rc == XF_OK ? xf_future_set_result(self, v) : rc;
}

int main(void) {
  xf_thread_pool_options_t opts = XF_THREAD_POOL_OPTIONS_INIT;
  opts.max_workers = 10;
  xf_executor_t *executor;
  if (xf_thread_pool_new(&opts, &executor) != XF_OK)
    return 1;
  xf_future_t *futures[10];
  for (intptr_t i = 10; i >= 1; i--)
    if (xf_executor_submit(executor, task, (void *) i, NULL, &futures[10 - i]) != XF_OK)
      return 1;
  xf_as_completed_t *it;
  if (xf_as_completed_new(futures, 10, -1, &it) != XF_OK)
    return 1;
  xf_future_t *future;
  while (xf_as_completed_next(it, &future) == XF_OK && future) { /* blocks */
    xf_value_t *v;
    int64_t i;
    if (xf_future_result(future, -1, &v) == XF_OK && xf_value_get_int(v, &i) == XF_OK)
      printf("%lld\n", (long long) i);
    xf_value_unref(v);
    xf_future_unref(future);
  }
  xf_as_completed_free(it);
  for (int i = 0; i < 10; i++)
    xf_future_unref(futures[i]);
  xf_executor_unref(executor); /* shuts down and joins */
  return 0;
}

/* Aggregation of results and exceptions (seed 003): wait for every future,
 * then sort the outcomes into results and exceptions. */
#include <stdio.h>
#include <time.h>

#include <xf/xf.h>

#define MS 1000000LL

static int work(void *data, xf_future_t *self) {
  int64_t n = (int64_t) (intptr_t) data;
  struct timespec ts = {0, (long) (n * 10 * MS)};
  nanosleep(&ts, NULL);
  if (n == 3)
    return xf_future_fail(self, XF_EFAILED, "ValueError", "task 3 failed");
  xf_value_t *v;
  int rc = xf_value_new_int(n * n, &v);
  return rc == XF_OK ? xf_future_set_result(self, v) : rc;
}

int main(void) {
  xf_executor_t *pool;
  if (xf_thread_pool_new(NULL, &pool) != XF_OK)
    return 1;
  xf_future_t *futures[4];
  for (intptr_t n = 1; n <= 4; n++)
    if (xf_executor_submit(pool, work, (void *) n, NULL, &futures[n - 1]) != XF_OK)
      return 1;
  /* Wait for all of them, failures included. */
  if (xf_wait(futures, 4, XF_ALL_COMPLETED, -1, NULL) != XF_OK)
    return 1;
  char results[128] = "", exceptions[128] = "";
  size_t rl = 0, el = 0;
  for (int i = 0; i < 4; i++) {
    xf_value_t *v = NULL;
    xf_error_t *e;
    int64_t r;
    if (xf_future_result(futures[i], 0, &v) == XF_OK && xf_value_get_int(v, &r) == XF_OK)
      rl += snprintf(results + rl, sizeof results - rl, "%s%lld", rl ? ", " : "",
                     (long long) r);
    else if (xf_future_error(futures[i], 0, &e) == XF_OK && e) {
      el += snprintf(exceptions + el, sizeof exceptions - el, "%s%s", el ? ", " : "",
                     xf_error_message(e));
      xf_error_unref(e);
    }
    xf_value_unref(v);
    xf_future_unref(futures[i]);
  }
  printf("Aggregated results: [%s], exceptions: [%s]\n", results, exceptions);
  xf_executor_unref(pool);
  return 0;
}

/* Error handling through futures (seeds 003 and 004): an error set on a
 * future comes out of its result and reaches done callbacks; a task that
 * fails in a worker thread fails its future with that error. */
#include <stdio.h>

#include <xf/xf.h>

static void callback(xf_future_t *f, void *data) {
  (void) data;
  xf_error_t *e;
  if (xf_future_error(f, 0, &e) == XF_OK && e) {
    printf("Callback caught: %s\n", xf_error_message(e));
    xf_error_unref(e);
  }
}

static int work(void *data, xf_future_t *self) {
  int64_t n = (int64_t) (intptr_t) data;
  if (n % 2 == 0) {
    char msg[32];
    snprintf(msg, sizeof msg, "task %d failed", (int) n);
    return xf_future_fail(self, XF_EFAILED, "ValueError", msg);
  }
  xf_value_t *v;
  int rc = xf_value_new_int(n * 10, &v);
  return rc == XF_OK ? xf_future_set_result(self, v) : rc;
}

int main(void) {
  xf_future_t *future, *another;
  xf_error_t *e;
  if (xf_future_new(&future) != XF_OK || xf_future_new(&another) != XF_OK)
    return 1;
  xf_future_fail(future, XF_EFAILED, "ValueError", "Something went wrong");
  xf_value_t *none = NULL;
  if (xf_future_result(future, -1, &none) != XF_OK &&
      xf_future_error(future, 0, &e) == XF_OK) {
    printf("Caught exception: %s\n", xf_error_message(e));
    xf_error_unref(e);
  }
  xf_future_add_done_callback(another, callback, NULL, NULL, NULL);
  xf_future_fail(another, XF_EFAILED, "RuntimeError", "Another error");

  xf_thread_pool_options_t opts = XF_THREAD_POOL_OPTIONS_INIT;
  opts.max_workers = 2;
  xf_executor_t *pool;
  if (xf_thread_pool_new(&opts, &pool) != XF_OK)
    return 1;
  xf_future_t *futures[4];
  for (intptr_t n = 1; n <= 4; n++)
    if (xf_executor_submit(pool, work, (void *) n, NULL, &futures[n - 1]) != XF_OK)
      return 1;
  for (int n = 1; n <= 4; n++) {
    xf_value_t *v;
    int64_t r;
    if (xf_future_result(futures[n - 1], -1, &v) == XF_OK) {
      xf_value_get_int(v, &r);
      printf("Task %d result: %lld\n", n, (long long) r);
      xf_value_unref(v);
    } else if (xf_future_error(futures[n - 1], 0, &e) == XF_OK) {
      printf("Task %d raised %s: %s\n", n, xf_error_type(e), xf_error_message(e));
      xf_error_unref(e);
    }
    xf_future_unref(futures[n - 1]);
  }
  xf_executor_unref(pool);
  xf_future_unref(future);
  xf_future_unref(another);
  return 0;
}

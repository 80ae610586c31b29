/* Timeout (seed 003): wait_for (xf_future_timeout) gives up on a slow
 * future and cancels it. */
#include <stdio.h>

#include <xf/xf.h>

#define MS 1000000LL

/* Runs the loop until future is done or timeout_ms passed; NULL on timeout. */
static xf_value_t *future_with_timeout(xf_loop_t *loop, xf_future_t *future,
                                       int64_t timeout_ms) {
  xf_future_t *bounded;
  xf_value_t *v = NULL;
  if (xf_future_timeout(loop, future, timeout_ms * MS, &bounded) != XF_OK)
    return NULL;
  xf_error_t *e = NULL;
  if (xf_loop_run_until_complete(loop, bounded, &v) == XF_EFAILED &&
      xf_future_error(bounded, 0, &e) == XF_OK && xf_error_code(e) == XF_ETIMEDOUT) {
    printf("Future timed out after %g seconds\n", (double) timeout_ms / 1000);
    printf("The original future was cancelled: %s\n",
           xf_future_cancelled(future) ? "True" : "False");
  }
  xf_error_unref(e);
  xf_future_unref(bounded);
  return v;
}

static void set_in_time(void *data) {
  xf_value_t *v;
  if (xf_value_new_cstring("in time", &v) == XF_OK)
    xf_future_set_result(data, v);
}

int main(void) {
  xf_loop_t *loop;
  xf_future_t *slow, *quick;
  if (xf_loop_new(&loop) != XF_OK || xf_loop_create_future(loop, &slow) != XF_OK ||
      xf_loop_create_future(loop, &quick) != XF_OK)
    return 1;
  future_with_timeout(loop, slow, 50); /* nothing resolves slow in time */
  xf_loop_call_later(loop, 20 * MS, set_in_time, quick, NULL, NULL);
  xf_value_t *v =
      future_with_timeout(loop, quick, 30000); /* the bound only ends a hang */
  const char *text;
  size_t len;
  if (v && xf_value_get_string(v, &text, &len) == XF_OK)
    printf("Result: %.*s\n", (int) len, text);
  xf_value_unref(v);
  xf_future_unref(slow);
  xf_future_unref(quick);
  xf_loop_close(loop);
  xf_loop_unref(loop);
  return 0;
}

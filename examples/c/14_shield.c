/* Shield (seed 003): cancelling a shielded waiter leaves the future alone. */
#include <stdio.h>

#include <xf/xf.h>

#define MS 1000000LL

/* async def shielded_waiter(): try: await shield(future) except Cancelled... */
static int shielded_waiter(xf_future_t *task, void *data, xf_future_t *awaited,
                           int status) {
  xf_future_t *future = data;
  if (!awaited) {
    xf_future_t *shielded;
    int rc = xf_future_shield(future, &shielded);
    if (rc != XF_OK)
      return rc;
    rc = xf_task_await(task, shielded);
    xf_future_unref(shielded);
    return rc == XF_OK ? XF_TASK_AWAIT : rc;
  }
  if (status == XF_ECANCELLED) {
    printf("Shielded waiter was cancelled\n");
    printf("But future was not: %s\n", xf_future_cancelled(future) ? "False" : "True");
  }
  return status;
}

static void cancel_task(void *data) {
  xf_future_cancel(data);
}

int main(void) {
  xf_loop_t *loop;
  xf_future_t *future, *task;
  if (xf_loop_new(&loop) != XF_OK || xf_loop_create_future(loop, &future) != XF_OK ||
      xf_task_new(loop, shielded_waiter, future, NULL, &task) != XF_OK ||
      xf_loop_call_later(loop, 20 * MS, cancel_task, task, NULL, NULL) != XF_OK)
    return 1;
  if (xf_loop_run_until_complete(loop, task, NULL) != XF_ECANCELLED)
    return 1;
  printf("Future cancelled: %s\n", xf_future_cancelled(future) ? "True" : "False");
  xf_value_t *v;
  const char *text;
  size_t len;
  if (xf_value_new_cstring("Still usable!", &v) != XF_OK ||
      xf_future_set_result(future, v) != XF_OK ||
      xf_future_result(future, 0, &v) != XF_OK ||
      xf_value_get_string(v, &text, &len) != XF_OK)
    return 1;
  printf("Future result: %.*s\n", (int) len, text);
  xf_value_unref(v);
  xf_future_unref(task);
  xf_future_unref(future);
  xf_loop_close(loop);
  xf_loop_unref(loop);
  return 0;
}

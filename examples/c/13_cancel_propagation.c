/* Cancellation propagation (seed 003): cancelling the task that awaits a
 * future; the waiter cancels the future on its way out (the core has
 * already cancelled the future the task awaited, as asyncio does). */
#include <stdio.h>

#include <xf/xf.h>

#define MS 1000000LL

/* async def waiter(): try: await future except CancelledError: print; cancel */
static int waiter(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  xf_future_t *future = data;
  if (!awaited) {
    int rc = xf_task_await(task, future);
    return rc == XF_OK ? XF_TASK_AWAIT : rc;
  }
  if (status == XF_ECANCELLED) {
    printf("Waiter was cancelled\n");
    xf_future_cancel(future);
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
      xf_task_new(loop, waiter, future, NULL, &task) != XF_OK ||
      xf_loop_call_later(loop, 20 * MS, cancel_task, task, NULL, NULL) != XF_OK)
    return 1;
  int rc = xf_loop_run_until_complete(loop, task, NULL);
  if (rc != XF_ECANCELLED)
    return 1;
  printf("Future cancelled: %s\n", xf_future_cancelled(future) ? "True" : "False");
  xf_future_unref(task);
  xf_future_unref(future);
  xf_loop_close(loop);
  xf_loop_unref(loop);
  return 0;
}

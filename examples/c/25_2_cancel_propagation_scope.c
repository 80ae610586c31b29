/* Cancellation propagation (seed 003), with a cancel scope: the future is
 * made inside a scope with a deadline, so it inherits it, and the waiter
 * runs in the same scope. When the deadline passes, the scope cancels both:
 * the waiter need not cancel the future on its way out, as the seed's
 * waiter does by hand. The scope's owner sees the deadline as a
 * TimeoutError, as asyncio.timeout() turns it; what was inside saw a
 * cancellation. */
#include <stdio.h>

#include <xf/xf.h>

#define MS 1000000LL

/* async def waiter(): try: await future except CancelledError: print */
static int waiter(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  xf_future_t *future = data;
  if (!awaited && status == XF_OK) {
    int rc = xf_task_await(task, future);
    return rc == XF_OK ? XF_TASK_AWAIT : rc;
  }
  if (status == XF_ECANCELLED)
    printf("Waiter was cancelled\n");
  return status;
}

int main(void) {
  xf_loop_t *loop;
  xf_scope_t *scope;
  xf_future_t *future, *task, *view;
  if (xf_loop_new(&loop) != XF_OK || xf_scope_new(loop, 20 * MS, 0, &scope) != XF_OK ||
      xf_scope_enter(scope) != XF_OK)
    return 1;
  /* async with asyncio.timeout(0.02): made here, both belong to the scope. */
  if (xf_loop_create_future(loop, &future) != XF_OK ||
      xf_scope_spawn(scope, waiter, future, NULL, &task) != XF_OK ||
      xf_scope_wrap(scope, task, &view) != XF_OK)
    return 1;
  int rc = xf_loop_run_until_complete(loop, task, NULL);
  /* Leaving the scope: the cancellation its deadline caused is a timeout
   * for its owner. */
  if (xf_scope_exit(scope, rc) != XF_ETIMEDOUT)
    return 1;
  xf_error_t *err;
  if (xf_future_error(view, 0, &err) != XF_OK || xf_error_code(err) != XF_ETIMEDOUT)
    return 1;
  xf_error_unref(err);
  printf("Future cancelled: %s\n", xf_future_cancelled(future) ? "True" : "False");
  xf_future_unref(view);
  xf_future_unref(task);
  xf_future_unref(future);
  xf_scope_unref(scope);
  xf_loop_close(loop);
  xf_loop_unref(loop);
  return 0;
}

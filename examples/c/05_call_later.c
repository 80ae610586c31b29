/* call_later resolving a future (seed 002): a coroutine makes a future,
 * schedules a resolver with call_later and awaits the future; the resolver
 * blocks the loop for a moment, then resolves it. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <xf/xf.h>

#define MS 1000000LL

static const char *yes(int b) {
  return b ? "True" : "False";
}

/* def resolver(future): print; time.sleep(0.02); future.set_result(None) */
static void resolver(void *data) {
  printf("resolver: on the main thread = %s\n", yes(gettid() == getpid()));
  struct timespec ts = {0, 20 * MS};
  nanosleep(&ts, NULL);
  xf_future_set_result(data, NULL);
}

static void unref_future(void *data) {
  xf_future_unref(data);
}

/* async def coro(): future = Future(); call_later(0.05, resolver, future);
 * print; await future; print */
static int coro(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  xf_loop_t *loop = data;
  if (!awaited) {
    xf_future_t *future;
    int rc = xf_loop_create_future(loop, &future);
    if (rc != XF_OK)
      return rc;
    rc = xf_loop_call_later(loop, 50 * MS, resolver, xf_future_ref(future), unref_future,
                            NULL);
    if (rc != XF_OK) {
      xf_future_unref(future);
      xf_future_unref(future);
      return rc;
    }
    printf("coro: inside a running loop = %s\n", yes(xf_loop_current() == loop));
    rc = xf_task_await(task, future);
    xf_future_unref(future);
    return rc == XF_OK ? XF_TASK_AWAIT : rc;
  }
  if (status != XF_OK)
    return status;
  printf("coro exiting\n");
  return XF_OK;
}

int main(void) {
  xf_loop_t *loop;
  xf_future_t *task;
  if (xf_loop_new(&loop) != XF_OK)
    return 1;
  printf("main: inside a running loop = %s\n", yes(xf_loop_current() != NULL));
  if (xf_task_new(loop, coro, loop, NULL, &task) != XF_OK ||
      xf_loop_run_until_complete(loop, task, NULL) != XF_OK)
    return 1;
  printf("main exiting\n");
  xf_future_unref(task);
  xf_loop_close(loop);
  xf_loop_unref(loop);
  return 0;
}

/* The seed's "invoking callbacks" program in C: a coroutine makes a future,
 * schedules a resolver with call_later and awaits the future; the resolver
 * blocks for a moment, then resolves it. The delays are 0.5 s and 0.2 s
 * instead of 5 s and 2 s. */
#include <stdio.h>
#include <time.h>

#include <xf/xf.h>

#define MS 1000000LL

static int check(int rc, const char *what) {
  if (rc != XF_OK)
    fprintf(stderr, "%s: %s\n", what, xf_strerror(rc));
  return rc;
}

static void report(void) {
  printf("Is loop running in thread MainThread = %s\n",
         xf_loop_current() ? "True" : "False");
}

/* def resolver(future): print; time.sleep(0.2); future.set_result(None) */
static void resolver(void *data) {
  report();
  struct timespec ts = {0, 200 * MS};
  nanosleep(&ts, NULL);
  xf_future_set_result(data, NULL);
}

static void unref_future(void *data) {
  xf_future_unref(data);
}

/* async def coro(): future = Future(); call_later(0.5, resolver, future);
 * print; await future; print */
static int coro(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  xf_loop_t *loop = data;
  if (!awaited) {
    xf_future_t *future;
    int rc = xf_loop_create_future(loop, &future);
    if (rc != XF_OK)
      return rc;
    rc = xf_loop_call_later(loop, 500 * MS, resolver, xf_future_ref(future), unref_future,
                            NULL);
    if (rc != XF_OK) {
      xf_future_unref(future);
      xf_future_unref(future);
      return rc;
    }
    report();
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
  if (check(xf_loop_new(&loop), "loop"))
    return 1;
  report();
  xf_future_t *task;
  int64_t start = xf_now();
  if (check(xf_task_new(loop, coro, loop, NULL, &task), "task") ||
      check(xf_loop_run_until_complete(loop, task, NULL), "run"))
    return 1;
  printf("main exiting after %.2f s\n", (double) (xf_now() - start) / 1e9);
  xf_future_unref(task);
  xf_loop_close(loop);
  xf_loop_unref(loop);
  return 0;
}

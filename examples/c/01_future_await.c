/* A future resolved by one task after a sleep and awaited by another
 * (seeds 000 and 002). A task is a step function that the loop calls again
 * each time the future it awaits is done: the C form of `async def`. */
#include <stdio.h>

#include <xf/xf.h>

#define MS 1000000LL

typedef struct shared {
  xf_loop_t *loop;
  xf_future_t *future;
} shared_t;

/* async def bar(future): print; await sleep(0.1); print; set_result */
static int bar(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  shared_t *s = data;
  if (!awaited) {
    printf("bar will sleep for 0.1 seconds\n");
    xf_future_t *nap;
    int rc = xf_loop_sleep(s->loop, 100 * MS, &nap);
    if (rc != XF_OK)
      return rc;
    rc = xf_task_await(task, nap);
    xf_future_unref(nap);
    return rc == XF_OK ? XF_TASK_AWAIT : rc;
  }
  if (status != XF_OK)
    return status;
  printf("bar resolving the future\n");
  xf_value_t *v;
  int rc = xf_value_new_cstring("future is resolved", &v);
  return rc == XF_OK ? xf_future_set_result(s->future, v) : rc;
}

/* async def foo(future): print; result = await future; print */
static int foo(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  shared_t *s = data;
  if (!awaited) {
    printf("foo will await the future\n");
    int rc = xf_task_await(task, s->future);
    return rc == XF_OK ? XF_TASK_AWAIT : rc;
  }
  if (status != XF_OK)
    return status;
  xf_value_t *v;
  const char *text = "";
  size_t len = 0;
  if (xf_future_result(awaited, 0, &v) == XF_OK)
    xf_value_get_string(v, &text, &len);
  printf("foo finds the future resolved: %.*s\n", (int) len, text);
  xf_value_unref(v);
  return XF_OK;
}

int main(void) {
  shared_t s;
  xf_future_t *tasks[2], *both;
  if (xf_loop_new(&s.loop) != XF_OK ||
      xf_loop_create_future(s.loop, &s.future) != XF_OK ||
      xf_task_new(s.loop, bar, &s, NULL, &tasks[0]) != XF_OK ||
      xf_task_new(s.loop, foo, &s, NULL, &tasks[1]) != XF_OK ||
      xf_future_all(tasks, 2, 0, &both) != XF_OK ||
      xf_loop_run_until_complete(s.loop, both, NULL) != XF_OK) {
    fprintf(stderr, "01_future_await failed\n");
    return 1;
  }
  printf("main exiting\n");
  xf_future_unref(both);
  xf_future_unref(tasks[0]);
  xf_future_unref(tasks[1]);
  xf_future_unref(s.future);
  xf_loop_close(s.loop);
  xf_loop_unref(s.loop);
  return 0;
}

/* The seed's futures-and-tasks program in C: a future is resolved by one
 * task (bar) after a sleep and awaited by another (foo); main waits for both.
 * The sleep is 0.3 s instead of 3 s.
 *
 * A task is a step function that the loop calls again each time the future
 * it awaits is done: the C form of `async def`. */
#include <stdio.h>

#include <xf/xf.h>

#define MS 1000000LL

static int check(int rc, const char *what) {
  if (rc != XF_OK)
    fprintf(stderr, "%s: %s\n", what, xf_strerror(rc));
  return rc;
}

typedef struct shared {
  xf_loop_t *loop;
  xf_future_t *future;
} shared_t;

/* async def bar(future): print; await sleep(0.3); print; set_result */
static int bar(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  shared_t *s = data;
  if (!awaited) {
    printf("bar will sleep for 0.3 seconds\n");
    xf_future_t *nap;
    int rc = xf_loop_sleep(s->loop, 300 * MS, &nap);
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

/* async def foo(future): print; await future; print */
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
  if (check(xf_loop_new(&s.loop), "loop") ||
      check(xf_loop_create_future(s.loop, &s.future), "future"))
    return 1;
  xf_future_t *tasks[2], *both;
  if (check(xf_task_new(s.loop, bar, &s, NULL, &tasks[0]), "task bar") ||
      check(xf_task_new(s.loop, foo, &s, NULL, &tasks[1]), "task foo") ||
      check(xf_future_all(tasks, 2, 0, &both), "all"))
    return 1;
  int64_t start = xf_now();
  if (check(xf_loop_run_until_complete(s.loop, both, NULL), "run"))
    return 1;
  printf("main exiting after %.2f s\n", (double) (xf_now() - start) / 1e9);
  xf_future_unref(both);
  xf_future_unref(tasks[0]);
  xf_future_unref(tasks[1]);
  xf_future_unref(s.future);
  xf_loop_close(s.loop);
  xf_loop_unref(s.loop);
  return 0;
}

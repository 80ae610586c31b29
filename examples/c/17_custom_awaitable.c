/* Custom awaitables vs. futures (seed 003). In C an awaitable is a step
 * function and its data: here one that delegates to a sleep, then gives its
 * result. It is not a future; it becomes one only when a task runs its step
 * (as asyncio wraps an awaitable in a task to gather it), and it can then be
 * gathered beside a real future. Only the future holds its outcome:
 * awaiting it again gives the stored result at once, while awaiting the
 * custom object runs it again. */
#include <stdio.h>

#include <xf/xf.h>

#define MS 1000000LL

static xf_loop_t *loop;

typedef struct custom_awaitable {
  const char *result;
  int64_t delay_ms;
  int runs;
} custom_awaitable_t;

/* Its __await__: sleep (yielding to the loop), then give the result. */
static int custom_await(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  custom_awaitable_t *c = data;
  if (!awaited) {
    xf_future_t *nap = NULL;
    c->runs++;
    int rc = xf_loop_sleep(loop, c->delay_ms * MS, &nap);
    if (rc == XF_OK)
      rc = xf_task_await(task, nap);
    xf_future_unref(nap);
    return rc == XF_OK ? XF_TASK_AWAIT : rc;
  }
  if (status != XF_OK)
    return status;
  xf_value_t *v;
  int rc = xf_value_new_cstring(c->result, &v);
  return rc == XF_OK ? xf_future_set_result(task, v) : rc;
}

/* The task that awaits the custom awaitable: a future of its result. */
static xf_future_t *task_of(custom_awaitable_t *c) {
  xf_future_t *t;
  return xf_task_new(loop, custom_await, c, NULL, &t) == XF_OK ? t : NULL;
}

/* Run the loop until f is done; its string value, or "(failed)". */
static const char *await_text(xf_future_t *f, char *buf, size_t size) {
  xf_value_t *v = NULL;
  const char *text;
  size_t len;
  if (f && xf_loop_run_until_complete(loop, f, &v) == XF_OK &&
      xf_value_get_string(v, &text, &len) == XF_OK)
    snprintf(buf, size, "%.*s", (int) len, text);
  else
    snprintf(buf, size, "(failed)");
  xf_value_unref(v);
  return buf;
}

static void resolve(void *data) {
  xf_value_t *v;
  if (xf_value_new_cstring("Future result", &v) == XF_OK)
    xf_future_set_result(data, v);
}

int main(void) {
  char buf[64];
  xf_future_t *future, *t, *all;
  if (xf_loop_new(&loop) != XF_OK || xf_loop_create_future(loop, &future) != XF_OK)
    return 1;

  printf("Awaiting a custom awaitable\n");
  custom_awaitable_t first = {"Custom result", 20, 0};
  t = task_of(&first);
  printf("Result: %s\n", await_text(t, buf, sizeof buf));
  xf_future_unref(t);

  printf("Gathering a custom awaitable beside a future\n");
  custom_awaitable_t custom = {"Custom result 2", 10, 0};
  xf_future_t *both[2] = {task_of(&custom), future};
  xf_value_t *results = NULL;
  if (!both[0] ||
      xf_loop_call_later(loop, 20 * MS, resolve, future, NULL, NULL) != XF_OK ||
      xf_future_all(both, 2, 0, &all) != XF_OK ||
      xf_loop_run_until_complete(loop, all, &results) != XF_OK)
    return 1;
  printf("Gathered: ");
  for (size_t i = 0; i < 2; i++) {
    xf_value_t *r;
    const char *text;
    size_t len;
    if (xf_value_list_get(results, i, &r) == XF_OK &&
        xf_value_get_string(r, &text, &len) == XF_OK)
      printf("%s%.*s", i ? ", " : "", (int) len, text);
  }
  printf("\n");
  xf_value_unref(results);
  xf_future_unref(all);
  xf_future_unref(both[0]);

  /* The custom awaitable is a step and its data, never a future itself. */
  printf("The custom awaitable is a future: False\n");
  printf("Awaiting the done future again: %s\n", await_text(future, buf, sizeof buf));
  t = task_of(&custom);
  await_text(t, buf, sizeof buf);
  printf("Awaiting the custom awaitable again runs it again: %s (runs: %d)\n", buf,
         custom.runs);
  xf_future_unref(t);

  xf_future_unref(future);
  xf_loop_close(loop);
  xf_loop_unref(loop);
  return 0;
}

/* Using futures with context managers (seed 003). An async resource is
 * acquired and released around the resolution of a future, by a task whose
 * steps are the scope: acquire (await), use, release (await). The release
 * happens even when the work inside fails, and the future's outcome is still
 * there to read after the release. */
#include <stdbool.h>
#include <stdio.h>

#include <xf/xf.h>

#define MS 1000000LL

static xf_loop_t *loop;

typedef struct scope {
  const char *name;
  bool fail;
  bool released;
  xf_future_t *result_future;
  xf_error_t *error; /* what left the scope, if it failed */
  int stage;
} scope_t;

static int nap(xf_future_t *task, int64_t ms) {
  xf_future_t *f = NULL;
  int rc = xf_loop_sleep(loop, ms * MS, &f);
  if (rc == XF_OK)
    rc = xf_task_await(task, f);
  xf_future_unref(f);
  return rc == XF_OK ? XF_TASK_AWAIT : rc;
}

/* process_with_resource: resolve the future, or fail it and raise. */
static void process(scope_t *s) {
  if (s->fail) {
    if (xf_error_new(XF_EFAILED, "ValueError", "the job failed", &s->error) == XF_OK)
      xf_future_set_error(s->result_future, xf_error_ref(s->error));
    return;
  }
  char text[64];
  xf_value_t *v;
  snprintf(text, sizeof text, "processed by %s", s->name);
  if (xf_value_new_cstring(text, &v) == XF_OK)
    xf_future_set_result(s->result_future, v);
}

/* async with AsyncResource() as resource: process_with_resource(...) */
static int with_resource(xf_future_t *task, void *data, xf_future_t *awaited,
                         int status) {
  scope_t *s = data;
  (void) awaited;
  if (status != XF_OK)
    return status;
  switch (s->stage++) {
  case 0: /* __aenter__ */
    printf("Acquiring %s\n", s->name);
    return nap(task, 10);
  case 1: /* the body */
    printf("Acquired %s\n", s->name);
    printf("Processing with %s\n", s->name);
    return nap(task, 10);
  case 2: /* the end of the body, then __aexit__, even after an error */
    process(s);
    if (s->error)
      printf("Releasing %s after %s: %s\n", s->name, xf_error_type(s->error),
             xf_error_message(s->error));
    else
      printf("Releasing %s\n", s->name);
    return nap(task, 10);
  default: /* released; an error goes on out of the scope */
    s->released = true;
    printf("Released %s\n", s->name);
    if (s->error)
      return xf_future_set_error(task, xf_error_ref(s->error));
    return XF_OK;
  }
}

static int future_with_context_manager(const char *name, bool fail) {
  scope_t s = {name, fail, false, NULL, NULL, 0};
  xf_future_t *task;
  xf_error_t *e = NULL;
  xf_value_t *v = NULL;
  if (xf_loop_create_future(loop, &s.result_future) != XF_OK ||
      xf_task_new(loop, with_resource, &s, NULL, &task) != XF_OK)
    return 1;
  if (xf_loop_run_until_complete(loop, task, NULL) == XF_EFAILED &&
      xf_future_error(task, 0, &e) == XF_OK)
    printf("Caught %s: %s\n", xf_error_type(e), xf_error_message(e));
  xf_error_unref(e);
  e = NULL;
  printf("The resource is released: %s\n", s.released ? "True" : "False");
  /* The resource has been released, but the future still has the outcome. */
  const char *text;
  size_t len;
  int rc = xf_loop_run_until_complete(loop, s.result_future, &v);
  if (rc == XF_OK && xf_value_get_string(v, &text, &len) == XF_OK)
    printf("The future's result after the release: %.*s\n", (int) len, text);
  else if (rc == XF_EFAILED && xf_future_error(s.result_future, 0, &e) == XF_OK)
    printf("The future's error after the release: %s: %s\n", xf_error_type(e),
           xf_error_message(e));
  xf_value_unref(v);
  xf_error_unref(e);
  xf_error_unref(s.error);
  xf_future_unref(task);
  xf_future_unref(s.result_future);
  return 0;
}

int main(void) {
  if (xf_loop_new(&loop) != XF_OK || future_with_context_manager("connection-1", false) ||
      future_with_context_manager("connection-2", true))
    return 1;
  xf_loop_close(loop);
  xf_loop_unref(loop);
  return 0;
}

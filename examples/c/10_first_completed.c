/* First-completed with cancellation of the rest (seed 003): three loop
 * futures resolved by timers; the first done wins and the others are
 * cancelled (their timers never set them). */
#include <stdio.h>

#include <xf/xf.h>

#define MS 1000000LL

typedef struct job {
  const char *name;
  int64_t ms;
  xf_future_t *future;
} job_t;

static void finish(void *data) {
  job_t *job = data;
  xf_value_t *v;
  if (!xf_future_done(job->future) && xf_value_new_cstring(job->name, &v) == XF_OK)
    xf_future_set_result(job->future, v);
}

int main(void) {
  xf_loop_t *loop;
  if (xf_loop_new(&loop) != XF_OK)
    return 1;
  job_t jobs[3] = {{"slow", 2000, NULL}, {"fast", 20, NULL}, {"medium", 1000, NULL}};
  xf_future_t *fs[3], *first;
  for (int i = 0; i < 3; i++) {
    if (xf_loop_create_future(loop, &jobs[i].future) != XF_OK ||
        xf_loop_call_later(loop, jobs[i].ms * MS, finish, &jobs[i], NULL, NULL) != XF_OK)
      return 1;
    fs[i] = jobs[i].future;
  }
  xf_value_t *v;
  const char *text;
  size_t len;
  if (xf_future_first(fs, 3, true, &first) != XF_OK ||
      xf_loop_run_until_complete(loop, first, &v) != XF_OK ||
      xf_value_get_string(v, &text, &len) != XF_OK)
    return 1;
  printf("First completed: %.*s\n", (int) len, text);
  printf("slow cancelled: %s\n", xf_future_cancelled(jobs[0].future) ? "True" : "False");
  printf("medium cancelled: %s\n",
         xf_future_cancelled(jobs[2].future) ? "True" : "False");
  xf_value_unref(v);
  xf_future_unref(first);
  for (int i = 0; i < 3; i++)
    xf_future_unref(fs[i]);
  xf_loop_close(loop); /* drops the timers still pending */
  xf_loop_unref(loop);
  return 0;
}

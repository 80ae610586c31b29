/* First-completed with cancellation of the rest (seed 003), with a task
 * group instead of xf_future_first: three tasks race in one group, the
 * first to finish takes the win and cancels the group, and the group
 * cancels the other two (their sleeps and timers with them). Joining the
 * group waits for every child, so no task is left running behind it. */
#include <stdio.h>

#include <xf/xf.h>

#define MS 1000000LL

typedef struct racer {
  const char *name;
  int64_t ms;
  xf_group_t *group;
  const char **winner;
} racer_t;

/* async def job(name, s): await asyncio.sleep(s); return name */
static int racer_step(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  racer_t *r = data;
  if (!awaited && status == XF_OK) {
    xf_future_t *nap;
    int rc = xf_loop_sleep(xf_future_loop(task), r->ms * MS, &nap);
    if (rc == XF_OK)
      rc = xf_task_await(task, nap);
    xf_future_unref(nap);
    return rc == XF_OK ? XF_TASK_AWAIT : rc;
  }
  if (status != XF_OK)
    return status; /* cancelled: somebody else won */
  xf_value_t *v;
  if (xf_value_new_cstring(r->name, &v) != XF_OK)
    return XF_ENOMEM;
  /* Done before the group is cancelled, so the winner is not cancelled with
   * the rest. */
  xf_future_set_result(task, v);
  if (!*r->winner) {
    *r->winner = r->name;
    xf_group_cancel(r->group, NULL);
  }
  return XF_OK;
}

int main(void) {
  xf_loop_t *loop;
  xf_group_t *group;
  if (xf_loop_new(&loop) != XF_OK || xf_group_new(loop, NULL, &group) != XF_OK)
    return 1;
  const char *winner = NULL;
  racer_t racers[3] = {{"slow", 2000, group, &winner},
                       {"fast", 20, group, &winner},
                       {"medium", 1000, group, &winner}};
  xf_future_t *tasks[3], *join;
  for (int i = 0; i < 3; i++)
    if (xf_group_spawn(group, loop, racer_step, &racers[i], NULL, &tasks[i]) != XF_OK)
      return 1;
  if (xf_group_join(group, &join) != XF_OK)
    return 1;
  /* The group was cancelled on purpose, and no child failed: the join ends
   * cancelled once every child is done. */
  if (xf_loop_run_until_complete(loop, join, NULL) != XF_ECANCELLED || !winner)
    return 1;
  printf("First completed: %s\n", winner);
  printf("slow cancelled: %s\n", xf_future_cancelled(tasks[0]) ? "True" : "False");
  printf("medium cancelled: %s\n", xf_future_cancelled(tasks[2]) ? "True" : "False");
  for (int i = 0; i < 3; i++)
    xf_future_unref(tasks[i]);
  xf_future_unref(join);
  xf_group_unref(group);
  xf_loop_close(loop);
  xf_loop_unref(loop);
  return 0;
}

/* Event loops in two threads (seed 002): each thread makes a loop and runs
 * a task on it that reports whether a loop runs in its thread and sleeps;
 * the main thread runs no loop. Each thread's report is printed by the main
 * thread after the joins, so the order of the lines is fixed. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <xf/xf.h>

#define MS 1000000LL

typedef struct worker {
  const char *name;
  int64_t sleep_ms;
  xf_loop_t *loop;
  char report[128];
  int rc;
} worker_t;

/* async def do_something_important(sleep_for): report; await sleep(sleep_for) */
static int do_something_important(xf_future_t *task, void *data, xf_future_t *awaited,
                                  int status) {
  worker_t *w = data;
  if (awaited) {
    if (status == XF_OK)
      snprintf(w->report + strlen(w->report), sizeof w->report - strlen(w->report),
               "\n%s slept %g seconds", w->name, (double) w->sleep_ms / 1000);
    return status;
  }
  snprintf(
      w->report, sizeof w->report, "Is event loop running in thread %s = %s", w->name,
      xf_loop_current() == w->loop && xf_loop_is_running(w->loop) ? "True" : "False");
  xf_future_t *nap;
  int rc = xf_loop_sleep(w->loop, w->sleep_ms * MS, &nap);
  if (rc != XF_OK)
    return rc;
  rc = xf_task_await(task, nap);
  xf_future_unref(nap);
  return rc == XF_OK ? XF_TASK_AWAIT : rc;
}

/* def launch_event_loop(): new loop, run_until_complete, close */
static void *launch_event_loop(void *p) {
  worker_t *w = p;
  xf_future_t *task;
  if ((w->rc = xf_loop_new(&w->loop)) != XF_OK)
    return NULL;
  if ((w->rc = xf_task_new(w->loop, do_something_important, w, NULL, &task)) == XF_OK) {
    w->rc = xf_loop_run_until_complete(w->loop, task, NULL);
    xf_future_unref(task);
  }
  xf_loop_close(w->loop);
  xf_loop_unref(w->loop);
  return NULL;
}

int main(void) {
  worker_t workers[2] = {{.name = "Thread-1", .sleep_ms = 50},
                         {.name = "Thread-2", .sleep_ms = 100}};
  pthread_t threads[2];
  for (int i = 0; i < 2; i++)
    pthread_create(&threads[i], NULL, launch_event_loop, &workers[i]);
  printf("Is event loop running in thread MainThread = %s\n",
         xf_loop_current() ? "True" : "False");
  for (int i = 0; i < 2; i++)
    pthread_join(threads[i], NULL);
  for (int i = 0; i < 2; i++) {
    if (workers[i].rc != XF_OK) {
      fprintf(stderr, "%s: %s\n", workers[i].name, xf_strerror(workers[i].rc));
      return 1;
    }
    printf("%s\n", workers[i].report);
  }
  return 0;
}

/* The seed's "multiple event loops" program in C: two threads each make a
 * loop and run a task on it that reports whether a loop runs in its thread
 * and sleeps a while (100-300 ms instead of 1-5 s); the main thread, which
 * runs no loop, reports too. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <xf/xf.h>

#define MS 1000000LL

typedef struct worker {
  const char *name;
  int64_t sleep_ns;
  xf_loop_t *loop;
  int rc;
} worker_t;

/* async def do_something_important(sleep_for): print; await sleep(sleep_for) */
static int do_something_important(xf_future_t *task, void *data, xf_future_t *awaited,
                                  int status) {
  worker_t *w = data;
  if (awaited)
    return status;
  printf("Is event loop running in thread %s = %s\n", w->name,
         xf_loop_current() == w->loop && xf_loop_is_running(w->loop) ? "True" : "False");
  xf_future_t *nap;
  int rc = xf_loop_sleep(w->loop, w->sleep_ns, &nap);
  if (rc != XF_OK)
    return rc;
  rc = xf_task_await(task, nap);
  xf_future_unref(nap);
  return rc == XF_OK ? XF_TASK_AWAIT : rc;
}

/* def launch_event_loops(): new loop, run_until_complete, close */
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
  srand((unsigned) xf_now());
  worker_t workers[2] = {{"Thread-1", (100 + rand() % 201) * MS, NULL, 0},
                         {"Thread-2", (100 + rand() % 201) * MS, NULL, 0}};
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
    printf("%s slept %.2f s on its own loop\n", workers[i].name,
           (double) workers[i].sleep_ns / 1e9);
  }
  return 0;
}

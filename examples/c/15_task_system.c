/* A small distributed-style task system (seed 003): tasks are submitted
 * with a future each, worker threads take unassigned tasks and resolve their
 * futures, and the caller gathers the results in submission order. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <xf/xf.h>

#define MS        1000000LL
#define MAX_TASKS 16

static void nap(int64_t ms) {
  struct timespec ts = {0, (long) (ms * MS)};
  nanosleep(&ts, NULL);
}

typedef int (*work_fn)(int64_t arg, xf_future_t *future);

typedef struct task {
  int id;
  work_fn fn;
  int64_t arg;
  xf_future_t *future;
  bool assigned;
} task_t;

typedef struct system {
  pthread_mutex_t lock;
  task_t tasks[MAX_TASKS];
  int ntasks;
  bool stopping;
  pthread_t workers[8];
  int nworkers;
} system_t;

static xf_future_t *submit_task(system_t *s, work_fn fn, int64_t arg) {
  xf_future_t *future;
  if (xf_future_new(&future) != XF_OK)
    return NULL;
  pthread_mutex_lock(&s->lock);
  int id = s->ntasks++;
  s->tasks[id] = (task_t){id, fn, arg, xf_future_ref(future), false};
  pthread_mutex_unlock(&s->lock);
  printf("Submitted task %d\n", id);
  return future;
}

static void *start_worker(void *arg) {
  system_t *s = arg;
  for (;;) {
    task_t *task = NULL;
    pthread_mutex_lock(&s->lock);
    bool stopping = s->stopping;
    for (int i = 0; i < s->ntasks && !task; i++)
      if (!s->tasks[i].assigned) {
        task = &s->tasks[i];
        task->assigned = true;
      }
    pthread_mutex_unlock(&s->lock);
    if (!task) {
      if (stopping)
        return NULL;
      nap(5); /* nothing to do: look again soon */
      continue;
    }
    nap(10 * (task->id % 3 + 1)); /* variable processing time */
    int rc = task->fn(task->arg, task->future);
    if (rc != XF_OK && !xf_future_done(task->future))
      xf_future_fail(task->future, rc, NULL, NULL);
    xf_future_unref(task->future);
  }
}

static void start(system_t *s, int n) {
  pthread_mutex_init(&s->lock, NULL);
  s->ntasks = 0;
  s->stopping = false;
  s->nworkers = n;
  for (int i = 0; i < n; i++)
    pthread_create(&s->workers[i], NULL, start_worker, s);
  printf("Started %d workers\n", n);
}

static void stop(system_t *s) {
  pthread_mutex_lock(&s->lock);
  s->stopping = true;
  pthread_mutex_unlock(&s->lock);
  for (int i = 0; i < s->nworkers; i++)
    pthread_join(s->workers[i], NULL);
  pthread_mutex_destroy(&s->lock);
}

/* compute_task(x, y): x * y, with x = i and y = 2 * i */
static int compute_task(int64_t i, xf_future_t *future) {
  xf_value_t *v;
  int rc = xf_value_new_int(i * (i * 2), &v);
  return rc == XF_OK ? xf_future_set_result(future, v) : rc;
}

static int slow_task(int64_t i, xf_future_t *future) {
  nap(30);
  char text[64];
  snprintf(text, sizeof text, "Slow task task-%d completed", (int) i);
  xf_value_t *v;
  int rc = xf_value_new_cstring(text, &v);
  return rc == XF_OK ? xf_future_set_result(future, v) : rc;
}

int main(void) {
  static system_t system;
  start(&system, 3);
  xf_future_t *futures[6], *all;
  for (int i = 0; i < 6; i++)
    if (!(futures[i] = submit_task(&system, i % 2 == 0 ? compute_task : slow_task, i)))
      return 1;
  xf_value_t *results;
  if (xf_future_all(futures, 6, 0, &all) != XF_OK ||
      xf_future_result(all, -1, &results) != XF_OK)
    return 1;
  printf("All tasks completed!\n");
  for (size_t i = 0; i < 6; i++) {
    xf_value_t *r;
    const char *text;
    size_t len;
    int64_t n;
    if (xf_value_list_get(results, i, &r) != XF_OK)
      return 1;
    if (xf_value_get_int(r, &n) == XF_OK)
      printf("Task %d result: %lld\n", (int) i, (long long) n);
    else if (xf_value_get_string(r, &text, &len) == XF_OK)
      printf("Task %d result: %.*s\n", (int) i, (int) len, text);
  }
  xf_value_unref(results);
  xf_future_unref(all);
  for (int i = 0; i < 6; i++)
    xf_future_unref(futures[i]);
  stop(&system);
  return 0;
}

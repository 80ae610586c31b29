/* Process-pool work awaited in the event loop (seed 004, example 23.3): a
 * blocking call goes to a thread pool through xf_loop_run_in_executor, and
 * four CPU-bound counts go to a process pool, each future chained into a
 * loop future (xf_loop_run_in_executor takes a C function pointer, which
 * another process could not call, so the bridge is written out: a loop
 * future may be finished from any thread, and its callbacks then run on
 * the loop). One gather awaits them all while the loop goes on running its
 * other tasks.
 *
 * That the loop kept running is shown by a task made before the work was
 * handed out: its first step runs on the loop's next turn, while main
 * waits, and before the gathered result can reach main (the pools'
 * completions reach the loop later, queued behind that step). */
#include <stdio.h>
#include <time.h>

#include <xf/process.h>
#include <xf/xf.h>

#define N 4

static const int64_t limits[N] = {10000, 20000, 30000, 40000};

static int blocking_io(void *data, xf_future_t *self) {
  (void) data;
  struct timespec ts = {0, 50000000};
  nanosleep(&ts, NULL); /* a blocking library call, in a worker thread */
  xf_value_t *v;
  int rc = xf_value_new_cstring("Processed report.pdf", &v);
  return rc == XF_OK ? xf_future_set_result(self, v) : rc;
}

static int heartbeat(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  (void) task, (void) awaited, (void) status;
  *(bool *) data = true;
  return XF_OK;
}

int main(void) {
  xf_loop_t *loop;
  xf_executor_t *threads, *processes;
  xf_thread_pool_options_t topts = XF_THREAD_POOL_OPTIONS_INIT;
  xf_process_pool_options_t popts = XF_PROCESS_POOL_OPTIONS_INIT;
  topts.max_workers = 2;
  popts.max_workers = 2;
  if (xf_loop_new(&loop) != XF_OK || xf_thread_pool_new(&topts, &threads) != XF_OK ||
      xf_process_pool_new(&popts, &processes) != XF_OK)
    return 1;
  bool ran = false;
  xf_future_t *beat, *all, *futures[N + 1], *counts[N];
  if (xf_task_new(loop, heartbeat, &ran, NULL, &beat) != XF_OK ||
      xf_loop_run_in_executor(loop, threads, blocking_io, NULL, NULL, &futures[0]) !=
          XF_OK)
    return 1;
  for (int i = 0; i < N; i++) {
    xf_value_t *limit;
    if (xf_value_new_int(limits[i], &limit) != XF_OK ||
        xf_process_pool_submit_symbol(processes, XF_EXAMPLE_TASKS, "xfex_count_primes",
                                      "int64(int64)", &limit, 1, -1,
                                      &counts[i]) != XF_OK ||
        xf_loop_create_future(loop, &futures[i + 1]) != XF_OK ||
        xf_future_chain(counts[i], futures[i + 1]) != XF_OK)
      return 1;
    xf_value_unref(limit);
  }
  if (xf_future_all(futures, N + 1, 0, &all) != XF_OK ||
      xf_loop_run_until_complete(loop, all, NULL) != XF_OK)
    return 1;
  bool meanwhile = ran;
  if (xf_loop_run_until_complete(loop, beat, NULL) != XF_OK)
    return 1;

  xf_value_t *v;
  const char *text;
  size_t len;
  if (xf_future_result(futures[0], 0, &v) != XF_OK ||
      xf_value_get_string(v, &text, &len) != XF_OK)
    return 1;
  printf("thread pool: %.*s\n", (int) len, text);
  xf_value_unref(v);
  for (int i = 0; i < N; i++) {
    int64_t count;
    if (xf_future_result(futures[i + 1], 0, &v) != XF_OK ||
        xf_value_get_int(v, &count) != XF_OK)
      return 1;
    printf("process pool: %lld primes below %lld\n", (long long) count,
           (long long) limits[i]);
    xf_value_unref(v);
  }
  printf("the loop ran another task meanwhile: %s\n", meanwhile ? "True" : "False");
  for (int i = 0; i < N; i++)
    xf_future_unref(counts[i]);
  for (int i = 0; i <= N; i++)
    xf_future_unref(futures[i]);
  xf_future_unref(all);
  xf_future_unref(beat);
  xf_executor_unref(processes);
  xf_executor_unref(threads);
  xf_loop_close(loop);
  xf_loop_unref(loop);
  return 0;
}

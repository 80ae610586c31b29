/* CPU-bound work in a process pool (seed 004, example 23.1): four
 * identical workloads (the primes below 100000, counted the slow way), run
 * one after another in this process and then at once in a pool of four
 * worker processes.
 *
 * What is printed is what holds on any machine: the results, and that the
 * four pooled workloads ran at the same time in four worker processes. The
 * tasks prove the latter by meeting: after its work each task leaves a
 * file and waits until all four files exist, which only tasks running at
 * the same time can do, and a worker runs one task at a time, so four that
 * meet are four processes. The speed-up is not printed: on a loaded
 * two-core machine four processes need not be faster than one, so a
 * printed "faster" would be a guess or a line that changes from run to
 * run. With XF_EXAMPLE_TIMING set, the times and their ratio go to stderr.
 *
 * A process pool runs functions that another process can load: they live
 * in a shared library (examples/c/tasks), named by path, symbol and
 * signature. The same functions run the sequential half directly. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <xf/process.h>
#include <xf/xf.h>

#define LIMIT 100000
#define N     4

int64_t xfex_count_primes(int64_t limit); /* from the task library */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void print_counts(const char *what, const int64_t *counts) {
  printf("%s:", what);
  for (int i = 0; i < N; i++)
    printf(" %lld", (long long) counts[i]);
  printf("\n");
}

int main(void) {
  int64_t counts[N];
  double t0 = now();
  for (int i = 0; i < N; i++)
    counts[i] = xfex_count_primes(LIMIT);
  double sequential = now() - t0;
  printf("primes below %d, four times\n", LIMIT);
  print_counts("sequential", counts);

  char base[] = "/tmp/xf_23_1_XXXXXX"; /* the meeting's files: base.1 ... */
  int fd = mkstemp(base);
  if (fd < 0)
    return 1;
  close(fd);
  xf_process_pool_options_t opts = XF_PROCESS_POOL_OPTIONS_INIT;
  opts.max_workers = N;
  xf_executor_t *pool;
  if (xf_process_pool_new(&opts, &pool) != XF_OK)
    return 1;
  t0 = now();
  xf_future_t *futures[N];
  for (int i = 0; i < N; i++) {
    xf_value_t *args[4];
    if (xf_value_new_int(LIMIT, &args[0]) != XF_OK ||
        xf_value_new_cstring(base, &args[1]) != XF_OK ||
        xf_value_new_int(i + 1, &args[2]) != XF_OK ||
        xf_value_new_int(N, &args[3]) != XF_OK ||
        xf_process_pool_submit_symbol(
            pool, XF_EXAMPLE_TASKS, "xfex_count_primes_and_meet",
            "int64(int64, string, int64, int64)", args, 4, -1, &futures[i]) != XF_OK)
      return 1;
    for (int j = 0; j < 4; j++)
      xf_value_unref(args[j]);
  }
  bool met = true;
  for (int i = 0; i < N; i++) {
    xf_value_t *v;
    if (xf_future_result(futures[i], -1, &v) != XF_OK ||
        xf_value_get_int(v, &counts[i]) != XF_OK)
      return 1;
    met = met && counts[i] >= 0;
    xf_value_unref(v);
    xf_future_unref(futures[i]);
  }
  double pooled = now() - t0;
  xf_executor_unref(pool); /* shuts down; the workers leave */
  print_counts("pool of 4 processes", counts);
  printf("the four ran at the same time, in 4 worker processes: %s\n",
         met ? "True" : "False");
  for (int i = 1; i <= N; i++) {
    char path[64];
    snprintf(path, sizeof path, "%s.%d", base, i);
    remove(path);
  }
  remove(base);
  if (getenv("XF_EXAMPLE_TIMING"))
    fprintf(stderr, "sequential %.3f s, pool %.3f s, speed-up %.2fx\n", sequential,
            pooled, sequential / pooled);
  return 0;
}

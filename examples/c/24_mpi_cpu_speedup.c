/* CPU-bound work on the ranks of an MPI job (seed 004's four identical
 * workloads, past one machine): the primes below 100000, counted the slow
 * way, four times in this process and then on the worker ranks of an MPI
 * executor. Run it under MPI, here as the tour does:
 *
 *   mpirun -n 3 build/default/examples/c/24_mpi_cpu_speedup
 *
 * or under Slurm as `srun -n 3 ...`. Every rank runs main: the executor is
 * made collectively (SPMD), rank 0 gets it, and every other rank serves its
 * tasks inside xf_mpi_world_executor_new until rank 0 shuts it down, then
 * leaves. The tasks are the process pool's (xf/process.h): C functions of a
 * shared library, named by path, symbol and signature.
 *
 * What is printed holds on any machine: the results and the number of
 * worker ranks. The speed-up is not printed, since on a loaded two-core
 * machine it changes from run to run; with XF_EXAMPLE_TIMING set, the times
 * and their ratio go to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xf/mpi.h>
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
  if (!xf_mpi_available()) {
    /* Said once, by the first process of the job (or the only one). */
    const char *rank = getenv("OMPI_COMM_WORLD_RANK");
    if (!rank || strcmp(rank, "0") == 0)
      printf("this build of xfutures has no MPI\n");
    return 0;
  }
  /* Made first, by every rank: the worker ranks then wait for tasks
   * without using the CPU that the sequential half measures. */
  xf_executor_t *ex = NULL;
  if (xf_mpi_world_executor_new(0, NULL, &ex) != XF_OK)
    return 1;
  if (!ex)
    return 0; /* a worker rank: it served until rank 0 was done */

  int64_t counts[N];
  double t0 = now();
  for (int i = 0; i < N; i++)
    counts[i] = xfex_count_primes(LIMIT);
  double sequential = now() - t0;
  printf("primes below %d, four times\n", LIMIT);
  print_counts("sequential", counts);

  t0 = now();
  xf_future_t *futures[N];
  for (int i = 0; i < N; i++) {
    xf_value_t *limit;
    if (xf_value_new_int(LIMIT, &limit) != XF_OK ||
        xf_process_pool_submit_symbol(ex, XF_EXAMPLE_TASKS, "xfex_count_primes",
                                      "int64(int64)", &limit, 1, -1,
                                      &futures[i]) != XF_OK)
      return 1;
    xf_value_unref(limit);
  }
  for (int i = 0; i < N; i++) {
    xf_value_t *v;
    if (xf_future_result(futures[i], -1, &v) != XF_OK ||
        xf_value_get_int(v, &counts[i]) != XF_OK)
      return 1;
    xf_value_unref(v);
    xf_future_unref(futures[i]);
  }
  double pooled = now() - t0;
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  xf_executor_stats(ex, &st);
  char what[64];
  snprintf(what, sizeof what, "MPI executor, %u worker ranks", (unsigned) st.max_workers);
  print_counts(what, counts);
  xf_executor_unref(ex); /* shuts it down: the worker ranks leave */
  if (getenv("XF_EXAMPLE_TIMING"))
    fprintf(stderr, "sequential %.3f s, MPI %.3f s, speed-up %.2fx\n", sequential, pooled,
            sequential / pooled);
  return 0;
}

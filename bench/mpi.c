/* The MPI executor, from C, with 2 worker processes spawned by it
 * (MPI_Comm_spawn of xfworker; the program initializes MPI as a singleton,
 * so bench/run.py runs it like any other). The Python binding's suite
 * (bench/python/py_mpi.py) measures the same against mpi4py.futures.
 *
 * Workloads:
 *   mpi_roundtrip  one trivial task at a time (xfb_noop from
 *                  bench/lib/xfbench_work.so): submit, wait for the
 *                  result, repeat. The workers are started before the
 *                  clock runs. ns per task.
 *   mpi_batch      n trivial tasks submitted at once, then all waited for,
 *                  with max_in_flight 1 and 16. ns per task.
 * Without MPI in the build it prints nothing and says so on stderr. */
#include <limits.h>
#include <unistd.h>

#include <xf/mpi.h>

#include "bench.h"

static char lib_path[PATH_MAX + 32];

static xf_future_t *call1(xf_executor_t *ex, const char *fn, const char *sig, int64_t i) {
  xf_value_t *arg;
  BENCH_CHECK(xf_value_new_int(i, &arg));
  xf_future_t *f;
  BENCH_CHECK(xf_process_pool_submit_symbol(ex, lib_path, fn, sig, &arg, 1, -1, &f));
  xf_value_unref(arg);
  return f;
}

static void wait_done(xf_future_t *f) {
  xf_value_t *v;
  BENCH_CHECK(xf_future_result(f, -1, &v));
  xf_value_unref(v);
  xf_future_unref(f);
}

static xf_executor_t *pool_new(uint32_t max_in_flight) {
  xf_mpi_options_t o = XF_MPI_OPTIONS_INIT;
  o.max_workers = 2;
  o.max_in_flight = max_in_flight;
  xf_executor_t *ex;
  BENCH_CHECK(xf_mpi_pool_new(&o, &ex));
  /* Both workers ready: two tasks at once, twice. */
  for (int k = 0; k < 2; k++) {
    xf_future_t *a = call1(ex, "xfb_noop", "int64(int64)", 1);
    xf_future_t *b = call1(ex, "xfb_noop", "int64(int64)", 2);
    wait_done(a);
    wait_done(b);
  }
  return ex;
}

int main(int argc, char **argv) {
  bench_init("mpi", argc, argv);
  if (!xf_mpi_available()) {
    fprintf(stderr, "mpi: skipped: this build of xfutures has no MPI\n");
    return 0;
  }
  /* This machine's Open MPI settings, unless the environment has its own. */
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);
  setenv("OMPI_MCA_pml", "ob1", 0);
  setenv("OMPI_MCA_btl", "self,vader,tcp", 0);
  setenv("OMPI_MCA_btl_tcp_if_include", "lo", 0);
  setenv("OMPI_MCA_oob_tcp_if_include", "lo", 0);
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n < 0)
    bench_die("readlink");
  exe[n] = '\0';
  *strrchr(exe, '/') = '\0';
  snprintf(lib_path, sizeof lib_path, "%s/lib/xfbench_work.so", exe);

  long rounds = bench_size(5000, 300), batch = bench_size(20000, 2000);
  double *v = malloc(sizeof(double) * (size_t) bench_reps);

  xf_executor_t *ex = pool_new(1);
  for (int r = 0; r < bench_reps; r++) {
    int64_t t0 = bench_now();
    for (long i = 0; i < rounds; i++)
      wait_done(call1(ex, "xfb_noop", "int64(int64)", i));
    v[r] = (double) (bench_now() - t0) / (double) rounds;
  }
  bench_emit("mpi_roundtrip", "xfutures", "ns/task", 1, rounds, v, bench_reps, NULL);

  xf_future_t **fs = malloc(sizeof *fs * (size_t) batch);
  for (int r = 0; r < bench_reps; r++) {
    int64_t t0 = bench_now();
    for (long i = 0; i < batch; i++)
      fs[i] = call1(ex, "xfb_noop", "int64(int64)", i);
    for (long i = 0; i < batch; i++)
      wait_done(fs[i]);
    v[r] = (double) (bench_now() - t0) / (double) batch;
  }
  bench_emit("mpi_batch", "xfutures max_in_flight=1", "ns/task", 1, batch, v, bench_reps,
             NULL);
  xf_executor_unref(ex);

  ex = pool_new(16);
  for (int r = 0; r < bench_reps; r++) {
    int64_t t0 = bench_now();
    for (long i = 0; i < batch; i++)
      fs[i] = call1(ex, "xfb_noop", "int64(int64)", i);
    for (long i = 0; i < batch; i++)
      wait_done(fs[i]);
    v[r] = (double) (bench_now() - t0) / (double) batch;
  }
  bench_emit("mpi_batch", "xfutures max_in_flight=16", "ns/task", 1, batch, v, bench_reps,
             NULL);
  xf_executor_unref(ex);
  free(fs);
  free(v);
  return 0;
}

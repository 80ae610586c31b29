/* The process pool against Python's ProcessPoolExecutor.
 *
 * Workloads, each on a pool of 2 workers:
 *   pp_roundtrip     one trivial task at a time (xfb_noop from
 *                    bench/lib/xfbench_work.so; in Python a module-level
 *                    function returning its argument): submit, wait for the
 *                    result, repeat. The workers are started before the
 *                    clock runs. ns per task.
 *   pp_batch         n trivial tasks submitted at once, then all waited
 *                    for. ns per task.
 *   pp_first_result  from creating the pool to the first result (the
 *                    workers' start included), then shut it down. ms.
 *
 * The Python anchor (bench/python/process_pool_anchor.py, run with
 * /usr/bin/python3 by this program so both land in one run) measures the
 * same with the "spawn" and "fork" start methods. */
#include <limits.h>
#include <unistd.h>

#include "bench.h"

static char lib_path[PATH_MAX + 32];

static xf_executor_t *pool_new(void) {
  xf_process_pool_options_t o = XF_PROCESS_POOL_OPTIONS_INIT;
  o.max_workers = 2;
  xf_executor_t *ex;
  BENCH_CHECK(xf_process_pool_new(&o, &ex));
  return ex;
}

static xf_future_t *noop(xf_executor_t *ex, int64_t i) {
  xf_value_t *arg;
  BENCH_CHECK(xf_value_new_int(i, &arg));
  xf_future_t *f;
  BENCH_CHECK(xf_process_pool_submit_symbol(ex, lib_path, "xfb_noop", "int64(int64)",
                                            &arg, 1, -1, &f));
  xf_value_unref(arg);
  return f;
}

static void wait_int(xf_future_t *f, int64_t want) {
  xf_value_t *v;
  BENCH_CHECK(xf_future_result(f, -1, &v));
  int64_t got = -1;
  xf_value_get_int(v, &got);
  if (got != want)
    bench_die("wrong result %lld", (long long) got);
  xf_value_unref(v);
  xf_future_unref(f);
}

/* Start both workers: two tasks at once. */
static void warm(xf_executor_t *ex) {
  xf_future_t *a = noop(ex, 1), *b = noop(ex, 2);
  wait_int(a, 1);
  wait_int(b, 2);
}

int main(int argc, char **argv) {
  bench_init("process_pool", argc, argv);
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n < 0)
    bench_die("readlink");
  exe[n] = '\0';
  *strrchr(exe, '/') = '\0';
  snprintf(lib_path, sizeof lib_path, "%s/lib/xfbench_work.so", exe);

  long rounds = bench_size(5000, 200), batch = bench_size(5000, 200);
  int firsts = bench_quick_mode ? 3 : 10;
  double *v = malloc(sizeof(double) * (size_t) bench_reps);

  xf_executor_t *ex = pool_new();
  warm(ex);
  for (int r = 0; r < bench_reps; r++) {
    int64_t t0 = bench_now();
    for (long i = 0; i < rounds; i++)
      wait_int(noop(ex, i), i);
    v[r] = (double) (bench_now() - t0) / (double) rounds;
  }
  bench_emit("pp_roundtrip", "xfutures", "ns/task", 1, rounds, v, bench_reps, NULL);

  xf_future_t **fs = malloc(sizeof *fs * (size_t) batch);
  for (int r = 0; r < bench_reps; r++) {
    int64_t t0 = bench_now();
    for (long i = 0; i < batch; i++)
      fs[i] = noop(ex, i);
    for (long i = 0; i < batch; i++)
      wait_int(fs[i], i);
    v[r] = (double) (bench_now() - t0) / (double) batch;
  }
  bench_emit("pp_batch", "xfutures", "ns/task", 1, batch, v, bench_reps, NULL);
  free(fs);
  xf_executor_shutdown(ex, true, false);
  xf_executor_unref(ex);

  double *w = malloc(sizeof(double) * (size_t) firsts);
  for (int r = 0; r < firsts; r++) {
    int64_t t0 = bench_now();
    xf_executor_t *p = pool_new();
    wait_int(noop(p, 7), 7);
    w[r] = (double) (bench_now() - t0) / 1e6;
    xf_executor_shutdown(p, true, false);
    xf_executor_unref(p);
  }
  bench_emit("pp_first_result", "xfutures", "ms", 1, 1, w, firsts, NULL);
  free(w);
  free(v);

  /* The anchor, in the same run. */
  char cmd[PATH_MAX * 2];
  const char *src = __FILE__;
  const char *slash = strrchr(src, '/');
  int dir = slash ? (int) (slash - src) : 1;
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 %.*s/python/process_pool_anchor.py%s --reps %d", dir,
           slash ? src : ".", bench_quick_mode ? " --quick" : "", bench_reps);
  fflush(stdout);
  int rc = system(cmd);
  if (rc != 0)
    fprintf(stderr, "process_pool: the Python anchor failed (%d)\n", rc);
  return 0;
}

/* Workload 3: the serial round trip through a 2-thread pool.
 *
 * The main thread submits one no-op task, waits for its result, and
 * repeats; ns per round trip. This is latency: each trip hands the work to
 * a worker and the answer back, so it is what a sleeping thread costs to
 * wake (a futex round trip is ~16 us on this machine class).
 *   xfutures   xf_executor_submit on a pool of 2 workers, then
 *              xf_future_result(f, -1) and the value read back.
 *   libuv      uv_queue_work (UV_THREADPOOL_SIZE=2; one uv_work_t reused,
 *              since only one is in flight), then uv_run on the default
 *              loop until its after-work callback has run.
 *
 * Run: build/bench/bench/serial_roundtrip [--quick] [--reps N]
 */
#include <uv.h>

#include "bench.h"

static xf_executor_t *pool;

static int xf_answer(void *data, xf_future_t *f) {
  xf_value_t *v;
  int rc = xf_value_new_int((int64_t) (intptr_t) data + 1, &v);
  return rc == XF_OK ? xf_future_set_result(f, v) : rc;
}

static double xf_once(long n) {
  int64_t t0 = bench_now();
  for (long i = 0; i < n; i++) {
    xf_future_t *f;
    BENCH_CHECK(xf_executor_submit(pool, xf_answer, (void *) (intptr_t) i, NULL, &f));
    xf_value_t *v;
    BENCH_CHECK(xf_future_result(f, -1, &v));
    int64_t x = 0;
    xf_value_get_int(v, &x);
    if (x != i + 1)
      bench_die("xfutures: wrong answer");
    xf_value_unref(v);
    xf_future_unref(f);
  }
  return (double) (bench_now() - t0) / (double) n;
}

static long uv_answer_in, uv_answer_out;

static void uv_work(uv_work_t *req) {
  (void) req;
  uv_answer_out = uv_answer_in + 1;
}

static void uv_after(uv_work_t *req, int status) {
  (void) req;
  if (status != 0)
    bench_die("libuv: status %d", status);
}

static double libuv_once(long n) {
  uv_loop_t *uvl = uv_default_loop();
  uv_work_t req;
  int64_t t0 = bench_now();
  for (long i = 0; i < n; i++) {
    uv_answer_in = i;
    if (uv_queue_work(uvl, &req, uv_work, uv_after) != 0)
      bench_die("uv_queue_work");
    uv_run(uvl, UV_RUN_DEFAULT);
    if (uv_answer_out != i + 1)
      bench_die("libuv: wrong answer");
  }
  return (double) (bench_now() - t0) / (double) n;
}

static void run(const char *impl, long n, double (*once)(long)) {
  double v[64];
  once(n / 10 > 0 ? n / 10 : 1);
  for (int r = 0; r < bench_reps; r++)
    v[r] = once(n);
  bench_emit("serial_roundtrip", impl, "ns/trip", 1, n, v, bench_reps, "\"threads\": 2");
}

int main(int argc, char **argv) {
  bench_init("serial_roundtrip", argc, argv);
  if (bench_reps > 64)
    bench_reps = 64;
  setenv("UV_THREADPOOL_SIZE", "2", 1);
  long n = bench_size(50000, 1000);

  xf_thread_pool_options_t opts = XF_THREAD_POOL_OPTIONS_INIT;
  opts.max_workers = 2;
  BENCH_CHECK(xf_thread_pool_new(&opts, &pool));
  run("xfutures", n, xf_once);
  xf_executor_unref(pool);

  run("libuv uv_queue_work", n, libuv_once);
  uv_loop_close(uv_default_loop());
  return 0;
}

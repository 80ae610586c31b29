/* Workload 2: bulk thread-pool throughput, and submit_native scaling.
 *
 * pool_bulk        submit n no-op tasks (1,000,000 in the full run) to a pool
 *                  of 2 worker threads from the main thread, then wait until
 *                  all have run; ns per task, submission and waiting
 *                  included. Every pool is made and warmed up once, outside
 *                  the timing, and reused across repetitions.
 *   xfutures          xf_thread_pool_new (max_workers 2); xf_executor_submit
 *                     and the returned future dropped at once (the pool
 *                     allocates one future per task). The task counts in an
 *                     atomic and the last one finishes a future the main
 *                     thread waits on.
 *   libuv             uv_queue_work with UV_THREADPOOL_SIZE=2; the caller
 *                     allocates each uv_work_t (malloc) and frees it in the
 *                     after-work callback, as libuv requires the request to
 *                     live until then; waiting is uv_run on the default loop,
 *                     which runs every after-work callback.
 *   GLib              GThreadPool with max_threads 2, exclusive;
 *                     g_thread_pool_push (GLib allocates a queue node per
 *                     push); the last task signals a GCond.
 *   TBB               tbb::task_group run inside a task_arena of 3 slots, one
 *                     reserved for the main thread: 2 worker threads, and
 *                     the main thread also runs tasks while it waits in
 *                     task_group::wait, as TBB is designed to (a
 *                     global_control lifts TBB's default cap of one worker
 *                     on a 2-core machine).
 * submit_native    n calls (2,000 in the full run) of a C function that
 *                  spins for about 20 us, through xf_executor_submit_native,
 *                  on a pool of 2 workers and on a pool of 1; ns per call.
 *                  The ratio is the speed-up of the second worker.
 *
 * Run: build/bench/bench/pool_bulk [--quick] [--reps N]
 */
#include <atomic>
#include <vector>

#include <glib.h>
#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
#include <uv.h>

#include "bench.h"

static long n_tasks;
static std::atomic<long> ran;

/* ---- xfutures ---------------------------------------------------------- */

static xf_executor_t *pool;
static xf_future_t *all_done;

static int xf_noop(void *data, xf_future_t *) {
  if (ran.fetch_add(1, std::memory_order_relaxed) + 1 == (long) (intptr_t) data)
    xf_future_set_result(all_done, NULL);
  return XF_OK;
}

static double xf_bulk_once(long n) {
  ran = 0;
  BENCH_CHECK(xf_future_new(&all_done));
  int64_t t0 = bench_now();
  for (long i = 0; i < n; i++) {
    xf_future_t *f;
    BENCH_CHECK(xf_executor_submit(pool, xf_noop, (void *) (intptr_t) n, NULL, &f));
    xf_future_unref(f);
  }
  BENCH_CHECK(xf_future_wait(all_done, -1));
  double ns = (double) (bench_now() - t0) / (double) n;
  xf_future_unref(all_done);
  return ns;
}

/* ---- libuv ------------------------------------------------------------- */

static long uv_after;

static void uv_noop(uv_work_t *) {
  ran.fetch_add(1, std::memory_order_relaxed);
}

static void uv_after_noop(uv_work_t *req, int) {
  uv_after++;
  free(req);
}

static double uv_bulk_once(long n) {
  ran = 0;
  uv_after = 0;
  uv_loop_t *uvl = uv_default_loop();
  int64_t t0 = bench_now();
  for (long i = 0; i < n; i++) {
    uv_work_t *req = (uv_work_t *) malloc(sizeof *req);
    if (req == NULL || uv_queue_work(uvl, req, uv_noop, uv_after_noop) != 0)
      bench_die("uv_queue_work");
  }
  uv_run(uvl, UV_RUN_DEFAULT);
  double ns = (double) (bench_now() - t0) / (double) n;
  if (uv_after != n || ran != n)
    bench_die("libuv ran %ld of %ld", uv_after, n);
  return ns;
}

/* ---- GLib -------------------------------------------------------------- */

static GThreadPool *gpool;
static GMutex gmutex;
static GCond gcond;
static long g_target;
static bool g_done;

static void g_noop(gpointer, gpointer) {
  if (ran.fetch_add(1, std::memory_order_relaxed) + 1 == g_target) {
    g_mutex_lock(&gmutex);
    g_done = true;
    g_cond_signal(&gcond);
    g_mutex_unlock(&gmutex);
  }
}

static double g_bulk_once(long n) {
  ran = 0;
  g_target = n;
  g_done = false;
  int64_t t0 = bench_now();
  for (long i = 0; i < n; i++)
    if (!g_thread_pool_push(gpool, GINT_TO_POINTER(1), NULL))
      bench_die("g_thread_pool_push");
  g_mutex_lock(&gmutex);
  while (!g_done)
    g_cond_wait(&gcond, &gmutex);
  g_mutex_unlock(&gmutex);
  return (double) (bench_now() - t0) / (double) n;
}

/* ---- TBB --------------------------------------------------------------- */

static tbb::task_arena *arena;

static double tbb_bulk_once(long n) {
  ran = 0;
  int64_t t0 = bench_now();
  arena->execute([n] {
    tbb::task_group tg;
    for (long i = 0; i < n; i++)
      tg.run([] { ran.fetch_add(1, std::memory_order_relaxed); });
    tg.wait();
  });
  double ns = (double) (bench_now() - t0) / (double) n;
  if (ran != n)
    bench_die("tbb ran %ld of %ld", ran.load(), n);
  return ns;
}

/* ---- submit_native ----------------------------------------------------- */

extern "C" int64_t bench_spin(int64_t iters) {
  volatile int64_t x = 0;
  for (int64_t i = 0; i < iters; i++)
    x = x + i;
  return x;
}

static int64_t spin_iters;

static double native_once(xf_executor_t *ex, long n) {
  std::vector<xf_future_t *> fs((size_t) n);
  xf_value_t *arg;
  BENCH_CHECK(xf_value_new_int(spin_iters, &arg));
  int64_t t0 = bench_now();
  for (auto &f : fs)
    BENCH_CHECK(
        xf_executor_submit_native(ex, (void *) bench_spin, "int64(int64)", &arg, 1, &f));
  BENCH_CHECK(xf_wait(fs.data(), fs.size(), XF_ALL_COMPLETED, -1, NULL));
  double ns = (double) (bench_now() - t0) / (double) n;
  for (auto f : fs)
    xf_future_unref(f);
  xf_value_unref(arg);
  return ns;
}

static xf_executor_t *new_pool(uint32_t workers) {
  xf_thread_pool_options_t opts = XF_THREAD_POOL_OPTIONS_INIT;
  opts.max_workers = workers;
  xf_executor_t *ex;
  BENCH_CHECK(xf_thread_pool_new(&opts, &ex));
  return ex;
}

static void run(const char *workload, const char *impl, long n, double (*once)(long),
                const char *extra) {
  std::vector<double> v((size_t) bench_reps);
  if (!bench_selected(impl))
    return;
  once(n / 10 > 0 ? n / 10 : 1); /* warm-up: threads started, memory touched */
  for (auto &x : v)
    x = once(n);
  bench_emit(workload, impl, "ns/task", 1, n, v.data(), bench_reps, extra);
}

int main(int argc, char **argv) {
  bench_init("pool_bulk", argc, argv);
  setenv("UV_THREADPOOL_SIZE", "2", 1); /* before libuv's pool starts */
  n_tasks = bench_size(1000000, 20000);

  pool = new_pool(2);
  run("pool_bulk", "xfutures", n_tasks, xf_bulk_once, "\"threads\": 2");
  xf_executor_unref(pool);

  run("pool_bulk", "libuv uv_queue_work", n_tasks, uv_bulk_once,
      "\"threads\": 2, \"note\": \"caller mallocs each uv_work_t\"");

  gpool = g_thread_pool_new(g_noop, NULL, 2, TRUE, NULL);
  if (gpool == NULL)
    bench_die("g_thread_pool_new");
  run("pool_bulk", "GLib GThreadPool", n_tasks, g_bulk_once, "\"threads\": 2");
  g_thread_pool_free(gpool, FALSE, TRUE);

  /* TBB caps its workers at the number of cores less one unless told
   * otherwise; allow the 2 workers the other pools have. */
  tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 3);
  arena = new tbb::task_arena(3, 1);
  run("pool_bulk", "TBB task_group", n_tasks, tbb_bulk_once,
      "\"threads\": 2, \"note\": \"plus the waiting main thread\"");
  delete arena;

  /* About 20 us of work per call on this machine class. */
  spin_iters = 20000;
  long n_native = bench_size(2000, 100);
  static xf_executor_t *ex1, *ex2;
  ex2 = new_pool(2);
  ex1 = new_pool(1);
  pool = ex2;
  run(
      "submit_native", "xfutures (2 workers)", n_native,
      [](long n) { return native_once(ex2, n); }, "\"threads\": 2");
  run(
      "submit_native", "xfutures (1 worker)", n_native,
      [](long n) { return native_once(ex1, n); }, "\"threads\": 1");
  xf_executor_unref(ex1);
  xf_executor_unref(ex2);
  return 0;
}

/* Thread-pool scaling: a sweep of task size by worker count.
 *
 * pool_scaling     submit n tasks from the main thread, each spinning for
 *                  a fixed amount of work (0, 1, 10 or 100 us), to a pool
 *                  of w workers (1, 2 and 4: the development machine has 2
 *                  cores, so 4 measures oversubscription), then wait until
 *                  all have run; ns per task, submission and waiting
 *                  included. The ideal is the task size over min(w, cores):
 *                  a pool whose cost sits on that line pays no overhead of
 *                  its own, and the task size where a system reaches it is
 *                  where its overhead stops mattering.
 *
 * The work is a calibrated busy loop, not a sleep and not a clock read:
 * the program times a fixed number of iterations of bench_spin (the
 * fastest of several tries, so a preempted try does not count) and gives
 * each task the iteration count that lasts its size on an idle core. A
 * task is then the same amount of work on every system and every worker
 * count, so when 4 workers share 2 cores the preemption shows in the time
 * per task, as it should, rather than shortening the work.
 *
 * Each worker count runs in a child process forked before any thread
 * exists: libuv reads UV_THREADPOOL_SIZE once per process and TBB's
 * global_control is process-wide too, so a fresh process per count is the
 * only way to give every system the same w.
 *
 *   xfutures          xf_thread_pool_new (max_workers w); xf_executor_submit
 *                     and the future dropped at once; the last task finishes
 *                     a future the main thread waits on (as pool_bulk).
 *   libuv             uv_queue_work with UV_THREADPOOL_SIZE=w; the caller
 *                     mallocs each uv_work_t and frees it in the after-work
 *                     callback; waiting is uv_run on the default loop.
 *   GLib              GThreadPool with max_threads w, exclusive; the last
 *                     task signals a GCond.
 *   sequential        the same n tasks run one after the other by the main
 *                     thread, no pool: what the work itself cost while the
 *                     sweep ran, measured in every worker count's process.
 *                     Well above the task size, other jobs had the cores,
 *                     and the pools' numbers of that part are low by about
 *                     as much; the report shows it beside the ideal rather
 *                     than as the ideal, since it is measured at another
 *                     moment than each pool.
 *   TBB               tbb::task_group inside a task_arena of w slots, one of
 *                     them reserved for the main thread, under a
 *                     global_control of w: w - 1 workers and the main thread,
 *                     which runs tasks while it waits in task_group::wait, so
 *                     w threads run tasks as in the other pools (with w = 1
 *                     the main thread runs every task itself, which is what
 *                     TBB does with a parallelism of 1). pool_bulk gives
 *                     TBB 2 workers besides the main thread, so its TBB
 *                     number is not this sweep's 2-worker one.
 *
 * Every measurement carries "sweep": "pool_scaling", "task_ns" (the task
 * size) and "threads" (w) besides the common fields; the workload is named
 * pool_scaling_<size>us_w<w> so that each point is one workload.
 *
 * Run: build/bench/bench/pool_scaling [--quick] [--reps N]; XF_BENCH_ONLY
 * selects the systems as in pool_bulk.
 * Quick mode shrinks every n so that the whole sweep takes about a second.
 */
#include <atomic>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
#include <uv.h>

#include "bench.h"

/* The busy loop: iters additions through a volatile, which the compiler
 * can neither drop nor vectorise. */
extern "C" int64_t bench_spin(int64_t iters) {
  volatile int64_t x = 0;
  for (int64_t i = 0; i < iters; i++)
    x = x + i;
  return x;
}

static double spin_ns_per_iter;
static int64_t task_iters; /* the iterations of the current task size */
static std::atomic<long> ran;

/* The fastest of several timings of a fixed iteration count: a try that
 * another process preempted only ever reads slower. */
static void calibrate(void) {
  const int64_t iters = bench_quick_mode ? 200000 : 2000000;
  double best = 0;
  bench_spin(iters); /* warm-up: the core's clock ramps up */
  for (int i = 0; i < 15; i++) {
    int64_t t0 = bench_now();
    bench_spin(iters);
    double ns = (double) (bench_now() - t0) / (double) iters;
    if (i == 0 || ns < best)
      best = ns;
  }
  spin_ns_per_iter = best;
}

static int64_t iters_for(long task_ns) {
  return task_ns == 0 ? 0 : (int64_t) ((double) task_ns / spin_ns_per_iter + 0.5);
}

/* ---- xfutures ---------------------------------------------------------- */

static xf_executor_t *xpool;
static xf_future_t *all_done;

static int xf_task(void *data, xf_future_t *) {
  bench_spin(task_iters);
  if (ran.fetch_add(1, std::memory_order_relaxed) + 1 == (long) (intptr_t) data)
    xf_future_set_result(all_done, NULL);
  return XF_OK;
}

static double xf_once(long n) {
  ran = 0;
  BENCH_CHECK(xf_future_new(&all_done));
  int64_t t0 = bench_now();
  for (long i = 0; i < n; i++) {
    xf_future_t *f;
    BENCH_CHECK(xf_executor_submit(xpool, xf_task, (void *) (intptr_t) n, NULL, &f));
    xf_future_unref(f);
  }
  BENCH_CHECK(xf_future_wait(all_done, -1));
  double ns = (double) (bench_now() - t0) / (double) n;
  xf_future_unref(all_done);
  return ns;
}

/* ---- libuv ------------------------------------------------------------- */

static long uv_after;

static void uv_task(uv_work_t *) {
  bench_spin(task_iters);
  ran.fetch_add(1, std::memory_order_relaxed);
}

static void uv_after_task(uv_work_t *req, int) {
  uv_after++;
  free(req);
}

static double uv_once(long n) {
  ran = 0;
  uv_after = 0;
  uv_loop_t *uvl = uv_default_loop();
  int64_t t0 = bench_now();
  for (long i = 0; i < n; i++) {
    uv_work_t *req = (uv_work_t *) malloc(sizeof *req);
    if (req == NULL || uv_queue_work(uvl, req, uv_task, uv_after_task) != 0)
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

static void g_task(gpointer, gpointer) {
  bench_spin(task_iters);
  if (ran.fetch_add(1, std::memory_order_relaxed) + 1 == g_target) {
    g_mutex_lock(&gmutex);
    g_done = true;
    g_cond_signal(&gcond);
    g_mutex_unlock(&gmutex);
  }
}

static double glib_once(long n) {
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

static double tbb_once(long n) {
  ran = 0;
  int64_t t0 = bench_now();
  arena->execute([n] {
    tbb::task_group tg;
    for (long i = 0; i < n; i++)
      tg.run([] {
        bench_spin(task_iters);
        ran.fetch_add(1, std::memory_order_relaxed);
      });
    tg.wait();
  });
  double ns = (double) (bench_now() - t0) / (double) n;
  if (ran != n)
    bench_die("tbb ran %ld of %ld", ran.load(), n);
  return ns;
}

/* ---- sequential -------------------------------------------------------- */

/* Each task counts itself as a pool's does, so that only the pool differs. */
static double seq_once(long n) {
  ran = 0;
  int64_t t0 = bench_now();
  for (long i = 0; i < n; i++) {
    bench_spin(task_iters);
    ran.fetch_add(1, std::memory_order_relaxed);
  }
  return (double) (bench_now() - t0) / (double) n;
}

/* ---- the sweep --------------------------------------------------------- */

/* Task sizes in ns, and the tasks per repetition of each: about 0.05-0.15 s
 * of work per repetition on one worker in the full run, so that the whole
 * sweep takes about a minute on a quiet 2-core machine. */
static const long sizes[] = {0, 1000, 10000, 100000};
static const long full_n[] = {100000, 40000, 8000, 1500};
static const long quick_n[] = {2000, 1000, 200, 20};

static void sweep(const char *impl, int workers, double (*once)(long), const char *note) {
  std::vector<double> v((size_t) bench_reps);
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    long n = bench_size(full_n[s], quick_n[s]);
    task_iters = iters_for(sizes[s]);
    once(n / 10 > 0 ? n / 10 : 1); /* warm-up: threads started, memory touched */
    for (auto &x : v)
      x = once(n);
    char workload[64], extra[320];
    snprintf(workload, sizeof workload, "pool_scaling_%ldus_w%d", sizes[s] / 1000,
             workers);
    snprintf(extra, sizeof extra,
             "\"sweep\": \"pool_scaling\", \"task_ns\": %ld, \"threads\": %d, "
             "\"spin_iters\": %lld, \"spin_ns_per_iter\": %.4f%s%s%s",
             sizes[s], workers, (long long) task_iters, spin_ns_per_iter,
             note ? ", \"note\": \"" : "", note ? note : "", note ? "\"" : "");
    bench_emit(workload, impl, "ns/task", 1, n, v.data(), bench_reps, extra);
  }
}

/* Everything for one worker count; runs in its own process. */
static void run_workers(int w) {
  char size[16];
  snprintf(size, sizeof size, "%d", w);
  setenv("UV_THREADPOOL_SIZE", size, 1); /* before libuv's pool starts */

  if (bench_selected("sequential"))
    sweep("sequential", w, seq_once, "the main thread runs the tasks, no pool");
  if (bench_selected("xfutures")) {
    xf_thread_pool_options_t opts = XF_THREAD_POOL_OPTIONS_INIT;
    opts.max_workers = (uint32_t) w;
    BENCH_CHECK(xf_thread_pool_new(&opts, &xpool));
    sweep("xfutures", w, xf_once, NULL);
    xf_executor_unref(xpool);
  }
  if (bench_selected("libuv uv_queue_work"))
    sweep("libuv uv_queue_work", w, uv_once, "caller mallocs each uv_work_t");
  if (bench_selected("GLib GThreadPool")) {
    gpool = g_thread_pool_new(g_task, NULL, w, TRUE, NULL);
    if (gpool == NULL)
      bench_die("g_thread_pool_new");
    sweep("GLib GThreadPool", w, glib_once, NULL);
    g_thread_pool_free(gpool, FALSE, TRUE);
  }
  if (bench_selected("TBB task_group")) {
    tbb::global_control allow(tbb::global_control::max_allowed_parallelism, (size_t) w);
    arena = new tbb::task_arena(w, 1);
    sweep("TBB task_group", w, tbb_once,
          w == 1 ? "the main thread runs every task" : "the main thread is one of the w");
    delete arena;
  }
}

int main(int argc, char **argv) {
  bench_init("pool_scaling", argc, argv);
  calibrate();
  fprintf(stderr, "pool_scaling: %.3f ns per spin iteration\n", spin_ns_per_iter);
  static const int worker_counts[] = {1, 2, 4};
  for (int w : worker_counts) {
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    if (pid < 0)
      bench_die("fork failed");
    if (pid == 0) {
      run_workers(w);
      fflush(NULL);
      _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      bench_die("the run with %d workers failed", w);
  }
  return 0;
}

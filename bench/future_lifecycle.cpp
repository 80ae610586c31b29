/* Workload 1: the life of a future, against std::promise / std::future.
 *
 * future_lifecycle    create a future, complete it, read the result, drop
 *                     it; one thread; ns per future. Two variants: a void
 *                     result (xf_future_set_result(f, NULL) against
 *                     std::promise<void>) and an integer (a new int value,
 *                     which xfutures allocates, against std::promise<int>,
 *                     which stores it in its shared state).
 * future_callbacks    10,000 futures, each with one done callback, completed
 *                     by a second thread; the main thread makes them and
 *                     registers the callbacks, starts the completer, joins
 *                     it and reads every result. ns per future, thread start
 *                     included (the same for both). std::future has no
 *                     callbacks, so its anchor keeps a std::function beside
 *                     each promise and the completer calls it after
 *                     set_value, which is what a continuation added to
 *                     std::future would do.
 * loop_future         xf_loop_create_future + a done callback + set_result
 *                     + the loop running the callback, per future (the
 *                     asyncio.Future life cycle; bench/asyncio_future.py
 *                     measures asyncio's C futures the same way).
 *
 * Run: build/bench/bench/future_lifecycle [--quick] [--reps N]
 */
#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "bench.h"

static long lifecycle_n;
static long callbacks_n;

static double xf_void_once() {
  int64_t t0 = bench_now();
  for (long i = 0; i < lifecycle_n; i++) {
    xf_future_t *f;
    BENCH_CHECK(xf_future_new(&f));
    BENCH_CHECK(xf_future_set_result(f, NULL));
    xf_value_t *v;
    BENCH_CHECK(xf_future_result(f, 0, &v));
    xf_value_unref(v);
    xf_future_unref(f);
  }
  return (double) (bench_now() - t0) / (double) lifecycle_n;
}

static double xf_int_once() {
  int64_t t0 = bench_now(), sum = 0;
  for (long i = 0; i < lifecycle_n; i++) {
    xf_future_t *f;
    BENCH_CHECK(xf_future_new(&f));
    xf_value_t *v;
    BENCH_CHECK(xf_value_new_int(i, &v));
    BENCH_CHECK(xf_future_set_result(f, v));
    BENCH_CHECK(xf_future_result(f, 0, &v));
    int64_t x = 0;
    xf_value_get_int(v, &x);
    sum += x;
    xf_value_unref(v);
    xf_future_unref(f);
  }
  double ns = (double) (bench_now() - t0) / (double) lifecycle_n;
  if (sum != lifecycle_n * (lifecycle_n - 1) / 2)
    bench_die("xf int checksum");
  return ns;
}

static double std_void_once() {
  int64_t t0 = bench_now();
  for (long i = 0; i < lifecycle_n; i++) {
    std::promise<void> p;
    std::future<void> f = p.get_future();
    p.set_value();
    f.get();
  }
  return (double) (bench_now() - t0) / (double) lifecycle_n;
}

static double std_int_once() {
  int64_t t0 = bench_now(), sum = 0;
  for (long i = 0; i < lifecycle_n; i++) {
    std::promise<int64_t> p;
    std::future<int64_t> f = p.get_future();
    p.set_value(i);
    sum += f.get();
  }
  double ns = (double) (bench_now() - t0) / (double) lifecycle_n;
  if (sum != lifecycle_n * (lifecycle_n - 1) / 2)
    bench_die("std int checksum");
  return ns;
}

/* ---- 10,000 futures with a callback each, completed by another thread --- */

static std::atomic<long> fired;

static void on_done(xf_future_t *, void *) {
  fired.fetch_add(1, std::memory_order_relaxed);
}

static double xf_callbacks_once() {
  std::vector<xf_future_t *> fs((size_t) callbacks_n);
  fired = 0;
  int64_t t0 = bench_now();
  for (auto &f : fs) {
    BENCH_CHECK(xf_future_new(&f));
    BENCH_CHECK(xf_future_add_done_callback(f, on_done, NULL, NULL, NULL));
  }
  std::thread completer([&fs] {
    for (size_t i = 0; i < fs.size(); i++) {
      xf_value_t *v;
      BENCH_CHECK(xf_value_new_int((int64_t) i, &v));
      BENCH_CHECK(xf_future_set_result(fs[i], v));
    }
  });
  completer.join();
  int64_t sum = 0;
  for (auto f : fs) {
    xf_value_t *v;
    BENCH_CHECK(xf_future_result(f, 0, &v));
    int64_t x = 0;
    xf_value_get_int(v, &x);
    sum += x;
    xf_value_unref(v);
    xf_future_unref(f);
  }
  double ns = (double) (bench_now() - t0) / (double) callbacks_n;
  if (fired != callbacks_n || sum != callbacks_n * (callbacks_n - 1) / 2)
    bench_die("xf callbacks: %ld of %ld fired", fired.load(), callbacks_n);
  return ns;
}

struct std_slot {
  std::promise<int64_t> p;
  std::future<int64_t> f;
  std::function<void()> callback;
};

static double std_callbacks_once() {
  fired = 0;
  int64_t t0 = bench_now();
  std::vector<std::unique_ptr<std_slot>> slots((size_t) callbacks_n);
  for (auto &s : slots) {
    s.reset(new std_slot);
    s->f = s->p.get_future();
    s->callback = [] { fired.fetch_add(1, std::memory_order_relaxed); };
  }
  std::thread completer([&slots] {
    for (size_t i = 0; i < slots.size(); i++) {
      slots[i]->p.set_value((int64_t) i);
      slots[i]->callback();
    }
  });
  completer.join();
  int64_t sum = 0;
  for (auto &s : slots)
    sum += s->f.get();
  slots.clear();
  double ns = (double) (bench_now() - t0) / (double) callbacks_n;
  if (fired != callbacks_n || sum != callbacks_n * (callbacks_n - 1) / 2)
    bench_die("std callbacks: %ld of %ld fired", fired.load(), callbacks_n);
  return ns;
}

/* ---- Loop futures ------------------------------------------------------ */

static xf_loop_t *loop;
static long loop_fired;

static void on_loop_done(xf_future_t *, void *) {
  loop_fired++;
}

/* Batches of 1,000 futures: make them, add a callback each, finish them,
 * then let the loop run the callbacks; as asyncio_future.py does. */
static double xf_loop_future_once() {
  const long batch = 1000;
  std::vector<xf_future_t *> fs((size_t) batch);
  loop_fired = 0;
  int64_t t0 = bench_now();
  for (long done = 0; done < lifecycle_n; done += batch) {
    for (auto &f : fs) {
      BENCH_CHECK(xf_loop_create_future(loop, &f));
      BENCH_CHECK(xf_future_add_done_callback(f, on_loop_done, NULL, NULL, NULL));
    }
    for (auto f : fs)
      BENCH_CHECK(xf_future_set_result(f, NULL));
    BENCH_CHECK(xf_loop_run(loop, XF_RUN_NOWAIT));
    for (auto f : fs)
      xf_future_unref(f);
  }
  long n = (lifecycle_n + batch - 1) / batch * batch;
  double ns = (double) (bench_now() - t0) / (double) n;
  if (loop_fired != n)
    bench_die("loop futures: %ld of %ld callbacks ran", loop_fired, n);
  return ns;
}

static void run(const char *workload, const char *impl, long n, double (*once)()) {
  std::vector<double> v((size_t) bench_reps);
  if (!bench_selected(impl))
    return;
  once(); /* warm-up */
  for (auto &x : v)
    x = once();
  bench_emit(workload, impl, "ns/future", 1, n, v.data(), bench_reps, NULL);
}

int main(int argc, char **argv) {
  bench_init("future_lifecycle", argc, argv);
  lifecycle_n = bench_size(2000000, 20000);
  callbacks_n = 10000; /* the size the issue names; small enough for quick */

  run("future_lifecycle", "xfutures", lifecycle_n, xf_void_once);
  run("future_lifecycle", "std::promise<void>", lifecycle_n, std_void_once);
  run("future_lifecycle_int", "xfutures", lifecycle_n, xf_int_once);
  run("future_lifecycle_int", "std::promise<int64_t>", lifecycle_n, std_int_once);
  run("future_callbacks", "xfutures", callbacks_n, xf_callbacks_once);
  run("future_callbacks", "std::promise + std::function", callbacks_n,
      std_callbacks_once);

  BENCH_CHECK(xf_loop_new(&loop));
  run("loop_future", "xfutures", lifecycle_n, xf_loop_future_once);
  xf_loop_unref(loop);
  return 0;
}

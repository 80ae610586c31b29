/* Workload 5: timers, against libuv's.
 *
 * Insert n timers (1,000,000 in the full run) with deadlines spread at
 * random over the next 20 ms in whole milliseconds (libuv's resolution; the
 * same pseudo-random sequence for both), cancel every second one, then run
 * the loop until the rest have fired. Four measurements per library, each
 * the median of the repetitions, in ns per timer of the phase:
 *   timers_insert   xf_loop_call_later (keeping the handle, which cancelling
 *                   needs) / uv_timer_init + uv_timer_start on caller-owned
 *                   uv_timer_t in one array;
 *   timers_cancel   xf_handle_cancel + xf_handle_unref / uv_timer_stop, on
 *                   n/2 timers;
 *   timers_run      the loop running the n/2 left, per timer fired (the wait
 *                   for the last deadline is included when inserting took
 *                   less than 20 ms, as in the quick run);
 *   timers_total    the three together, per timer inserted.
 *
 * Run: build/bench/bench/timers [--quick] [--reps N]
 */
#include <uv.h>

#include "bench.h"

#define SPREAD_MS 20

static long n;
static int64_t *delays_ms;
static long fired;

/* ---- xfutures ---------------------------------------------------------- */

static xf_loop_t *loop;
static xf_handle_t **handles;

static void xf_fire(void *data) {
  (void) data;
  if (++fired == n / 2)
    xf_loop_stop(loop);
}

static void xf_once(double out[4]) {
  BENCH_CHECK(xf_loop_new(&loop));
  fired = 0;
  int64_t t0 = bench_now();
  for (long i = 0; i < n; i++)
    BENCH_CHECK(xf_loop_call_later(loop, delays_ms[i] * 1000000, xf_fire, NULL, NULL,
                                   &handles[i]));
  int64_t t1 = bench_now();
  for (long i = 0; i < n; i += 2)
    BENCH_CHECK(xf_handle_cancel(handles[i]));
  int64_t t2 = bench_now();
  BENCH_CHECK(xf_loop_run(loop, XF_RUN_DEFAULT));
  int64_t t3 = bench_now();
  if (fired != n / 2)
    bench_die("xfutures: %ld of %ld timers fired", fired, n / 2);
  for (long i = 0; i < n; i++)
    xf_handle_unref(handles[i]);
  xf_loop_unref(loop);
  out[0] = (double) (t1 - t0) / (double) n;
  out[1] = (double) (t2 - t1) / (double) (n / 2);
  out[2] = (double) (t3 - t2) / (double) (n / 2);
  out[3] = (double) (t3 - t0) / (double) n;
}

/* ---- libuv ------------------------------------------------------------- */

static uv_timer_t *uv_timers;

static void uv_fire(uv_timer_t *t) {
  (void) t;
  fired++;
}

static void libuv_once(double out[4]) {
  uv_loop_t l;
  uv_loop_init(&l);
  fired = 0;
  int64_t t0 = bench_now();
  for (long i = 0; i < n; i++) {
    uv_timer_init(&l, &uv_timers[i]);
    uv_timer_start(&uv_timers[i], uv_fire, (uint64_t) delays_ms[i], 0);
  }
  int64_t t1 = bench_now();
  for (long i = 0; i < n; i += 2)
    uv_timer_stop(&uv_timers[i]);
  int64_t t2 = bench_now();
  uv_run(&l, UV_RUN_DEFAULT);
  int64_t t3 = bench_now();
  if (fired != n / 2)
    bench_die("libuv: %ld of %ld timers fired", fired, n / 2);
  /* Stopped timers are still handles of the loop; closing them all is
   * bookkeeping, not timer work, and stays outside the timing. */
  for (long i = 0; i < n; i++)
    uv_close((uv_handle_t *) &uv_timers[i], NULL);
  uv_run(&l, UV_RUN_DEFAULT);
  uv_loop_close(&l);
  out[0] = (double) (t1 - t0) / (double) n;
  out[1] = (double) (t2 - t1) / (double) (n / 2);
  out[2] = (double) (t3 - t2) / (double) (n / 2);
  out[3] = (double) (t3 - t0) / (double) n;
}

static void run(const char *impl, void (*once)(double out[4])) {
  static const char *names[4] = {"timers_insert", "timers_cancel", "timers_run",
                                 "timers_total"};
  double v[4][64], one[4];
  if (!bench_selected(impl))
    return;
  once(one);
  for (int r = 0; r < bench_reps; r++) {
    once(one);
    for (int k = 0; k < 4; k++)
      v[k][r] = one[k];
  }
  for (int k = 0; k < 4; k++)
    bench_emit(names[k], impl, "ns/timer", 1, n, v[k], bench_reps, NULL);
}

int main(int argc, char **argv) {
  bench_init("timers", argc, argv);
  if (bench_reps > 64)
    bench_reps = 64;
  n = bench_size(1000000, 20000);
  delays_ms = malloc(sizeof *delays_ms * (size_t) n);
  handles = malloc(sizeof *handles * (size_t) n);
  uv_timers = malloc(sizeof *uv_timers * (size_t) n);
  if (delays_ms == NULL || handles == NULL || uv_timers == NULL)
    bench_die("out of memory");
  uint64_t x = 88172645463325252u; /* xorshift64: the same sequence every run */
  for (long i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    delays_ms[i] = (int64_t) (x % SPREAD_MS);
  }
  run("xfutures", xf_once);
  run("libuv", libuv_once);
  free(delays_ms);
  free(handles);
  free(uv_timers);
  return 0;
}

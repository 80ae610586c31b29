/* The cost of one cross-thread closure call.
 *
 * A producer thread calls a closure whose owner loop runs on the main
 * thread, and the program prints nanoseconds per call for:
 *   - a void closure ("void(int64)"): the producer posts and goes on, so this
 *     is throughput — the time from the first call until the loop has run the
 *     last handler, divided by the number of calls;
 *   - an int-returning closure ("int64(int64)"): each call waits for the
 *     loop's answer, so this is the round-trip latency;
 *   - the same void traffic through a plain xf_loop_call_soon_threadsafe, the
 *     queue the closure rides on, for comparison;
 *   - an inline closure call (no owner loop), the cost of the trampoline and
 *     the value conversions alone.
 *
 * Each is printed as a JSON line (see bench.h) and a line on stderr. The
 * round trip uses a tenth of the calls.
 *
 * Build and run (make bench does both, through bench/run.py):
 *   cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DXF_BENCH=ON
 *   cmake --build build/bench -j2 --target bench_closure_call
 *   build/bench/bench/closure_call [--quick] [--reps N] [calls]
 *                                  (default 1000000 calls, 20000 quick)
 */
#include <pthread.h>
#include <stdatomic.h>

#include "bench.h"

static long calls = 1000000;
static xf_loop_t *loop;
static long received;

#define CHECK(expr)                                                                      \
  do {                                                                                   \
    int rc_ = (expr);                                                                    \
    if (rc_ != XF_OK) {                                                                  \
      fprintf(stderr, "%s failed: %s\n", #expr, xf_err_name(rc_));                       \
      exit(1);                                                                           \
    }                                                                                    \
  } while (0)

/* Loop thread: count, and stop the loop after the last call. */
static void count_one(void) {
  if (++received == calls)
    xf_loop_stop(loop);
}

static int on_void(void *data, xf_value_t *const *args, size_t nargs,
                   xf_value_t **result) {
  (void) data;
  (void) args;
  (void) nargs;
  (void) result;
  count_one();
  return XF_OK;
}

static int on_int(void *data, xf_value_t *const *args, size_t nargs,
                  xf_value_t **result) {
  (void) data;
  (void) nargs;
  int64_t i = 0;
  xf_value_get_int(args[0], &i);
  return xf_value_new_int(i + 1, result);
}

static void on_plain(void *data) {
  (void) data;
  count_one();
}

typedef struct job {
  void *code;
  int mode; /* 0 void closure, 1 int closure, 2 plain call_soon_threadsafe */
} job_t;

static void *producer(void *arg) {
  job_t *job = arg;
  if (job->mode == 0) {
    void (*fn)(int64_t) = (void (*)(int64_t)) job->code;
    for (long i = 0; i < calls; i++)
      fn(i);
  } else if (job->mode == 1) {
    int64_t (*fn)(int64_t) = (int64_t(*)(int64_t)) job->code;
    for (long i = 0; i < calls; i++)
      if (fn(i) != i + 1) {
        fprintf(stderr, "wrong answer\n");
        exit(1);
      }
    xf_loop_stop(loop);
  } else {
    for (long i = 0; i < calls; i++)
      CHECK(xf_loop_call_soon_threadsafe(loop, on_plain, NULL, NULL));
  }
  return NULL;
}

/* Run the producer against the loop; nanoseconds per call. */
static double measure(job_t *job) {
  received = 0;
  pthread_t t;
  int64_t start = xf_now();
  if (pthread_create(&t, NULL, producer, job) != 0)
    exit(1);
  CHECK(xf_loop_run(loop, XF_RUN_DEFAULT));
  int64_t end = xf_now();
  pthread_join(t, NULL);
  return (double) (end - start) / (double) calls;
}

static double measure_reps(job_t *job, long n, double *v) {
  calls = n;
  for (int r = 0; r < bench_reps; r++)
    v[r] = measure(job);
  return v[0];
}

int main(int argc, char **argv) {
  bench_init("closure_call", argc, argv);
  if (bench_reps > 64)
    bench_reps = 64;
  long full = bench_size(1000000, 20000);
  /* The old interface: a bare number is the call count. */
  for (int i = 1; i < argc; i++)
    if (argv[i][0] >= '0' && argv[i][0] <= '9' &&
        (i == 1 || strcmp(argv[i - 1], "--reps")))
      full = atol(argv[i]);
  if (full <= 0)
    full = 1000000;
  CHECK(xf_loop_new(&loop));
  xf_closure_t *cv, *ci, *cn;
  CHECK(xf_closure_new("void(int64)", on_void, NULL, NULL, loop, &cv));
  CHECK(xf_closure_new("int64(int64)", on_int, NULL, NULL, loop, &ci));
  CHECK(xf_closure_new("int64(int64)", on_int, NULL, NULL, NULL, &cn));

  job_t jv = {xf_closure_code(cv), 0}, ji = {xf_closure_code(ci), 1}, jp = {NULL, 2};
  /* A warm-up round of each, so thread start-up and first touches of memory
   * do not count. */
  calls = full / 10 > 0 ? full / 10 : 1;
  measure(&jv);
  measure(&ji);
  measure(&jp);

  double v[64];
  measure_reps(&jv, full, v);
  bench_emit("closure_void_call", "xfutures", "ns/call", 1, full, v, bench_reps,
             "\"note\": \"cross-thread, throughput\"");
  measure_reps(&jp, full, v);
  bench_emit("closure_void_call", "xfutures call_soon_threadsafe", "ns/call", 1, full, v,
             bench_reps, "\"note\": \"the queue the closure rides on\"");
  long int_calls = full / 10 > 0 ? full / 10 : 1;
  measure_reps(&ji, int_calls, v);
  bench_emit("closure_int_call", "xfutures", "ns/call", 1, int_calls, v, bench_reps,
             "\"note\": \"cross-thread, round trip\"");

  int64_t (*inline_fn)(int64_t) = (int64_t(*)(int64_t)) xf_closure_code(cn);
  int64_t sum = 0;
  for (int r = 0; r < bench_reps; r++) {
    int64_t start = xf_now();
    for (long i = 0; i < full; i++)
      sum += inline_fn(i);
    v[r] = (double) (xf_now() - start) / (double) full;
  }
  if (sum == 0)
    bench_die("inline closure checksum");
  bench_emit("closure_inline_call", "xfutures", "ns/call", 1, full, v, bench_reps,
             "\"note\": \"no owner loop: trampoline and conversions\"");

  xf_closure_unref(cv);
  xf_closure_unref(ci);
  xf_closure_unref(cn);
  xf_loop_unref(loop);
  return 0;
}

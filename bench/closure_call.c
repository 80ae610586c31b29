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
 * Build and run:
 *   cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DXF_BENCH=ON
 *   cmake --build build/bench -j2 --target bench_closure_call
 *   build/bench/bench/closure_call [calls]     (default 1000000)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <xf/xf.h>

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

int main(int argc, char **argv) {
  if (argc > 1)
    calls = atol(argv[1]);
  if (calls <= 0)
    calls = 1000000;
  CHECK(xf_loop_new(&loop));
  xf_closure_t *cv, *ci, *cn;
  CHECK(xf_closure_new("void(int64)", on_void, NULL, NULL, loop, &cv));
  CHECK(xf_closure_new("int64(int64)", on_int, NULL, NULL, loop, &ci));
  CHECK(xf_closure_new("int64(int64)", on_int, NULL, NULL, NULL, &cn));

  job_t jv = {xf_closure_code(cv), 0}, ji = {xf_closure_code(ci), 1}, jp = {NULL, 2};
  /* A warm-up round of each, so thread start-up and first touches of memory
   * do not count. */
  long full = calls;
  calls = full / 10 > 0 ? full / 10 : 1;
  measure(&jv);
  measure(&ji);
  measure(&jp);
  calls = full;

  double void_ns = measure(&jv);
  double plain_ns = measure(&jp);
  long int_calls = calls / 10 > 0 ? calls / 10 : 1;
  calls = int_calls;
  double int_ns = measure(&ji);
  calls = full;

  int64_t (*inline_fn)(int64_t) = (int64_t(*)(int64_t)) xf_closure_code(cn);
  int64_t start = xf_now(), sum = 0;
  for (long i = 0; i < calls; i++)
    sum += inline_fn(i);
  double inline_ns = (double) (xf_now() - start) / (double) calls;

  printf("cross-thread void closure call     %8.1f ns/call  (%ld calls, throughput)\n",
         void_ns, full);
  printf("cross-thread int64 closure call    %8.1f ns/call  (%ld calls, round trip)\n",
         int_ns, int_calls);
  printf("plain call_soon_threadsafe         %8.1f ns/call  (%ld calls, throughput)\n",
         plain_ns, full);
  printf("inline closure call (no owner)     %8.1f ns/call  (%ld calls; checksum %lld)\n",
         inline_ns, full, (long long) sum);

  xf_closure_unref(cv);
  xf_closure_unref(ci);
  xf_closure_unref(cn);
  xf_loop_unref(loop);
  return 0;
}

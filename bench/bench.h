/* What every benchmark program shares: sizes, repetitions, the clock and
 * the JSON line each measurement becomes.
 *
 * A program runs xfutures and its anchors in the same process, each
 * repeated reps times, and prints one JSON object per measurement on its
 * own line on stdout:
 *
 *   {"program": "pool_bulk", "workload": "pool_bulk", "impl": "xfutures",
 *    "unit": "ns/task", "value": 123.4, "min": ..., "max": ..., "n": 1000000,
 *    "reps": 5, "lower_is_better": true, ...extra fields}
 *
 * value is the median of the repetitions. Everything else a program says
 * goes to stderr, so stdout stays one object per line for bench/run.py.
 *
 * Quick mode (XF_BENCH_QUICK=1 in the environment, or --quick as the first
 * argument) shrinks every size so that the whole suite runs in seconds:
 * it checks that the programs work and produce their lines, not how fast.
 *
 * XF_BENCH_ONLY=TEXT runs only the implementations whose name contains TEXT
 * (the programs that honour it: pool_bulk, timers, future_lifecycle), which
 * is what a profile wants:
 *   XF_BENCH_ONLY=xfutures perf record -g build/bench/bench/pool_bulk
 *
 * Header-only and valid C and C++: the anchors for std::promise and TBB
 * are C++ programs.
 */
#ifndef XF_BENCH_H
#define XF_BENCH_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xf/xf.h>

#ifdef __cplusplus
#define BENCH_UNUSED [[maybe_unused]]
#else
#define BENCH_UNUSED __attribute__((unused))
#endif

static int bench_quick_mode;
static int bench_reps = 5;
static const char *bench_program = "bench";

/* Parse the common arguments: --quick, --reps N. Call first in main. */
BENCH_UNUSED static void bench_init(const char *program, int argc, char **argv) {
  bench_program = program;
  const char *env = getenv("XF_BENCH_QUICK");
  if (env != NULL && env[0] != '\0' && strcmp(env, "0") != 0)
    bench_quick_mode = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      bench_quick_mode = 1;
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
      bench_reps = atoi(argv[++i]);
  }
  if (bench_quick_mode)
    bench_reps = 3;
  if (bench_reps < 1)
    bench_reps = 1;
}

/* Whether impl is selected by XF_BENCH_ONLY (all are when it is unset). */
BENCH_UNUSED static int bench_selected(const char *impl) {
  const char *only = getenv("XF_BENCH_ONLY");
  return only == NULL || only[0] == '\0' || strstr(impl, only) != NULL;
}

/* full in the full run, quick in quick mode. */
BENCH_UNUSED static long bench_size(long full, long quick) {
  return bench_quick_mode ? quick : full;
}

/* Monotonic nanoseconds. */
BENCH_UNUSED static int64_t bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

BENCH_UNUSED static void bench_die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", bench_program);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

#define BENCH_CHECK(expr)                                                                \
  do {                                                                                   \
    int rc_ = (expr);                                                                    \
    if (rc_ < 0)                                                                         \
      bench_die("%s failed: %s", #expr, xf_err_name(rc_));                               \
  } while (0)

static int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* Print one measurement: the median, min and max of v[0..reps). extra, if
 * not NULL, is appended inside the object verbatim (", \"k\": 1" style
 * without the leading comma: bench_emit adds it). */
BENCH_UNUSED static void bench_emit(const char *workload, const char *impl,
                                    const char *unit, int lower_is_better, long n,
                                    const double *v, int reps, const char *extra) {
  double *s = (double *) malloc(sizeof(double) * (size_t) reps);
  if (s == NULL)
    bench_die("out of memory");
  memcpy(s, v, sizeof(double) * (size_t) reps);
  qsort(s, (size_t) reps, sizeof(double), bench_cmp_double);
  double median = reps % 2 ? s[reps / 2] : (s[reps / 2 - 1] + s[reps / 2]) / 2;
  printf("{\"program\": \"%s\", \"workload\": \"%s\", \"impl\": \"%s\", "
         "\"unit\": \"%s\", \"value\": %.6g, \"min\": %.6g, \"max\": %.6g, "
         "\"n\": %ld, \"reps\": %d, \"lower_is_better\": %s, \"quick\": %s%s%s}\n",
         bench_program, workload, impl, unit, median, s[0], s[reps - 1], n, reps,
         lower_is_better ? "true" : "false", bench_quick_mode ? "true" : "false",
         extra != NULL ? ", " : "", extra != NULL ? extra : "");
  fflush(stdout);
  fprintf(stderr, "%-22s %-34s %12.1f %s\n", workload, impl, median, unit);
  free(s);
}

#endif /* XF_BENCH_H */

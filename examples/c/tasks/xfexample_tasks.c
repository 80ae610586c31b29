/* The tasks of the C process-pool examples (23_*): ordinary C functions in
 * a shared library, because a process pool names its work by library,
 * symbol and signature (xf/process.h) so that a worker process, xfworker,
 * can load it. Each function is also called directly by the examples where
 * they run the same work in their own process. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define XFEX_API __attribute__((visibility("default")))

/* "int64(int64)": how many primes are below limit, by trial division (CPU
 * work, on purpose the slow way). */
XFEX_API int64_t xfex_count_primes(int64_t limit) {
  int64_t count = 0;
  for (int64_t n = 2; n < limit; n++) {
    int64_t d = 2;
    while (d * d <= n && n % d != 0)
      d++;
    if (d * d > n)
      count++;
  }
  return count;
}

/* "int64(int64, string, int64, int64)": count the primes below limit, then
 * meet the other parties - 1 tasks of the same meeting: leave the file
 * <base>.<index> and wait until <base>.1 ... <base>.<parties> all exist.
 * Tasks that all meet ran at the same time, each in its own worker (a
 * worker runs one task at a time). Returns the count, or -1 when the others
 * did not come within 30 seconds (a bound that only ends a hang). The files
 * are the caller's to remove. */
XFEX_API int64_t xfex_count_primes_and_meet(int64_t limit, const char *base,
                                            int64_t index, int64_t parties) {
  int64_t count = xfex_count_primes(limit);
  char path[4096];
  snprintf(path, sizeof path, "%s.%lld", base, (long long) index);
  FILE *mark = fopen(path, "w");
  if (!mark)
    return -1;
  fclose(mark);
  for (int waited_ms = 0; waited_ms < 30000; waited_ms += 2) {
    int64_t here = 0;
    for (int64_t i = 1; i <= parties; i++) {
      snprintf(path, sizeof path, "%s.%lld", base, (long long) i);
      here += access(path, F_OK) == 0;
    }
    if (here == parties)
      return count;
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
  return -1;
}

/* "int64(int64, int64)": task n of the random-failures example, with the
 * draw its caller made for it: it fails when the draw is below 30. C has no
 * exceptions, so it reports the failure the C way, by its return value
 * (-1), and the example turns that into a failed future. Otherwise n * n. */
XFEX_API int64_t xfex_risky_task(int64_t n, int64_t draw) {
  return draw < 30 ? -1 : n * n;
}

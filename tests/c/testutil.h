/* Helpers shared by the C test suites: an allocator that counts and can be
 * told to fail, so that every allocation point of the library can be tested.
 *
 * Install it once, before the library allocates anything (the first lines of
 * main), because memory is freed by whichever allocator is installed at the
 * time:
 *
 *   int main(void) {
 *     xft_alloc_install();
 *     ...
 *   }
 *
 * All functions are thread-safe.
 */
#ifndef XFT_TESTUTIL_H
#define XFT_TESTUTIL_H

#include <stdbool.h>

/* Installs the counting allocator with xf_set_allocator and resets the
 * counters. */
void xft_alloc_install(void);

/* Makes the n-th allocation from now fail (0: the next one). A realloc counts
 * as an allocation. The failure happens once; later allocations succeed.
 * A negative n disarms a failure that has not happened yet. */
void xft_alloc_fail_at(long n);

/* Makes the n-th allocation from now fail (0: the next one) and every
 * allocation after it, until xft_alloc_fail_at(-1) disarms the failure: the
 * process has run out of memory for good, as far as xfutures can tell. */
void xft_alloc_fail_from(long n);

/* Whether the failure armed by the last xft_alloc_fail_at(n >= 0) or
 * xft_alloc_fail_from has happened. Disarming with a negative n does not
 * reset it. */
bool xft_alloc_failed(void);

/* Allocations made to fail (by either call above) since install. */
long xft_alloc_failures(void);

/* Blocks obtained through the hook and not freed yet. */
long xft_alloc_live(void);

/* Allocations (malloc and realloc calls, successful or not) since install. */
long xft_alloc_count(void);

/* The state of XFT_FOR_EACH_ALLOC_FAILURE; not for direct use. */
typedef struct xft_alloc_loop {
  long n;    /* the allocation failed in this pass */
  long base; /* live blocks before the loop */
  bool done;
} xft_alloc_loop_t;
xft_alloc_loop_t xft__alloc_loop_begin(void);
void xft__alloc_loop_next(xft_alloc_loop_t *loop);

/* Runs the statement that follows once for every allocation the operation in
 * it makes, failing that allocation, and then once more with no failure:
 *
 *   XFT_FOR_EACH_ALLOC_FAILURE(n) {
 *     xf_value_t *v;
 *     int rc = xf_value_new_string("abc", 3, &v);
 *     if (rc == XF_ENOMEM)
 *       continue;                  // failed cleanly; try the next point
 *     ck_assert_int_eq(rc, XF_OK); // the run in which nothing failed
 *     xf_value_unref(v);
 *   }
 *
 * Before pass n (0, 1, 2, ...) the n-th allocation from that point is set to
 * fail. After each pass the number of live blocks must be back where it was
 * before the loop (the body frees whatever it made), otherwise the test
 * fails with the pass number. The loop ends after the first pass in which the
 * armed failure did not happen, that is once the operation has been run
 * through without hitting it.
 *
 * Make the operation's inputs before the loop, so that the counting starts at
 * the operation. If the body allocates after the operation (to check its
 * result), call xft_alloc_fail_at(-1) right after the operation so that the
 * failure cannot land there. Leave a pass with continue, never with break or
 * return. n is a long, readable in the body. */
#define XFT_FOR_EACH_ALLOC_FAILURE(n)                                                    \
  for (xft_alloc_loop_t xft__loop = xft__alloc_loop_begin(); !xft__loop.done;            \
       xft__alloc_loop_next(&xft__loop))                                                 \
    for (long n = xft__loop.n, xft__once = 1; xft__once; xft__once = 0, (void) n)

#include <check.h>

/* A suite's whole main: installs the counting allocator (before anything is
 * allocated), runs the suite and returns the process exit status. */
int xft_main(Suite *suite);

/* Small helpers the suites share; each fails the running test on an
 * unexpected error code. */
#include <xf/xf.h>

#define MS 1000000LL /* nanoseconds in a millisecond */

/* A new int value. */
xf_value_t *xft_int(int64_t i);

/* Wait for f and return the int it holds. */
int64_t xft_result_int(xf_future_t *f);

/* A thread pool with this many workers. */
xf_executor_t *xft_pool(uint32_t workers);

/* A new loop, and closing and releasing one. */
xf_loop_t *xft_loop(void);
void xft_loop_free(xf_loop_t *loop);

/* Sleep this many nanoseconds. */
void xft_sleep_ns(int64_t ns);

#endif /* XFT_TESTUTIL_H */

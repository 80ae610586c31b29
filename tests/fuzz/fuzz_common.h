/* What the fuzzers share: a counting allocator installed with
 * xf_set_allocator, which can also fail the n-th allocation, a byte reader
 * over the fuzzer's input, and the check that stops a run.
 *
 * The allocator counts live blocks (malloc and a realloc of NULL add one,
 * free of a block removes one) with atomics, because the thread pool's
 * workers allocate too. A fuzzer compares the count before and after one
 * input: every block the library took for that input must be back.
 */
#ifndef XF_FUZZ_COMMON_H
#define XF_FUZZ_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xf/xf.h"

/* A broken invariant: say which, then trap, so that libFuzzer reports the
 * input with a stack. */
#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n", __FILE__, __LINE__,        \
              #cond);                                                                    \
      abort();                                                                           \
    }                                                                                    \
  } while (0)

#define FUZZ_CHECKF(cond, ...)                                                           \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "fuzz invariant broken at %s:%d: %s: ", __FILE__, __LINE__,        \
              #cond);                                                                    \
      fprintf(stderr, __VA_ARGS__);                                                      \
      fputc('\n', stderr);                                                               \
      abort();                                                                           \
    }                                                                                    \
  } while (0)

static _Atomic long fuzz_live_blocks;
/* Failures are armed for one thread, the fuzzer's: allocations that other
 * threads (the pool's workers) make meanwhile are neither counted nor
 * failed, so which one fails does not depend on timing. */
static _Thread_local unsigned long fuzz_alloc_count;
static _Thread_local unsigned long fuzz_fail_at; /* 0: never fail */

/* Whether this allocation is the one to fail. */
static inline bool fuzz_alloc_should_fail(void) {
  return fuzz_fail_at != 0 && ++fuzz_alloc_count == fuzz_fail_at;
}

/* Whether an allocation failure is armed in this thread. */
static inline bool fuzz_failing_here(void) {
  return fuzz_fail_at != 0;
}

static void *fuzz_malloc(size_t size) {
  if (fuzz_alloc_should_fail())
    return NULL;
  void *p = malloc(size);
  if (p)
    atomic_fetch_add(&fuzz_live_blocks, 1);
  return p;
}

static void *fuzz_realloc(void *ptr, size_t size) {
  if (fuzz_alloc_should_fail())
    return NULL;
  void *p = realloc(ptr, size);
  if (p && !ptr)
    atomic_fetch_add(&fuzz_live_blocks, 1);
  return p;
}

static void fuzz_free(void *ptr) {
  if (ptr)
    atomic_fetch_sub(&fuzz_live_blocks, 1);
  free(ptr);
}

/* Installed once, before the library allocates anything, and never
 * removed: memory is freed by whatever hook is installed at that moment. */
static inline void fuzz_install_allocator(void) {
  FUZZ_CHECK(xf_set_allocator(fuzz_malloc, fuzz_realloc, fuzz_free) == XF_OK);
}

/* Arm the failure of this thread's n-th allocation from now (0: none). */
static inline void fuzz_fail_nth(unsigned long n) {
  fuzz_alloc_count = 0;
  fuzz_fail_at = n;
}

static inline long fuzz_live(void) {
  return atomic_load(&fuzz_live_blocks);
}

/* The end of an input: every block allocated since before is freed. To see
 * where leaked blocks were allocated, set FUZZ_LEAKS_BY_LSAN=1: the count is
 * then only printed, and LeakSanitizer reports the blocks it finds
 * unreachable, with their allocation stacks, and fails the run. */
static inline void fuzz_check_leaks(long before) {
  long leaked = fuzz_live() - before;
  if (leaked && getenv("FUZZ_LEAKS_BY_LSAN")) {
    fprintf(stderr, "%ld blocks leaked; LeakSanitizer says where\n", leaked);
    return;
  }
  FUZZ_CHECKF(leaked == 0, "%ld blocks leaked", leaked);
}

/* The input, read front to back; past its end every read gives zeros, so
 * any input is a complete program. */
typedef struct fuzz_in {
  const uint8_t *p;
  size_t n;
} fuzz_in_t;

static inline bool fuzz_more(const fuzz_in_t *in) {
  return in->n > 0;
}

static inline uint8_t fuzz_u8(fuzz_in_t *in) {
  if (!in->n)
    return 0;
  in->n--;
  return *in->p++;
}

static inline uint16_t fuzz_u16(fuzz_in_t *in) {
  uint16_t hi = fuzz_u8(in);
  return (uint16_t) (hi << 8 | fuzz_u8(in));
}

static inline uint64_t fuzz_u64(fuzz_in_t *in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | fuzz_u8(in);
  return v;
}

/* Up to max bytes, borrowed from the input; *len receives how many. */
static inline const uint8_t *fuzz_bytes(fuzz_in_t *in, size_t max, size_t *len) {
  size_t n = max < in->n ? max : in->n;
  const uint8_t *p = in->p;
  in->p += n;
  in->n -= n;
  *len = n;
  return p;
}

#endif /* XF_FUZZ_COMMON_H */

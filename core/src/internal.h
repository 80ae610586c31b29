/* Internal helpers shared by the core's files: allocation through the hook,
 * atomics, a futex-based lock and futex waits. Nothing here is published. */
#ifndef XF_INTERNAL_H
#define XF_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "xf/xf.h"

#define XF__HIDDEN      __attribute__((visibility("hidden")))
#define XF__LIKELY(x)   __builtin_expect(!!(x), 1)
#define XF__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define XF__CONTAINER_OF(ptr, type, member)                                              \
  ((type *) (void *) ((char *) (ptr) -offsetof(type, member)))

/* Allocation: every byte xfutures allocates goes through these. */
XF__HIDDEN void *xf__malloc(size_t size);
XF__HIDDEN void *xf__calloc(size_t n, size_t size);
XF__HIDDEN void *xf__realloc(void *p, size_t size);
XF__HIDDEN void xf__free(void *p);
/* A copy of s (NULL gives NULL with ok set), or NULL on failure. */
XF__HIDDEN char *xf__strdup(const char *s);

/* Futex waits on a 32-bit word. wait returns when *addr != expected, on a
 * wake, on a spurious wake-up or when the absolute monotonic deadline
 * (negative: none) passes; callers re-check their condition. */
XF__HIDDEN void xf__futex_wait(_Atomic uint32_t *addr, uint32_t expected,
                               int64_t deadline_ns);
XF__HIDDEN void xf__futex_wake(_Atomic uint32_t *addr, int count);

/* A deadline for a timeout: -1 for forever, else now + timeout. */
static inline int64_t xf__deadline(int64_t timeout_ns) {
  if (timeout_ns < 0)
    return -1;
  if (timeout_ns == 0)
    return 0;
  int64_t now = xf_now();
  return timeout_ns > INT64_MAX - now ? -1 : now + timeout_ns;
}

static inline void xf__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* Spinning before sleeping: a waiter that expects an event soon spins for
 * about what a sleep and wake-up would cost (a futex round trip is some tens
 * of microseconds on the slow-syscall machines this targets), then sleeps.
 * The budget is in time, not iterations: a PAUSE instruction costs from ten
 * to over a hundred cycles depending on the CPU. */
#define XF__SPIN_NS 30000

typedef struct xf__spin {
  int64_t until; /* 0 until the first clock read */
  unsigned n;
} xf__spin_t;

/* One spin step: false once the budget is spent. Reads the clock every 64
 * steps only. */
static inline bool xf__spin_step(xf__spin_t *s) {
  xf__cpu_relax();
  if ((++s->n & 63) != 0)
    return true;
  int64_t now = xf_now();
  if (!s->until)
    s->until = now + XF__SPIN_NS;
  return now < s->until;
}

/* A small mutex on one futex word (0 free, 1 locked, 2 locked with
 * waiters). It spins briefly before sleeping because the critical sections it
 * guards are a few dozen instructions long. */
typedef struct xf__lock {
  _Atomic uint32_t word;
} xf__lock_t;
#define XF__LOCK_INIT                                                                    \
  { 0 }

static inline void xf__lock_init(xf__lock_t *l) {
  atomic_init(&l->word, 0);
}

XF__HIDDEN void xf__lock_slow(xf__lock_t *l);

static inline void xf__lock(xf__lock_t *l) {
  uint32_t expected = 0;
  if (XF__LIKELY(atomic_compare_exchange_weak_explicit(
          &l->word, &expected, 1, memory_order_acquire, memory_order_relaxed)))
    return;
  xf__lock_slow(l);
}

static inline void xf__unlock(xf__lock_t *l) {
  if (XF__UNLIKELY(atomic_exchange_explicit(&l->word, 0, memory_order_release) == 2))
    xf__futex_wake(&l->word, 1);
}

/* A preallocated, immortal MemoryError (code XF_ENOMEM) for the places that
 * must report a failure when nothing can be allocated. ref/unref on it are
 * harmless. Provided by error.c. */
XF__HIDDEN xf_error_t *xf__error_oom(void);

/* Fork generations (fork.c): a number that the child of every fork()
 * increments. An object records xf__fork_gen() when it is made (which also
 * installs the fork handler), and xf__forked tells whether the object was
 * inherited from a parent process since. */
XF__HIDDEN extern _Atomic uint32_t xf__fork_generation;
XF__HIDDEN uint32_t xf__fork_gen(void);

static inline bool xf__forked(uint32_t gen) {
  return XF__UNLIKELY(atomic_load_explicit(&xf__fork_generation, memory_order_relaxed) !=
                      gen);
}

/* Number of online CPUs (at least 1). */
XF__HIDDEN int xf__cpu_count(void);

#endif /* XF_INTERNAL_H */

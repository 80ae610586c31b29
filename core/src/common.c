/* Error names, version, clock, the allocation hook and the futex helpers. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

const char *xf_strerror(int code) {
  switch (code) {
#define XF__ERRNO_TEXT(name, value, text, type)                                          \
  case value:                                                                            \
    return text;
    XF_ERRNO_MAP(XF__ERRNO_TEXT)
#undef XF__ERRNO_TEXT
  }
  return "unknown error";
}

const char *xf_err_name(int code) {
  switch (code) {
#define XF__ERRNO_NAME(name, value, text, type)                                          \
  case value:                                                                            \
    return "XF_" #name;
    XF_ERRNO_MAP(XF__ERRNO_NAME)
#undef XF__ERRNO_NAME
  }
  return "XF_UNKNOWN";
}

#define XF__STR2(x) #x
#define XF__STR(x)  XF__STR2(x)

const char *xf_version(void) {
  return XF__STR(XF_VERSION_MAJOR) "." XF__STR(XF_VERSION_MINOR) "." XF__STR(
      XF_VERSION_PATCH);
}

int xf_abi_version(void) {
  return XF_ABI_VERSION;
}

int64_t xf_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The hook is read on every allocation; it is set before objects exist, so
 * relaxed atomics are enough to keep the accesses well-defined. */
static _Atomic(xf_malloc_fn) xf__malloc_fn = malloc;
static _Atomic(xf_realloc_fn) xf__realloc_fn = realloc;
static _Atomic(xf_free_fn) xf__free_fn = free;

int xf_set_allocator(xf_malloc_fn malloc_fn, xf_realloc_fn realloc_fn,
                     xf_free_fn free_fn) {
  if (!malloc_fn && !realloc_fn && !free_fn) {
    malloc_fn = malloc;
    realloc_fn = realloc;
    free_fn = free;
  } else if (!malloc_fn || !realloc_fn || !free_fn) {
    return XF_EINVAL;
  }
  atomic_store_explicit(&xf__malloc_fn, malloc_fn, memory_order_relaxed);
  atomic_store_explicit(&xf__realloc_fn, realloc_fn, memory_order_relaxed);
  atomic_store_explicit(&xf__free_fn, free_fn, memory_order_relaxed);
  return XF_OK;
}

bool xf__alloc_is_default(void) {
  return atomic_load_explicit(&xf__malloc_fn, memory_order_relaxed) == malloc;
}

void *xf__malloc(size_t size) {
  return atomic_load_explicit(&xf__malloc_fn, memory_order_relaxed)(size ? size : 1);
}

void *xf__calloc(size_t n, size_t size) {
  if (size && n > SIZE_MAX / size)
    return NULL;
  size_t bytes = n * size;
  void *p = xf__malloc(bytes);
  if (p && bytes)
    memset(p, 0, bytes);
  return p;
}

void *xf__realloc(void *p, size_t size) {
  return atomic_load_explicit(&xf__realloc_fn, memory_order_relaxed)(p, size ? size : 1);
}

void xf__free(void *p) {
  if (p)
    atomic_load_explicit(&xf__free_fn, memory_order_relaxed)(p);
}

char *xf__strdup(const char *s) {
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = xf__malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

void xf__futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t deadline_ns) {
  struct timespec ts, *tsp = NULL;
  if (deadline_ns >= 0) {
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so a
     * spurious wake-up does not stretch the wait. */
    ts.tv_sec = deadline_ns / 1000000000;
    ts.tv_nsec = deadline_ns % 1000000000;
    tsp = &ts;
  }
  syscall(SYS_futex, (uint32_t *) addr, FUTEX_WAIT_BITSET_PRIVATE, expected, tsp, NULL,
          FUTEX_BITSET_MATCH_ANY);
}

void xf__futex_wake(_Atomic uint32_t *addr, int count) {
  syscall(SYS_futex, (uint32_t *) addr, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

void xf__lock_slow(xf__lock_t *l) {
  for (int i = 0; i < 100; i++) {
    uint32_t expected = 0;
    if (atomic_compare_exchange_weak_explicit(&l->word, &expected, 1,
                                              memory_order_acquire, memory_order_relaxed))
      return;
    xf__cpu_relax();
  }
  while (atomic_exchange_explicit(&l->word, 2, memory_order_acquire) != 0)
    xf__futex_wait(&l->word, 2, -1);
}

int xf__cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (n > INT_MAX ? INT_MAX : (int) n);
}

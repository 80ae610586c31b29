/* Per-thread caches of small blocks: the memory of futures, done-callback
 * records and loop handles, recycled to the thread that allocated it.
 *
 * Design notes
 * ------------
 * Why. A future is allocated by the thread that submits a task and freed by
 * the worker that ran it (or by the loop that ran its callbacks). With the C
 * library's allocator, such frees land in the allocating thread's arena
 * under that arena's lock, its per-thread cache never refills, and the
 * submitter and the workers contend for the arena: a quarter of a bulk
 * submission's profile. Here every block goes back to the cache of the
 * thread that allocated it, and that thread takes it again with no lock and
 * no atomic operation.
 *
 * Blocks. Each block starts with a header: the cache that owns it (NULL for
 * a block that came straight from the allocation hook), the size class and
 * a link for the cache's lists. Two size classes cover what the core
 * allocates in bulk (a done-callback record; a future or a handle); a larger
 * request, and every request while an allocation hook other than the C
 * library's is installed, goes to the hook with a header whose owner is
 * NULL, so a counting or failing hook (the allocation-failure tests) sees
 * every allocation, and such a block is freed through the hook. Cached
 * blocks come from the C library's malloc, the default hook, and go back to
 * its free.
 *
 * A cache. `local[c]` is a free list of class c that only the owner thread
 * touches. `remote[c]` is a lock-free stack that other threads push the
 * blocks of class c they free onto; when the local list runs dry the owner
 * takes the whole stack with one exchange and makes it the local list, with
 * no walk (nobody pops a single node, so the stack has no ABA problem).
 * `out` counts the blocks the cache got from malloc and has not given back
 * to free, wherever they are; only the owner changes it.
 *
 * Thread exit. A thread-specific key's destructor retires the cache: it
 * swaps each remote stack for the marker XF__CACHE_DEAD, frees every block
 * it holds, and hands the count of blocks still in use elsewhere to
 * `dead_refs`. A thread that frees a block of a dead cache frees it to the
 * C library and takes one from `dead_refs`; whoever brings it to zero (the
 * last block, or the retiring owner when nothing was out) frees the cache
 * itself. A thread whose cache was retired allocates through the hook from
 * then on.
 *
 * Sanitizers. Under AddressSanitizer the payload of a cached block is
 * poisoned while it waits in a cache, so a use after free is still caught.
 * Under valgrind (when its header is there) the caches are off: memcheck
 * sees every allocation and free as they are.
 *
 * Fork. In a child process the caches of the parent's other threads are
 * never retired: blocks freed to them stay there, as the parent's threads'
 * memory does. */
#include <pthread.h>
#include <stdlib.h>

#include "future_internal.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#if __has_include(<sanitizer/asan_interface.h>)
#include <sanitizer/asan_interface.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif
#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(addr, size)   ((void) (addr), (void) (size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void) (addr), (void) (size))
#endif

/* 16 bytes, so that the payload keeps malloc's 16-byte alignment. The
 * owner's address (0 for a block allocated through the hook) and the size
 * class share a word: a cache is aligned far beyond one bit. */
typedef struct xf__block {
  uintptr_t tag;          /* owner | class */
  struct xf__block *next; /* on a cache's lists */
} xf__block_t;

static inline struct xf__cache *xf__block_owner(const xf__block_t *b) {
  return (struct xf__cache *) (b->tag & ~(uintptr_t) 1);
}

static inline unsigned xf__block_cls(const xf__block_t *b) {
  return (unsigned) (b->tag & 1);
}

/* Payload sizes of the classes: a done-callback record; a future or a
 * handle. */
static const size_t xf__class_size[XF__CACHE_CLASSES] = {48, 128};

/* Blocks a local list keeps before it frees to the C library. */
#define XF__CACHE_KEEP 4096

#define XF__CACHE_DEAD ((xf__block_t *) (uintptr_t) 1)

typedef struct xf__cache {
  xf__block_t *local[XF__CACHE_CLASSES];
  uint32_t nlocal[XF__CACHE_CLASSES]; /* freed here since the last splice */
  int64_t out;                        /* blocks from malloc not given back */
  /* Written by other threads: a line of its own. */
  char pad[64];
  _Atomic(xf__block_t *) remote[XF__CACHE_CLASSES];
  _Atomic int64_t dead_refs;
} xf__cache_t;

/* The initial-exec model makes a read of these one instruction rather than
 * a call of __tls_get_addr; they are small enough for the static TLS space
 * that the C library keeps for libraries loaded later (a binding's module
 * loads this library with dlopen). */
#define XF__TLS __attribute__((tls_model("initial-exec"))) _Thread_local
static XF__TLS xf__cache_t *xf__my_cache;
static XF__TLS bool xf__my_cache_retired;
static pthread_key_t xf__cache_key;
static pthread_once_t xf__cache_once = PTHREAD_ONCE_INIT;
static bool xf__cache_usable; /* the key exists and valgrind is not there */

static void xf__cache_release(xf__cache_t *c, int64_t n) {
  if (atomic_fetch_add_explicit(&c->dead_refs, n, memory_order_acq_rel) + n == 0)
    free(c);
}

/* Make the blocks of class cls that other threads returned the local list
 * (which is empty): one exchange, no walk, since each class has its own
 * stack. Walking it would read, one after the other, lines that the freeing
 * threads wrote last. */
static void xf__cache_reclaim(xf__cache_t *c, int cls) {
  c->local[cls] = atomic_exchange_explicit(&c->remote[cls], NULL, memory_order_acquire);
  c->nlocal[cls] = 0;
}

static void xf__cache_retire(void *arg) {
  xf__cache_t *c = arg;
  xf__my_cache = NULL;
  xf__my_cache_retired = true;
  for (int k = 0; k < XF__CACHE_CLASSES; k++) {
    xf__block_t *lists[2] = {
        atomic_exchange_explicit(&c->remote[k], XF__CACHE_DEAD, memory_order_acq_rel),
        c->local[k]};
    c->local[k] = NULL;
    for (int i = 0; i < 2; i++) {
      for (xf__block_t *b = lists[i]; b;) {
        xf__block_t *next = b->next;
        ASAN_UNPOISON_MEMORY_REGION(b + 1, xf__class_size[k]);
        free(b);
        c->out--;
        b = next;
      }
    }
  }
  /* What is left is in use elsewhere: the last of it frees the cache. */
  xf__cache_release(c, c->out);
}

static void xf__cache_setup(void) {
  xf__cache_usable =
      !RUNNING_ON_VALGRIND && pthread_key_create(&xf__cache_key, xf__cache_retire) == 0;
}

/* The calling thread's cache, made on first use; NULL when there is none
 * to be had (the thread's was retired, or it cannot be made). */
static xf__cache_t *xf__cache_mine(void) {
  xf__cache_t *c = xf__my_cache;
  if (XF__LIKELY(c != NULL))
    return c;
  if (xf__my_cache_retired)
    return NULL;
  pthread_once(&xf__cache_once, xf__cache_setup);
  if (!xf__cache_usable || !(c = calloc(1, sizeof *c)))
    return NULL;
  for (int k = 0; k < XF__CACHE_CLASSES; k++)
    atomic_init(&c->remote[k], NULL);
  atomic_init(&c->dead_refs, 0);
  if (pthread_setspecific(xf__cache_key, c) != 0) {
    free(c);
    return NULL;
  }
  xf__my_cache = c;
  return c;
}

void *xf__cache_alloc(int cls, size_t size) {
  xf__cache_t *c = NULL;
  if (xf__alloc_is_default() && size <= xf__class_size[cls])
    c = xf__cache_mine();
  if (!c) {
    xf__block_t *b = xf__malloc(sizeof *b + size);
    if (!b)
      return NULL;
    b->tag = 0;
    return b + 1;
  }
  if (!c->local[cls] && atomic_load_explicit(&c->remote[cls], memory_order_relaxed))
    xf__cache_reclaim(c, cls);
  xf__block_t *b = c->local[cls];
  if (b) {
    c->local[cls] = b->next;
    if (c->nlocal[cls])
      c->nlocal[cls]--;
    ASAN_UNPOISON_MEMORY_REGION(b + 1, xf__class_size[cls]);
  } else {
    b = malloc(sizeof *b + xf__class_size[cls]);
    if (!b)
      return NULL;
    b->tag = (uintptr_t) c | (uintptr_t) cls;
    c->out++;
  }
  return b + 1;
}

void xf__cache_free(void *p) {
  if (!p)
    return;
  xf__block_t *b = (xf__block_t *) p - 1;
  xf__cache_t *owner = xf__block_owner(b);
  if (!owner) {
    xf__free(b);
    return;
  }
  if (owner == xf__my_cache) {
    if (owner->nlocal[xf__block_cls(b)] >= XF__CACHE_KEEP) {
      owner->out--;
      free(b);
      return;
    }
    ASAN_POISON_MEMORY_REGION(b + 1, xf__class_size[xf__block_cls(b)]);
    b->next = owner->local[xf__block_cls(b)];
    owner->local[xf__block_cls(b)] = b;
    owner->nlocal[xf__block_cls(b)]++;
    return;
  }
  ASAN_POISON_MEMORY_REGION(b + 1, xf__class_size[xf__block_cls(b)]);
  _Atomic(xf__block_t *) *stack = &owner->remote[xf__block_cls(b)];
  xf__block_t *head = atomic_load_explicit(stack, memory_order_relaxed);
  for (;;) {
    if (head == XF__CACHE_DEAD) {
      ASAN_UNPOISON_MEMORY_REGION(b + 1, xf__class_size[xf__block_cls(b)]);
      free(b);
      xf__cache_release(owner, -1);
      return;
    }
    b->next = head;
    if (atomic_compare_exchange_weak_explicit(stack, &head, b, memory_order_release,
                                              memory_order_relaxed))
      return;
  }
}

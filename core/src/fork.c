/* Fork handling.
 *
 * Design notes
 * ------------
 * fork() copies only the calling thread. Everything the other threads were
 * doing stops where it was: a pool worker inside a task, a thread holding a
 * pool's lock, a loop's incoming lock or a future's lock. In the child those
 * threads do not exist, so their locks stay taken forever and joining them
 * means nothing. The child must therefore never wait for an inherited
 * pool's workers, never take an inherited pool's or loop's locks, and never
 * touch an inherited loop's epoll set (the child shares that kernel object
 * with the parent: a change made in the child would change the parent's
 * loop).
 *
 * Rather than find every pool and loop at fork time, each records the fork
 * generation it was made in, and the child handler below bumps the
 * generation. An object whose recorded generation differs from the current
 * one was inherited: its entry points see that with one load and refuse
 * (pools with XF_EBROKEN, loops as closed loops), and its shutdown, close
 * and unref return at once without touching its threads, its locks or its
 * kernel objects. What can be freed without them is (a pool's own memory);
 * the rest is left to the parent.
 *
 * This handler resets nothing: the generation is all it needs. The one
 * process-wide lock of the core, the timer thread's of loopless timeouts
 * (timeout_thread.c), has fork handlers of its own that hold it across
 * fork() and give the child an empty timer thread; the closure module's
 * thread-local key is made once with pthread_once.
 */
#include <pthread.h>

#include "internal.h"

_Atomic uint32_t xf__fork_generation;

static pthread_once_t xf__fork_once = PTHREAD_ONCE_INIT;

/* Runs in the child, in the only thread, before fork() returns there. */
static void xf__fork_child(void) {
  atomic_fetch_add_explicit(&xf__fork_generation, 1, memory_order_relaxed);
}

static void xf__fork_install(void) {
  /* Without a handler, inherited objects could not be told apart; it can
   * only fail for lack of memory, and then there is nothing better to do. */
  (void) pthread_atfork(NULL, NULL, xf__fork_child);
}

uint32_t xf__fork_gen(void) {
  pthread_once(&xf__fork_once, xf__fork_install);
  return atomic_load_explicit(&xf__fork_generation, memory_order_relaxed);
}

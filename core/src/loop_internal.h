/* What the loop's files share: the I/O backend's small interface (epoll.c)
 * and the loop calls that tasks (task.c) build on. */
#ifndef XF_LOOP_INTERNAL_H
#define XF_LOOP_INTERNAL_H

#include "future_internal.h"
#include "xf/loop.h"

/* ---- The I/O backend (epoll and an eventfd on Linux) ------------------ */

#define XF__IO_READ  1u
#define XF__IO_WRITE 2u

typedef struct xf__backend {
  int epfd; /* the poller; also the loop's backend_fd */
  int evfd; /* the wake-up eventfd, watched by epfd */
} xf__backend_t;

typedef struct xf__io_event {
  int fd;
  unsigned mask; /* XF__IO_READ | XF__IO_WRITE; errors and hang-ups set both */
} xf__io_event_t;

/* Open the poller and the wake-up fd. XF_ESYS (or XF_ENOMEM) on failure, with
 * nothing left open. */
XF__HIDDEN int xf__backend_open(xf__backend_t *b);
XF__HIDDEN void xf__backend_close(xf__backend_t *b);

/* Change the events watched on fd from old_mask to new_mask (0 stops
 * watching). XF_ESYS if the kernel refuses the fd (a regular file, a closed
 * fd); then nothing changed. */
XF__HIDDEN int xf__backend_watch(xf__backend_t *b, int fd, unsigned old_mask,
                                 unsigned new_mask);

/* Wait up to timeout_ns (negative: forever, 0: not at all) for events.
 * Fills up to max events and returns their number. *woken tells whether the
 * wake-up fd fired; it has been drained. Interrupted waits return 0. */
XF__HIDDEN int xf__backend_poll(xf__backend_t *b, int64_t timeout_ns, xf__io_event_t *out,
                                int max, bool *woken);

/* Make the next (or the current) poll return. Any thread; async-signal-safe. */
XF__HIDDEN void xf__backend_wake(xf__backend_t *b);

/* ---- Loop calls for the core ------------------------------------------ */

/* XF_OK if the calling thread may use the loop's thread-only calls: it runs
 * the loop, or no thread does. XF_ECLOSED for a closed loop,
 * XF_EWRONGTHREAD otherwise. */
XF__HIDDEN int xf__loop_check_thread(xf_loop_t *loop);

/* Whether the calling thread is running this loop now. */
XF__HIDDEN bool xf__loop_is_running_here(const xf_loop_t *loop);

/* A doubly linked list node, for the loop's list of suspended tasks. */
typedef struct xf__link {
  struct xf__link *prev, *next;
} xf__link_t;

/* The loop's list of tasks suspended on a future (a sentinel node), used by
 * the loop's thread only. On close the loop calls xf__tasks_release to break
 * the reference cycle between a task and the future it awaits. */
XF__HIDDEN xf__link_t *xf__loop_suspended(xf_loop_t *loop);
XF__HIDDEN void xf__tasks_release(xf_loop_t *loop);

/* Report a problem to the loop's exception handler with a new error of this
 * code (the preallocated out-of-memory error if that cannot be made). */
XF__HIDDEN void xf__loop_report(xf_loop_t *loop, const char *message, int code);

#endif /* XF_LOOP_INTERNAL_H */

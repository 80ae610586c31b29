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
  int epfd;      /* the poller; also the loop's backend_fd */
  int evfd;      /* the wake-up eventfd, watched by epfd */
  int tmfd;      /* a timerfd, watched by epfd: see xf__backend_arm */
  int64_t armed; /* the deadline tmfd is set to and has not reported, or -1 */
} xf__backend_t;

/* What a poll consumed besides fd events (xf__backend_poll's *wakes). */
#define XF__WAKE_EVENT 1u /* the wake-up fd was written; it has been drained */
#define XF__WAKE_TIMER 2u /* the deadline of xf__backend_arm passed */

typedef struct xf__io_event {
  int fd;
  unsigned mask; /* XF__IO_READ | XF__IO_WRITE; errors and hang-ups set both */
} xf__io_event_t;

/* Open the poller, the wake-up fd and the timer fd. XF_ESYS (or XF_ENOMEM)
 * on failure, with nothing left open. */
XF__HIDDEN int xf__backend_open(xf__backend_t *b);
XF__HIDDEN void xf__backend_close(xf__backend_t *b);

/* Change the events watched on fd from old_mask to new_mask (0 stops
 * watching). XF_ESYS if the kernel refuses the fd (a regular file, a closed
 * fd); then nothing changed. */
XF__HIDDEN int xf__backend_watch(xf__backend_t *b, int fd, unsigned old_mask,
                                 unsigned new_mask);

/* Wait up to timeout_ns (negative: forever, 0: not at all) for events.
 * Fills up to max events and returns their number. *wakes gets the
 * XF__WAKE_* bits of what else fired (and was consumed). Interrupted waits
 * return 0 with *wakes 0. */
XF__HIDDEN int xf__backend_poll(xf__backend_t *b, int64_t timeout_ns, xf__io_event_t *out,
                                int max, unsigned *wakes);

/* Make the next (or the current) poll return. Any thread; async-signal-safe. */
XF__HIDDEN void xf__backend_wake(xf__backend_t *b);

/* Make epfd readable once the monotonic clock (xf_now) reaches deadline_ns
 * (0 or a past time: at once), until a poll reports it; -1 cancels that.
 * Replaces the previous deadline and sets b->armed, which a poll that
 * reports XF__WAKE_TIMER resets to -1. This is what makes the loop's timers
 * visible to a host that waits on backend_fd alone. The loop's thread. */
XF__HIDDEN void xf__backend_arm(xf__backend_t *b, int64_t deadline_ns);

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

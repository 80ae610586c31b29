/* The loop's I/O backend on Linux: one epoll instance, level-triggered, an
 * eventfd that other threads write to wake the loop, and a timerfd.
 *
 * The eventfd and the timerfd are registered in the epoll set like any fd,
 * with markers in place of their numbers, so the epoll fd alone answers
 * "does the loop have work?": that is what a host loop polls when it embeds
 * an xf loop. Writes to the eventfd are rare by design: the loop (loop.c)
 * asks for one only when it is asleep, about to sleep or not running, and at
 * most once per sleep. The timerfd is set only while the loop is not
 * running (its own sleeps have a timeout), to its first timer's deadline.
 */
#include <errno.h>
#include <limits.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "loop_internal.h"

/* The epoll data of the wake-up fd and of the timer fd; never valid fd
 * numbers. */
#define XF__WAKE_TAG    UINT64_MAX
#define XF__TIMER_TAG   (UINT64_MAX - 1)
/* Events taken from the kernel per poll. */
#define XF__EPOLL_BATCH 256

int xf__backend_open(xf__backend_t *b) {
  b->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (b->epfd < 0)
    return errno == ENOMEM ? XF_ENOMEM : XF_ESYS;
  b->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (b->evfd < 0) {
    close(b->epfd);
    return errno == ENOMEM ? XF_ENOMEM : XF_ESYS;
  }
  b->tmfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  b->armed = -1;
  int rc = b->tmfd < 0 && errno == ENOMEM ? XF_ENOMEM : XF_ESYS;
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = XF__WAKE_TAG};
  struct epoll_event tev = {.events = EPOLLIN, .data.u64 = XF__TIMER_TAG};
  if (b->tmfd < 0 || epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->evfd, &ev) != 0 ||
      epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->tmfd, &tev) != 0) {
    xf__backend_close(b);
    return rc;
  }
  return XF_OK;
}

void xf__backend_close(xf__backend_t *b) {
  if (b->tmfd >= 0)
    close(b->tmfd);
  if (b->evfd >= 0)
    close(b->evfd);
  if (b->epfd >= 0)
    close(b->epfd);
  b->tmfd = b->evfd = b->epfd = -1;
}

static uint32_t xf__epoll_events(unsigned mask) {
  return ((mask & XF__IO_READ) ? EPOLLIN : 0u) | ((mask & XF__IO_WRITE) ? EPOLLOUT : 0u);
}

int xf__backend_watch(xf__backend_t *b, int fd, unsigned old_mask, unsigned new_mask) {
  struct epoll_event ev = {.events = xf__epoll_events(new_mask),
                           .data.u64 = (uint64_t) fd};
  if (new_mask == 0) {
    /* The fd may have been closed already, which removed it from the set. */
    if (epoll_ctl(b->epfd, EPOLL_CTL_DEL, fd, &ev) != 0 && errno != ENOENT &&
        errno != EBADF)
      return XF_ESYS;
    return XF_OK;
  }
  if (old_mask) {
    if (epoll_ctl(b->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
      return XF_OK;
    /* Closed and reopened under the same number since: add it again. */
    if (errno != ENOENT)
      return XF_ESYS;
  }
  if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
    return XF_OK;
  if (errno == EEXIST && epoll_ctl(b->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
    return XF_OK;
  return errno == ENOMEM ? XF_ENOMEM : XF_ESYS;
}

int xf__backend_poll(xf__backend_t *b, int64_t timeout_ns, xf__io_event_t *out, int max,
                     unsigned *wakes) {
  struct epoll_event events[XF__EPOLL_BATCH];
  int timeout_ms;
  if (timeout_ns < 0)
    timeout_ms = -1;
  else if (timeout_ns == 0)
    timeout_ms = 0;
  else if (timeout_ns / 1000000 >= INT_MAX - 1)
    timeout_ms = INT_MAX;
  else
    /* Round up: waking before the deadline would only spin. */
    timeout_ms = (int) ((timeout_ns + 999999) / 1000000);
  if (max > XF__EPOLL_BATCH)
    max = XF__EPOLL_BATCH;
  *wakes = 0;
  int n = epoll_wait(b->epfd, events, max, timeout_ms);
  if (n < 0)
    return 0; /* EINTR: the caller goes round again */
  int count = 0;
  for (int i = 0; i < n; i++) {
    if (events[i].data.u64 == XF__WAKE_TAG) {
      uint64_t value;
      while (read(b->evfd, &value, sizeof value) == (ssize_t) sizeof value) {
      }
      *wakes |= XF__WAKE_EVENT;
      continue;
    }
    if (events[i].data.u64 == XF__TIMER_TAG) {
      uint64_t expirations;
      if (read(b->tmfd, &expirations, sizeof expirations) == (ssize_t) sizeof expirations)
        b->armed = -1;
      *wakes |= XF__WAKE_TIMER;
      continue;
    }
    uint32_t e = events[i].events;
    unsigned mask = 0;
    if (e & (EPOLLIN | EPOLLPRI))
      mask |= XF__IO_READ;
    if (e & EPOLLOUT)
      mask |= XF__IO_WRITE;
    if (e & (EPOLLERR | EPOLLHUP))
      mask |= XF__IO_READ | XF__IO_WRITE;
    out[count].fd = (int) events[i].data.u64;
    out[count].mask = mask;
    count++;
  }
  return count;
}

void xf__backend_wake(xf__backend_t *b) {
  uint64_t one = 1;
  /* EAGAIN means the counter is saturated: the loop will wake anyway. */
  ssize_t rc;
  do
    rc = write(b->evfd, &one, sizeof one);
  while (rc < 0 && errno == EINTR);
}

void xf__backend_arm(xf__backend_t *b, int64_t deadline_ns) {
  /* An absolute time of zero would disarm the timer: a deadline that has
   * passed is any time in the past. Setting the timer also forgets an
   * expiration not read yet. */
  struct itimerspec its = {{0, 0}, {0, 0}};
  if (deadline_ns >= 0) {
    int64_t t = deadline_ns > 0 ? deadline_ns : 1;
    its.it_value.tv_sec = (time_t) (t / 1000000000);
    its.it_value.tv_nsec = (long) (t % 1000000000);
  }
  if (timerfd_settime(b->tmfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
    b->armed = deadline_ns < 0 ? -1 : deadline_ns;
}

/* The loop's fd table: a reader and a writer per fd, over the backend
 * (epoll.c), which reports readiness to the iteration (loop.c). Loop
 * thread, as every other loop-thread structure.
 */
#include "loop_private.h"

static int xf__io_reserve(xf_loop_t *loop, int fd) {
  if (fd < loop->nios)
    return XF_OK;
  int n = loop->nios ? loop->nios : 16;
  while (n <= fd)
    n = n > INT32_MAX / 2 ? fd + 1 : n * 2;
  xf__io_t *ios = xf__realloc(loop->ios, (size_t) n * sizeof *ios);
  if (!ios)
    return XF_ENOMEM;
  memset(ios + loop->nios, 0, (size_t) (n - loop->nios) * sizeof *ios);
  loop->ios = ios;
  loop->nios = n;
  return XF_OK;
}

static int xf__io_add(xf_loop_t *loop, int fd, unsigned which, xf_io_fn fn, void *data,
                      xf_free_data_fn free_data) {
  if (!loop || fd < 0 || !fn)
    return XF_EINVAL;
  int rc = xf__loop_check_thread(loop);
  if (rc != XF_OK || (rc = xf__io_reserve(loop, fd)) != XF_OK)
    return rc;
  xf__io_t *io = &loop->ios[fd];
  unsigned mask = io->mask | which;
  if (mask != io->mask &&
      (rc = xf__backend_watch(&loop->backend, fd, io->mask, mask)) != XF_OK)
    return rc;
  if (!io->mask)
    loop->nwatched++;
  io->mask = mask;
  xf__watcher_t *w = which == XF__IO_READ ? &io->reader : &io->writer;
  xf__watcher_t old = *w;
  w->fn = fn;
  w->data = data;
  w->free_data = free_data;
  if (old.free_data)
    old.free_data(old.data);
  return XF_OK;
}

static int xf__io_remove(xf_loop_t *loop, int fd, unsigned which) {
  if (!loop || fd < 0)
    return XF_EINVAL;
  int rc = xf__loop_check_thread(loop);
  if (rc != XF_OK)
    return rc;
  if (fd >= loop->nios || !(loop->ios[fd].mask & which))
    return 0;
  xf__io_t *io = &loop->ios[fd];
  /* The fd may be closed already; the watcher goes in any case. */
  xf__backend_watch(&loop->backend, fd, io->mask, io->mask & ~which);
  io->mask &= ~which;
  if (!io->mask)
    loop->nwatched--;
  xf__watcher_t *w = which == XF__IO_READ ? &io->reader : &io->writer;
  xf__watcher_t old = *w;
  memset(w, 0, sizeof *w);
  if (old.free_data)
    old.free_data(old.data);
  return 1;
}

int xf_loop_add_reader(xf_loop_t *loop, int fd, xf_io_fn fn, void *data,
                       xf_free_data_fn free_data) {
  return xf__io_add(loop, fd, XF__IO_READ, fn, data, free_data);
}

int xf_loop_add_writer(xf_loop_t *loop, int fd, xf_io_fn fn, void *data,
                       xf_free_data_fn free_data) {
  return xf__io_add(loop, fd, XF__IO_WRITE, fn, data, free_data);
}

int xf_loop_remove_reader(xf_loop_t *loop, int fd) {
  return xf__io_remove(loop, fd, XF__IO_READ);
}

int xf_loop_remove_writer(xf_loop_t *loop, int fd) {
  return xf__io_remove(loop, fd, XF__IO_WRITE);
}

void xf__io_dispatch(xf_loop_t *loop, int fd, unsigned which) {
  if (fd >= loop->nios || !(loop->ios[fd].mask & which))
    return;
  xf__io_t *io = &loop->ios[fd];
  xf__watcher_t *w = which == XF__IO_READ ? &io->reader : &io->writer;
  w->fn(fd, w->data);
}

void xf__io_drop_all(xf_loop_t *loop) {
  for (int fd = 0; fd < loop->nios; fd++) {
    xf__io_t *io = &loop->ios[fd];
    if (!io->mask)
      continue;
    xf__backend_watch(&loop->backend, fd, io->mask, 0);
    xf__watcher_t r = io->reader, w = io->writer;
    memset(io, 0, sizeof *io);
    loop->nwatched--;
    if (r.free_data)
      r.free_data(r.data);
    if (w.free_data)
      w.free_data(w.data);
  }
}

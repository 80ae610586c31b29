/* The process pool executor.
 *
 * Design notes
 * ------------
 * Threads. Submitters and one manager thread. A submitter encodes its task
 * into a complete TASK frame (so an argument with no encoding fails the
 * submission itself), appends the future to the queue under the pool lock
 * and wakes the manager through an eventfd. The eventfd rather than
 * call_soon_threadsafe: writing it never allocates, so submit and shutdown
 * cannot fail half-way, and a burst of submissions costs one wake-up. The
 * manager runs the core's own loop (xf/loop.h) and owns everything else:
 * the workers, their sockets, pipes and pidfds, the in-flight tables and
 * the timers. It finishes every future; inline done callbacks therefore run
 * on it.
 *
 * Lock rule: the pool lock guards the queue, the flags, the counters and
 * the lent worker (below), and is never held while a future is finished or
 * a process is spawned, nor while a frame is sent, except the one send of
 * the direct path below.
 *
 * The direct path. A round trip through the manager costs two wake-ups of
 * it (the submission, the answer); on a loaded machine each one waits for
 * the scheduler. So when the manager goes back to its loop with the queue
 * empty and a worker idle (READY, nothing in flight or left to send), it
 * lends that worker to the next submitter: under the pool lock, a
 * submission that finds a lent worker and no queue (and has no timeout,
 * and the pool no kill_on_cancel, which need the manager's timers and
 * binding) marks its future running, records it as the lent worker's task
 * and sends its frame itself, with no wake-up of the manager; the send is
 * of a small frame into an idle worker's empty socket, so it does not
 * block, and being under the lock it cannot meet the manager closing that
 * socket. Every manager callback that may look at a worker's tasks or
 * close its descriptors (the submission eventfd, a socket, a pidfd) first
 * takes the worker back (xf__pp_reclaim), entering a recorded task into
 * its in-flight table as if the manager had sent it, and lends again when
 * it is done (xf__pp_lend). The answer then comes as any other.
 *
 * Workers. Each is spawned with posix_spawn (a vfork-style clone: safe in a
 * threaded parent, and no user code runs between fork and exec), with its
 * end of a socketpair as fd 3 and a pipe as its stderr; every other
 * descriptor of ours is close-on-exec and the rest are closed in the child
 * (posix_spawn_file_actions_addclosefrom_np). A worker goes STARTING
 * (HELLO awaited) -> INIT (READY awaited) -> READY, and RETIRING once it
 * was asked to leave. Its death is seen on its pidfd; waitpid is then
 * called on that pid only. Before the death is judged, what is left in its
 * socket is read, so a result sent just before a crash still counts. Where
 * pidfd_open is missing (Linux < 5.3), the socket's end of file stands in:
 * the worker is then killed and reaped at once.
 *
 * A death is expected when the worker was retiring with nothing in flight
 * (max_tasks_per_child, shutdown) or was stopped by the pool (a timeout, a
 * broken pool, terminate). Otherwise it is a failure: its in-flight tasks
 * fail with "BrokenProcessPool" (the message names the pid and the signal or
 * status, the traceback holds the tail of its stderr) and the policy says
 * whether the pool breaks; a worker that dies before it is ready breaks it
 * in any case, since its replacement would fail the same way.
 *
 * Dispatch: a queued task goes to a READY worker with fewer than
 * max_in_flight tasks and fewer than max_tasks_per_child sent so far (so
 * recycling is exact even with pipelining); when there is none and more
 * tasks wait than the starting workers will take, a worker is spawned in a
 * free slot. A task's timeout is a loop timer from the moment it is sent.
 *
 * Cancelling a running task (kill_on_cancel). A future cannot be cancelled
 * from outside while it runs, except through the future it is bound to
 * (future_internal.h: a cancel of a running, bound future goes to its
 * source). So the manager binds each task's future, before it marks it
 * running, to a fresh plain future of its own, the slot's src. A user's
 * cancel then cancels src in the user's thread, whose inline callback
 * only sets cancel_scan and wakes the manager (it holds a reference to the
 * pool, so it may run after the manager left). The manager finds the
 * slots whose src is cancelled and kills their workers; when a worker is
 * reaped, a slot whose src is cancelled ends its future cancelled by
 * copying src's outcome (which cancels a running follower). The worker's
 * death is one the pool chose (stopped), so it is replaced whatever the
 * policy. A result that comes in after the cancel is dropped: the cancel
 * returned XF_OK, so the future ends cancelled.
 *
 * The manager leaves when the pool is shut down, the queue is empty and no
 * worker is left; it then closes its loop. The pool is shared by the handle
 * and the manager (two references), so whichever leaves last frees it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec_internal.h"
#include "executor_internal.h"
#include "task_frame.h"

extern char **environ;

#ifndef XF_WORKER_INSTALL_PATH
#define XF_WORKER_INSTALL_PATH "xfworker"
#endif

#define XF__RING   4096 /* bytes of a worker's stderr kept for its obituary */
#define XF__TAIL   20   /* lines of it quoted */
#define XF__RCHUNK 65536

enum { XF__W_STARTING, XF__W_INIT, XF__W_READY, XF__W_RETIRING };

typedef struct xf__slot {
  xf_future_t *fut; /* the queue's reference, now the slot's */
  /* With kill_on_cancel: the future fut is bound to while it runs, so that
   * a cancel of fut cancels this one instead (see "Cancelling a running
   * task" above); the slot's reference. */
  xf_future_t *src;
  uint64_t id;
  int64_t deadline; /* loop time, or -1 */
  xf_handle_t *timer;
  bool timed_out;
  bool cancelled; /* src is cancelled: its worker is being killed */
} xf__slot_t;

typedef struct xf__pp xf__pp_t;

typedef struct xf__pw {
  xf__pp_t *pp;
  pid_t pid;
  int pidfd, sock, errfd; /* -1 once closed */
  int state;
  bool exited;  /* the process is gone (or being reaped) */
  bool stopped; /* the pool killed it on purpose: its death is no failure */
  bool retire_for_age;
  const char *stop_reason; /* for the tasks still in it, when stopped */
  uint32_t index;          /* its slot in pp->workers and pp->info */
  uint64_t tasks_sent, tasks_done;
  xf__cbuf_t rbuf; /* bytes received, not yet parsed */
  xf__cbuf_t wbuf; /* bytes to send; wpos of them are sent */
  size_t wpos;
  bool writer_on;
  char ring[XF__RING];
  size_t ring_total; /* bytes ever written to ring */
  uint32_t ninflight;
  xf__slot_t inflight[]; /* max_in_flight */
} xf__pw_t;

struct xf__pp {
  _Atomic uint32_t refs; /* the handle and the manager thread */
  pthread_mutex_t lock;

  /* Under the lock. */
  xf__ptask_queue_t queue;
  uint64_t running, completed, cancelled;
  uint64_t spawned, deaths, retired, timeouts;
  uint32_t alive;
  xf_process_worker_t *info; /* max_workers slots, pid 0 when free */
  bool shutdown, broken, terminate;
  bool cancel_scan; /* a running task was cancelled: look for it */
  /* The direct path (design notes): the lent worker, NULL when none, its
   * socket and slot; the future a submitter sent to it (the queue's
   * reference), and whether that send fell short. */
  struct xf__pw *lend;
  int lend_sock;
  uint32_t lend_index;
  xf_future_t *lend_fut;
  bool lend_partial;
  int64_t grace_ns;

  /* Set once. */
  uint32_t max_workers, max_tasks, max_in_flight;
  int on_death;
  bool forward_stderr;
  bool kill_on_cancel;
  char *path;
  char **argv;
  uint8_t *init_frame; /* the INIT frame */
  size_t init_len;
  int wakefd;
  _Atomic uint64_t next_id;
  pthread_t thread;
  pthread_mutex_t join_lock;
  bool joined, detached;

  /* The manager's own. */
  xf_loop_t *loop;
  xf__pw_t **workers; /* max_workers slots, NULL when free */
  bool terminating;   /* SIGTERM sent */
  xf_handle_t *kill_timer;
  bool leaving;
  bool spawning; /* inside xf__pw_spawn: no nested pump */
};

static const xf_executor_ops_t xf__pp_ops;

static void xf__pp_release(xf__pp_t *pp) {
  if (atomic_fetch_sub_explicit(&pp->refs, 1, memory_order_acq_rel) != 1)
    return;
  if (pp->argv)
    for (char **a = pp->argv; *a; a++)
      xf__free(*a);
  xf__free(pp->argv);
  xf__free(pp->path);
  xf__free(pp->init_frame);
  xf__free(pp->workers);
  xf__free(pp->info);
  if (pp->wakefd >= 0)
    close(pp->wakefd);
  pthread_mutex_destroy(&pp->lock);
  pthread_mutex_destroy(&pp->join_lock);
  xf__free(pp);
}

/* A task future's marker (task_frame.h): never called, since the pool runs
 * its tasks in other processes; it tells the pool's own submissions from
 * xf_executor_submit's. */
int xf__pp_marker(void *data, xf_future_t *fut) {
  (void) data;
  (void) fut;
  return XF_EINVAL;
}

static void xf__pp_wake(xf__pp_t *pp) {
  uint64_t one = 1;
  ssize_t n;
  do
    n = write(pp->wakefd, &one, sizeof one);
  while (n < 0 && errno == EINTR);
  /* EAGAIN means the counter is full: the manager is awake already. */
}

/* ---- Finishing futures (manager thread) -------------------------------------- */

/* Take a future's task data out of it and free it. */
/* Finish a running future with a value or an error and drop the slot's
 * reference to it. */
static void xf__pp_finish(xf__pp_t *pp, xf_future_t *fut, xf_value_t *value,
                          xf_error_t *err) {
  xf__ptask_release(fut);
  /* The setters take over a reference; the caller keeps its own. */
  if (err)
    xf_future_set_error(fut, xf_error_ref(err));
  else
    xf_future_set_result(fut, xf_value_ref(value ? value : xf_value_void()));
  pthread_mutex_lock(&pp->lock);
  pp->running--;
  pp->completed++;
  pthread_mutex_unlock(&pp->lock);
  xf_future_unref(fut);
}

/* As xf__pp_finish for a future that ran in a slot, whose src (or NULL)
 * the slot gave up: a cancelled src ends the future cancelled, whatever
 * the outcome. The slot's reference to src goes. */
static void xf__pp_finish_slot(xf__pp_t *pp, xf_future_t *fut, xf_future_t *src,
                               xf_value_t *value, xf_error_t *err) {
  if (!src) {
    xf__pp_finish(pp, fut, value, err);
    return;
  }
  if (xf_future_cancelled(src)) {
    xf__ptask_release(fut);
    /* src's outcome is fut's now: a cancelled src cancels the running fut. */
    xf__future_copy_outcome(src, fut);
    pthread_mutex_lock(&pp->lock);
    pp->running--;
    pp->cancelled++;
    pthread_mutex_unlock(&pp->lock);
    xf_future_unref(fut);
  } else {
    xf_future_ref(fut);
    xf__pp_finish(pp, fut, value, err);
    xf__future_unbind(fut, src, true);
    xf_future_unref(fut);
  }
  xf_future_unref(src);
}

/* Fail a future that never reached a worker with err (it stays as it is if
 * it was cancelled meanwhile). */
/* A new error, or the preallocated MemoryError. */
static xf_error_t *xf__pp_error(int code, const char *type, const char *msg,
                                const char *traceback, xf_value_t *payload) {
  xf_error_t *err;
  if (xf_error_new_full(code, type, msg, traceback, payload, &err) != XF_OK)
    return xf__error_oom();
  return err;
}

/* ---- Workers ---------------------------------------------------------------- */

static void xf__pw_on_sock(int fd, void *data);
static void xf__pw_on_err(int fd, void *data);
static void xf__pw_on_pidfd(int fd, void *data);
static void xf__pw_on_writable(int fd, void *data);
static void xf__pp_pump(xf__pp_t *pp);
static void xf__pp_break(xf__pp_t *pp, xf_error_t *err);
static bool xf__pp_break_only(xf__pp_t *pp, xf_error_t *err);
static void xf__pp_stop_all(xf__pp_t *pp);
static void xf__pw_exit(xf__pw_t *w, int status);

static int xf__set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : 0;
}

/* The environment of a worker: ours, with XF_PARENT_PID set to our pid. */
static char **xf__worker_env(char *parent) {
  size_t n = 0;
  for (char **e = environ; e && *e; e++)
    n++;
  char **env = xf__malloc((n + 2) * sizeof *env);
  if (!env)
    return NULL;
  size_t k = 0;
  for (char **e = environ; e && *e; e++)
    if (strncmp(*e, "XF_PARENT_PID=", 14) != 0)
      env[k++] = *e;
  snprintf(parent, 40, "XF_PARENT_PID=%ld", (long) getpid());
  env[k++] = parent;
  env[k] = NULL;
  return env;
}

/* Start one worker in a free slot. XF_ENOMEM, XF_ESYS (errno says why). */
static int xf__pw_spawn(xf__pp_t *pp, uint32_t index) {
  xf__pw_t *w = xf__calloc(1, sizeof *w + pp->max_in_flight * sizeof(xf__slot_t));
  if (!w)
    return XF_ENOMEM;
  w->pp = pp;
  w->pidfd = w->sock = w->errfd = -1;
  int sv[2] = {-1, -1}, ep[2] = {-1, -1};
  char parent[40];
  char **env = xf__worker_env(parent);
  int rc = env ? XF_OK : XF_ENOMEM;
  int err = 0;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  bool fa_ok = false, attr_ok = false;
  if (rc != XF_OK)
    goto fail;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
      pipe2(ep, O_CLOEXEC) < 0) {
    err = errno;
    rc = XF_ESYS;
    goto fail;
  }
  if ((err = posix_spawn_file_actions_init(&fa)) != 0)
    goto fail_sys;
  fa_ok = true;
  if ((err = posix_spawnattr_init(&attr)) != 0)
    goto fail_sys;
  attr_ok = true;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  if ((err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) != 0 ||
      (err = posix_spawn_file_actions_adddup2(&fa, ep[1], 2)) != 0 ||
      (err = posix_spawn_file_actions_adddup2(&fa, sv[1], XF__WORKER_FD)) != 0 ||
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
      (err = posix_spawn_file_actions_addclosefrom_np(&fa, XF__WORKER_FD + 1)) != 0 ||
#endif
      (err = posix_spawnattr_setsigmask(&attr, &none)) != 0 ||
      (err = posix_spawnattr_setsigdefault(&attr, &all)) != 0 ||
      (err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                                 POSIX_SPAWN_SETSIGDEF)) != 0)
    goto fail_sys;
  pid_t pid;
  if ((err = posix_spawn(&pid, pp->path, &fa, &attr, pp->argv, env)) != 0)
    goto fail_sys;
  w->pid = pid;
  w->sock = sv[0];
  w->errfd = ep[0];
  close(sv[1]);
  close(ep[1]);
  sv[0] = sv[1] = ep[0] = ep[1] = -1;
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  xf__free(env);
  /* Once the kernel (or valgrind) said it has no pidfd_open, do not ask
   * again. */
  static _Atomic bool no_pidfd;
  w->pidfd = -1;
  if (!atomic_load_explicit(&no_pidfd, memory_order_relaxed)) {
    w->pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
    if (w->pidfd < 0 && errno == ENOSYS)
      atomic_store_explicit(&no_pidfd, true, memory_order_relaxed);
  }
  pp->workers[index] = w;
  w->index = index;
  pthread_mutex_lock(&pp->lock);
  pp->spawned++;
  pp->alive++;
  pp->info[index] = (xf_process_worker_t){.pid = pid};
  pthread_mutex_unlock(&pp->lock);
  /* From here on the process exists: any failure kills it and the normal
   * death path reaps it. */
  if (xf__set_nonblock(w->sock) < 0 || xf__set_nonblock(w->errfd) < 0 ||
      xf_loop_add_reader(pp->loop, w->sock, xf__pw_on_sock, w, NULL) != XF_OK ||
      xf_loop_add_reader(pp->loop, w->errfd, xf__pw_on_err, w, NULL) != XF_OK ||
      (w->pidfd >= 0 &&
       xf_loop_add_reader(pp->loop, w->pidfd, xf__pw_on_pidfd, w, NULL) != XF_OK)) {
    w->stopped = true;
    kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
      ;
    xf__pw_exit(w, status);
    return XF_ESYS;
  }
  return XF_OK;

fail_sys:
  rc = XF_ESYS;
fail:
  if (fa_ok)
    posix_spawn_file_actions_destroy(&fa);
  if (attr_ok)
    posix_spawnattr_destroy(&attr);
  for (int i = 0; i < 2; i++) {
    if (sv[i] >= 0)
      close(sv[i]);
    if (ep[i] >= 0)
      close(ep[i]);
  }
  xf__free(env);
  xf__free(w);
  errno = err;
  return rc;
}

/* Send bytes to a worker, queueing what the socket does not take now. */
static void xf__pw_send(xf__pw_t *w, const uint8_t *p, size_t n) {
  if (w->sock < 0 || w->exited)
    return;
  if (w->wbuf.len == w->wpos) {
    w->wbuf.len = w->wpos = 0;
    while (n > 0) {
      ssize_t k = send(w->sock, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (k < 0 && errno == EINTR)
        continue;
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      if (k < 0)
        return; /* the worker is gone; its pidfd will say so */
      p += k;
      n -= (size_t) k;
    }
    if (n == 0)
      return;
  }
  if (xf__cbuf_reserve(&w->wbuf, n) != XF_OK) {
    /* Without memory the conversation cannot go on: stop the worker, whose
     * tasks fail as a death. */
    w->stop_reason = "out of memory while sending to the worker";
    kill(w->pid, SIGKILL);
    return;
  }
  memcpy(w->wbuf.p + w->wbuf.len, p, n);
  w->wbuf.len += n;
  if (!w->writer_on &&
      xf_loop_add_writer(w->pp->loop, w->sock, xf__pw_on_writable, w, NULL) == XF_OK)
    w->writer_on = true;
}

static void xf__pw_on_writable(int fd, void *data) {
  xf__pw_t *w = data;
  while (w->wpos < w->wbuf.len) {
    ssize_t k =
        send(fd, w->wbuf.p + w->wpos, w->wbuf.len - w->wpos, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (k < 0) {
      w->wpos = w->wbuf.len;
      break;
    }
    w->wpos += (size_t) k;
  }
  xf__cbuf_free(&w->wbuf);
  w->wpos = 0;
  xf_loop_remove_writer(w->pp->loop, fd);
  w->writer_on = false;
}

static void xf__pw_send_shutdown(xf__pw_t *w) {
  /* [6]: an array of one item and the type. */
  static const uint8_t frame[] = {0, 0, 0, 2, 0x81, XF__MSG_SHUTDOWN};
  w->state = XF__W_RETIRING;
  xf__pw_send(w, frame, sizeof frame);
}

/* Kill a worker on purpose; its in-flight tasks fail with reason when it
 * is reaped. */
static void xf__pw_stop(xf__pw_t *w, const char *reason, int sig) {
  w->stopped = true;
  if (!w->stop_reason)
    w->stop_reason = reason;
  if (!w->exited)
    kill(w->pid, sig);
}

static void xf__pw_on_err(int fd, void *data) {
  xf__pw_t *w = data;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (n <= 0) {
      xf_loop_remove_reader(w->pp->loop, fd);
      close(fd);
      w->errfd = -1;
      return;
    }
    if (w->pp->forward_stderr) {
      ssize_t off = 0;
      while (off < n) {
        ssize_t k = write(STDERR_FILENO, buf + off, (size_t) (n - off));
        if (k <= 0 && errno != EINTR)
          break;
        if (k > 0)
          off += k;
      }
    }
    for (ssize_t i = 0; i < n; i++)
      w->ring[w->ring_total++ % XF__RING] = buf[i];
  }
}

/* The last lines of a worker's stderr, as a new string (NULL if none). */
static char *xf__pw_tail(const xf__pw_t *w) {
  size_t have = w->ring_total < XF__RING ? w->ring_total : XF__RING;
  if (have == 0)
    return NULL;
  size_t start = w->ring_total - have;
  /* Walk back over at most XF__TAIL line ends (a final one not counted). */
  size_t from = w->ring_total, lines = 0;
  if (from > start && w->ring[(from - 1) % XF__RING] == '\n')
    from--;
  while (from > start) {
    if (w->ring[(from - 1) % XF__RING] == '\n' && ++lines == XF__TAIL)
      break;
    from--;
  }
  const char *head = "The worker's last lines on stderr:\n";
  size_t hl = strlen(head), n = w->ring_total - from;
  char *s = xf__malloc(hl + n + 1);
  if (!s)
    return NULL;
  memcpy(s, head, hl);
  for (size_t i = 0; i < n; i++) {
    char c = w->ring[(from + i) % XF__RING];
    s[hl + i] = c ? c : '?';
  }
  s[hl + n] = '\0';
  return s;
}

/* The in-flight slot of task id, or NULL. */
static xf__slot_t *xf__pw_slot(xf__pw_t *w, uint64_t id) {
  for (uint32_t i = 0; i < w->ninflight; i++)
    if (w->inflight[i].id == id)
      return &w->inflight[i];
  return NULL;
}

/* Take slot s out of w (its future is returned, and its src in *src; the
 * caller finishes them with xf__pp_finish_slot). */
static xf_future_t *xf__pw_take(xf__pw_t *w, xf__slot_t *s, xf_future_t **src) {
  xf_future_t *fut = s->fut;
  *src = s->src;
  xf__pp_t *pp = w->pp;
  pthread_mutex_lock(&pp->lock);
  if (pp->info[w->index].pid == w->pid && pp->info[w->index].running > 0)
    pp->info[w->index].running--;
  pthread_mutex_unlock(&pp->lock);
  if (s->timer) {
    xf_handle_cancel(s->timer);
    xf_handle_unref(s->timer);
  }
  *s = w->inflight[--w->ninflight];
  memset(&w->inflight[w->ninflight], 0, sizeof w->inflight[0]);
  return fut;
}

static void xf__pw_protocol_error(xf__pw_t *w, const char *what) {
  /* A worker that breaks the protocol cannot be trusted with more: it is
   * stopped and its tasks fail as in a death, with this reason. */
  if (!w->stop_reason)
    w->stop_reason = what;
  if (!w->exited)
    kill(w->pid, SIGKILL);
}

static void xf__pw_on_timer(void *data) {
  xf__pw_t *w = data;
  int64_t now = xf_loop_time(w->pp->loop);
  for (uint32_t i = 0; i < w->ninflight; i++) {
    xf__slot_t *s = &w->inflight[i];
    if (s->deadline >= 0 && s->deadline <= now && !s->timed_out) {
      s->timed_out = true;
      xf__pw_stop(w, "the worker was stopped because another task in it timed out",
                  SIGKILL);
    }
  }
}

/* Handle one decoded frame from a worker. */
static void xf__pw_frame(xf__pw_t *w, xf_value_t *frame) {
  xf__pp_t *pp = w->pp;
  xf_value_t *t = NULL, *a = NULL, *b = NULL;
  int64_t type = -1;
  size_t n = 0;
  if (xf_value_list_len(frame, &n) != XF_OK || n < 1 || xf_value_list_get(frame, 0, &t) ||
      xf_value_get_int(t, &type) != XF_OK) {
    xf__pw_protocol_error(w, "the worker sent a frame that is not [type, ...]");
    return;
  }
  if (n >= 2)
    xf_value_list_get(frame, 1, &a);
  if (n >= 3)
    xf_value_list_get(frame, 2, &b);
  switch (type) {
  case XF__MSG_HELLO: {
    int64_t version = 0;
    if (w->state != XF__W_STARTING || xf_value_get_int(a, &version) != XF_OK) {
      xf__pw_protocol_error(w, "the worker sent a malformed HELLO");
      return;
    }
    if (version != XF__WIRE_VERSION) {
      xf__pw_protocol_error(w, "the worker speaks another version of the protocol");
      return;
    }
    w->state = XF__W_INIT;
    xf__pw_send(w, pp->init_frame, pp->init_len);
    return;
  }
  case XF__MSG_READY: {
    if (w->state != XF__W_INIT) {
      xf__pw_protocol_error(w, "the worker sent READY out of turn");
      return;
    }
    xf_error_t *ierr = NULL;
    if (a && xf_value_get_error(a, &ierr) == XF_OK) {
      /* A failing initializer breaks the pool with its error. */
      char msg[1024];
      snprintf(msg, sizeof msg, "the initializer failed in worker %ld: %s: %s",
               (long) w->pid, xf_error_type(ierr), xf_error_message(ierr));
      xf_error_t *err =
          xf__pp_error(XF_EBROKEN, "BrokenProcessPool", msg, xf_error_traceback(ierr), a);
      w->stopped = true; /* it leaves by itself; its death says nothing more */
      xf__pp_break(pp, err);
      xf_error_unref(err);
      return;
    }
    w->state = XF__W_READY;
    xf__pp_pump(pp);
    return;
  }
  case XF__MSG_RESULT:
  case XF__MSG_ERROR: {
    int64_t id = -1;
    xf__slot_t *s = NULL;
    xf_error_t *err = NULL;
    if (n < 3 || xf_value_get_int(a, &id) != XF_OK ||
        !(s = xf__pw_slot(w, (uint64_t) id)) ||
        (type == XF__MSG_ERROR && xf_value_get_error(b, &err) != XF_OK)) {
      xf__pw_protocol_error(w, "the worker sent a result for no task of its own");
      return;
    }
    if (s->timed_out || s->cancelled)
      return; /* too late: the timeout or the cancel stands */
    xf_future_t *src;
    xf_future_t *fut = xf__pw_take(w, s, &src);
    w->tasks_done++;
    /* Counted before the future finishes, so that whoever it wakes sees the
     * task in the worker's count. */
    pthread_mutex_lock(&pp->lock);
    if (pp->info[w->index].pid == w->pid)
      pp->info[w->index].tasks_done = w->tasks_done;
    pthread_mutex_unlock(&pp->lock);
    xf__pp_finish_slot(pp, fut, src, type == XF__MSG_RESULT ? b : NULL, err);
    if (pp->max_tasks && w->tasks_done >= pp->max_tasks && w->state == XF__W_READY) {
      w->retire_for_age = true;
      w->state = XF__W_RETIRING; /* no more tasks; asked to leave once idle */
    }
    if (w->state == XF__W_RETIRING && w->ninflight == 0)
      xf__pw_send_shutdown(w);
    xf__pp_pump(pp);
    return;
  }
  default:
    xf__pw_protocol_error(w, "the worker sent a frame of an unknown type");
  }
}

/* Read what the socket has and handle every complete frame. */
static void xf__pw_read(xf__pw_t *w) {
  bool eof = false;
  while (w->sock >= 0) {
    if (xf__cbuf_reserve(&w->rbuf, XF__RCHUNK) != XF_OK) {
      xf__pw_protocol_error(w, "out of memory while reading from the worker");
      return;
    }
    size_t room = w->rbuf.cap - w->rbuf.len;
    ssize_t k = recv(w->sock, w->rbuf.p + w->rbuf.len, room, MSG_DONTWAIT);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (k <= 0) {
      eof = true;
      break;
    }
    w->rbuf.len += (size_t) k;
    /* A stream socket's recv takes all that is queued, up to the room: a
     * short read drained it, and asking again would only cost a system
     * call that says EAGAIN. The reader is level-triggered, so what comes
     * later (or the end of file) wakes the loop again. */
    if ((size_t) k < room)
      break;
  }
  size_t pos = 0;
  while (w->rbuf.len - pos >= 4) {
    uint32_t n = xf__frame_len(w->rbuf.p + pos);
    if (n == 0 || n > XF__FRAME_MAX) {
      xf__pw_protocol_error(w, "the worker sent a frame of a bad length");
      pos = w->rbuf.len;
      break;
    }
    if (w->rbuf.len - pos - 4 < n)
      break;
    xf_value_t *frame;
    int rc = xf__cbor_decode(w->rbuf.p + pos + 4, n, XF__FRAME_DEPTH, &frame);
    pos += 4 + (size_t) n;
    if (rc != XF_OK) {
      xf__pw_protocol_error(w, rc == XF_ENOMEM ? "out of memory while decoding a frame"
                                               : "the worker sent a malformed frame");
      pos = w->rbuf.len;
      break;
    }
    xf__pw_frame(w, frame);
    xf_value_unref(frame);
  }
  memmove(w->rbuf.p, w->rbuf.p + pos, w->rbuf.len - pos);
  w->rbuf.len -= pos;
  if (w->rbuf.len == 0 && w->rbuf.cap > 16 * XF__RCHUNK)
    xf__cbuf_free(&w->rbuf); /* a large result passed: do not keep its room */
  if (eof && w->sock >= 0) {
    xf_loop_remove_reader(w->pp->loop, w->sock);
    if (w->writer_on)
      xf_loop_remove_writer(w->pp->loop, w->sock);
    w->writer_on = false;
    close(w->sock);
    w->sock = -1;
    if (w->pidfd < 0 && !w->exited) {
      /* No pidfd: the end of the socket stands for the death. */
      w->exited = true;
      if (!w->stopped && w->state != XF__W_RETIRING)
        kill(w->pid, SIGKILL);
      int status = 0;
      while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
        ;
      if (w->errfd >= 0)
        xf__pw_on_err(w->errfd, w); /* all it wrote is in the pipe now */
      xf__pw_exit(w, status);
    }
  }
}

/* Frames this small always fit in an idle worker's empty socket. */
#define XF__LANE_MAX 4096

/* Take the lent worker back (manager thread, at the start of a callback);
 * a task a submitter sent to it enters its in-flight table. */
static void xf__pp_reclaim(xf__pp_t *pp) {
  pthread_mutex_lock(&pp->lock);
  xf__pw_t *w = pp->lend;
  xf_future_t *fut = pp->lend_fut;
  bool partial = pp->lend_partial;
  pp->lend = NULL;
  pp->lend_fut = NULL;
  pp->lend_partial = false;
  pthread_mutex_unlock(&pp->lock);
  if (!fut)
    return;
  xf__ptask_t *t = fut->task_data;
  xf__slot_t *s = &w->inflight[w->ninflight++];
  *s = (xf__slot_t){.fut = fut, .id = t->id, .deadline = -1};
  w->tasks_sent++;
  if (partial)
    xf__pw_stop(w, "a task could not be sent to the worker", SIGKILL);
}

/* Lend an idle worker to the next submitter (manager thread, at the end of
 * a callback), when nothing waits and the pool runs normally. */
static void xf__pp_lend(xf__pp_t *pp) {
  if (pp->leaving || pp->terminating || pp->kill_on_cancel)
    return;
  xf__pw_t *idle = NULL;
  for (uint32_t i = 0; i < pp->max_workers && !idle; i++) {
    xf__pw_t *w = pp->workers[i];
    if (w && w->state == XF__W_READY && !w->exited && !w->stopped && w->sock >= 0 &&
        w->ninflight == 0 && !w->writer_on && w->wpos == w->wbuf.len &&
        (!pp->max_tasks || w->tasks_sent < pp->max_tasks))
      idle = w;
  }
  if (!idle)
    return;
  pthread_mutex_lock(&pp->lock);
  if (!pp->shutdown && !pp->broken && !pp->terminate && !pp->queue.head) {
    pp->lend = idle;
    pp->lend_sock = idle->sock;
    pp->lend_index = idle->index;
  }
  pthread_mutex_unlock(&pp->lock);
}

/* The direct path's send, under the pool lock: false if it fell short. */
static bool xf__pp_lane_send(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return false;
    if (k < 0)
      return true; /* the worker is gone; its death fails the task */
    p += k;
    n -= (size_t) k;
  }
  return true;
}

static void xf__pw_on_sock(int fd, void *data) {
  (void) fd;
  xf__pw_t *w = data;
  xf__pp_t *pp = w->pp;
  xf__pp_reclaim(pp);
  xf__pw_read(w); /* may free w */
  xf__pp_lend(pp);
}

static void xf__pw_on_pidfd(int fd, void *data) {
  (void) fd;
  xf__pw_t *w = data;
  xf__pp_t *pp = w->pp;
  /* A readable pidfd means the process has ended; WNOHANG keeps a stale
   * event (an fd number reused within one batch) from blocking us. */
  int status = 0;
  pid_t r;
  while ((r = waitpid(w->pid, &status, WNOHANG)) < 0 && errno == EINTR)
    ;
  if (r == 0)
    return;
  xf__pp_reclaim(pp);
  w->exited = true;
  /* Whatever it sent before it went counts: drain the socket and stderr. */
  if (w->sock >= 0)
    xf__pw_read(w);
  if (w->errfd >= 0)
    xf__pw_on_err(w->errfd, w);
  xf__pw_exit(w, status);
  xf__pp_lend(pp);
}

/* The worker's process is reaped: judge its death, fail what it held, free
 * it and see what the pool needs now. */
static void xf__pw_exit(xf__pw_t *w, int status) {
  xf__pp_t *pp = w->pp;
  xf_loop_t *loop = pp->loop;
  if (w->sock >= 0) {
    xf_loop_remove_reader(loop, w->sock);
    if (w->writer_on)
      xf_loop_remove_writer(loop, w->sock);
    close(w->sock);
  }
  if (w->errfd >= 0) {
    xf_loop_remove_reader(loop, w->errfd);
    close(w->errfd);
  }
  if (w->pidfd >= 0) {
    xf_loop_remove_reader(loop, w->pidfd);
    close(w->pidfd);
  }
  w->sock = w->errfd = w->pidfd = -1;

  bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  bool was_ready = w->state == XF__W_READY || w->state == XF__W_RETIRING;
  bool expected =
      w->stopped || (w->state == XF__W_RETIRING && w->ninflight == 0 && clean);
  char how[96];
  if (WIFSIGNALED(status))
    snprintf(how, sizeof how, "was killed by signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  else
    snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
  char *tail = xf__pw_tail(w);
  char msg[512];
  snprintf(msg, sizeof msg, "A worker process (pid %ld) %s %s%s%s%s", (long) w->pid, how,
           was_ready ? "while it ran the task" : "before it was ready",
           w->stop_reason ? ": " : "", w->stop_reason ? w->stop_reason : "",
           expected ? ""
           : pp->on_death == XF_WORKER_DEATH_BREAK || !was_ready
               ? "; the process pool is broken"
               : "; the process pool replaces the worker");
  xf_error_t *err = NULL;
  if (w->ninflight > 0 || !expected)
    err = xf__pp_error(XF_EBROKEN, "BrokenProcessPool", msg, tail, NULL);
  xf__free(tail);

  for (uint32_t i = 0; i < pp->max_workers; i++)
    if (pp->workers[i] == w)
      pp->workers[i] = NULL;
  /* The counters first, like the break below: whoever the failed futures
   * wake reads stats that already count this death. */
  pthread_mutex_lock(&pp->lock);
  pp->alive--;
  memset(&pp->info[w->index], 0, sizeof pp->info[0]);
  if (!expected)
    pp->deaths++;
  else if (w->retire_for_age)
    pp->retired++;
  pthread_mutex_unlock(&pp->lock);
  /* A worker that dies before it is ready breaks the pool whatever the
   * policy: the next one would fail to start the same way. The pool is
   * broken before the dead worker's futures fail, so that code woken by
   * one of them (a done callback, a waiter) finds submit refused, as the
   * stdlib's pool refuses it. The other workers are killed only once the
   * futures failed: a kill wakes the killed process, which the scheduler
   * may run (its exit takes milliseconds) before this thread goes on. */
  bool broke = !expected && (pp->on_death == XF_WORKER_DEATH_BREAK || !was_ready) &&
               xf__pp_break_only(pp, err);

  while (w->ninflight > 0) {
    xf__slot_t *s = &w->inflight[w->ninflight - 1];
    bool timed_out = s->timed_out;
    xf_future_t *src;
    xf_future_t *fut = xf__pw_take(w, s, &src);
    if (timed_out && !(src && xf_future_cancelled(src))) {
      xf_error_t *terr = xf__pp_error(XF_ETIMEDOUT, NULL,
                                      "the task ran past its timeout; its worker was "
                                      "killed and will be replaced",
                                      NULL, NULL);
      pthread_mutex_lock(&pp->lock);
      pp->timeouts++;
      pthread_mutex_unlock(&pp->lock);
      xf__pp_finish_slot(pp, fut, src, NULL, terr);
      xf_error_unref(terr);
    } else {
      xf__pp_finish_slot(pp, fut, src, NULL, err);
    }
  }
  xf__cbuf_free(&w->rbuf);
  xf__cbuf_free(&w->wbuf);
  xf__free(w);
  xf_error_unref(err);
  if (broke)
    xf__pp_stop_all(pp);
  if (!pp->spawning)
    xf__pp_pump(pp);
}

/* ---- The manager ------------------------------------------------------------ */

/* Break the pool: every queued task fails with err, so do the tasks in the
 * other workers; later submissions fail with XF_EBROKEN. Returns whether
 * this call broke it: the caller then stops the workers (xf__pp_stop_all). */
static bool xf__pp_break_only(xf__pp_t *pp, xf_error_t *err) {
  pthread_mutex_lock(&pp->lock);
  bool was = pp->broken;
  pp->broken = true;
  xf_future_t *list = xf__ptq_take(&pp->queue);
  pthread_mutex_unlock(&pp->lock);
  xf__ptq_fail(list, err);
  if (was)
    return false;
  for (uint32_t i = 0; i < pp->max_workers; i++) {
    xf__pw_t *w = pp->workers[i];
    while (w && w->ninflight > 0) {
      xf_future_t *src;
      xf_future_t *fut = xf__pw_take(w, &w->inflight[w->ninflight - 1], &src);
      xf__pp_finish_slot(pp, fut, src, NULL, err);
    }
  }
  return true;
}

/* Stop every worker of a broken pool. */
static void xf__pp_stop_all(xf__pp_t *pp) {
  for (uint32_t i = 0; i < pp->max_workers; i++)
    if (pp->workers[i])
      xf__pw_stop(pp->workers[i], "the process pool broke", SIGKILL);
}

static void xf__pp_break(xf__pp_t *pp, xf_error_t *err) {
  if (xf__pp_break_only(pp, err))
    xf__pp_stop_all(pp);
}

/* Pop the oldest queued future, or NULL. */
static xf_future_t *xf__pp_pop(xf__pp_t *pp) {
  pthread_mutex_lock(&pp->lock);
  xf_future_t *fut = xf__ptq_pop(&pp->queue);
  pthread_mutex_unlock(&pp->lock);
  return fut;
}

static void xf__pp_leave(xf__pp_t *pp) {
  pp->leaving = true;
  if (pp->kill_timer) {
    xf_handle_cancel(pp->kill_timer);
    xf_handle_unref(pp->kill_timer);
    pp->kill_timer = NULL;
  }
  xf_loop_remove_reader(pp->loop, pp->wakefd);
  xf_loop_stop(pp->loop);
}

static void xf__pp_on_kill_timer(void *data) {
  xf__pp_t *pp = data;
  for (uint32_t i = 0; i < pp->max_workers; i++)
    if (pp->workers[i])
      xf__pw_stop(pp->workers[i], NULL, SIGKILL);
}

/* The inline callback of a slot's src: in the thread that cancelled it,
 * tell the manager. data is the pool, held by the registration. */
static void xf__pp_on_src_done(xf_future_t *src, void *data) {
  xf__pp_t *pp = data;
  if (!xf_future_cancelled(src))
    return;
  pthread_mutex_lock(&pp->lock);
  pp->cancel_scan = true;
  pthread_mutex_unlock(&pp->lock);
  xf__pp_wake(pp);
}

static void xf__pp_src_free(void *data) {
  xf__pp_release(data);
}

/* A new src bound to fut, or NULL without memory (fut then runs as without
 * kill_on_cancel: a cancel while it runs is refused). */
static xf_future_t *xf__pp_bind(xf__pp_t *pp, xf_future_t *fut) {
  xf_future_t *src;
  if (xf_future_new(&src) != XF_OK)
    return NULL;
  atomic_fetch_add_explicit(&pp->refs, 1, memory_order_relaxed);
  if (xf__future_add_inline(src, xf__pp_on_src_done, pp, xf__pp_src_free) != XF_OK) {
    xf__pp_release(pp);
    xf_future_unref(src);
    return NULL;
  }
  xf__future_bind(fut, src);
  return src;
}

/* Kill the workers whose tasks were cancelled while they ran. */
static void xf__pp_kill_cancelled(xf__pp_t *pp) {
  for (uint32_t i = 0; i < pp->max_workers; i++) {
    xf__pw_t *w = pp->workers[i];
    for (uint32_t j = 0; w && j < w->ninflight; j++) {
      xf__slot_t *s = &w->inflight[j];
      if (s->src && !s->cancelled && xf_future_cancelled(s->src)) {
        s->cancelled = true;
        xf__pw_stop(w, "the worker was stopped because a task in it was cancelled",
                    SIGKILL);
      }
    }
  }
}

/* Everything the manager does after an event: terminate when asked, send
 * queued tasks to ready workers, start workers when tasks wait, retire
 * idle workers once shut down, and leave when nothing is left. */
static void xf__pp_pump(xf__pp_t *pp) {
  if (pp->leaving)
    return;
  pthread_mutex_lock(&pp->lock);
  bool shutdown = pp->shutdown, broken = pp->broken, terminate = pp->terminate;
  bool scan = pp->cancel_scan;
  pp->cancel_scan = false;
  int64_t grace = pp->grace_ns;
  pthread_mutex_unlock(&pp->lock);

  if (scan)
    xf__pp_kill_cancelled(pp);

  if (terminate && !pp->terminating) {
    pp->terminating = true;
    for (uint32_t i = 0; i < pp->max_workers; i++)
      if (pp->workers[i])
        xf__pw_stop(pp->workers[i], "the process pool was terminated",
                    grace == 0 ? SIGKILL : SIGTERM);
    if (grace != 0)
      xf_loop_call_later(pp->loop, grace < 0 ? 1000000000 : grace, xf__pp_on_kill_timer,
                         pp, NULL, &pp->kill_timer);
  }

  while (!broken && !pp->terminating) {
    /* A ready worker with room, and whether one is starting. */
    xf__pw_t *ready = NULL;
    uint32_t starting = 0, free_slot = UINT32_MAX;
    for (uint32_t i = 0; i < pp->max_workers; i++) {
      xf__pw_t *w = pp->workers[i];
      if (!w) {
        if (free_slot == UINT32_MAX)
          free_slot = i;
        continue;
      }
      if (w->exited || w->stopped)
        continue;
      if (w->state == XF__W_STARTING || w->state == XF__W_INIT)
        starting++;
      else if (w->state == XF__W_READY && w->ninflight < pp->max_in_flight && !ready &&
               (!pp->max_tasks || w->tasks_sent < pp->max_tasks))
        ready = w;
    }
    if (!ready) {
      pthread_mutex_lock(&pp->lock);
      uint64_t queued = pp->queue.n;
      pthread_mutex_unlock(&pp->lock);
      if (queued > (uint64_t) starting * pp->max_in_flight && free_slot != UINT32_MAX) {
        pp->spawning = true;
        int rc = xf__pw_spawn(pp, free_slot);
        pp->spawning = false;
        if (rc == XF_OK)
          continue;
        char msg[256];
        snprintf(msg, sizeof msg, "cannot start a worker process (%s): %s", pp->path,
                 rc == XF_ENOMEM ? "out of memory" : strerror(errno));
        xf_error_t *err = xf__pp_error(XF_EBROKEN, "BrokenProcessPool", msg, NULL, NULL);
        xf__pp_break(pp, err);
        xf_error_unref(err);
        broken = true;
      }
      break;
    }
    xf_future_t *fut = xf__pp_pop(pp);
    if (!fut)
      break;
    /* Bound before it runs, so that no cancel finds it running and not
     * bound yet. */
    xf_future_t *src = pp->kill_on_cancel ? xf__pp_bind(pp, fut) : NULL;
    if (xf_future_set_running_or_notify_cancel(fut) != XF_OK) {
      if (src) {
        xf__future_unbind(fut, src, true);
        xf_future_unref(src);
      }
      xf__ptask_release(fut);
      pthread_mutex_lock(&pp->lock);
      pp->cancelled++;
      pthread_mutex_unlock(&pp->lock);
      xf_future_unref(fut);
      continue;
    }
    pthread_mutex_lock(&pp->lock);
    pp->running++;
    pp->info[ready->index].running++;
    pthread_mutex_unlock(&pp->lock);
    xf__ptask_t *t = fut->task_data;
    xf__slot_t *s = &ready->inflight[ready->ninflight++];
    s->fut = fut;
    s->src = src;
    s->id = t->id;
    s->deadline = -1;
    s->timer = NULL;
    s->timed_out = false;
    s->cancelled = false;
    if (t->timeout_ns >= 0) {
      s->deadline = xf_loop_time(pp->loop) + t->timeout_ns;
      if (xf_loop_call_at(pp->loop, s->deadline, xf__pw_on_timer, ready, NULL,
                          &s->timer) != XF_OK)
        s->timer = NULL; /* the deadline is still checked by later timers */
    }
    ready->tasks_sent++;
    xf__pw_send(ready, t->frame, t->len);
  }

  if (shutdown || broken || pp->terminating) {
    pthread_mutex_lock(&pp->lock);
    bool empty = pp->queue.head == NULL;
    pthread_mutex_unlock(&pp->lock);
    bool any = false;
    for (uint32_t i = 0; i < pp->max_workers; i++) {
      xf__pw_t *w = pp->workers[i];
      if (!w)
        continue;
      any = true;
      if (empty && w->ninflight == 0 && !w->exited && !w->stopped) {
        if (w->state == XF__W_READY)
          xf__pw_send_shutdown(w);
        else if (w->state != XF__W_RETIRING)
          xf__pw_stop(w, NULL, SIGKILL); /* still starting: nothing to lose */
      }
    }
    if (empty && !any && (shutdown || pp->terminating))
      xf__pp_leave(pp);
  }
}

static void xf__pp_on_wake(int fd, void *data) {
  uint64_t n;
  while (read(fd, &n, sizeof n) < 0 && errno == EINTR)
    ;
  xf__pp_reclaim(data);
  xf__pp_pump(data);
  xf__pp_lend(data);
}

static void *xf__pp_main(void *arg) {
  xf__pp_t *pp = arg;
  xf_loop_run(pp->loop, XF_RUN_DEFAULT);
  xf_loop_close(pp->loop);
  xf_loop_unref(pp->loop);
  pp->loop = NULL;
  xf__pp_release(pp);
  return NULL;
}

/* ---- The executor operations ------------------------------------------------ */

static int xf__pp_submit(void *impl, xf_future_t *fut) {
  xf__pp_t *pp = impl;
  if (fut->task_fn != xf__pp_marker)
    return XF_EINVAL; /* a C function pointer cannot cross a process boundary */
  xf__ptask_t *t = fut->task_data;
  bool direct = false, partial = false;
  pthread_mutex_lock(&pp->lock);
  int rc = pp->shutdown ? XF_ESHUTDOWN : pp->broken ? XF_EBROKEN : XF_OK;
  if (rc == XF_OK && pp->lend && !pp->lend_fut && !pp->queue.head && t->timeout_ns < 0 &&
      t->len <= XF__LANE_MAX) {
    /* The direct path (design notes). Nobody else has the future yet, so
     * it cannot have been cancelled. */
    direct = true;
    pp->lend_fut = fut;
    pp->running++;
    pp->info[pp->lend_index].running++;
    xf_future_set_running_or_notify_cancel(fut);
    partial = pp->lend_partial = !xf__pp_lane_send(pp->lend_sock, t->frame, t->len);
  } else if (rc == XF_OK) {
    xf__ptq_push(&pp->queue, fut);
  }
  pthread_mutex_unlock(&pp->lock);
  /* A send that fell short needs the manager, to stop that worker. */
  if (rc == XF_OK && (!direct || partial))
    xf__pp_wake(pp);
  return rc;
}

static void xf__pp_join(xf__pp_t *pp) {
  pthread_mutex_lock(&pp->join_lock);
  if (!pp->joined && !pp->detached && !pthread_equal(pp->thread, pthread_self())) {
    pthread_join(pp->thread, NULL);
    pp->joined = true;
  }
  pthread_mutex_unlock(&pp->join_lock);
}

static int xf__pp_shutdown(void *impl, bool wait, bool cancel_futures) {
  xf__pp_t *pp = impl;
  xf_future_t *list = NULL;
  pthread_mutex_lock(&pp->lock);
  pp->shutdown = true;
  if (cancel_futures)
    list = xf__ptq_take(&pp->queue);
  pthread_mutex_unlock(&pp->lock);
  uint64_t n = xf__ptq_cancel(list);
  if (n) {
    pthread_mutex_lock(&pp->lock);
    pp->cancelled += n;
    pthread_mutex_unlock(&pp->lock);
  }
  xf__pp_wake(pp);
  if (wait)
    xf__pp_join(pp);
  return XF_OK;
}

static int xf__pp_stats(void *impl, xf_executor_stats_t *out) {
  xf__pp_t *pp = impl;
  pthread_mutex_lock(&pp->lock);
  out->queued = pp->queue.n;
  out->running = pp->running;
  out->completed = pp->completed;
  out->cancelled = pp->cancelled;
  out->threads = pp->alive;
  out->max_workers = pp->max_workers;
  pthread_mutex_unlock(&pp->lock);
  return XF_OK;
}

static void xf__pp_destroy(void *impl) {
  xf__pp_t *pp = impl;
  /* Shutdown ran already; a manager not joined (the last reference dropped
   * on it) is detached and frees the pool when it leaves. */
  pthread_mutex_lock(&pp->join_lock);
  if (!pp->joined) {
    pthread_detach(pp->thread);
    pp->detached = true;
  }
  pthread_mutex_unlock(&pp->join_lock);
  xf__pp_release(pp);
}

static const xf_executor_ops_t xf__pp_ops = {
    .sz = sizeof(xf_executor_ops_t),
    .name = "process_pool",
    .submit = xf__pp_submit,
    .shutdown = xf__pp_shutdown,
    .stats = xf__pp_stats,
    .destroy = xf__pp_destroy,
};

/* ---- Construction ------------------------------------------------------------ */

/* The INIT frame [1, version, null | ["c", payload]]. */
static int xf__pp_init_frame(xf__pp_t *pp, const xf_process_pool_options_t *o) {
  xf__cbuf_t b = {NULL, 0, 0};
  size_t at;
  int rc;
  if ((rc = xf__frame_begin(&b, &at)) != XF_OK ||
      (rc = xf__cbor_put_array(&b, 3)) != XF_OK ||
      (rc = xf__cbor_put_int(&b, XF__MSG_INIT)) != XF_OK ||
      (rc = xf__cbor_put_int(&b, XF__WIRE_VERSION)) != XF_OK)
    goto done;
  if (!o->init_symbol && o->init_language && o->init_payload) {
    if ((rc = xf__cbor_put_array(&b, 2)) == XF_OK &&
        (rc = xf__cbor_put_text(&b, o->init_language, strlen(o->init_language))) == XF_OK)
      rc = xf__cbor_put_value(&b, o->init_payload);
  } else if (!o->init_symbol) {
    rc = xf__cbor_put_null(&b);
  } else if ((rc = xf__cbor_put_array(&b, 2)) == XF_OK &&
             (rc = xf__cbor_put_text(&b, "c", 1)) == XF_OK) {
    rc = xf__cbor_put_c_call(&b, o->init_library ? o->init_library : "", o->init_symbol,
                             o->init_signature ? o->init_signature : "int32()",
                             o->init_args, o->init_nargs);
  }
  if (rc == XF_OK)
    rc = xf__frame_end(&b, at);
done:
  if (rc != XF_OK) {
    xf__cbuf_free(&b);
    return rc == XF_ENOMEM ? rc : XF_EINVAL;
  }
  pp->init_frame = b.p;
  pp->init_len = b.len;
  return XF_OK;
}

static int xf__pp_argv(xf__pp_t *pp, const char *const *argv) {
  const char *dflt[2] = {pp->path, NULL};
  if (!argv || !argv[0])
    argv = dflt;
  size_t n = 0;
  while (argv[n])
    n++;
  pp->argv = xf__calloc(n + 1, sizeof *pp->argv);
  if (!pp->argv)
    return XF_ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (!(pp->argv[i] = xf__strdup(argv[i])))
      return XF_ENOMEM;
  return XF_OK;
}

int xf_process_pool_new(const xf_process_pool_options_t *opts, xf_executor_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  xf_process_pool_options_t o = XF_PROCESS_POOL_OPTIONS_INIT;
  if (opts) {
    /* A caller built before the later fields existed passes a smaller sz
     * and gets their defaults. */
    size_t first = offsetof(xf_process_pool_options_t, kill_on_cancel);
    if (opts->sz < first)
      return XF_EINVAL;
    memcpy(&o, opts, opts->sz < sizeof o ? opts->sz : sizeof o);
    o.sz = sizeof o;
  }
  if (o.on_worker_death != XF_WORKER_DEATH_BREAK &&
      o.on_worker_death != XF_WORKER_DEATH_REPLACE)
    return XF_EINVAL;
  const char *path = o.worker_path;
  if (!path || !*path)
    path = getenv("XF_WORKER");
  if (!path || !*path) {
    path = XF_WORKER_INSTALL_PATH;
#ifdef XF_WORKER_BUILD_PATH
    /* Not installed yet: the one in the build tree. */
    if (access(path, X_OK) != 0)
      path = XF_WORKER_BUILD_PATH;
#endif
  }
  if (access(path, X_OK) != 0)
    return XF_EINVAL;

  xf__pp_t *pp = xf__calloc(1, sizeof *pp);
  if (!pp)
    return XF_ENOMEM;
  atomic_init(&pp->refs, 1);
  atomic_init(&pp->next_id, 1);
  pthread_mutex_init(&pp->lock, NULL);
  pthread_mutex_init(&pp->join_lock, NULL);
  pp->wakefd = -1;
  pp->max_workers = o.max_workers ? o.max_workers : (uint32_t) xf__cpu_count();
  pp->max_tasks = o.max_tasks_per_child;
  pp->max_in_flight = o.max_in_flight ? o.max_in_flight : 1;
  pp->on_death = o.on_worker_death;
  pp->forward_stderr = o.forward_stderr;
  pp->kill_on_cancel = o.kill_on_cancel;
  xf_executor_t *ex = NULL;
  int rc = XF_ENOMEM;
  if (!(pp->path = xf__strdup(path)) || (rc = xf__pp_argv(pp, o.worker_argv)) != XF_OK ||
      (rc = xf__pp_init_frame(pp, &o)) != XF_OK)
    goto fail;
  rc = XF_ENOMEM;
  if (!(pp->workers = xf__calloc(pp->max_workers, sizeof *pp->workers)) ||
      !(pp->info = xf__calloc(pp->max_workers, sizeof *pp->info)))
    goto fail;
  rc = XF_ESYS;
  if ((pp->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
    goto fail;
  if ((rc = xf_loop_new(&pp->loop)) != XF_OK)
    goto fail;
  if ((rc = xf_loop_add_reader(pp->loop, pp->wakefd, xf__pp_on_wake, pp, NULL)) != XF_OK)
    goto fail;
  if ((rc = xf_executor_new(&xf__pp_ops, pp, &ex)) != XF_OK)
    goto fail;
  atomic_store(&pp->refs, 2); /* the handle and the manager */
  if (pthread_create(&pp->thread, NULL, xf__pp_main, pp) != 0) {
    atomic_store(&pp->refs, 1);
    rc = XF_ESYS;
    /* No manager: the executor must not try to join one. */
    pp->joined = true;
    pp->shutdown = true;
    xf_loop_close(pp->loop);
    xf_loop_unref(pp->loop);
    pp->loop = NULL;
    xf_executor_unref(ex); /* shutdown and destroy, which releases pp */
    return rc;
  }
  /* Named by its creator, so that the name is there when this returns. */
  pthread_setname_np(pp->thread, "xfprocpool");
  *out = ex;
  return XF_OK;
fail:
  if (pp->loop) {
    xf_loop_close(pp->loop);
    xf_loop_unref(pp->loop);
  }
  xf__pp_release(pp);
  return rc;
}

/* ---- Submission --------------------------------------------------------------- */

static void xf__ptask_free(void *data) {
  xf__free(data);
}

/* Build the task of a TASK frame whose payload put writes, and submit it. */
static int xf__pp_submit_frame(xf_executor_t *ex, const char *language,
                               int (*put)(xf__cbuf_t *, const void *), const void *arg,
                               int64_t timeout_ns, xf_future_t **out) {
  /* An MPI executor takes the same frames (task_frame.h). */
  xf__pp_t *pp = xf__executor_impl(ex, &xf__pp_ops);
  _Atomic uint64_t *next_id = pp ? &pp->next_id : xf__mpi_next_id(ex);
  if (!next_id)
    return XF_EINVAL;
  uint64_t id = atomic_fetch_add_explicit(next_id, 1, memory_order_relaxed);
  xf__cbuf_t b = {NULL, 0, 0};
  int rc = xf__cbuf_reserve(&b, sizeof(xf__ptask_t) + 64);
  size_t at;
  if (rc != XF_OK)
    return rc;
  b.len = sizeof(xf__ptask_t);
  if ((rc = xf__frame_begin(&b, &at)) != XF_OK ||
      (rc = xf__cbor_put_array(&b, 4)) != XF_OK ||
      (rc = xf__cbor_put_int(&b, XF__MSG_TASK)) != XF_OK ||
      (rc = xf__cbor_put_int(&b, (int64_t) id)) != XF_OK ||
      (rc = xf__cbor_put_text(&b, language, strlen(language))) != XF_OK ||
      (rc = put(&b, arg)) != XF_OK || (rc = xf__frame_end(&b, at)) != XF_OK) {
    xf__cbuf_free(&b);
    return rc;
  }
  xf__ptask_t *t = (xf__ptask_t *) (void *) b.p;
  t->id = id;
  t->timeout_ns = timeout_ns;
  t->len = b.len - sizeof *t;
  rc = xf_executor_submit(ex, xf__pp_marker, t, xf__ptask_free, out);
  if (rc != XF_OK)
    xf__free(t);
  return rc;
}

typedef struct xf__c_call {
  const char *library, *symbol, *signature;
  xf_value_t *const *args;
  size_t nargs;
} xf__c_call_t;

static int xf__put_c_call(xf__cbuf_t *b, const void *arg) {
  const xf__c_call_t *c = arg;
  return xf__cbor_put_c_call(b, c->library, c->symbol, c->signature, c->args, c->nargs);
}

int xf_process_pool_submit_symbol(xf_executor_t *ex, const char *library,
                                  const char *symbol, const char *signature,
                                  xf_value_t *const *args, size_t nargs,
                                  int64_t timeout_ns, xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!ex || !library || !symbol || !signature || (nargs && !args))
    return XF_EINVAL;
  xf__c_call_t c = {library, symbol, signature, args, nargs};
  return xf__pp_submit_frame(ex, "c", xf__put_c_call, &c, timeout_ns, out);
}

static int xf__put_payload(xf__cbuf_t *b, const void *arg) {
  return xf__cbor_put_value(b, arg);
}

int xf_process_pool_submit_payload(xf_executor_t *ex, const char *language,
                                   xf_value_t *payload, int64_t timeout_ns,
                                   xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!ex || !language || !*language || !payload)
    return XF_EINVAL;
  return xf__pp_submit_frame(ex, language, xf__put_payload, payload, timeout_ns, out);
}

/* ---- Terminate and stats ------------------------------------------------------ */

int xf_process_pool_terminate(xf_executor_t *ex, int64_t grace_ns) {
  xf__pp_t *pp = xf__executor_impl(ex, &xf__pp_ops);
  if (!pp)
    return XF_EINVAL;
  pthread_mutex_lock(&pp->lock);
  if (!pp->terminate) {
    pp->terminate = true;
    pp->grace_ns = grace_ns;
  }
  pthread_mutex_unlock(&pp->lock);
  return xf__pp_shutdown(pp, true, true);
}

int xf_process_pool_kill(xf_executor_t *ex) {
  return xf_process_pool_terminate(ex, 0);
}

int xf_process_pool_stats(xf_executor_t *ex, xf_process_pool_stats_t *out) {
  xf__pp_t *pp = xf__executor_impl(ex, &xf__pp_ops);
  if (!pp || !out || out->sz < sizeof *out)
    return XF_EINVAL;
  size_t sz = out->sz;
  memset(out, 0, sizeof *out);
  out->sz = sz;
  pthread_mutex_lock(&pp->lock);
  out->workers = pp->alive;
  out->max_workers = pp->max_workers;
  out->spawned = pp->spawned;
  out->deaths = pp->deaths;
  out->retired = pp->retired;
  out->timeouts = pp->timeouts;
  out->broken = pp->broken;
  pthread_mutex_unlock(&pp->lock);
  return XF_OK;
}

int xf_process_pool_workers(xf_executor_t *ex, xf_process_worker_t *out, size_t cap,
                            size_t *count) {
  xf__pp_t *pp = xf__executor_impl(ex, &xf__pp_ops);
  if (!pp || !count || (!out && cap > 0))
    return XF_EINVAL;
  size_t n = 0;
  pthread_mutex_lock(&pp->lock);
  for (uint32_t i = 0; i < pp->max_workers; i++) {
    if (!pp->info[i].pid)
      continue;
    if (n < cap)
      out[n] = pp->info[i];
    n++;
  }
  pthread_mutex_unlock(&pp->lock);
  *count = n;
  return XF_OK;
}

/* The MPI executor.
 *
 * Design notes
 * ------------
 * One thread per process, the MPI thread, makes every MPI call of this
 * module, so MPI_THREAD_FUNNELED is enough. It starts on first use; when
 * MPI is not initialized yet it initializes it (becoming MPI's main
 * thread) and registers an exit handler that has it finalize MPI. Other
 * threads hand it work in two ways: a call (a function run on the MPI
 * thread while the caller waits: setting up a communicator, spawning,
 * registering an endpoint) and, for the executors, the submission queue
 * and an eventfd, as the process pool has them.
 *
 * Endpoints. The thread drives two kinds:
 *  - an executor (xf__mx_t, the root's side), which talks to its worker
 *    ranks over its own communicator: a duplicate of the program's one
 *    (SPMD) or the intercommunicator of MPI_Comm_spawn;
 *  - a relay (xf__ms_t, a serving rank's side, at most one per process),
 *    which moves frames between the root's messages and a socketpair whose
 *    other end a worker loop reads: xfworker's (worker.c) for C, or a
 *    binding's worker module. So the worker protocol is written once per
 *    language, for the process pool, and MPI only carries it.
 * Every frame of docs/wire-protocol.md is one MPI message of MPI_BYTEs,
 * length prefix included, with one tag (XF__MPI_TAG).
 *
 * The executor follows the process pool's conversation per rank: HELLO ->
 * INIT, READY, then TASK -> RESULT or ERROR, with at most max_in_flight
 * tasks per rank, and SHUTDOWN once the executor is shut down and the rank
 * idle. A TASK frame is sent from the task's own buffer, which the slot
 * keeps until the answer came. Once every rank has its SHUTDOWN the
 * communicator is freed (disconnected, for spawned workers) and the
 * executor is done: shutdown(wait) returns.
 *
 * Waiting. MPI gives no descriptor to wait on, so the thread polls it
 * (MPI_Improbe, MPI_Test) while anything is in flight, and for
 * XF__MPI_YIELD_NS after any progress even when nothing is (the waiter of
 * an answer often submits the next task at once): it spins for
 * XF__MPI_SPIN_NS after the last progress, then polls with sched_yield in
 * between until XF__MPI_YIELD_NS, then sleeps in ppoll over the eventfd and
 * the relay's socket for 2 us, doubling up to XF__MPI_SLEEP_MAX_NS. So a
 * burst of short tasks is answered without a sleep on either side (on a
 * loaded machine a sleep costs a scheduler round trip), and a long task
 * costs little CPU. With nothing in flight and no recent progress it
 * blocks in ppoll, woken by a submission.
 *
 * Faults. Communicators get MPI_ERRORS_RETURN: a failed MPI call breaks
 * the executor, and every future not finished yet fails with XF_EBROKEN
 * ("BrokenExecutor": the MPI job is being torn down). At process exit the
 * handler fails what is still pending the same way, sends SHUTDOWN to the
 * ranks of executors nobody shut down (so that they leave and the job
 * ends), and finalizes MPI if this module initialized it. A rank that dies
 * takes the job down with it: MPI has no crash isolation.
 *
 * Lock rule: g.lock guards the call queue and the thread's flags; an
 * executor's lock guards its queue, flags and counters. Neither is held
 * while a future is finished or an MPI call is made, and g.lock is never
 * taken with an executor's lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "codec_internal.h"
#include "executor_internal.h"
#include "task_frame.h"
#include "worker_internal.h"
#include "xf/mpi.h"

#ifdef XF_MPI

#include <dlfcn.h>
#include <fcntl.h>
#include <mpi.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define XF__MPI_TAG          0x7866 /* "xf": within the 32767 every MPI allows */
#define XF__MPI_SPIN_NS      50000
#define XF__MPI_YIELD_NS     2000000
#define XF__MPI_SLEEP_MIN_NS 2000
#define XF__MPI_SLEEP_MAX_NS 1000000
#define XF__MPI_RCHUNK       65536

#ifndef XF_WORKER_INSTALL_PATH
#define XF_WORKER_INSTALL_PATH "xfworker"
#endif

/* [1, version, null] and [6]: the INIT of an executor without an
 * initializer, and SHUTDOWN. */
static const uint8_t xf__mpi_init_frame[] = {
    0, 0, 0, 4, 0x83, XF__MSG_INIT, XF__WIRE_VERSION, 0xf6};
static const uint8_t xf__mpi_shutdown_frame[] = {0, 0, 0, 2, 0x81, XF__MSG_SHUTDOWN};

/* [7], GONE: a message of the MPI transport alone, from a serving rank's
 * relay when its worker loop ended before the root's SHUTDOWN (it broke off
 * or crashed in a way that left the process alive): the rank's tasks fail
 * rather than wait for ever. */
#define XF__MSG_GONE 7
static const uint8_t xf__mpi_gone_frame[] = {0, 0, 0, 2, 0x81, XF__MSG_GONE};

enum { XF__R_STARTING, XF__R_INIT, XF__R_READY, XF__R_RETIRING, XF__R_GONE };

typedef struct xf__mslot {
  xf_future_t *fut; /* the queue's reference, now the slot's */
  xf__ptask_t *task;
  MPI_Request req; /* its TASK send */
} xf__mslot_t;

typedef struct xf__mrank {
  int rank;
  int state;
  MPI_Request ctl; /* the INIT or SHUTDOWN send, from a static frame */
  uint32_t n;
  xf__mslot_t *slots; /* max_in_flight */
} xf__mrank_t;

typedef struct xf__mx xf__mx_t;
struct xf__mx {
  _Atomic uint32_t refs; /* the handle and the MPI thread */
  pthread_mutex_t lock;
  pthread_cond_t cond;

  /* Under the lock. */
  xf__ptask_queue_t queue;
  uint64_t running, completed, cancelled;
  uint32_t alive;
  bool shutdown, broken, done;

  /* Set once. */
  _Atomic uint64_t next_id;
  uint32_t max_in_flight, nranks;
  bool spawned;
  uint8_t *init_frame; /* NULL: xf__mpi_init_frame */
  size_t init_len;

  /* The MPI thread's own. */
  MPI_Comm comm;
  xf__mrank_t *ranks;
  bool comm_dead; /* an MPI call failed: no more calls on comm */
  xf__mx_t *next;
};

/* A send of the relay, with the buffer it owns. */
typedef struct xf__msend {
  MPI_Request req;
  uint8_t *buf;
  struct xf__msend *next;
} xf__msend_t;

typedef struct xf__ms {
  MPI_Comm comm;
  int peer;
  bool spawned;
  int sock; /* the relay's end */
  xf__cbuf_t rbuf, wbuf;
  size_t wpos;
  xf__msend_t *sends;
  bool eof;
  bool started;   /* a frame came from the root */
  bool shut;      /* SHUTDOWN came from the root */
  bool gone_sent; /* GONE sent */
  bool goodbye;   /* the first frame was SHUTDOWN: no executor comes any more */
} xf__ms_t;

typedef struct xf__mcall {
  void (*fn)(void *arg);
  void *arg;
  bool done;
  struct xf__mcall *next;
} xf__mcall_t;

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool started, ready, finalizing, gone;
  int init_rc;
  bool we_init;
  pthread_t thread;
  int wakefd;
  xf__mcall_t *calls, *calls_tail;
  /* The MPI thread's own. */
  xf__mx_t *execs;
  xf__ms_t *server;
  /* The serving connection's state, under the lock: open, its loop done
   * (xf_mpi_serve_wait called), the relay over. */
  bool serving, serve_closing, serve_done, serve_goodbye;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .wakefd = -1};

static const xf_executor_ops_t xf__mx_ops;

static int64_t xf__mpi_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void xf__mpi_wake(void) {
  uint64_t one = 1;
  ssize_t n;
  do
    n = write(g.wakefd, &one, sizeof one);
  while (n < 0 && errno == EINTR);
  /* EAGAIN means the counter is full: the thread is awake already. */
}

/* A new error, or the preallocated MemoryError. */
static xf_error_t *xf__mpi_error(const char *what, int mpi_rc) {
  char msg[512], why[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  if (mpi_rc != MPI_SUCCESS && MPI_Error_string(mpi_rc, why, &len) != MPI_SUCCESS)
    snprintf(why, sizeof why, "MPI error %d", mpi_rc);
  snprintf(msg, sizeof msg, "the MPI job is being torn down: %s%s%s", what,
           mpi_rc != MPI_SUCCESS ? ": " : "", why);
  xf_error_t *err;
  if (xf_error_new(XF_EBROKEN, "BrokenExecutor", msg, &err) != XF_OK)
    return xf__error_oom();
  return err;
}

/* ---- Executors (the root's side; MPI thread) ---------------------------------- */

static void xf__mx_release(xf__mx_t *mx) {
  if (atomic_fetch_sub_explicit(&mx->refs, 1, memory_order_acq_rel) != 1)
    return;
  if (mx->ranks)
    for (uint32_t i = 0; i < mx->nranks; i++)
      xf__free(mx->ranks[i].slots);
  xf__free(mx->ranks);
  xf__free(mx->init_frame);
  pthread_mutex_destroy(&mx->lock);
  pthread_cond_destroy(&mx->cond);
  xf__free(mx);
}

static void xf__mx_finish(xf__mx_t *mx, xf_future_t *fut, xf_value_t *value,
                          xf_error_t *err) {
  /* Counted first, so that whoever the future wakes reads stats that
   * count it. The setters take over a reference; the caller keeps its
   * own. */
  pthread_mutex_lock(&mx->lock);
  mx->running--;
  mx->completed++;
  pthread_mutex_unlock(&mx->lock);
  if (err)
    xf_future_set_error(fut, xf_error_ref(err));
  else
    xf_future_set_result(fut, xf_value_ref(value ? value : xf_value_void()));
  xf_future_unref(fut);
}

/* Free a slot's task once its send is complete (or abandoned). */
static void xf__mx_slot_free(xf__mx_t *mx, xf__mslot_t *s) {
  if (s->req != MPI_REQUEST_NULL) {
    if (mx->comm_dead)
      MPI_Request_free(&s->req); /* the task buffer may stay in MPI's hands */
    else
      MPI_Wait(&s->req, MPI_STATUS_IGNORE);
    if (s->req != MPI_REQUEST_NULL)
      s->task = NULL; /* leaked rather than freed under MPI's feet */
  }
  xf__free(s->task);
  s->task = NULL;
  s->req = MPI_REQUEST_NULL;
}

static xf_future_t *xf__mx_pop(xf__mx_t *mx) {
  pthread_mutex_lock(&mx->lock);
  xf_future_t *fut = xf__ptq_pop(&mx->queue);
  pthread_mutex_unlock(&mx->lock);
  return fut;
}

/* Break the executor: every queued and in-flight future fails with err,
 * later submissions fail with XF_EBROKEN, and the ranks are asked to leave
 * (unless the communicator is dead). */
static void xf__mx_break(xf__mx_t *mx, xf_error_t *err) {
  pthread_mutex_lock(&mx->lock);
  mx->broken = true;
  xf_future_t *list = xf__ptq_take(&mx->queue);
  pthread_mutex_unlock(&mx->lock);
  xf__ptq_fail(list, err);
  for (uint32_t i = 0; i < mx->nranks; i++) {
    xf__mrank_t *r = &mx->ranks[i];
    while (r->n > 0) {
      xf__mslot_t *s = &r->slots[--r->n];
      xf_future_t *fut = s->fut;
      xf__mx_slot_free(mx, s);
      s->fut = NULL;
      xf__mx_finish(mx, fut, NULL, err);
    }
  }
}

/* A failed MPI call on the executor's communicator. */
static void xf__mx_mpi_failed(xf__mx_t *mx, const char *what, int mpi_rc) {
  mx->comm_dead = true;
  xf_error_t *err = xf__mpi_error(what, mpi_rc);
  xf__mx_break(mx, err);
  xf_error_unref(err);
}

static xf__mrank_t *xf__mx_rank(xf__mx_t *mx, int rank) {
  for (uint32_t i = 0; i < mx->nranks; i++)
    if (mx->ranks[i].rank == rank)
      return &mx->ranks[i];
  return NULL;
}

/* A rank that breaks the protocol cannot be stopped from here (MPI has no
 * kill): the executor breaks. */
static void xf__mx_send_ctl(xf__mx_t *mx, xf__mrank_t *r, const uint8_t *frame,
                            size_t len);

static void xf__mx_protocol_error(xf__mx_t *mx, int rank, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "rank %d %s; the MPI executor is broken", rank, what);
  xf_error_t *err;
  if (xf_error_new(XF_EBROKEN, "BrokenExecutor", msg, &err) != XF_OK)
    err = xf__error_oom();
  xf__mx_break(mx, err);
  xf_error_unref(err);
  /* Its conversation is over: it is asked to leave now, whatever it was
   * doing, so that the executor does not wait for it. */
  xf__mrank_t *r = xf__mx_rank(mx, rank);
  if (r && r->state != XF__R_GONE && r->state != XF__R_RETIRING && !mx->comm_dead) {
    r->state = XF__R_RETIRING;
    xf__mx_send_ctl(mx, r, xf__mpi_shutdown_frame, sizeof xf__mpi_shutdown_frame);
  }
}

static void xf__mx_send_ctl(xf__mx_t *mx, xf__mrank_t *r, const uint8_t *frame,
                            size_t len) {
  if (r->ctl != MPI_REQUEST_NULL)
    MPI_Wait(&r->ctl, MPI_STATUS_IGNORE); /* the INIT went long ago */
  int rc = MPI_Isend(frame, (int) len, MPI_BYTE, r->rank, XF__MPI_TAG, mx->comm, &r->ctl);
  if (rc != MPI_SUCCESS)
    xf__mx_mpi_failed(mx, "MPI_Isend failed", rc);
}

/* Handle one frame from rank r. */
static void xf__mx_frame(xf__mx_t *mx, xf__mrank_t *r, xf_value_t *frame) {
  xf_value_t *t = NULL, *a = NULL, *b = NULL;
  int64_t type = -1;
  size_t n = 0;
  if (xf_value_list_len(frame, &n) != XF_OK || n < 1 || xf_value_list_get(frame, 0, &t) ||
      xf_value_get_int(t, &type) != XF_OK) {
    xf__mx_protocol_error(mx, r->rank, "sent a frame that is not [type, ...]");
    return;
  }
  if (n >= 2)
    xf_value_list_get(frame, 1, &a);
  if (n >= 3)
    xf_value_list_get(frame, 2, &b);
  switch (type) {
  case XF__MSG_HELLO: {
    int64_t version = 0;
    if (r->state != XF__R_STARTING || xf_value_get_int(a, &version) != XF_OK ||
        version != XF__WIRE_VERSION) {
      xf__mx_protocol_error(mx, r->rank, "sent a HELLO this executor does not speak");
      return;
    }
    r->state = XF__R_INIT;
    if (mx->init_frame)
      xf__mx_send_ctl(mx, r, mx->init_frame, mx->init_len);
    else
      xf__mx_send_ctl(mx, r, xf__mpi_init_frame, sizeof xf__mpi_init_frame);
    return;
  }
  case XF__MSG_READY: {
    xf_error_t *ierr = NULL;
    if (r->state != XF__R_INIT) {
      xf__mx_protocol_error(mx, r->rank, "sent READY out of turn");
      return;
    }
    if (a && xf_value_get_error(a, &ierr) == XF_OK) {
      char msg[1024];
      snprintf(msg, sizeof msg, "rank %d failed to start: %s: %s", r->rank,
               xf_error_type(ierr), xf_error_message(ierr));
      xf_error_t *err;
      if (xf_error_new_full(XF_EBROKEN, "BrokenExecutor", msg, xf_error_traceback(ierr),
                            a, &err) != XF_OK)
        err = xf__error_oom();
      r->state = XF__R_GONE; /* it left by itself */
      pthread_mutex_lock(&mx->lock);
      mx->alive--;
      bool was = mx->broken;
      pthread_mutex_unlock(&mx->lock);
      if (!was)
        xf__mx_break(mx, err);
      xf_error_unref(err);
      return;
    }
    r->state = XF__R_READY;
    return;
  }
  case XF__MSG_RESULT:
  case XF__MSG_ERROR: {
    int64_t id = -1;
    xf_error_t *err = NULL;
    xf__mslot_t *s = NULL;
    if (n >= 3 && xf_value_get_int(a, &id) == XF_OK)
      for (uint32_t i = 0; i < r->n; i++)
        if (r->slots[i].task && r->slots[i].task->id == (uint64_t) id)
          s = &r->slots[i];
    if (!s && mx->broken)
      return; /* the answer to a task that failed with the break */
    if (!s || (type == XF__MSG_ERROR && xf_value_get_error(b, &err) != XF_OK)) {
      xf__mx_protocol_error(mx, r->rank, "sent a result for no task of its own");
      return;
    }
    xf_future_t *fut = s->fut;
    xf__mx_slot_free(mx, s);
    *s = r->slots[--r->n];
    memset(&r->slots[r->n], 0, sizeof r->slots[0]);
    r->slots[r->n].req = MPI_REQUEST_NULL;
    xf__mx_finish(mx, fut, type == XF__MSG_RESULT ? b : NULL, err);
    return;
  }
  case XF__MSG_GONE: {
    /* The rank's worker loop ended under it: its tasks fail, and so does
     * the executor, which cannot tell what else the rank lost. */
    r->state = XF__R_GONE;
    pthread_mutex_lock(&mx->lock);
    mx->alive--;
    pthread_mutex_unlock(&mx->lock);
    char msg[256];
    snprintf(
        msg, sizeof msg,
        "the worker loop of rank %d ended while it served; the MPI executor is broken",
        r->rank);
    xf_error_t *err;
    if (xf_error_new(XF_EBROKEN, "BrokenExecutor", msg, &err) != XF_OK)
      err = xf__error_oom();
    while (r->n > 0) {
      xf__mslot_t *s = &r->slots[--r->n];
      xf_future_t *fut = s->fut;
      xf__mx_slot_free(mx, s);
      s->fut = NULL;
      xf__mx_finish(mx, fut, NULL, err);
    }
    xf__mx_break(mx, err);
    xf_error_unref(err);
    return;
  }
  default:
    xf__mx_protocol_error(mx, r->rank, "sent a frame of an unknown type");
  }
}

/* Receive every message that has arrived. */
static bool xf__mx_receive(xf__mx_t *mx) {
  bool progressed = false;
  while (!mx->comm_dead) {
    int flag = 0;
    MPI_Message msg;
    MPI_Status st;
    int rc = MPI_Improbe(MPI_ANY_SOURCE, XF__MPI_TAG, mx->comm, &flag, &msg, &st);
    if (rc != MPI_SUCCESS) {
      xf__mx_mpi_failed(mx, "MPI_Improbe failed", rc);
      return true;
    }
    if (!flag)
      break;
    progressed = true;
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    uint8_t *buf = xf__malloc(count > 0 ? (size_t) count : 1);
    if (!buf) {
      /* The message must still be taken off the queue. */
      uint8_t sink;
      MPI_Mrecv(&sink, 0, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
      xf__mx_protocol_error(mx, st.MPI_SOURCE, "sent a frame there was no memory for");
      continue;
    }
    rc = MPI_Mrecv(buf, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      xf__free(buf);
      xf__mx_mpi_failed(mx, "MPI_Mrecv failed", rc);
      return true;
    }
    xf__mrank_t *r = xf__mx_rank(mx, st.MPI_SOURCE);
    xf_value_t *frame = NULL;
    if (!r || r->state == XF__R_GONE) {
      xf__free(buf);
      continue; /* a rank that left: nothing it says matters now */
    }
    if (count < 4 || xf__frame_len(buf) != (uint32_t) count - 4 ||
        xf__cbor_decode(buf + 4, (size_t) count - 4, XF__FRAME_DEPTH, &frame) != XF_OK) {
      xf__free(buf);
      xf__mx_protocol_error(mx, r->rank, "sent a malformed frame");
      continue;
    }
    xf__free(buf);
    /* Also once broken: the ranks' conversations go on to their SHUTDOWN. */
    xf__mx_frame(mx, r, frame);
    xf_value_unref(frame);
  }
  return progressed;
}

/* Send queued tasks to ready ranks with room. */
static bool xf__mx_dispatch(xf__mx_t *mx) {
  bool progressed = false;
  for (uint32_t i = 0; i < mx->nranks && !mx->comm_dead; i++) {
    xf__mrank_t *r = &mx->ranks[i];
    while (r->state == XF__R_READY && r->n < mx->max_in_flight) {
      xf_future_t *fut = xf__mx_pop(mx);
      if (!fut)
        return progressed;
      progressed = true;
      xf__ptask_t *t = fut->task_data;
      /* The task moves from the future to the slot, which frees it once
       * its send is complete. */
      fut->task_fn = NULL;
      fut->task_data = NULL;
      fut->task_free = NULL;
      if (xf_future_set_running_or_notify_cancel(fut) != XF_OK) {
        xf__free(t);
        pthread_mutex_lock(&mx->lock);
        mx->cancelled++;
        pthread_mutex_unlock(&mx->lock);
        xf_future_unref(fut);
        continue;
      }
      pthread_mutex_lock(&mx->lock);
      mx->running++;
      pthread_mutex_unlock(&mx->lock);
      xf__mslot_t *s = &r->slots[r->n++];
      s->fut = fut;
      s->task = t;
      s->req = MPI_REQUEST_NULL;
      int rc = MPI_Isend(t->frame, (int) t->len, MPI_BYTE, r->rank, XF__MPI_TAG, mx->comm,
                         &s->req);
      if (rc != MPI_SUCCESS) {
        xf__mx_mpi_failed(mx, "MPI_Isend failed", rc);
        return true;
      }
    }
  }
  return progressed;
}

/* Once shut down (or broken) with nothing left: SHUTDOWN to every rank,
 * and when those are sent, let go of the communicator. True when done. */
static bool xf__mx_retire(xf__mx_t *mx, bool force) {
  pthread_mutex_lock(&mx->lock);
  bool leave = (mx->shutdown || mx->broken || force) && mx->queue.head == NULL;
  pthread_mutex_unlock(&mx->lock);
  if (!leave)
    return false;
  bool all = true;
  for (uint32_t i = 0; i < mx->nranks; i++) {
    xf__mrank_t *r = &mx->ranks[i];
    if (r->state == XF__R_GONE)
      continue;
    if (mx->comm_dead) {
      r->state = XF__R_GONE;
      continue;
    }
    if (r->state != XF__R_RETIRING) {
      /* A rank still starting is answered first (INIT, then SHUTDOWN once
       * it is ready): SHUTDOWN before INIT would tell it that no executor
       * comes any more. */
      if ((r->n > 0 || r->state != XF__R_READY) && !force) {
        all = false;
        continue;
      }
      r->state = XF__R_RETIRING;
      xf__mx_send_ctl(mx, r, xf__mpi_shutdown_frame, sizeof xf__mpi_shutdown_frame);
      if (mx->comm_dead)
        continue;
    }
    int flag = 0;
    int rc = MPI_Test(&r->ctl, &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      xf__mx_mpi_failed(mx, "MPI_Test failed", rc);
      continue;
    }
    if (!flag) {
      all = false;
      continue;
    }
    r->state = XF__R_GONE;
    pthread_mutex_lock(&mx->lock);
    mx->alive--;
    pthread_mutex_unlock(&mx->lock);
  }
  if (!all)
    return false;
  for (uint32_t i = 0; i < mx->nranks; i++)
    for (uint32_t k = 0; k < mx->ranks[i].n; k++)
      xf__mx_slot_free(mx, &mx->ranks[i].slots[k]);
  if (!mx->comm_dead) {
    /* A spawned world shares the job with us until both sides disconnect. */
    if (mx->spawned)
      MPI_Comm_disconnect(&mx->comm);
    else
      MPI_Comm_free(&mx->comm);
  }
  pthread_mutex_lock(&mx->lock);
  mx->done = true;
  mx->alive = 0;
  pthread_cond_broadcast(&mx->cond);
  pthread_mutex_unlock(&mx->lock);
  return true;
}

/* One round for an executor; *busy when it awaits MPI. True on progress;
 * *done once it let go of its communicator. */
static bool xf__mx_progress(xf__mx_t *mx, bool *busy, bool *done) {
  bool progressed = xf__mx_receive(mx);
  progressed |= xf__mx_dispatch(mx);
  if (xf__mx_retire(mx, false)) {
    *done = true;
    return true;
  }
  for (uint32_t i = 0; i < mx->nranks; i++) {
    xf__mrank_t *r = &mx->ranks[i];
    if (r->state == XF__R_STARTING || r->state == XF__R_INIT ||
        r->state == XF__R_RETIRING || r->n > 0)
      *busy = true;
  }
  return progressed;
}

/* ---- The relay (a serving rank's side; MPI thread) ------------------------------- */

static void xf__ms_free(xf__ms_t *ms) {
  while (ms->sends) {
    xf__msend_t *s = ms->sends;
    ms->sends = s->next;
    if (s->req != MPI_REQUEST_NULL)
      MPI_Request_free(&s->req);
    else
      xf__free(s->buf);
    xf__free(s);
  }
  xf__cbuf_free(&ms->rbuf);
  xf__cbuf_free(&ms->wbuf);
  if (ms->sock >= 0)
    close(ms->sock);
  xf__free(ms);
}

/* The relay is over: the worker loop has the end of its socket. */
static void xf__ms_stop(xf__ms_t *ms) {
  if (ms->sock >= 0) {
    shutdown(ms->sock, SHUT_RDWR);
    close(ms->sock);
    ms->sock = -1;
  }
  ms->eof = true;
}

/* Write what is queued for the worker loop; false when its socket is gone. */
static void xf__ms_flush(xf__ms_t *ms) {
  while (ms->sock >= 0 && ms->wpos < ms->wbuf.len) {
    ssize_t k = send(ms->sock, ms->wbuf.p + ms->wpos, ms->wbuf.len - ms->wpos,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (k <= 0) {
      xf__ms_stop(ms);
      return;
    }
    ms->wpos += (size_t) k;
  }
  ms->wbuf.len = ms->wpos = 0;
}

static bool xf__ms_progress(xf__ms_t *ms, bool *done) {
  bool progressed = false;
  /* From the root to the worker loop. */
  while (!ms->eof) {
    int flag = 0;
    MPI_Message msg;
    MPI_Status st;
    if (MPI_Improbe(ms->peer, XF__MPI_TAG, ms->comm, &flag, &msg, &st) != MPI_SUCCESS) {
      xf__ms_stop(ms); /* the job is going: so is the worker loop */
      break;
    }
    if (!flag)
      break;
    progressed = true;
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    if (count < 0 || xf__cbuf_reserve(&ms->wbuf, (size_t) count + 1) != XF_OK) {
      uint8_t sink;
      MPI_Mrecv(&sink, 0, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
      xf__ms_stop(ms);
      break;
    }
    if (MPI_Mrecv(ms->wbuf.p + ms->wbuf.len, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE) !=
        MPI_SUCCESS) {
      xf__ms_stop(ms);
      break;
    }
    /* An executor always begins with INIT; SHUTDOWN first is the root's
     * xf_mpi_comm_release: the relay and its caller's loop end, and the
     * relay answers SHUTDOWN, its last message, so that the root knows
     * when nothing more comes from this rank. */
    if (!ms->started && (size_t) count == sizeof xf__mpi_shutdown_frame &&
        memcmp(ms->wbuf.p + ms->wbuf.len, xf__mpi_shutdown_frame, (size_t) count) == 0) {
      ms->goodbye = true;
      xf__ms_stop(ms);
      ms->rbuf.len = 0; /* what the loop wrote stays unsaid */
      xf__msend_t *ack = xf__calloc(1, sizeof *ack);
      if (ack &&
          MPI_Isend(xf__mpi_shutdown_frame, (int) sizeof xf__mpi_shutdown_frame, MPI_BYTE,
                    ms->peer, XF__MPI_TAG, ms->comm, &ack->req) == MPI_SUCCESS) {
        ack->next = ms->sends;
        ms->sends = ack;
      } else {
        xf__free(ack);
      }
      break;
    }
    ms->started = true;
    if ((size_t) count == sizeof xf__mpi_shutdown_frame &&
        memcmp(ms->wbuf.p + ms->wbuf.len, xf__mpi_shutdown_frame, (size_t) count) == 0)
      ms->shut = true;
    ms->wbuf.len += (size_t) count;
  }
  xf__ms_flush(ms);
  /* From the worker loop to the root: one message per frame. */
  while (ms->sock >= 0) {
    if (xf__cbuf_reserve(&ms->rbuf, XF__MPI_RCHUNK) != XF_OK) {
      xf__ms_stop(ms);
      break;
    }
    size_t room = ms->rbuf.cap - ms->rbuf.len;
    ssize_t k = recv(ms->sock, ms->rbuf.p + ms->rbuf.len, room, MSG_DONTWAIT);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (k <= 0) {
      xf__ms_stop(ms);
      break;
    }
    progressed = true;
    ms->rbuf.len += (size_t) k;
    /* A short read took all that was queued: the next turn of the loop
     * asks again, and an extra recv now would only say EAGAIN. */
    if ((size_t) k < room)
      break;
  }
  size_t pos = 0;
  while (ms->rbuf.len - pos >= 4) {
    uint32_t n = xf__frame_len(ms->rbuf.p + pos);
    if (n == 0 || n > XF__FRAME_MAX) {
      xf__ms_stop(ms); /* the worker loop broke the protocol */
      pos = ms->rbuf.len;
      break;
    }
    if (ms->rbuf.len - pos - 4 < n)
      break;
    xf__msend_t *s = xf__malloc(sizeof *s);
    uint8_t *buf = xf__malloc(4 + (size_t) n);
    if (!s || !buf) {
      xf__free(s);
      xf__free(buf);
      xf__ms_stop(ms);
      pos = ms->rbuf.len;
      break;
    }
    memcpy(buf, ms->rbuf.p + pos, 4 + (size_t) n);
    pos += 4 + (size_t) n;
    s->buf = buf;
    s->req = MPI_REQUEST_NULL;
    if (MPI_Isend(buf, (int) (4 + n), MPI_BYTE, ms->peer, XF__MPI_TAG, ms->comm,
                  &s->req) != MPI_SUCCESS) {
      xf__free(buf);
      xf__free(s);
      xf__ms_stop(ms);
      pos = ms->rbuf.len;
      break;
    }
    s->next = ms->sends;
    ms->sends = s;
  }
  if (pos > 0) {
    memmove(ms->rbuf.p, ms->rbuf.p + pos, ms->rbuf.len - pos);
    ms->rbuf.len -= pos;
  }
  /* Sends that are done. */
  for (xf__msend_t **p = &ms->sends; *p;) {
    xf__msend_t *s = *p;
    int flag = 0;
    if (MPI_Test(&s->req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      MPI_Request_free(&s->req);
      flag = 1;
    }
    if (!flag) {
      p = &s->next;
      continue;
    }
    *p = s->next;
    xf__free(s->buf);
    xf__free(s);
    progressed = true;
  }
  if (ms->eof && ms->started && !ms->shut && !ms->goodbye && !ms->gone_sent) {
    ms->gone_sent = true;
    xf__msend_t *gone = xf__calloc(1, sizeof *gone);
    if (gone && MPI_Isend(xf__mpi_gone_frame, (int) sizeof xf__mpi_gone_frame, MPI_BYTE,
                          ms->peer, XF__MPI_TAG, ms->comm, &gone->req) == MPI_SUCCESS) {
      gone->next = ms->sends;
      ms->sends = gone;
    } else {
      xf__free(gone);
    }
  }
  if (ms->eof && !ms->sends) {
    if (ms->spawned)
      MPI_Comm_disconnect(&ms->comm);
    else
      MPI_Comm_free(&ms->comm);
    *done = true;
  }
  return progressed;
}

/* ---- The MPI thread ------------------------------------------------------------- */

/* Leave: what is pending fails, the ranks of executors still running are
 * asked to leave, and MPI is finalized if we initialized it. */
static void xf__mpi_teardown(void) {
  xf_error_t *err = xf__mpi_error("the process is exiting", MPI_SUCCESS);
  for (xf__mx_t *mx = g.execs; mx; mx = mx->next) {
    if (!mx->comm_dead)
      xf__mx_receive(mx); /* answers that came in time count */
    xf__mx_break(mx, err);
  }
  xf_error_unref(err);
  while (g.execs) {
    xf__mx_t *mx = g.execs;
    if (xf__mx_retire(mx, true)) {
      g.execs = mx->next;
      xf__mx_release(mx);
    } else {
      struct timespec ts = {0, 100000};
      nanosleep(&ts, NULL);
    }
  }
  if (g.server) {
    xf__ms_stop(g.server);
    bool done = false;
    while (!done) {
      xf__ms_progress(g.server, &done);
      if (!done) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
      }
    }
    xf__ms_free(g.server);
    g.server = NULL;
    pthread_mutex_lock(&g.lock);
    g.serve_done = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
  }
  if (g.we_init)
    MPI_Finalize();
}

static void *xf__mpi_main(void *arg) {
  (void) arg;
  /* Short sleeps must be short: no timer slack for this thread. */
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  int inited = 0, finalized = 0, provided = MPI_THREAD_SINGLE, rc = XF_OK;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (finalized) {
    rc = XF_ESTATE;
  } else if (!inited) {
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      rc = XF_ESYS;
    else
      g.we_init = true;
  } else if (MPI_Query_thread(&provided) != MPI_SUCCESS ||
             provided < MPI_THREAD_SERIALIZED) {
    rc = XF_ESTATE; /* only the program's own main thread may call MPI */
  }
  pthread_mutex_lock(&g.lock);
  g.init_rc = rc;
  g.ready = true;
  pthread_cond_broadcast(&g.cond);
  pthread_mutex_unlock(&g.lock);
  if (rc != XF_OK)
    return NULL;

  int64_t last = xf__mpi_now();
  int64_t sleep_ns = XF__MPI_SLEEP_MIN_NS;
  for (;;) {
    pthread_mutex_lock(&g.lock);
    xf__mcall_t *calls = g.calls;
    g.calls = g.calls_tail = NULL;
    bool finalizing = g.finalizing, closing = g.serve_closing;
    pthread_mutex_unlock(&g.lock);
    bool progressed = calls != NULL;
    while (calls) {
      xf__mcall_t *next = calls->next;
      calls->fn(calls->arg);
      pthread_mutex_lock(&g.lock);
      calls->done = true;
      pthread_cond_broadcast(&g.cond);
      pthread_mutex_unlock(&g.lock);
      calls = next;
    }
    if (finalizing)
      break;

    bool busy = false;
    for (xf__mx_t **p = &g.execs; *p;) {
      xf__mx_t *mx = *p;
      bool done = false;
      progressed |= xf__mx_progress(mx, &busy, &done);
      if (done) {
        *p = mx->next;
        xf__mx_release(mx);
      } else {
        p = &mx->next;
      }
    }
    if (g.server) {
      bool done = false;
      busy = true;
      progressed |= xf__ms_progress(g.server, &done);
      if (closing && !done && !g.server->eof) {
        /* The worker loop is done: what it wrote is relayed above; the
         * relay ends once its sends are complete. */
        xf__ms_stop(g.server);
        progressed |= xf__ms_progress(g.server, &done);
      }
      if (done) {
        bool goodbye = g.server->goodbye;
        xf__ms_free(g.server);
        g.server = NULL;
        pthread_mutex_lock(&g.lock);
        g.serve_goodbye = goodbye;
        g.serve_done = true;
        pthread_cond_broadcast(&g.cond);
        pthread_mutex_unlock(&g.lock);
      }
    }

    int64_t now = xf__mpi_now();
    if (progressed) {
      last = now;
      sleep_ns = XF__MPI_SLEEP_MIN_NS;
      continue;
    }
    /* Right after progress the next step comes soon (the answer's waiter
     * submits the next task): the thread goes on polling for a while even
     * with nothing in flight, rather than sleep and be woken. */
    if (now - last < XF__MPI_YIELD_NS)
      busy = true;
    if (busy && now - last < XF__MPI_SPIN_NS)
      continue;
    if (busy && now - last < XF__MPI_YIELD_NS) {
      /* Still runnable, but giving way: a sleep on a loaded machine costs
       * a scheduler round trip of its own, on each side of each task. */
      sched_yield();
      continue;
    }
    struct pollfd fds[2] = {{g.wakefd, POLLIN, 0}, {-1, POLLIN, 0}};
    if (g.server && g.server->sock >= 0)
      fds[1].fd = g.server->sock;
    struct timespec ts = {0, sleep_ns};
    int n = ppoll(fds, 2, busy ? &ts : NULL, NULL);
    if (busy && sleep_ns < XF__MPI_SLEEP_MAX_NS)
      sleep_ns *= 2;
    if (n > 0 && (fds[0].revents & POLLIN)) {
      uint64_t v;
      while (read(g.wakefd, &v, sizeof v) < 0 && errno == EINTR)
        ;
    }
    if (n > 0) {
      last = xf__mpi_now();
      sleep_ns = XF__MPI_SLEEP_MIN_NS;
    }
  }
  xf__mpi_teardown();
  return NULL;
}

static void xf__mpi_atexit(void) {
  pthread_mutex_lock(&g.lock);
  bool join = g.started && g.init_rc == XF_OK && !g.gone &&
              !pthread_equal(g.thread, pthread_self());
  g.finalizing = true;
  g.gone = true;
  pthread_mutex_unlock(&g.lock);
  if (join) {
    xf__mpi_wake();
    pthread_join(g.thread, NULL);
  }
}

/* Start the MPI thread once; its initialization's result. */
static int xf__mpi_start(void) {
  pthread_mutex_lock(&g.lock);
  int rc = XF_OK;
  if (g.gone) {
    rc = XF_ESTATE;
  } else if (!g.started) {
    g.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (g.wakefd < 0) {
      rc = XF_ESYS;
    } else if (pthread_create(&g.thread, NULL, xf__mpi_main, NULL) != 0) {
      close(g.wakefd);
      g.wakefd = -1;
      rc = XF_ESYS;
    } else {
      g.started = true;
      pthread_setname_np(g.thread, "xfmpi");
      while (!g.ready)
        pthread_cond_wait(&g.cond, &g.lock);
      if (g.init_rc == XF_OK) {
        /* The exit handler joins the MPI thread, which finalizes MPI,
         * which unloads MPI's plugins: inside dlclose of this library
         * (Lua closes its C modules) that would wait for the loader lock
         * held by the dlclose itself. So this library stays loaded, and
         * the handler runs at exit. */
        Dl_info self;
        if (dladdr((void *) xf__mpi_start, &self) && self.dli_fname)
          dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
        atexit(xf__mpi_atexit);
      }
    }
  }
  if (rc == XF_OK && g.started)
    rc = g.init_rc;
  pthread_mutex_unlock(&g.lock);
  return rc;
}

/* Run fn(arg) on the MPI thread and wait for it. */
static int xf__mpi_call(void (*fn)(void *), void *arg) {
  int rc = xf__mpi_start();
  if (rc != XF_OK)
    return rc;
  if (pthread_equal(g.thread, pthread_self())) {
    fn(arg); /* a done callback on the MPI thread */
    return XF_OK;
  }
  xf__mcall_t c = {fn, arg, false, NULL};
  pthread_mutex_lock(&g.lock);
  if (g.finalizing) {
    pthread_mutex_unlock(&g.lock);
    return XF_ESTATE;
  }
  if (g.calls_tail)
    g.calls_tail->next = &c;
  else
    g.calls = &c;
  g.calls_tail = &c;
  pthread_mutex_unlock(&g.lock);
  xf__mpi_wake();
  pthread_mutex_lock(&g.lock);
  while (!c.done)
    pthread_cond_wait(&g.cond, &g.lock);
  pthread_mutex_unlock(&g.lock);
  return XF_OK;
}

/* ---- Set-up calls (MPI thread) ---------------------------------------------- */

typedef struct xf__msetup {
  MPI_Comm comm; /* in: the program's (or the parent); out: our duplicate */
  int root, rank, size, rc;
  bool spawn;
  const char *path;
  char **argv;
  int nprocs;
  xf__mx_t *mx;
  xf__ms_t *ms;
} xf__msetup_t;

static void xf__mpi_do_world(void *arg) {
  xf__msetup_t *s = arg;
  if (MPI_Comm_rank(MPI_COMM_WORLD, &s->rank) != MPI_SUCCESS ||
      MPI_Comm_size(MPI_COMM_WORLD, &s->size) != MPI_SUCCESS)
    s->rc = XF_ESYS;
}

/* Duplicate the program's communicator (collective), with errors
 * returned rather than fatal. */
static void xf__mpi_do_dup(void *arg) {
  xf__msetup_t *s = arg;
  MPI_Comm dup = MPI_COMM_NULL;
  int inter = 0;
  if (MPI_Comm_test_inter(s->comm, &inter) != MPI_SUCCESS || inter ||
      MPI_Comm_rank(s->comm, &s->rank) != MPI_SUCCESS ||
      MPI_Comm_size(s->comm, &s->size) != MPI_SUCCESS) {
    s->rc = XF_EINVAL;
    return;
  }
  if (s->root < 0 || s->root >= s->size || s->size < 2) {
    s->rc = XF_EINVAL;
    return;
  }
  if (MPI_Comm_dup(s->comm, &dup) != MPI_SUCCESS ||
      MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN) != MPI_SUCCESS) {
    s->rc = XF_ESYS;
    return;
  }
  s->comm = dup;
}

static void xf__mpi_do_spawn(void *arg) {
  xf__msetup_t *s = arg;
  MPI_Comm inter = MPI_COMM_NULL;
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  if (MPI_Comm_spawn(s->path, s->argv, s->nprocs, MPI_INFO_NULL, 0, MPI_COMM_SELF, &inter,
                     MPI_ERRCODES_IGNORE) != MPI_SUCCESS ||
      MPI_Comm_set_errhandler(inter, MPI_ERRORS_RETURN) != MPI_SUCCESS) {
    s->rc = XF_ESYS;
    return;
  }
  s->comm = inter;
}

static void xf__mpi_do_parent(void *arg) {
  xf__msetup_t *s = arg;
  MPI_Comm parent = MPI_COMM_NULL;
  if (MPI_Comm_get_parent(&parent) != MPI_SUCCESS || parent == MPI_COMM_NULL) {
    s->rc = XF_EINVAL;
    return;
  }
  MPI_Comm_set_errhandler(parent, MPI_ERRORS_RETURN);
  s->comm = parent;
}

static void xf__mpi_do_free(void *arg) {
  xf__msetup_t *s = arg;
  if (s->comm != MPI_COMM_NULL)
    MPI_Comm_free(&s->comm);
}

static void xf__mpi_do_disconnect(void *arg) {
  xf__msetup_t *s = arg;
  if (s->comm != MPI_COMM_NULL)
    MPI_Comm_disconnect(&s->comm);
}

static void xf__mpi_do_add_exec(void *arg) {
  xf__msetup_t *s = arg;
  s->mx->next = g.execs;
  g.execs = s->mx;
}

static void xf__mpi_do_add_server(void *arg) {
  xf__msetup_t *s = arg;
  g.server = s->ms;
}

/* ---- The executor operations -------------------------------------------------- */

static int xf__mx_submit(void *impl, xf_future_t *fut) {
  xf__mx_t *mx = impl;
  if (fut->task_fn != xf__pp_marker)
    return XF_EINVAL; /* a C function pointer cannot cross a process boundary */
  pthread_mutex_lock(&mx->lock);
  int rc = mx->shutdown ? XF_ESHUTDOWN : mx->broken ? XF_EBROKEN : XF_OK;
  if (rc == XF_OK) {
    xf__ptq_push(&mx->queue, fut);
  }
  pthread_mutex_unlock(&mx->lock);
  if (rc == XF_OK)
    xf__mpi_wake();
  return rc;
}

static int xf__mx_shutdown(void *impl, bool wait, bool cancel_futures) {
  xf__mx_t *mx = impl;
  xf_future_t *list = NULL;
  pthread_mutex_lock(&mx->lock);
  mx->shutdown = true;
  if (cancel_futures)
    list = xf__ptq_take(&mx->queue);
  pthread_mutex_unlock(&mx->lock);
  uint64_t n = xf__ptq_cancel(list);
  pthread_mutex_lock(&mx->lock);
  mx->cancelled += n;
  pthread_mutex_unlock(&mx->lock);
  xf__mpi_wake();
  if (wait && !pthread_equal(g.thread, pthread_self())) {
    pthread_mutex_lock(&mx->lock);
    while (!mx->done)
      pthread_cond_wait(&mx->cond, &mx->lock);
    pthread_mutex_unlock(&mx->lock);
  }
  return XF_OK;
}

static int xf__mx_stats(void *impl, xf_executor_stats_t *out) {
  xf__mx_t *mx = impl;
  pthread_mutex_lock(&mx->lock);
  out->queued = mx->queue.n;
  out->running = mx->running;
  out->completed = mx->completed;
  out->cancelled = mx->cancelled;
  out->threads = mx->alive;
  out->max_workers = mx->nranks;
  pthread_mutex_unlock(&mx->lock);
  return XF_OK;
}

static void xf__mx_destroy(void *impl) {
  xf__mx_release(impl);
}

static const xf_executor_ops_t xf__mx_ops = {
    .sz = sizeof(xf_executor_ops_t),
    .name = "mpi",
    .submit = xf__mx_submit,
    .shutdown = xf__mx_shutdown,
    .stats = xf__mx_stats,
    .destroy = xf__mx_destroy,
};

_Atomic uint64_t *xf__mpi_next_id(xf_executor_t *ex) {
  xf__mx_t *mx = xf__executor_impl(ex, &xf__mx_ops);
  return mx ? &mx->next_id : NULL;
}

/* ---- Construction ------------------------------------------------------------- */

/* An executor over comm, whose workers are ranks [0, nranks) but skip (or
 * every rank of the remote group when skip < 0). Registers it with the MPI
 * thread. */
/* The INIT frame [1, version, [language, payload]] of an initializer. */
static int xf__mx_init_frame(xf__mx_t *mx, const xf_mpi_options_t *o) {
  if (!o->init_language || !o->init_payload)
    return XF_OK;
  xf__cbuf_t b = {NULL, 0, 0};
  size_t at;
  int rc;
  if ((rc = xf__frame_begin(&b, &at)) != XF_OK ||
      (rc = xf__cbor_put_array(&b, 3)) != XF_OK ||
      (rc = xf__cbor_put_int(&b, XF__MSG_INIT)) != XF_OK ||
      (rc = xf__cbor_put_int(&b, XF__WIRE_VERSION)) != XF_OK ||
      (rc = xf__cbor_put_array(&b, 2)) != XF_OK ||
      (rc = xf__cbor_put_text(&b, o->init_language, strlen(o->init_language))) != XF_OK ||
      (rc = xf__cbor_put_value(&b, o->init_payload)) != XF_OK ||
      (rc = xf__frame_end(&b, at)) != XF_OK) {
    xf__cbuf_free(&b);
    return rc == XF_ENOMEM ? rc : XF_EINVAL;
  }
  mx->init_frame = b.p;
  mx->init_len = b.len;
  return XF_OK;
}

static int xf__mx_new(MPI_Comm comm, int size, int skip, bool spawned,
                      const xf_mpi_options_t *o, xf_executor_t **out) {
  uint32_t max_in_flight = o->max_in_flight;
  xf__mx_t *mx = xf__calloc(1, sizeof *mx);
  if (!mx)
    return XF_ENOMEM;
  atomic_init(&mx->refs, 1);
  atomic_init(&mx->next_id, 1);
  pthread_mutex_init(&mx->lock, NULL);
  pthread_cond_init(&mx->cond, NULL);
  mx->max_in_flight = max_in_flight ? max_in_flight : 1;
  mx->spawned = spawned;
  mx->comm = comm;
  mx->nranks = (uint32_t) (skip >= 0 ? size - 1 : size);
  mx->alive = mx->nranks;
  mx->ranks = xf__calloc(mx->nranks, sizeof *mx->ranks);
  int rc = mx->ranks ? xf__mx_init_frame(mx, o) : XF_ENOMEM;
  for (uint32_t i = 0, r = 0; rc == XF_OK && i < mx->nranks; r++) {
    if ((int) r == skip)
      continue;
    mx->ranks[i].rank = (int) r;
    mx->ranks[i].ctl = MPI_REQUEST_NULL;
    mx->ranks[i].slots = xf__calloc(mx->max_in_flight, sizeof(xf__mslot_t));
    if (!mx->ranks[i].slots)
      rc = XF_ENOMEM;
    for (uint32_t k = 0; rc == XF_OK && k < mx->max_in_flight; k++)
      mx->ranks[i].slots[k].req = MPI_REQUEST_NULL;
    i++;
  }
  xf_executor_t *ex = NULL;
  if (rc == XF_OK)
    rc = xf_executor_new(&xf__mx_ops, mx, &ex);
  if (rc != XF_OK) {
    xf__mx_release(mx);
    return rc;
  }
  atomic_store(&mx->refs, 2); /* the handle and the MPI thread */
  xf__msetup_t s = {0};
  s.mx = mx;
  rc = xf__mpi_call(xf__mpi_do_add_exec, &s);
  if (rc != XF_OK) {
    /* The process is exiting: the thread will never drive it. */
    atomic_store(&mx->refs, 1);
    mx->done = true;
    xf_executor_unref(ex);
    return rc;
  }
  *out = ex;
  return XF_OK;
}

/* Connect a relay over comm to peer and hand back the worker loop's end
 * of its socketpair. */
static int xf__ms_new(MPI_Comm comm, int peer, bool spawned, int *fd) {
  pthread_mutex_lock(&g.lock);
  bool busy = g.serving;
  if (!busy) {
    g.serving = true;
    g.serve_done = false;
  }
  pthread_mutex_unlock(&g.lock);
  if (busy)
    return XF_EBUSY;
  int sv[2];
  xf__ms_t *ms = xf__calloc(1, sizeof *ms);
  if (!ms || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    int rc = ms ? XF_ESYS : XF_ENOMEM;
    xf__free(ms);
    pthread_mutex_lock(&g.lock);
    g.serving = false;
    pthread_mutex_unlock(&g.lock);
    return rc;
  }
  int fl = fcntl(sv[0], F_GETFL);
  fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
  ms->comm = comm;
  ms->peer = peer;
  ms->spawned = spawned;
  ms->sock = sv[0];
  xf__msetup_t s = {0};
  s.ms = ms;
  int rc = xf__mpi_call(xf__mpi_do_add_server, &s);
  if (rc != XF_OK) {
    xf__ms_free(ms); /* the process is exiting */
    close(sv[1]);
    pthread_mutex_lock(&g.lock);
    g.serving = false;
    pthread_mutex_unlock(&g.lock);
    return rc;
  }
  *fd = sv[1];
  return XF_OK;
}

int xf_mpi_serve_wait(void) {
  pthread_mutex_lock(&g.lock);
  if (!g.serving) {
    pthread_mutex_unlock(&g.lock);
    return XF_ESTATE;
  }
  g.serve_closing = true;
  pthread_mutex_unlock(&g.lock);
  xf__mpi_wake(); /* news to a sleeping thread */
  pthread_mutex_lock(&g.lock);
  while (!g.serve_done)
    pthread_cond_wait(&g.cond, &g.lock);
  int rc = g.serve_goodbye ? XF_ESHUTDOWN : XF_OK;
  g.serving = false;
  g.serve_closing = false;
  g.serve_goodbye = false;
  pthread_mutex_unlock(&g.lock);
  return rc;
}

bool xf_mpi_available(void) {
  return true;
}

int xf_mpi_world(int *rank, int *size) {
  xf__msetup_t s = {0};
  int rc = xf__mpi_call(xf__mpi_do_world, &s);
  if (rc == XF_OK)
    rc = s.rc;
  if (rc == XF_OK) {
    if (rank)
      *rank = s.rank;
    if (size)
      *size = s.size;
  }
  return rc;
}

int xf_mpi_comm_executor_new(const void *comm, size_t comm_size, int root,
                             const xf_mpi_options_t *opts, xf_executor_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  xf_mpi_options_t o = XF_MPI_OPTIONS_INIT;
  if (opts) {
    if (opts->sz < sizeof o)
      return XF_EINVAL;
    o = *opts;
  }
  if (comm && comm_size != sizeof(MPI_Comm))
    return XF_EINVAL;
  xf__msetup_t s = {0};
  s.comm = comm ? *(const MPI_Comm *) comm : MPI_COMM_WORLD;
  s.root = root;
  int rc = xf__mpi_call(xf__mpi_do_dup, &s);
  if (rc == XF_OK)
    rc = s.rc;
  if (rc != XF_OK)
    return rc;
  if (s.rank == root) {
    rc = xf__mx_new(s.comm, s.size, root, false, &o, out);
    if (rc != XF_OK)
      xf__mpi_call(xf__mpi_do_free, &s);
    return rc;
  }
  /* A worker rank: serve C tasks here until the root is done with us. */
  int fd = -1;
  rc = xf__ms_new(s.comm, root, false, &fd);
  if (rc != XF_OK) {
    xf__mpi_call(xf__mpi_do_free, &s);
    return rc;
  }
  xf__worker_serve(fd);
  close(fd);
  return xf_mpi_serve_wait();
}

int xf_mpi_world_executor_new(int root, const xf_mpi_options_t *opts,
                              xf_executor_t **out) {
  return xf_mpi_comm_executor_new(NULL, 0, root, opts, out);
}

/* SHUTDOWN to every other rank as their first frame; each answers with
 * SHUTDOWN as its last message (after a HELLO, maybe), which is awaited
 * before the communicator is freed. */
static void xf__mpi_do_release(void *arg) {
  xf__msetup_t *s = arg;
  int n = s->size - 1, acks = 0;
  MPI_Request *reqs = xf__calloc((size_t) s->size, sizeof *reqs);
  if (!reqs) {
    s->rc = XF_ENOMEM;
    return;
  }
  for (int r = 0, i = 0; r < s->size && s->rc == XF_OK; r++)
    if (r != s->root &&
        MPI_Isend(xf__mpi_shutdown_frame, (int) sizeof xf__mpi_shutdown_frame, MPI_BYTE,
                  r, XF__MPI_TAG, s->comm, &reqs[i++]) != MPI_SUCCESS)
      s->rc = XF_ESYS;
  while (s->rc == XF_OK && acks < n) {
    MPI_Message msg;
    MPI_Status st;
    int count = 0;
    if (MPI_Mprobe(MPI_ANY_SOURCE, XF__MPI_TAG, s->comm, &msg, &st) != MPI_SUCCESS ||
        MPI_Get_count(&st, MPI_BYTE, &count) != MPI_SUCCESS) {
      s->rc = XF_ESYS;
      break;
    }
    uint8_t *buf = xf__malloc(count > 0 ? (size_t) count : 1);
    if (!buf || MPI_Mrecv(buf, count, MPI_BYTE, &msg, MPI_STATUS_IGNORE) != MPI_SUCCESS)
      s->rc = buf ? XF_ESYS : XF_ENOMEM;
    else if ((size_t) count == sizeof xf__mpi_shutdown_frame &&
             memcmp(buf, xf__mpi_shutdown_frame, sizeof xf__mpi_shutdown_frame) == 0)
      acks++;
    xf__free(buf);
  }
  if (s->rc == XF_OK && MPI_Waitall(n, reqs, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
    s->rc = XF_ESYS;
  xf__free(reqs);
  if (s->rc == XF_OK)
    MPI_Comm_free(&s->comm);
}

int xf_mpi_comm_release(const void *comm, size_t comm_size, int root) {
  if (comm && comm_size != sizeof(MPI_Comm))
    return XF_EINVAL;
  xf__msetup_t s = {0};
  s.comm = comm ? *(const MPI_Comm *) comm : MPI_COMM_WORLD;
  s.root = root;
  int rc = xf__mpi_call(xf__mpi_do_dup, &s);
  if (rc == XF_OK)
    rc = s.rc;
  if (rc != XF_OK)
    return rc;
  if (s.rank != root) {
    xf__mpi_call(xf__mpi_do_free, &s);
    return XF_EINVAL;
  }
  rc = xf__mpi_call(xf__mpi_do_release, &s);
  return rc == XF_OK ? s.rc : rc;
}

int xf_mpi_world_release(int root) {
  return xf_mpi_comm_release(NULL, 0, root);
}

int xf_mpi_pool_new(const xf_mpi_options_t *opts, xf_executor_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  xf_mpi_options_t o = XF_MPI_OPTIONS_INIT;
  if (opts) {
    if (opts->sz < sizeof o)
      return XF_EINVAL;
    o = *opts;
  }
  const char *path = o.worker_path;
  if (!path || !*path)
    path = getenv("XF_WORKER");
  if (!path || !*path) {
    path = XF_WORKER_INSTALL_PATH;
#ifdef XF_WORKER_BUILD_PATH
    if (access(path, X_OK) != 0)
      path = XF_WORKER_BUILD_PATH;
#endif
  }
  if (access(path, X_OK) != 0 && !o.worker_argv)
    return XF_EINVAL;
  /* MPI_Comm_spawn takes the command and its arguments after argv[0]. */
  char *dflt[2] = {(char *) "--mpi", NULL};
  char **args = dflt;
  if (o.worker_argv && o.worker_argv[0]) {
    path = o.worker_argv[0];
    args = (char **) (o.worker_argv + 1);
  }
  xf__msetup_t s = {0};
  s.path = path;
  s.argv = args;
  s.nprocs = o.max_workers ? (int) o.max_workers : xf__cpu_count();
  int rc = xf__mpi_call(xf__mpi_do_spawn, &s);
  if (rc == XF_OK)
    rc = s.rc;
  if (rc != XF_OK)
    return rc;
  rc = xf__mx_new(s.comm, s.nprocs, -1, true, &o, out);
  if (rc != XF_OK)
    xf__mpi_call(xf__mpi_do_disconnect, &s);
  return rc;
}

int xf_mpi_serve_open(int root, int *fd) {
  if (!fd)
    return XF_EINVAL;
  *fd = -1;
  xf__msetup_t s = {0};
  int rc;
  if (root < 0) {
    rc = xf__mpi_call(xf__mpi_do_parent, &s);
    if (rc == XF_OK)
      rc = s.rc;
    if (rc != XF_OK)
      return rc;
    return xf__ms_new(s.comm, 0, true, fd);
  }
  s.comm = MPI_COMM_WORLD;
  s.root = root;
  rc = xf__mpi_call(xf__mpi_do_dup, &s);
  if (rc == XF_OK)
    rc = s.rc;
  if (rc != XF_OK)
    return rc;
  if (s.rank == root) {
    xf__mpi_call(xf__mpi_do_free, &s);
    return XF_EINVAL;
  }
  rc = xf__ms_new(s.comm, root, false, fd);
  if (rc != XF_OK)
    xf__mpi_call(xf__mpi_do_free, &s);
  return rc;
}

#else /* !XF_MPI */

/* A build without MPI: the same symbols, which say so. */

_Atomic uint64_t *xf__mpi_next_id(xf_executor_t *ex) {
  (void) ex;
  return NULL;
}

bool xf_mpi_available(void) {
  return false;
}

int xf_mpi_world(int *rank, int *size) {
  (void) rank;
  (void) size;
  return XF_ESTATE;
}

int xf_mpi_comm_executor_new(const void *comm, size_t comm_size, int root,
                             const xf_mpi_options_t *opts, xf_executor_t **out) {
  (void) comm;
  (void) comm_size;
  (void) root;
  (void) opts;
  if (out)
    *out = NULL;
  return out ? XF_ESTATE : XF_EINVAL;
}

int xf_mpi_world_executor_new(int root, const xf_mpi_options_t *opts,
                              xf_executor_t **out) {
  return xf_mpi_comm_executor_new(NULL, 0, root, opts, out);
}

int xf_mpi_comm_release(const void *comm, size_t comm_size, int root) {
  (void) comm;
  (void) comm_size;
  (void) root;
  return XF_ESTATE;
}

int xf_mpi_world_release(int root) {
  (void) root;
  return XF_ESTATE;
}

int xf_mpi_pool_new(const xf_mpi_options_t *opts, xf_executor_t **out) {
  (void) opts;
  if (out)
    *out = NULL;
  return out ? XF_ESTATE : XF_EINVAL;
}

int xf_mpi_serve_open(int root, int *fd) {
  (void) root;
  if (fd)
    *fd = -1;
  return fd ? XF_ESTATE : XF_EINVAL;
}

int xf_mpi_serve_wait(void) {
  return XF_ESTATE;
}

#endif /* XF_MPI */

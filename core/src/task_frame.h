/* A task that travels as a TASK frame of docs/wire-protocol.md: what the
 * process pool (process_pool.c) and the MPI executor (mpi.c) share. Both
 * take their tasks from xf_process_pool_submit_symbol and
 * xf_process_pool_submit_payload, which build the frame at submission (so
 * an argument with no encoding fails the submission itself) and submit a
 * future whose task function is the marker below and whose data is the
 * task. Nothing here is published. */
#ifndef XF_TASK_FRAME_H
#define XF_TASK_FRAME_H

#include "executor_internal.h"

/* The data of a task future: its id and its complete TASK frame, length
 * prefix included. */
typedef struct xf__ptask {
  uint64_t id;
  int64_t timeout_ns;
  size_t len;
  uint8_t frame[];
} xf__ptask_t;

/* A task future's marker: never called, since the task runs in another
 * process; it tells a frame task from xf_executor_submit's. */
XF__HIDDEN int xf__pp_marker(void *data, xf_future_t *fut);

/* The tasks waiting for a worker, in submission order, linked through
 * their futures' task_next; each executor keeps one under its own lock. */
typedef struct xf__ptask_queue {
  xf_future_t *head, *tail;
  uint64_t n;
} xf__ptask_queue_t;

static inline void xf__ptq_push(xf__ptask_queue_t *q, xf_future_t *fut) {
  fut->task_next = NULL;
  if (q->tail)
    q->tail->task_next = fut;
  else
    q->head = fut;
  q->tail = fut;
  q->n++;
}

/* The oldest task, or NULL. */
static inline xf_future_t *xf__ptq_pop(xf__ptask_queue_t *q) {
  xf_future_t *fut = q->head;
  if (fut) {
    q->head = fut->task_next;
    if (!q->head)
      q->tail = NULL;
    fut->task_next = NULL;
    q->n--;
  }
  return fut;
}

/* Every task, as a list, leaving the queue empty. */
static inline xf_future_t *xf__ptq_take(xf__ptask_queue_t *q) {
  xf_future_t *list = q->head;
  q->head = q->tail = NULL;
  q->n = 0;
  return list;
}

/* A frame task that will never be sent: its frame goes now. */
static inline void xf__ptask_release(xf_future_t *fut) {
  void *data = fut->task_data;
  fut->task_fn = NULL;
  fut->task_data = NULL;
  fut->task_free = NULL;
  xf__free(data);
}

/* Fail every task of a taken list with err (cancelled ones stay so), and
 * drop the queue's references. Outside the executor's lock. */
static inline void xf__ptq_fail(xf_future_t *list, xf_error_t *err) {
  while (list) {
    xf_future_t *next = list->task_next;
    list->task_next = NULL;
    xf__ptask_release(list);
    xf_future_set_error(list, xf_error_ref(err));
    xf_future_unref(list);
    list = next;
  }
}

/* Cancel every task of a taken list (shutdown with cancel_futures), and
 * drop the queue's references; returns their number. Outside the lock. */
static inline uint64_t xf__ptq_cancel(xf_future_t *list) {
  uint64_t n = 0;
  while (list) {
    xf_future_t *next = list->task_next;
    list->task_next = NULL;
    xf_executor_drop_task(list, XF_ECANCELLED); /* frees the task data */
    xf_future_unref(list);
    list = next;
    n++;
  }
  return n;
}

/* The id counter of an MPI executor, or NULL when ex is none (mpi.c; NULL
 * in a build without MPI). */
XF__HIDDEN _Atomic uint64_t *xf__mpi_next_id(xf_executor_t *ex);

#endif /* XF_TASK_FRAME_H */

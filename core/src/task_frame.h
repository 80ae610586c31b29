/* A task that travels as a TASK frame of docs/wire-protocol.md: what the
 * process pool (process_pool.c) and the MPI executor (mpi.c) share. Both
 * take their tasks from xf_process_pool_submit_symbol and
 * xf_process_pool_submit_payload, which build the frame at submission (so
 * an argument with no encoding fails the submission itself) and submit a
 * future whose task function is the marker below and whose data is the
 * task. Nothing here is published. */
#ifndef XF_TASK_FRAME_H
#define XF_TASK_FRAME_H

#include "internal.h"

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

/* The id counter of an MPI executor, or NULL when ex is none (mpi.c; NULL
 * in a build without MPI). */
XF__HIDDEN _Atomic uint64_t *xf__mpi_next_id(xf_executor_t *ex);

#endif /* XF_TASK_FRAME_H */

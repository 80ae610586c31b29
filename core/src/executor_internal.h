/* What executor implementations inside the core share. */
#ifndef XF_EXECUTOR_INTERNAL_H
#define XF_EXECUTOR_INTERNAL_H

#include "future_internal.h"

/* The implementation behind ex if its operations are ops, else NULL. */
XF__HIDDEN void *xf__executor_impl(xf_executor_t *ex, const xf_executor_ops_t *ops);

/* A pending future carrying a task, with one reference for the caller. */
XF__HIDDEN int xf__task_future_new(xf_task_fn fn, void *data, xf_free_data_fn free_data,
                                   xf_future_t **out);

/* Drop a task future whose submission failed, leaving its data to the
 * caller. */
XF__HIDDEN void xf__task_future_abandon(xf_future_t *fut);

#endif /* XF_EXECUTOR_INTERNAL_H */

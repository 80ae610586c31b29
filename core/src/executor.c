/* The executor interface: a reference-counted handle over an
 * implementation's operations, and the task runner that every implementation
 * shares. A task travels inside its future (future_internal.h), so a
 * submission costs one allocation. */
#include "executor_internal.h"

struct xf_executor {
  _Atomic uint32_t refs;
  const xf_executor_ops_t *ops;
  void *impl;
};

int xf_executor_new(const xf_executor_ops_t *ops, void *impl, xf_executor_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!ops || ops->sz < sizeof(xf_executor_ops_t) || !ops->submit || !ops->shutdown)
    return XF_EINVAL;
  xf_executor_t *ex = xf__malloc(sizeof *ex);
  if (!ex)
    return XF_ENOMEM;
  atomic_init(&ex->refs, 1);
  ex->ops = ops;
  ex->impl = impl;
  *out = ex;
  return XF_OK;
}

xf_executor_t *xf_executor_ref(xf_executor_t *ex) {
  if (ex)
    atomic_fetch_add_explicit(&ex->refs, 1, memory_order_relaxed);
  return ex;
}

void xf_executor_unref(xf_executor_t *ex) {
  if (!ex || atomic_fetch_sub_explicit(&ex->refs, 1, memory_order_acq_rel) != 1)
    return;
  /* The implementation decides whether it can wait here: the thread pool
   * does not join when the last reference drops on one of its threads. */
  ex->ops->shutdown(ex->impl, true, false);
  if (ex->ops->destroy)
    ex->ops->destroy(ex->impl);
  xf__free(ex);
}

void *xf__executor_impl(xf_executor_t *ex, const xf_executor_ops_t *ops) {
  return ex && ex->ops == ops ? ex->impl : NULL;
}

int xf__task_future_new(xf_task_fn fn, void *data, xf_free_data_fn free_data,
                        xf_future_t **out) {
  int rc = xf__future_new(NULL, out);
  if (rc != XF_OK)
    return rc;
  (*out)->task_fn = fn;
  (*out)->task_data = data;
  (*out)->task_free = free_data;
  return XF_OK;
}

void xf__task_future_abandon(xf_future_t *fut) {
  /* The submission failed: the caller keeps its data. */
  fut->task_free = NULL;
  fut->task_fn = NULL;
  xf_future_unref(fut);
}

int xf_executor_submit(xf_executor_t *ex, xf_task_fn fn, void *data,
                       xf_free_data_fn free_data, xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!ex || !fn)
    return XF_EINVAL;
  xf_future_t *fut;
  int rc = xf__task_future_new(fn, data, free_data, &fut);
  if (rc != XF_OK)
    return rc;
  /* The implementation gets its own reference, the queue's (no other
   * thread sees the future yet, so a plain store does). The executor is
   * held for the call: the task may drop the caller's last reference to it
   * before submit returns. */
  atomic_store_explicit(&fut->refs, 2, memory_order_relaxed);
  xf_executor_ref(ex);
  rc = ex->ops->submit(ex->impl, fut);
  xf_executor_unref(ex);
  if (rc != XF_OK) {
    xf_future_unref(fut);
    xf__task_future_abandon(fut);
    return rc;
  }
  *out = fut;
  return XF_OK;
}

int xf_executor_shutdown(xf_executor_t *ex, bool wait, bool cancel_futures) {
  if (!ex)
    return XF_EINVAL;
  return ex->ops->shutdown(ex->impl, wait, cancel_futures);
}

int xf_executor_stats(xf_executor_t *ex, xf_executor_stats_t *out) {
  if (!ex || !out || out->sz < sizeof(xf_executor_stats_t))
    return XF_EINVAL;
  size_t sz = out->sz;
  memset(out, 0, sizeof *out);
  out->sz = sz;
  return ex->ops->stats ? ex->ops->stats(ex->impl, out) : XF_OK;
}

static void xf__task_release(xf_future_t *fut) {
  xf_free_data_fn free_data = fut->task_free;
  void *data = fut->task_data;
  fut->task_free = NULL;
  fut->task_fn = NULL;
  fut->task_data = NULL;
  if (free_data)
    free_data(data);
}

int xf_executor_run_task(xf_future_t *fut) {
  if (!fut || !fut->task_fn)
    return XF_EINVAL;
  int rc = xf_future_set_running_or_notify_cancel(fut);
  if (rc != XF_OK) {
    xf__task_release(fut);
    return rc == XF_ECANCELLED ? XF_ECANCELLED : XF_ESTATE;
  }
  rc = fut->task_fn(fut->task_data, fut);
  xf__task_release(fut);
  xf__future_finish_after(fut, rc);
  return XF_OK;
}

int xf_executor_drop_task(xf_future_t *fut, int code) {
  /* A future without a task (never had one, or it ran or was dropped
   * already) is not the implementation's to finish. */
  if (!fut || !fut->task_fn || code >= 0)
    return XF_EINVAL;
  xf__task_release(fut);
  if (code == XF_ECANCELLED && xf_future_cancel(fut) == XF_OK)
    return XF_OK;
  return xf__future_fail_code(fut, code);
}

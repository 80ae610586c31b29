/* What cancellation tokens (cancel.c), cancel scopes (scope.c), task groups
 * (group.c) and the loop's futures (loop_future.c) share. */
#ifndef XF_CANCEL_INTERNAL_H
#define XF_CANCEL_INTERNAL_H

#include "future_internal.h"
#include "xf/cancel.h"
#include "xf/group.h"
#include "xf/scope.h"

/* Cancel t with reason (taken over in every case; NULL is not allowed).
 * XF_OK if this call cancelled it, XF_ESTATE if it was already. */
XF__HIDDEN int xf__token_cancel(xf_cancel_token_t *t, xf_error_t *reason);

/* Whether t was cancelled with this very reason (pointer identity): how a
 * scope tells its own deadline from an outer cancellation. */
XF__HIDDEN bool xf__token_cancelled_by(const xf_cancel_token_t *t, const xf_error_t *e);

/* Make t the calling thread's current token and return the one it
 * replaces (no references change hands). */
XF__HIDDEN xf_cancel_token_t *xf__token_swap_current(xf_cancel_token_t *t);

/* The scope current in this thread for loop, or NULL (scope.c). */
XF__HIDDEN xf_scope_t *xf__scope_current_for(const xf_loop_t *loop);

/* xf_task_new without the current scope (task.c): how a scope makes the
 * task that runs its steps. */
XF__HIDDEN int xf__task_new(xf_loop_t *loop, xf_step_fn step, void *data,
                            xf_free_data_fn free_data, xf_future_t **out);

#endif /* XF_CANCEL_INTERNAL_H */

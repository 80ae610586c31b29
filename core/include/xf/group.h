/* xfutures — task groups and error groups.
 *
 * A task group (asyncio's TaskGroup, Trio's nursery) owns the work spawned
 * into it: tasks on a loop, tasks submitted to any executor, and any future
 * added to it. The first child that fails cancels the group: every other
 * child is cancelled (a loop task is resumed with XF_ECANCELLED, a task
 * queued on an executor never runs, a running executor task sees its token
 * cancelled, an added future is cancelled). Joining the group gives a future
 * that is done once every child is; it fails with an error group holding
 * every child's error, in the order the children were added, when any
 * failed. A group can never be left with children running: its join waits
 * for all of them, also after a failure, and dropping a group that was never
 * joined cancels its children.
 *
 * An error group is an xf_error_t of type "ExceptionGroup" (code XF_EFAILED)
 * whose payload is a list value of error values, one per failure (Python's
 * ExceptionGroup, JavaScript's AggregateError). Cancelled children are not
 * failures and are not in it.
 *
 * Every function here is safe to call from any thread, except xf_group_spawn
 * (loop thread, as xf_task_new).
 */
#ifndef XF_GROUP_H
#define XF_GROUP_H

#include "scope.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Error groups -------------------------------------------------------- */

/* A new error group (code XF_EFAILED, type "ExceptionGroup") with message
 * (NULL: "n sub-errors") holding the n errors in order, each as an error
 * value of its payload list. The errors are borrowed (the group takes its
 * own references). The caller owns *out. Errors: XF_EINVAL (NULL out, NULL
 * errs with n not 0, a NULL error), XF_ENOMEM. */
XF_API int xf_error_group_new(const char *message, xf_error_t *const *errs, size_t n,
                              xf_error_t **out);

/* The number of errors in an error group, or XF_EINVAL when e is not one
 * (NULL, or an error without a list of errors as its payload). */
XF_API int xf_error_group_len(const xf_error_t *e);

/* The i-th error of an error group, borrowed for as long as the caller holds
 * e. XF_EINVAL when e is not an error group, XF_ERANGE for i out of range. */
XF_API int xf_error_group_get(const xf_error_t *e, size_t i, xf_error_t **borrowed);

/* ---- Task groups ---------------------------------------------------------- */

typedef struct xf_group xf_group_t;

/* A new group. loop may be NULL: its join future is then free-standing,
 * otherwise a future of loop (its callbacks run there). parent may be NULL:
 * otherwise the group is cancelled when parent is (a scope's token, for a
 * group inside a scope); with loop given and parent NULL, the parent is
 * the thread's current scope of that loop, if any. The caller owns the
 * reference in *out. Errors: XF_EINVAL, XF_ENOMEM, XF_ECLOSED. */
XF_API int xf_group_new(xf_loop_t *loop, xf_cancel_token_t *parent, xf_group_t **out);

/* Reference counting. Dropping the last reference to a group that was not
 * joined cancels the children that still run (they finish on their own:
 * the group's memory stays until they have). */
XF_API xf_group_t *xf_group_ref(xf_group_t *g);
XF_API void xf_group_unref(xf_group_t *g);

/* The group's token (borrowed, while the caller holds g), cancelled when the
 * group is: give it to work that should stop with the group. */
XF_API xf_cancel_token_t *xf_group_token(const xf_group_t *g);

/* Submit a task to ex as a child, with the group's token (see
 * xf_executor_submit_token). out may be NULL; otherwise it receives a new
 * reference to the child's future. When this returns an error the task
 * will never run and data is not freed. Errors: those of
 * xf_executor_submit, XF_ESTATE once every child of a joined group is done
 * (the group is over), XF_ECANCELLED when the group is cancelled (nothing
 * new starts then). */
XF_API int xf_group_submit(xf_group_t *g, xf_executor_t *ex, xf_task_fn fn, void *data,
                           xf_free_data_fn free_data, xf_future_t **out);

/* Spawn a task on loop as a child (xf_task_new), with the group's token as
 * its current token in each step; the group's cancellation cancels it.
 * out may be NULL. Same errors and data rule as xf_group_submit, plus those
 * of xf_task_new. Loop thread. */
XF_API int xf_group_spawn(xf_group_t *g, xf_loop_t *loop, xf_step_fn step, void *data,
                          xf_free_data_fn free_data, xf_future_t **out);

/* Add a future made elsewhere as a child: the group waits for it, counts its
 * error, and cancels it when the group is cancelled. Errors: XF_EINVAL,
 * XF_ENOMEM, XF_ESTATE and XF_ECANCELLED as for xf_group_submit. */
XF_API int xf_group_add(xf_group_t *g, xf_future_t *f);

/* Cancel the group with reason (taken over in every case; NULL: a
 * CancelledError): every child still pending is cancelled. XF_ESTATE if it
 * was cancelled already. */
XF_API int xf_group_cancel(xf_group_t *g, xf_error_t *reason);

/* The group's join future (a new reference in *out; the same future each
 * time). It is done once every child is done and the group was joined:
 * - with a void result when no child failed and the group was not
 *   cancelled;
 * - with an error group of every failed child's error, in the order the
 *   children were added, when any failed;
 * - cancelled (with the reason's message) when the group was cancelled
 *   from outside (xf_group_cancel, the parent token) and no child failed.
 * Cancelling the join future cancels the group. Children may be added until
 * the last one is done. Errors: XF_EINVAL, XF_ENOMEM. */
XF_API int xf_group_join(xf_group_t *g, xf_future_t **out);

#ifdef __cplusplus
}
#endif
#endif /* XF_GROUP_H */

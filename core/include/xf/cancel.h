/* xfutures — cancellation tokens.
 *
 * A cancellation source (xf_cancel_source_t) is what cancels; a token
 * (xf_cancel_token_t) is what observes, as AbortController and AbortSignal
 * in JavaScript, or folly's CancellationSource and CancellationToken. A
 * source has one token; any number of holders may share that token, check
 * it, hang callbacks on it or turn it into a future. Cancellation carries a
 * reason, an xf_error_t: a CancelledError by default, a TimeoutError when a
 * scope's deadline passed (scope.h), the failure of a sibling in a group
 * (group.h).
 *
 * A token is cancelled at most once, and stays cancelled: the first reason
 * wins. Tokens link: a source made with parents (xf_cancel_source_new_linked)
 * is cancelled as soon as any parent token is, with that parent's reason
 * (AbortSignal.any). A parent holds its linked children weakly, so dropping a
 * child frees it even while its parents live on.
 *
 * Work is given a token in two ways: an executor task submitted with one
 * (xf_executor_submit_token, or any submission through an executor made by
 * xf_executor_with_token, such as xf_executor_submit_native) is cancelled
 * while it is queued when the token is cancelled, and while it runs the token
 * is the thread's current token (xf_cancel_token_current), which long native
 * work polls. A running task is never interrupted: it sees the token and
 * decides.
 *
 * Every function here is safe to call from any thread. Handles are
 * reference-counted; unreferencing NULL is a no-op.
 */
#ifndef XF_CANCEL_H
#define XF_CANCEL_H

#include "executor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xf_cancel_source xf_cancel_source_t;
typedef struct xf_cancel_token xf_cancel_token_t;

/* ---- Sources ----------------------------------------------------------- */

/* A new source, not cancelled, with its token. The caller owns the
 * reference in *out. Errors: XF_EINVAL for NULL out, XF_ENOMEM. */
XF_API int xf_cancel_source_new(xf_cancel_source_t **out);

/* A new source whose token is also cancelled as soon as any of the n parent
 * tokens is, with that parent's reason (AbortSignal.any). A parent that is
 * cancelled already cancels the new token before this returns. The parents
 * are borrowed: the new token holds what it needs of them, and each parent
 * holds the new token only weakly, so that dropping the new token and its
 * source frees them whatever the parents do. n may be 0 (the same as
 * xf_cancel_source_new). Errors: XF_EINVAL (NULL out, NULL parents with n
 * not 0, a NULL parent), XF_ENOMEM; on error nothing is made. */
XF_API int xf_cancel_source_new_linked(xf_cancel_token_t *const *parents, size_t n,
                                       xf_cancel_source_t **out);

/* Reference counting. Dropping the last reference to a source that has not
 * cancelled leaves its token uncancelled for good, unless a parent cancels
 * it. */
XF_API xf_cancel_source_t *xf_cancel_source_ref(xf_cancel_source_t *src);
XF_API void xf_cancel_source_unref(xf_cancel_source_t *src);

/* The source's token, borrowed: valid while the caller holds the source
 * (take a reference with xf_cancel_token_ref to keep it longer). NULL for
 * NULL. */
XF_API xf_cancel_token_t *xf_cancel_source_token(const xf_cancel_source_t *src);

/* Cancel the token with reason. The source takes over the caller's
 * reference to reason in every case, also when it fails; reason NULL means a
 * new CancelledError ("cancelled"). XF_OK if this call cancelled the token:
 * then, before this returns, its inline callbacks have run in this thread,
 * its loop callbacks are posted, and its linked children, the futures bound
 * to it and the queued tasks submitted with it are cancelled. XF_ESTATE if
 * it was cancelled already (the first reason stays); XF_EINVAL for NULL.
 * When the default reason cannot be allocated, the token is cancelled with
 * the preallocated MemoryError instead, so that a cancel always cancels. */
XF_API int xf_cancel_source_cancel(xf_cancel_source_t *src, xf_error_t *reason);

/* ---- Tokens ------------------------------------------------------------ */

/* Reference counting. A token lives as long as someone holds it: its
 * source, a caller, a child linked to it, a task it was given to. */
XF_API xf_cancel_token_t *xf_cancel_token_ref(xf_cancel_token_t *t);
XF_API void xf_cancel_token_unref(xf_cancel_token_t *t);

/* Whether the token is cancelled; false for NULL. A cheap load: long work
 * may call it in its inner loop. */
XF_API bool xf_cancel_token_cancelled(const xf_cancel_token_t *t);

/* XF_ECANCELLED if the token is cancelled, XF_OK if not (and for NULL, the
 * token of work that has none): what a task returns to end as cancelled. */
XF_API int xf_cancel_token_check(const xf_cancel_token_t *t);

/* The reason of a cancelled token: a new reference in *out, or *out NULL
 * while it is not cancelled. XF_EINVAL for NULL t or out. */
XF_API int xf_cancel_token_reason(const xf_cancel_token_t *t, xf_error_t **out);

/* A cancellation callback: the token (borrowed) and its reason (borrowed
 * for the call). */
typedef void (*xf_cancel_fn)(xf_cancel_token_t *t, xf_error_t *reason, void *data);

/* Call fn(t, reason, data) once when the token is cancelled. loop NULL:
 * inline, in the thread that cancels, before xf_cancel_source_cancel
 * returns, or at once in this thread if the token is cancelled already.
 * Otherwise the call is posted to loop and run by the thread that runs it,
 * never inside this call. free_data (if not NULL) is called with data
 * exactly once: after fn ran, when the registration is removed
 * (xf_cancel_token_remove_callback), when the token is freed without ever
 * being cancelled (fn then never runs), or when the loop is closed before
 * the call ran (fn then never runs either). When this returns an error, fn
 * will never be called and data is not freed: the caller still owns it.
 * Errors: XF_EINVAL (NULL t or fn), XF_ENOMEM, XF_ECLOSED (loop closed). */
XF_API int xf_cancel_token_add_callback(xf_cancel_token_t *t, xf_cancel_fn fn, void *data,
                                        xf_free_data_fn free_data, xf_loop_t *loop);

/* Remove every registration of (fn, data) that has not started to run;
 * their data is freed and fn will not be called for them. Returns how many
 * were removed (0 once the token is cancelled: the callbacks ran or are on
 * their way), or XF_EINVAL. */
XF_API int xf_cancel_token_remove_callback(xf_cancel_token_t *t, xf_cancel_fn fn,
                                           void *data);

/* A future that fails with the token's reason when the token is cancelled
 * (at once if it is already): a free-standing future for loop NULL, else a
 * future of loop (its callbacks run there). The token holds the future
 * until then; a token freed without ever being cancelled cancels the future
 * ("the cancellation token was freed before it was cancelled"), so that no
 * waiter hangs. Cancelling the future (or finishing it otherwise) does not
 * cancel the token, and takes the future's registration off the token at
 * once, so that a long-lived token does not gather futures nobody waits
 * for. The caller owns the reference in *out. Errors: XF_EINVAL, XF_ENOMEM,
 * XF_ECLOSED. */
XF_API int xf_cancel_token_future(xf_cancel_token_t *t, xf_loop_t *loop,
                                  xf_future_t **out);

/* Cancel f (with the reason's message) when the token is cancelled, or at
 * once if it is already; nothing happens to a future that is running or
 * done by then. The binding goes when f is done, so a long-lived token does
 * not gather the futures of finished work; until then the token holds f.
 * Errors: XF_EINVAL, XF_ENOMEM (f is then not bound). */
XF_API int xf_cancel_token_bind(xf_cancel_token_t *t, xf_future_t *f);

/* ---- Tasks with a token ----------------------------------------------- */

/* The token of the task running in the calling thread (borrowed, valid for
 * the task's call), or NULL when the running task has none or no task of
 * a token executor runs here. A task polls it:
 *   if (xf_cancel_token_cancelled(xf_cancel_token_current())) return
 *   XF_ECANCELLED; */
XF_API xf_cancel_token_t *xf_cancel_token_current(void);

/* As xf_executor_submit, with a token: while the task is queued, cancelling
 * the token cancels its future (the task then never runs and data is freed),
 * and while it runs the token is xf_cancel_token_current() in its thread. A
 * task that returns XF_ECANCELLED once the token is cancelled acknowledges
 * the cancellation: its future ends cancelled (also though it was running),
 * with the reason's message. t NULL is a plain submission. The future holds the token
 * while it is pending. When this returns an error the task will never run
 * and data is not freed. Errors: those of xf_executor_submit, XF_ENOMEM. */
XF_API int xf_executor_submit_token(xf_executor_t *ex, xf_cancel_token_t *t,
                                    xf_task_fn fn, void *data, xf_free_data_fn free_data,
                                    xf_future_t **out);

/* An executor that runs every task it is given on ex with token t, as
 * xf_executor_submit_token does: the way to give a token to submissions made
 * by other calls, such as xf_executor_submit_native(with, ...). It holds
 * references to ex and t. Shutting it down refuses later submissions
 * (XF_ESHUTDOWN) and leaves ex alone; its stats are ex's. The caller owns
 * the reference in *out. Errors: XF_EINVAL, XF_ENOMEM. */
XF_API int xf_executor_with_token(xf_executor_t *ex, xf_cancel_token_t *t,
                                  xf_executor_t **out);

#ifdef __cplusplus
}
#endif
#endif /* XF_CANCEL_H */

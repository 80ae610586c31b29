/* xfutures — cancel scopes with deadlines, and timeouts without a loop.
 *
 * A cancel scope (Trio's CancelScope, asyncio's timeout()) is a region of
 * work on a loop with a token and, optionally, a deadline. What is made
 * inside the scope inherits it: a loop future made by xf_loop_create_future
 * or xf_loop_run_in_executor while the scope is the thread's current scope,
 * a task spawned into it with xf_scope_spawn (its steps run with the scope
 * current, so what they make inherits it too), a nested scope, and any
 * future bound to the scope's token. Cancelling the scope, or reaching its
 * deadline, cancels all of them.
 *
 * Scopes nest: a new scope's parent is the thread's current scope of the
 * same loop, and the parent's cancellation reaches the child (the child's
 * token is linked to the parent's). A shielded scope (XF_SCOPE_SHIELD) has
 * no parent: outer cancellation does not reach what it holds (Trio's
 * shield=True, asyncio.shield).
 *
 * Deadlines and their owner. A scope's deadline cancels its token with a
 * TimeoutError reason that belongs to that scope. Whoever leaves the scope
 * (xf_scope_exit, or the future of xf_scope_wrap) sees a cancellation caused
 * by that deadline as XF_ETIMEDOUT ("TimeoutError"); a cancellation from
 * anywhere else, an outer scope's deadline among them, passes through
 * unchanged, for its own owner to turn into a timeout. So of two nested
 * scopes whose inner deadline passes first, the inner owner sees a timeout
 * and the outer one nothing.
 *
 * xf_future_timeout (loop.h) is such a scope around one future: its
 * deadline fails the result with a TimeoutError at once and cancels the
 * future, and the cancellation of the scope current when it was made
 * reaches the future too (the result then ends cancelled, for that scope's
 * owner to see).
 *
 * Threads. Scopes belong to their loop: calls marked "loop thread" follow
 * the rule of loop.h (XF_EWRONGTHREAD from another thread while the loop
 * runs). The current scope is per thread.
 */
#ifndef XF_SCOPE_H
#define XF_SCOPE_H

#include "cancel.h"
#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xf_scope xf_scope_t;

/* Flags for xf_scope_new. */
#define XF_SCOPE_SHIELD 1u /* ignore the cancellation of outer scopes */

/* A new scope on loop whose deadline is timeout_ns from now on the loop's
 * clock (negative: no deadline). Its parent is the calling thread's current
 * scope of the same loop, unless flags has XF_SCOPE_SHIELD; a parent that is
 * cancelled already cancels the new scope at once. The new scope is not
 * current until xf_scope_enter. The caller owns the reference in *out; the
 * deadline's timer holds another one until it fires or the scope is left.
 * Loop thread. Errors: XF_EINVAL (NULL loop or out, unknown flags),
 * XF_ENOMEM, XF_ECLOSED, XF_EWRONGTHREAD. */
XF_API int xf_scope_new(xf_loop_t *loop, int64_t timeout_ns, unsigned flags,
                        xf_scope_t **out);

/* Reference counting; any thread. NULL is a no-op. Dropping the last
 * reference does not cancel what the scope holds. */
XF_API xf_scope_t *xf_scope_ref(xf_scope_t *s);
XF_API void xf_scope_unref(xf_scope_t *s);

/* The scope's token, borrowed for as long as the caller holds the scope.
 * NULL for NULL. Any thread. */
XF_API xf_cancel_token_t *xf_scope_token(const xf_scope_t *s);

/* Cancel the scope with reason (taken over in every case; NULL means a
 * CancelledError). A scope cancelled this way has not expired: its owner
 * sees the cancellation as it is. Same codes as xf_cancel_source_cancel. Any
 * thread. */
XF_API int xf_scope_cancel(xf_scope_t *s, xf_error_t *reason);

/* The deadline on the loop clock (-1: none), or XF_EINVAL for NULL. */
XF_API int64_t xf_scope_deadline(const xf_scope_t *s);

/* Move the deadline to when_ns on the loop clock (negative: none), as
 * asyncio's Timeout.reschedule. XF_ESTATE once the scope is cancelled or
 * left. Loop thread. */
XF_API int xf_scope_set_deadline(xf_scope_t *s, int64_t when_ns);

/* Whether the scope was cancelled by its own deadline (not by an outer
 * scope, nor by xf_scope_cancel); false for NULL. Any thread. */
XF_API bool xf_scope_expired(const xf_scope_t *s);

/* Make s the calling thread's current scope, until xf_scope_exit. Entering
 * lasts at most until the step or callback that entered returns: a task
 * whose later steps must run in a scope is spawned into it. XF_ESTATE if s
 * is current already or was left. Loop thread. */
XF_API int xf_scope_enter(xf_scope_t *s);

/* Leave the scope: it stops being current (if it is), its deadline is
 * dropped, and nothing can be spawned into it any more. status is how the
 * work in the scope ended (XF_OK or a negative code); the return value is
 * what its owner should go on with: XF_ETIMEDOUT when status is
 * XF_ECANCELLED and the scope expired, status itself otherwise. Leaving
 * does not cancel what the scope still holds. XF_EINVAL for NULL. Loop
 * thread, but leaving from another thread is allowed and does not change
 * that thread's current scope. */
XF_API int xf_scope_exit(xf_scope_t *s, int status);

/* The calling thread's current scope (borrowed), or NULL. */
XF_API xf_scope_t *xf_scope_current(void);

/* A new task on the scope's loop (xf_task_new) whose steps run with the
 * scope as the thread's current scope and its token as the current token;
 * cancelling the scope cancels the task (its step is resumed with
 * XF_ECANCELLED). *out is a new reference to the task; data and free_data as
 * for xf_task_new. When this returns an error the step will never be called
 * and data is not freed. XF_ESTATE once the scope is left. Loop thread. */
XF_API int xf_scope_spawn(xf_scope_t *s, xf_step_fn step, void *data,
                          xf_free_data_fn free_data, xf_future_t **out);

/* The scope's owner's view of f: *out is a loop future of the scope's loop
 * that follows f, except that f ending cancelled while the scope has
 * expired makes it fail with XF_ETIMEDOUT ("TimeoutError") instead
 * (asyncio.timeout() around an await). It waits for f: the work decides how
 * it ends. Cancelling *out cancels f. The caller owns *out. Any thread.
 * Errors: XF_EINVAL, XF_ENOMEM, XF_ECLOSED. */
XF_API int xf_scope_wrap(xf_scope_t *s, xf_future_t *f, xf_future_t **out);

/* ---- Timeouts without a loop ------------------------------------------- */

/* Java's orTimeout: fail f with XF_ETIMEDOUT ("TimeoutError") if it is not
 * done timeout_ns from now (negative: never; 0: at once if pending). One
 * timer thread of the library serves every such timeout: it starts on first
 * use and stops at exit (and is started afresh in a forked child; the
 * parent's timers do not follow into it). A running future fails too: its
 * task's outcome is then ignored, as a finished future's is. f is held until
 * the timer fires or f is done; a future that is done (finished or cancelled)
 * drops its timer at once. Errors: XF_EINVAL (NULL f), XF_ENOMEM, XF_ESYS
 * (the timer thread cannot start). */
XF_API int xf_future_or_timeout(xf_future_t *f, int64_t timeout_ns);

/* Java's completeOnTimeout: as xf_future_or_timeout, but f gets value as its
 * result instead of an error. The timer takes over the caller's reference
 * to value in every case, also when it fails (NULL means void); the value
 * is dropped if f is done first. */
XF_API int xf_future_complete_on_timeout(xf_future_t *f, int64_t timeout_ns,
                                         xf_value_t *value);

#ifdef __cplusplus
}
#endif
#endif /* XF_SCOPE_H */

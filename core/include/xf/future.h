/* xfutures — futures and the combinators over them.
 *
 * A future is a reference-counted handle to an outcome that may not exist
 * yet. Its states: PENDING -> RUNNING -> FINISHED (a value or an error), or
 * PENDING -> CANCELLED, and RUNNING -> CANCELLED for a running future bound
 * by xf_future_chain to a source that ends cancelled (see xf_future_cancel).
 * A free-standing future behaves like Python's concurrent.futures.Future; a
 * future made by xf_loop_create_future behaves like asyncio.Future (see
 * loop.h). Every function here is safe to call from any thread.
 *
 * Blocking calls take a timeout in nanoseconds: negative waits forever, zero
 * does not block. A blocking call (non-zero timeout) on a future that only
 * the calling thread's running loop can finish — a loop future, waited on
 * by the thread that runs its loop — returns XF_EDEADLK at once instead of
 * blocking: the loop cannot turn while its thread waits (asyncio refuses as
 * well). A zero timeout is a poll and behaves as usual.
 *
 * References. A combinator's result is held by what will finish it: the
 * registration on its antecedent or inputs, as any done callback is. A
 * result the caller dropped still finishes, and its callbacks still run,
 * when its inputs do. The result holds its inputs only weakly, so dropping
 * every reference to a set of pending futures frees them all, whatever
 * combinators link them — with one exception: futures that wait for each
 * other in a loop, which xf_future_chain can close (chain(a, b) with
 * chain(b, a), or chain(first([a]), a)). Such a loop can never finish by
 * itself, and it keeps itself alive until one of its futures is finished
 * or cancelled from outside. An antecedent or input freed while pending can
 * never finish: a result that follows it is then finished as if it had been
 * cancelled, with a message saying so (see each combinator), so that no
 * waiter on it hangs.
 */
#ifndef XF_FUTURE_H
#define XF_FUTURE_H

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xf_future xf_future_t;
typedef struct xf_loop xf_loop_t;
typedef struct xf_executor xf_executor_t;

typedef enum xf_future_state {
  XF_PENDING = 0,
  XF_RUNNING = 1,
  XF_FINISHED = 2,
  XF_CANCELLED = 3
} xf_future_state_t;

/* A new pending future; the caller owns the reference in *out. */
XF_API int xf_future_new(xf_future_t **out);

/* Reference counting; any thread. NULL is a no-op. Dropping the last
 * reference to a pending future frees it; its done callbacks never run and
 * their data is freed. */
XF_API xf_future_t *xf_future_ref(xf_future_t *f);
XF_API void xf_future_unref(xf_future_t *f);

/* Finish the future with a value. The future takes over the caller's
 * reference to value in every case, also when it fails (value NULL means
 * void). XF_ESTATE if the future is already finished or cancelled. Waiters
 * wake and done callbacks run (inline ones in this thread, before this
 * returns). */
XF_API int xf_future_set_result(xf_future_t *f, xf_value_t *value);

/* Finish the future with an error. The future takes over the caller's
 * reference to err in every case. XF_ESTATE if already finished or cancelled;
 * XF_EINVAL if err is NULL. */
XF_API int xf_future_set_error(xf_future_t *f, xf_error_t *err);

/* Shorthand: finish the future with a new error of this code, type and
 * message (NULLs take the defaults, as in xf_error_new). */
XF_API int xf_future_fail(xf_future_t *f, int code, const char *type,
                          const char *message);

/* Cancel the future. XF_OK if it is now cancelled (or already was);
 * XF_ESTATE if it is running or finished. Waiters wake and callbacks run.
 * A running future that xf_future_chain bound to a source (the result of a
 * then() whose continuation returned an inner future) is cancelled through
 * its source, as asyncio's Task.cancel cancels what the task awaits: the
 * source is cancelled, and the future ends cancelled when the source does
 * (before this returns, unless the source defers its cancellation, as a
 * task does); the return code is the source's (XF_ESTATE if it runs). */
XF_API int xf_future_cancel(xf_future_t *f);

/* Cancel with a message, kept in the CancelledError that result and error
 * report (asyncio's cancel(msg)). msg may be NULL. */
XF_API int xf_future_cancel_msg(xf_future_t *f, const char *msg);

/* For whoever runs the work: XF_OK if the future moved from pending to
 * running, XF_ECANCELLED if it had been cancelled (the caller must not run
 * the work), XF_ESTATE if it was already running or finished. */
XF_API int xf_future_set_running_or_notify_cancel(xf_future_t *f);

/* The current xf_future_state_t, or XF_EINVAL for NULL. */
XF_API int xf_future_state(const xf_future_t *f);

/* Non-blocking predicates; false for NULL. done means finished or
 * cancelled. */
XF_API bool xf_future_done(const xf_future_t *f);
XF_API bool xf_future_cancelled(const xf_future_t *f);
XF_API bool xf_future_running(const xf_future_t *f);

/* Wait until the future is done. XF_OK when done, XF_ETIMEDOUT otherwise;
 * XF_EDEADLK at once if it is not done, the timeout is not zero and the
 * calling thread is running the future's loop (see the top of this file). */
XF_API int xf_future_wait(xf_future_t *f, int64_t timeout_ns);

/* Wait and take the value. XF_OK with a new reference in *out (a void value
 * for a void result); XF_EFAILED if the future holds an error (read it with
 * xf_future_error); XF_ECANCELLED; XF_ETIMEDOUT; XF_EDEADLK as for
 * xf_future_wait. *out is NULL on failure. */
XF_API int xf_future_result(xf_future_t *f, int64_t timeout_ns, xf_value_t **out);

/* Wait and take the error. XF_OK with *out a new reference to the error, or
 * NULL when the future holds a value; for a cancelled future, XF_OK with a
 * new CancelledError (code XF_ECANCELLED; message from cancel_msg);
 * XF_ETIMEDOUT; XF_EDEADLK as for xf_future_wait. *out is NULL on
 * failure. */
XF_API int xf_future_error(xf_future_t *f, int64_t timeout_ns, xf_error_t **out);

/* The outcome as it is now, without blocking: what a binding reads to turn
 * a future into its language's answer in one call. Returns the state
 * (XF_PENDING, XF_RUNNING, XF_FINISHED or XF_CANCELLED), or a negative code:
 * XF_EINVAL for NULL f, XF_ENOMEM when a cancelled future's error cannot be
 * made. value and error may each be NULL when the caller does not want that
 * part; what they point to is set in every case (NULL unless said here):
 * - FINISHED with a value: *value is a new reference to it (a void value
 *   for a void result);
 * - FINISHED with an error: *error is a new reference to that very error;
 * - CANCELLED: *error is a new CancelledError (code XF_ECANCELLED, the
 *   message given to xf_future_cancel_msg, or "" without one).
 * Asking for the error of a done future counts as reading it, as
 * xf_future_error does: a loop future whose error was read this way is not
 * reported as never retrieved. Any thread. */
XF_API int xf_future_outcome(xf_future_t *f, xf_value_t **value, xf_error_t **error);

/* A done callback. It receives the future (borrowed) and its data. */
typedef void (*xf_done_fn)(xf_future_t *f, void *data);

/* Add a done callback. Callbacks run exactly once each, in the order they
 * were added, when the future is finished or cancelled; free_data (if not
 * NULL) is then called with data.
 *
 * Where it runs is part of the registration:
 * - loop NULL and the future has no loop of its own: inline, in the thread
 *   that finishes the future, or at once in the caller if it is already done
 *   (concurrent.futures semantics);
 * - otherwise (loop given, or the future was made by xf_loop_create_future):
 *   posted to the loop and run by the thread running it, never synchronously
 *   inside set_result (asyncio semantics).
 *
 * When this returns an error the callback will never be called and data is
 * not freed (the caller still owns it). */
XF_API int xf_future_add_done_callback(xf_future_t *f, xf_done_fn fn, void *data,
                                       xf_free_data_fn free_data, xf_loop_t *loop);

/* Remove every registration of (fn, data) that has not run yet; frees their
 * data. Returns how many were removed (0 or more), or XF_EINVAL. */
XF_API int xf_future_remove_done_callback(xf_future_t *f, xf_done_fn fn, void *data);

/* The loop this future belongs to (borrowed), or NULL when free-standing. */
XF_API xf_loop_t *xf_future_loop(const xf_future_t *f);

/* ---- Combinators ------------------------------------------------------ */

typedef enum xf_return_when {
  XF_ALL_COMPLETED = 0,
  XF_FIRST_COMPLETED = 1,
  XF_FIRST_EXCEPTION = 2
} xf_return_when_t;

/* Wait for a set of futures, as concurrent.futures.wait. XF_OK when the
 * condition holds (FIRST_EXCEPTION holds when any future failed or all are
 * done; a cancelled future does not count as an exception), XF_ETIMEDOUT
 * otherwise. XF_EDEADLK instead of blocking (timeout not zero) when the
 * condition cannot hold until a future finishes that only the calling
 * thread's running loop can finish: for ALL_COMPLETED one such pending
 * future is enough; for the others, every pending future must be one. If
 * done_flags is not NULL it receives n flags, 1 for each future that is
 * done (also with XF_ETIMEDOUT and XF_EDEADLK). n may be 0. */
XF_API int xf_wait(xf_future_t *const *fs, size_t n, int return_when, int64_t timeout_ns,
                   unsigned char *done_flags);

/* An iterator yielding futures as they complete, as
 * concurrent.futures.as_completed: the ones already done first, then each as
 * it finishes. The timeout counts from creation (negative: none). Each future
 * is yielded once, even if it appears twice in fs. */
typedef struct xf_as_completed xf_as_completed_t;
XF_API int xf_as_completed_new(xf_future_t *const *fs, size_t n, int64_t timeout_ns,
                               xf_as_completed_t **out);
/* XF_OK with *out a new reference to the next done future, or XF_OK with *out
 * NULL when every future has been yielded; XF_ETIMEDOUT when the deadline
 * passes first; XF_EDEADLK instead of blocking when every future not yielded
 * yet can only be finished by the calling thread's running loop (in both
 * cases the iterator stays usable). */
XF_API int xf_as_completed_next(xf_as_completed_t *it, xf_future_t **out);
XF_API void xf_as_completed_free(xf_as_completed_t *it);

/* Flags for xf_future_all. */
#define XF_ALL_COLLECT 1u /* errors become error values in the list */

/* A future of a list of the n futures' values, in order (asyncio.gather).
 * Default: fail fast — the first error (or cancellation) of any input
 * finishes the result with that error; the other inputs are left alone.
 * XF_ALL_COLLECT: wait for all; failed or cancelled inputs appear as error
 * values. Cancelling the result cancels the inputs still pending. An input
 * freed while pending counts as cancelled (CancelledError "an input future
 * was freed before it finished"). n may be 0 (an empty list at once). */
XF_API int xf_future_all(xf_future_t *const *fs, size_t n, unsigned flags,
                         xf_future_t **out);

/* A future of the first successful value among the n futures; if every one
 * fails, it fails with an "AggregateError" whose message names the count, and
 * the first error as payload. n == 0 fails at once. When one succeeds, the
 * others are cancelled if cancel_rest is true. A cancelled input, or one
 * freed while pending, counts as failed with a CancelledError. If an
 * allocation fails while the result is being made (a CancelledError, the
 * AggregateError), the result fails with XF_ENOMEM. */
XF_API int xf_future_any(xf_future_t *const *fs, size_t n, bool cancel_rest,
                         xf_future_t **out);

/* A future with the outcome of whichever of the n futures is done first
 * (value, error or cancellation); the others are cancelled if cancel_rest is
 * true. An input freed while pending counts as cancelled. n == 0 is
 * XF_EINVAL. */
XF_API int xf_future_first(xf_future_t *const *fs, size_t n, bool cancel_rest,
                           xf_future_t **out);

/* A continuation. It receives the antecedent future (done, borrowed) and the
 * result future (borrowed) and finishes the latter: with set_result /
 * set_error, with a negative return code (the result fails with that code),
 * or by handing it to another future with xf_future_chain(other, result) —
 * that is how a continuation returns a future that is then unwrapped. If it
 * returns XF_OK having done none of these, the result is void. */
typedef int (*xf_then_fn)(void *data, xf_future_t *antecedent, xf_future_t *result);

/* Run fn when f is done; *out is the future of the continuation's outcome.
 * executor NULL runs fn inline in the thread that finishes f; otherwise fn
 * is submitted to the executor (which may be a loop's, see
 * xf_loop_executor). free_data is called with data once fn has run or will
 * never run. Cancelling *out before fn runs means fn never runs; once fn
 * has handed *out to an inner future (xf_future_chain), cancelling *out
 * cancels the inner future (see xf_future_cancel). If f is freed while
 * pending, or the executor drops the continuation without running it, fn
 * never runs and *out is cancelled with a message saying which. f's
 * registration holds *out until then, so *out finishes (and its callbacks
 * run) even if the caller dropped it. If this returns an error, fn will
 * never be called and data is not freed. */
XF_API int xf_future_then(xf_future_t *f, xf_executor_t *executor, xf_then_fn fn,
                          void *data, xf_free_data_fn free_data, xf_future_t **out);

/* Copy src's outcome into dst when src is done (if dst is still pending or
 * running by then). Cancellation flows both ways: cancelling dst cancels
 * src, and a cancelled src cancels dst (also a running one). src holds dst
 * until it is done; dst refers to src only weakly, so dropping both frees
 * both. If src is freed while pending, dst is cancelled ("the chained
 * source future was freed before it finished"). */
XF_API int xf_future_chain(xf_future_t *src, xf_future_t *dst);

/* A new future that follows inner's outcome, but whose cancellation does not
 * cancel inner (asyncio.shield). If inner is freed while pending, the new
 * future is cancelled ("the shielded future was freed before it
 * finished"). */
XF_API int xf_future_shield(xf_future_t *inner, xf_future_t **out);

#ifdef __cplusplus
}
#endif
#endif /* XF_FUTURE_H */

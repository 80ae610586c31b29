/* xfutures — the event loop: asyncio's loop in C.
 *
 * A loop runs callbacks, timers, fd readiness callbacks and tasks on one
 * thread: the thread that runs it. One loop is run by one thread at a time,
 * and a thread runs at most one loop at a time (xf_loop_current).
 *
 * Threads. Calls marked "loop thread" may be made by the thread running the
 * loop, or by any thread while no thread runs it (to set things up before
 * running, as asyncio allows); made by another thread while the loop runs,
 * they return XF_EWRONGTHREAD. Calls marked "any thread" are safe anywhere.
 * Every call on a closed loop returns XF_ECLOSED (or does nothing, for the
 * calls that return no code).
 *
 * Callbacks. When a function that takes a callback returns an error, the
 * callback will never be called and its data is not freed: the caller still
 * owns it. Otherwise the data is freed (free_data, if not NULL, is called
 * with it) exactly once: after the callback ran, when it is cancelled or
 * removed, or when the loop is closed before it ran. Callbacks are never run
 * synchronously inside the call that schedules them.
 *
 * Time is int64_t nanoseconds of the monotonic clock (xf_now).
 *
 * Fork. In a process forked from the one that made it, a loop behaves as a
 * closed loop: its calls return XF_ECLOSED, xf_loop_is_closed is true, and
 * xf_loop_close and xf_loop_unref return at once. They never wait for the
 * parent's threads, never take locks those threads may have held, and never
 * change the epoll set, which the child shares with the parent. What the
 * loop held (queued callbacks, its default executor) is neither run nor
 * freed in the child. Loops made in the child work as usual.
 */
#ifndef XF_LOOP_H
#define XF_LOOP_H

#include "executor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Life cycle ------------------------------------------------------- */

/* A new loop, not running. The caller owns the reference in *out. Errors:
 * XF_ENOMEM, XF_ESYS (the kernel refused an epoll or eventfd descriptor). */
XF_API int xf_loop_new(xf_loop_t **out);

/* Reference counting; any thread. NULL is a no-op. When the last reference
 * taken by xf_loop_new / xf_loop_ref is dropped, the loop is closed as by
 * xf_loop_close (at the end of its run, if it is running); its memory goes
 * when the futures bound to it are gone too. */
XF_API xf_loop_t *xf_loop_ref(xf_loop_t *loop);
XF_API void xf_loop_unref(xf_loop_t *loop);

/* Close the loop: pending callbacks, timers, fd watchers and queued tasks are
 * dropped without running (their data is freed), the default executor is
 * shut down (waiting for its running jobs), and every later call fails with
 * XF_ECLOSED. A done callback that arrives for a closed loop is dropped and
 * reported to the exception handler. Closing again is XF_OK. Any thread;
 * XF_EBUSY while the loop is running. */
XF_API int xf_loop_close(xf_loop_t *loop);

/* Predicates; any thread; false for NULL. */
XF_API bool xf_loop_is_closed(const xf_loop_t *loop);
XF_API bool xf_loop_is_running(const xf_loop_t *loop);

/* ---- Running ---------------------------------------------------------- */

typedef enum xf_run_mode {
  XF_RUN_DEFAULT = 0, /* run until xf_loop_stop (asyncio's run_forever) */
  XF_RUN_ONCE = 1,    /* one iteration, waiting for an event if none is ready */
  XF_RUN_NOWAIT = 2   /* one iteration that never waits */
} xf_run_mode_t;

/* Run the loop in the calling thread. One iteration: wait for I/O (unless
 * callbacks are ready, the loop is stopping or the mode is NOWAIT; at most
 * until the next timer), run the fd callbacks, then run the callbacks ready
 * at that point (those scheduled meanwhile wait for the next iteration),
 * among them the timers that are due. XF_RUN_ONCE returns once something
 * was ready (fd events, callbacks, a due timer), a stop was asked for or a
 * signal interrupted the wait: a wake-up that brings nothing to run (sent
 * for work that an earlier iteration already did) does not end it. XF_OK
 * when it returns normally.
 * XF_EBUSY if the loop is being run (by this or another thread) or this
 * thread runs another loop; XF_ECLOSED; XF_EINVAL for a bad mode. */
XF_API int xf_loop_run(xf_loop_t *loop, int mode);

/* Run the loop until f is done, then return f's outcome as
 * xf_future_result(f, 0, out) does: XF_OK with a new reference to the value
 * in *out (out may be NULL to discard it), XF_EFAILED (read the error with
 * xf_future_error), XF_ECANCELLED. XF_ESTATE if the loop was stopped before
 * f was done. f may belong to this loop, to no loop, or be finished by
 * another thread. Other errors as xf_loop_run. */
XF_API int xf_loop_run_until_complete(xf_loop_t *loop, xf_future_t *f, xf_value_t **out);

/* Ask the loop to stop: it finishes the current iteration and returns from
 * xf_loop_run. Called while it is not running, the next run does one
 * iteration and returns. Any thread. */
XF_API int xf_loop_stop(xf_loop_t *loop);

/* The loop's clock: monotonic nanoseconds, the clock of call_at. Any
 * thread; 0 for NULL. */
XF_API int64_t xf_loop_time(const xf_loop_t *loop);

/* The loop the calling thread is running, borrowed, or NULL. */
XF_API xf_loop_t *xf_loop_current(void);

/* ---- Callbacks and timers --------------------------------------------- */

typedef void (*xf_callback_fn)(void *data);

/* A scheduled callback, for cancelling it. Reference-counted: the loop holds
 * its own reference while the callback is scheduled, so the caller may drop
 * its handle at once. */
typedef struct xf_handle xf_handle_t;

/* Run fn(data) on the loop soon, after the callbacks already scheduled (FIFO).
 * Loop thread. If out is not NULL it receives a new reference to a handle
 * that can cancel the call. */
XF_API int xf_loop_call_soon(xf_loop_t *loop, xf_callback_fn fn, void *data,
                             xf_free_data_fn free_data, xf_handle_t **out);

/* As xf_loop_call_soon, from any thread: the call is queued to the loop and
 * wakes it if it sleeps (a system call only then). Calls from one thread run
 * in the order they were made; none is merged with another. */
XF_API int xf_loop_call_soon_threadsafe(xf_loop_t *loop, xf_callback_fn fn, void *data,
                                        xf_free_data_fn free_data);

/* Run fn(data) once delay_ns (clamped at 0) has passed, or at the loop time
 * when_ns. Timers due at the same time run in the order they were
 * scheduled. Loop thread. out as for call_soon (may be NULL). */
XF_API int xf_loop_call_later(xf_loop_t *loop, int64_t delay_ns, xf_callback_fn fn,
                              void *data, xf_free_data_fn free_data, xf_handle_t **out);
XF_API int xf_loop_call_at(xf_loop_t *loop, int64_t when_ns, xf_callback_fn fn,
                           void *data, xf_free_data_fn free_data, xf_handle_t **out);

/* Cancel a scheduled callback: it will not run, and its data is freed (at
 * once on the loop's thread, else by the loop when it next looks at it; a
 * cancelled timer leaves the timer heap at once on the loop's thread). XF_OK
 * also when it already ran or was cancelled (nothing happens then); any
 * thread. */
XF_API int xf_handle_cancel(xf_handle_t *h);

/* Whether xf_handle_cancel was called; false for NULL. Any thread. */
XF_API bool xf_handle_cancelled(const xf_handle_t *h);

/* A timer's deadline on the loop clock; 0 for a call_soon handle or NULL. */
XF_API int64_t xf_handle_when(const xf_handle_t *h);

/* Reference counting; any thread. NULL is a no-op. */
XF_API xf_handle_t *xf_handle_ref(xf_handle_t *h);
XF_API void xf_handle_unref(xf_handle_t *h);

/* ---- File descriptors ------------------------------------------------- */

typedef void (*xf_io_fn)(int fd, void *data);

/* Call fn(fd, data) on the loop each time fd is readable (add_reader) or
 * writable (add_writer), until removed; an error or hang-up on fd counts as
 * both. One reader and one writer per fd: adding another replaces it (the
 * old data is freed). The loop does not own fd: remove the watcher before
 * closing it. Loop thread. XF_EINVAL for a negative fd, XF_ESYS if the kernel
 * cannot watch it (a regular file). */
XF_API int xf_loop_add_reader(xf_loop_t *loop, int fd, xf_io_fn fn, void *data,
                              xf_free_data_fn free_data);
XF_API int xf_loop_add_writer(xf_loop_t *loop, int fd, xf_io_fn fn, void *data,
                              xf_free_data_fn free_data);

/* Stop watching fd; frees the watcher's data. Returns 1 if a watcher was
 * removed, 0 if there was none, or an error code. Loop thread. */
XF_API int xf_loop_remove_reader(xf_loop_t *loop, int fd);
XF_API int xf_loop_remove_writer(xf_loop_t *loop, int fd);

/* ---- Futures and executors -------------------------------------------- */

/* A new pending future bound to the loop (asyncio.Future): its done
 * callbacks run on the loop, never inside set_result, and it may be finished
 * from any thread (the completion is marshalled to the loop). The caller owns
 * the reference. Made while a cancel scope of the loop is current in this
 * thread (scope.h), it is cancelled with the scope. Any thread. */
XF_API int xf_loop_create_future(xf_loop_t *loop, xf_future_t **out);

/* Run fn(data, future) on an executor — ex, or when ex is NULL the loop's
 * default thread pool, made on first use and shut down when the loop closes
 * — and give back in *out a loop future that follows the executor's future.
 * Cancelling *out cancels the job if it has not started. free_data is called
 * with data once fn ran or will never run. Any thread. */
XF_API int xf_loop_run_in_executor(xf_loop_t *loop, xf_executor_t *ex, xf_task_fn fn,
                                   void *data, xf_free_data_fn free_data,
                                   xf_future_t **out);

/* An executor that runs its tasks on the loop (queued as by
 * call_soon_threadsafe), so that xf_future_then(f, ex, ...) continues on the
 * loop. *out is a new reference the caller owns; it keeps the loop's memory
 * alive. Tasks submitted after the loop closed fail with XF_ESHUTDOWN; those
 * still queued when it closes are cancelled. Any thread. */
XF_API int xf_loop_executor(xf_loop_t *loop, xf_executor_t **out);

/* ---- Tasks: coroutines in C ------------------------------------------- */

/* The step function's answers besides XF_OK and negative codes. */
#define XF_TASK_AWAIT 1 /* suspended on the future given to xf_task_await */
#define XF_TASK_YIELD 2 /* run the next step soon (asyncio.sleep(0)) */

/* A task's step. The loop calls it with the task (borrowed; a future) and
 * its data: first with awaited NULL and status XF_OK, then each time the
 * future it awaits is done, with that future (borrowed for the call) and
 * status XF_OK (it holds a value), XF_EFAILED (an error) or XF_ECANCELLED
 * (it was cancelled, or the task is being cancelled: see below).
 *
 * The step returns:
 * - XF_TASK_AWAIT after xf_task_await(task, f): suspend until f is done;
 * - XF_TASK_YIELD: be resumed soon (status XF_OK, awaited NULL);
 * - XF_OK: the task is done; its result is void unless the step set it with
 *   xf_future_set_result / set_error, or chained another future into it;
 * - XF_ECANCELLED: the task ends cancelled (unless the step finished it),
 *   also when the step chained another future into it, which the chain
 *   then cancels;
 * - another negative code: the task fails with an error of that code.
 *
 * Cancelling a task (xf_future_cancel on it, any thread) cancels the future
 * it awaits (with the same message) and resumes the step with XF_ECANCELLED,
 * once per request; a future chained into the task that ends cancelled is
 * such a request. The step may clean up and return XF_ECANCELLED, or swallow
 * the cancellation and go on. Once a step received a request, the task ends
 * as the step answers, also when a future is chained into it. */
typedef int (*xf_step_fn)(xf_future_t *task, void *data, xf_future_t *awaited,
                          int status);

/* A new task on the loop; its first step runs soon, as by call_soon. *out is
 * a new reference to the task's future; the loop keeps the task alive while
 * it runs. free_data is called with data when the task is done or dropped
 * (the loop closed first). Made while a cancel scope of the loop is current
 * (scope.h), the task belongs to that scope, as by xf_scope_spawn: its steps
 * run inside the scope, and cancelling the scope cancels it. Loop thread. */
XF_API int xf_task_new(xf_loop_t *loop, xf_step_fn step, void *data,
                       xf_free_data_fn free_data, xf_future_t **out);

/* Inside a task's step: await f (any future: the loop's, another loop's, a
 * free-standing one finished by another thread). The step must then return
 * XF_TASK_AWAIT. XF_EINVAL if task is not a task or f is the task itself;
 * XF_ESTATE if called outside the task's step or twice in one step;
 * XF_EWRONGTHREAD off the loop's thread. */
XF_API int xf_task_await(xf_future_t *task, xf_future_t *f);

/* Whether f is a task made by xf_task_new. */
XF_API bool xf_task_is_task(const xf_future_t *f);

/* ---- Sleep and timeouts ----------------------------------------------- */

/* A loop future that gets a void result after ns nanoseconds
 * (asyncio.sleep). Cancelling it cancels its timer. Loop thread. */
XF_API int xf_loop_sleep(xf_loop_t *loop, int64_t ns, xf_future_t **out);

/* asyncio.wait_for: *out is a loop future that follows f, unless timeout_ns
 * passes first: then f is cancelled and *out fails with XF_ETIMEDOUT
 * ("TimeoutError"). Cancelling *out cancels f. To keep f alive past the
 * timeout, pass xf_future_shield(f). A negative timeout waits forever. Loop
 * thread (any thread with a negative timeout). It is a cancel scope with a
 * deadline around f (scope.h): inside another scope, that scope's
 * cancellation cancels f, and *out then ends cancelled, not timed out. */
XF_API int xf_future_timeout(xf_loop_t *loop, xf_future_t *f, int64_t timeout_ns,
                             xf_future_t **out);

/* ---- Errors nobody handled -------------------------------------------- */

/* Receives what the loop cannot hand to anyone: a done callback dropped by a
 * closed loop, a task that could not be resumed. message is a sentence; err
 * (borrowed, may be NULL) the error. It runs in the thread that met the
 * problem, usually the loop's. */
typedef void (*xf_exception_handler_fn)(xf_loop_t *loop, const char *message,
                                        xf_error_t *err, void *data);

/* Install a handler (fn NULL restores the default, which prints one line to
 * stderr). The previous handler's data is freed. Set it before sharing the
 * loop, or from the loop's thread. */
XF_API int xf_loop_set_exception_handler(xf_loop_t *loop, xf_exception_handler_fn fn,
                                         void *data, xf_free_data_fn free_data);

/* Call the loop's handler with message and err (borrowed). Any thread; works
 * on a closed loop too. */
XF_API int xf_loop_call_exception_handler(xf_loop_t *loop, const char *message,
                                          xf_error_t *err);

/* ---- Embedding in a host loop ----------------------------------------- */

/* A file descriptor for a host loop to poll for reading. While no thread
 * runs the loop, it is readable whenever the loop has work: an fd it watches
 * is ready; a callback was queued by xf_loop_call_soon, by another thread
 * (call_soon_threadsafe, a loop future finished elsewhere) or by the
 * callbacks of the last run; a timer is due; xf_loop_stop was called. So a
 * host needs nothing else: it waits until the fd is readable, then calls
 * xf_loop_run(loop, XF_RUN_NOWAIT) on the loop's thread. That run takes the
 * wake-ups, so that afterwards the fd is readable again only for work still
 * to do (or a watched fd still ready). xf_loop_backend_timeout is there for
 * a host that would rather wait for timers itself (a callback queued by
 * another thread makes the fd readable by the time the call that queued it
 * returns, so backend_timeout may report it a moment before the fd does).
 * The fd may also be readable with nothing due (a timer cancelled after it was
 * scheduled): the run then does nothing. Owned by the loop: do not close or read it. Any
 * thread; XF_EINVAL or XF_ECLOSED as a negative number. */
XF_API int xf_loop_backend_fd(xf_loop_t *loop);

/* Nanoseconds until the loop needs to run again: 0 if work is ready, the time
 * to the next timer, or -1 if it only waits for I/O or other threads (and
 * for NULL). Loop thread: XF_EWRONGTHREAD or XF_ECLOSED otherwise. */
XF_API int64_t xf_loop_backend_timeout(xf_loop_t *loop);

#ifdef __cplusplus
}
#endif
#endif /* XF_LOOP_H */

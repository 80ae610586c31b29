/* The API declared once for every SWIG language (the GDAL and Xapian
 * pattern): the handles as classes whose destructor drops the core's
 * reference, and the core functions a binding calls as they are. A
 * language's interface file includes bindings/common/xfutures.i (the
 * constants), then defines, before including this file:
 *
 * - its typemaps: a handle out-parameter (xf_future_t **out, xf_loop_t
 *   **out) becomes the result, a new handle the language owns; an array of
 *   futures (xf_future_t *const *fs, size_t n) comes from the language's
 *   sequence; a timeout or delay (int64_t timeout_ns, int64_t ns) from the
 *   language's unit (negative or none: forever);
 * - three macros that wrap a call: XF_CHECKED(fn) turns a negative result
 *   into the language's exception, XF_BLOCKING(fn) lets other threads of
 *   the language run while fn waits (Python releases the GIL), and
 *   XF_BLOCKING_CHECKED(fn) does both.
 *
 * What is truly a language's own (its callables as tasks, callbacks and
 * closures, its values, its blocking waits that stay interruptible) stays
 * in its interface file.
 */

/* ---- Handles -------------------------------------------------------------
 * Each handle is a class with no constructor of its own (the core's
 * functions make them) and a destructor that drops the reference the
 * language holds. Dropping an executor or a loop may wait for their
 * threads: a language whose threads need a lock to finish releases it
 * around those two (its %exception on the destructor). */
typedef struct xf_future xf_future_t;
typedef struct xf_executor xf_executor_t;
typedef struct xf_loop xf_loop_t;
typedef struct xf_closure xf_closure_t;

%nodefaultctor xf_future;
%nodefaultctor xf_executor;
%nodefaultctor xf_loop;
%nodefaultctor xf_closure;
struct xf_future {};
struct xf_executor {};
struct xf_loop {};
struct xf_closure {};
%extend xf_future {
  ~xf_future() {
    xf_future_unref($self);
  }
}
%extend xf_executor {
  ~xf_executor() {
    xf_executor_unref($self);
  }
}
%extend xf_loop {
  ~xf_loop() {
    xf_loop_unref($self);
  }
}
%extend xf_closure {
  ~xf_closure() {
    xf_closure_unref($self);
  }
}

/* ---- Futures ------------------------------------------------------------- */

/* Non-blocking queries and state changes, wrapped as they are: a state, a
 * bool, or a code the language's package reads itself. */
int xf_future_state(const xf_future_t *f);
bool xf_future_done(const xf_future_t *f);
bool xf_future_cancelled(const xf_future_t *f);
bool xf_future_running(const xf_future_t *f);
int xf_future_set_running_or_notify_cancel(xf_future_t *f);
int xf_future_cancel_msg(xf_future_t *f, const char *msg);
bool xf_task_is_task(const xf_future_t *f);

/* New futures: the out-parameter is the result, a handle the language owns
 * (%newobject); a failure is the language's exception. */
%newobject xf_future_new;
%newobject xf_future_all;
%newobject xf_future_any;
%newobject xf_future_first;
%newobject xf_future_shield;
XF_CHECKED(xf_future_new)
XF_CHECKED(xf_future_all)
XF_CHECKED(xf_future_any)
XF_CHECKED(xf_future_first)
XF_CHECKED(xf_future_shield)
XF_CHECKED(xf_future_chain)
int xf_future_new(xf_future_t **out);
int xf_future_all(xf_future_t *const *fs, size_t n, unsigned flags, xf_future_t **out);
int xf_future_any(xf_future_t *const *fs, size_t n, bool cancel_rest, xf_future_t **out);
int xf_future_first(xf_future_t *const *fs, size_t n, bool cancel_rest, xf_future_t **out);
int xf_future_shield(xf_future_t *inner, xf_future_t **out);
int xf_future_chain(xf_future_t *src, xf_future_t *dst);

/* ---- The loop ------------------------------------------------------------ */

bool xf_loop_is_closed(const xf_loop_t *loop);
bool xf_loop_is_running(const xf_loop_t *loop);
int xf_loop_backend_fd(xf_loop_t *loop);
int64_t xf_loop_backend_timeout(xf_loop_t *loop);
int xf_loop_stop(xf_loop_t *loop);
int64_t xf_loop_time(const xf_loop_t *loop);

%newobject xf_loop_new;
%newobject xf_loop_create_future;
%newobject xf_loop_sleep;
%newobject xf_future_timeout;
XF_CHECKED(xf_loop_new)
XF_CHECKED(xf_loop_create_future)
XF_CHECKED(xf_loop_sleep)
XF_CHECKED(xf_future_timeout)
XF_CHECKED(xf_loop_remove_reader)
XF_BLOCKING(xf_loop_close)
int xf_loop_new(xf_loop_t **out);
int xf_loop_create_future(xf_loop_t *loop, xf_future_t **out);
int xf_loop_sleep(xf_loop_t *loop, int64_t ns, xf_future_t **out);
int xf_future_timeout(xf_loop_t *loop, xf_future_t *f, int64_t timeout_ns, xf_future_t **out);
/* 1 if a reader was removed, 0 if there was none. */
int xf_loop_remove_reader(xf_loop_t *loop, int fd);
/* Closing waits for the loop's pending work; the code is the result. */
int xf_loop_close(xf_loop_t *loop);

/* ---- Executors ----------------------------------------------------------- */

/* Shutting down waits for the workers when wait is true; the code is the
 * result (a pool inherited across fork() answers XF_EBROKEN, which a
 * package may accept). */
XF_BLOCKING(xf_executor_shutdown)
int xf_executor_shutdown(xf_executor_t *ex, bool wait, bool cancel_futures);

/* ---- Callables, values and errors ----------------------------------------
 * The declarations below take a language's callables, values and
 * signatures. Besides the typemaps listed at the top, a language that
 * includes this file gives them:
 *
 * - a callable as the core's callback and its data, one typemap per
 *   callback type over (fn, void *data, xf_free_data_fn free_data): a done
 *   callback (xf_done_fn), a task (xf_task_fn), a reader (xf_io_fn), a
 *   loop's exception handler (xf_exception_handler_fn) and a closure's
 *   handler (xf_closure_handler_fn handler). When the call fails the core
 *   has not taken the data (see each header), so the typemap releases it;
 *   (xf_done_fn fn, void *data) finds a registration again for removal;
 * - a signature string as xf_signature_t *sig (the typemap drops it after
 *   the call; the core keeps its own reference);
 * - an address as void *fn (a C function to run), and void * results as
 *   addresses (xf_closure_code);
 * - values: (xf_value_t *const *args, size_t nargs) from the language's
 *   sequence, xf_value_t *payload from a frame item of the worker protocol
 *   (docs/wire-protocol.md; the caller keeps its reference), and the
 *   outcome's out-parameters xf_value_t **value and xf_error_t **error as
 *   the language's value and exception;
 * - xf_executor_stats_t *out as the language's record of the counters,
 *   and int *rank, int *size, int *fd as extra results.
 *
 * A language that has no such typemap yet gets SWIG's opaque pointers for
 * these arguments, which compiles but is of no use: declare the typemaps
 * before including this file. */
typedef struct xf_signature xf_signature_t;

/* The outcome of a done future without blocking: the state, then the
 * value (finished with one) and the error (failed or cancelled). */
int xf_future_outcome(xf_future_t *f, xf_value_t **value, xf_error_t **error);

/* Done callbacks. loop NULL: inline in the finishing thread (concurrent
 * futures); a loop: posted to it (asyncio). Removing returns how many
 * registrations of the same data went. */
XF_CHECKED(xf_future_add_done_callback)
int xf_future_add_done_callback(xf_future_t *f, xf_done_fn fn, void *data,
                                xf_free_data_fn free_data, xf_loop_t *loop);
int xf_future_remove_done_callback(xf_future_t *f, xf_done_fn fn, void *data);

/* Running a native function: its address, its signature and its
 * arguments as values. */
%newobject xf_executor_submit_native_sig;
XF_BLOCKING_CHECKED(xf_executor_submit_native_sig)
int xf_executor_submit_native_sig(xf_executor_t *ex, void *fn, xf_signature_t *sig,
                                  xf_value_t *const *args, size_t nargs, xf_future_t **out);

XF_CHECKED(xf_executor_stats)
int xf_executor_stats(xf_executor_t *ex, xf_executor_stats_t *out);

/* Running the loop waits for its work: a language lets its other threads
 * run meanwhile, with its own %exception for xf_loop_run (a run that does
 * not wait, XF_RUN_NOWAIT, need not: Python keeps the GIL for the
 * callbacks it runs). */
int xf_loop_run(xf_loop_t *loop, int mode);
XF_CHECKED(xf_loop_set_exception_handler)
int xf_loop_set_exception_handler(xf_loop_t *loop, xf_exception_handler_fn fn, void *data,
                                  xf_free_data_fn free_data);
%newobject xf_loop_run_in_executor;
XF_BLOCKING_CHECKED(xf_loop_run_in_executor)
int xf_loop_run_in_executor(xf_loop_t *loop, xf_executor_t *ex, xf_task_fn fn, void *data,
                            xf_free_data_fn free_data, xf_future_t **out);
XF_CHECKED(xf_loop_add_reader)
int xf_loop_add_reader(xf_loop_t *loop, int fd, xf_io_fn fn, void *data,
                       xf_free_data_fn free_data);

/* ---- Closures ------------------------------------------------------------ */

/* A C function pointer calling the language's callable; the owner loop
 * (may be none) runs the calls. The signature and the text are borrowed
 * from the closure. */
%newobject xf_closure_new_sig;
XF_CHECKED(xf_closure_new_sig)
int xf_closure_new_sig(xf_signature_t *sig, xf_closure_handler_fn handler, void *data,
                       xf_free_data_fn free_data, xf_loop_t *owner, xf_closure_t **out);
void *xf_closure_code(const xf_closure_t *c);
xf_signature_t *xf_closure_signature(const xf_closure_t *c);
const char *xf_signature_text(const xf_signature_t *signature);

/* ---- The process pool ---------------------------------------------------- */

/* A task of the language's own worker: its payload, a frame item. Not
 * checked: a pool that refuses it (XF_ESHUTDOWN, XF_EBROKEN) answers its
 * code, for the package to raise the stdlib's exception. Terminating and
 * killing wait for the workers; the code is the result. */
%newobject xf_process_pool_submit_payload;
XF_BLOCKING(xf_process_pool_submit_payload)
XF_BLOCKING(xf_process_pool_terminate)
XF_BLOCKING(xf_process_pool_kill)
int xf_process_pool_submit_payload(xf_executor_t *ex, const char *language,
                                   xf_value_t *payload, int64_t timeout_ns,
                                   xf_future_t **out);
int xf_process_pool_terminate(xf_executor_t *ex, int64_t grace_ns);
int xf_process_pool_kill(xf_executor_t *ex);

/* ---- The MPI executor ---------------------------------------------------- */

/* What a rank asks of MPI (xf/mpi.h). Every call but the first may wait on
 * the other ranks. */
%{
#include <xf/mpi.h>
%}
bool xf_mpi_available(void);
XF_BLOCKING_CHECKED(xf_mpi_world)
XF_BLOCKING_CHECKED(xf_mpi_serve_open)
XF_BLOCKING(xf_mpi_serve_wait)
XF_BLOCKING(xf_mpi_world_release)
int xf_mpi_world(int *rank, int *size);
int xf_mpi_serve_open(int root, int *fd);
int xf_mpi_serve_wait(void);
int xf_mpi_world_release(int root);

/* ---- Cancellation, scopes and groups --------------------------------------
 * The handles of xf/cancel.h, xf/scope.h and xf/group.h, which a language's
 * typemaps give as its own objects (a language without them gets SWIG's
 * opaque pointers), and the core calls a binding makes as they are: whether
 * a token is cancelled, a scope's owner's view of its work (a cancellation
 * by the scope's own deadline becomes a TimeoutError), leaving a scope, a
 * group's join future and its children made elsewhere, and a future's
 * timeout without a loop. */
typedef struct xf_cancel_source xf_cancel_source_t;
typedef struct xf_cancel_token xf_cancel_token_t;
typedef struct xf_scope xf_scope_t;
typedef struct xf_group xf_group_t;

bool xf_cancel_token_cancelled(const xf_cancel_token_t *t);
bool xf_scope_expired(const xf_scope_t *s);
int xf_scope_exit(xf_scope_t *s, int status);

%newobject xf_scope_wrap;
%newobject xf_group_join;
XF_CHECKED(xf_scope_wrap)
XF_CHECKED(xf_group_join)
XF_CHECKED(xf_group_add)
XF_CHECKED(xf_future_or_timeout)
int xf_scope_wrap(xf_scope_t *s, xf_future_t *f, xf_future_t **out);
int xf_group_join(xf_group_t *g, xf_future_t **out);
int xf_group_add(xf_group_t *g, xf_future_t *f);
int xf_future_or_timeout(xf_future_t *f, int64_t timeout_ns);

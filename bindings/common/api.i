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

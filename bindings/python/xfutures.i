/* The Python binding's SWIG interface: the raw module xfutures._xfutures.
 *
 * It adds to the shared interface (bindings/common/xfutures.i) what Python
 * needs and nothing else:
 *
 * - the handles (future, executor, loop) as classes whose destructor drops
 *   the core's reference, with the GIL released where dropping may wait;
 * - Python objects as XF_KIND_OBJECT values with the "python" hooks, and the
 *   conversions between Python values and xf_value_t / xf_error_t;
 * - Python callables run by the core as tasks, done callbacks, thread pool
 *   initializers and loop exception handlers, each taking the GIL itself;
 * - blocking calls (result, wait, as_completed, shutdown, close) that release
 *   the GIL and wait in slices of 50 ms, checking for signals in between so
 *   that Ctrl-C interrupts them.
 *
 * The hand-written package (xfutures/__init__.py, xfutures/asyncio.py) turns
 * the codes and tuples returned here into the stdlib's exceptions.
 *
 * Interpreter finalization: every entry from a core thread into Python
 * checks _Py_IsFinalizing() first and, when the interpreter is going away,
 * leaks the reference or drops the call instead of taking the GIL (a thread
 * that asks for the GIL then never gets it back).
 */
%module(package = "xfutures") xfutures

%include "../common/xfutures.i"

%{
#include <pthread.h>
#include <string.h>

#define XFPY_SLICE_NS 50000000LL /* how long a blocking call waits between checks */

static int xfpy_finalizing(void) {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

/* ---- Python objects as values ------------------------------------------ */

static void xfpy_retain(void *object, void *hook_data) {
  (void) hook_data;
  if (xfpy_finalizing())
    return;
  PyGILState_STATE g = PyGILState_Ensure();
  Py_INCREF((PyObject *) object);
  PyGILState_Release(g);
}

static void xfpy_release(void *object, void *hook_data) {
  (void) hook_data;
  if (xfpy_finalizing())
    return; /* leaked on purpose: the interpreter is going away */
  PyGILState_STATE g = PyGILState_Ensure();
  Py_DECREF((PyObject *) object);
  PyGILState_Release(g);
}

static const xf_object_hooks_t xfpy_hooks = {sizeof(xf_object_hooks_t), "python",
                                             xfpy_retain, xfpy_release, NULL};

/* A Python object handed to the core as data, released under the GIL. */
static void xfpy_decref_data(void *data) {
  xfpy_release(data, NULL);
}

/* Pickled "python" payloads as objects (the process pool's section). */
static PyObject *xfpy_opaque_load(xf_value_t *v);
static PyObject *xfpy_opaque_exception(xf_error_t *err);

/* Hooks the package installs: the factory of exceptions for core errors that
 * carry no Python exception, and the logger of failed callbacks. */
static PyObject *xfpy_error_factory = NULL;

/* A new reference to the Python exception for an error: its payload when it
 * came from Python, else whatever the package's factory makes of the code,
 * type, message and traceback. */
static PyObject *xfpy_exception_from_error(xf_error_t *err) {
  void *obj = NULL;
  const xf_object_hooks_t *hooks = NULL;
  xf_value_t *payload = xf_error_payload(err);
  if (payload && xf_value_get_object(payload, &obj, &hooks) == XF_OK && hooks == &xfpy_hooks) {
    Py_INCREF((PyObject *) obj);
    return (PyObject *) obj;
  }
  PyObject *pickled = xfpy_opaque_exception(err); /* the process pool's section */
  if (pickled)
    return pickled;
  const char *tb = xf_error_traceback(err);
  if (!xfpy_error_factory)
    return PyObject_CallFunction(PyExc_RuntimeError, "s", xf_error_message(err));
  return PyObject_CallFunction(xfpy_error_factory, "issz", xf_error_code(err),
                               xf_error_type(err), xf_error_message(err), tb);
}

static PyObject *xfpy_from_value(xf_value_t *v);

static PyObject *xfpy_list_from_value(xf_value_t *v) {
  size_t n = 0;
  xf_value_list_len(v, &n);
  PyObject *list = PyList_New((Py_ssize_t) n);
  if (!list)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    xf_value_t *item = NULL;
    xf_value_list_get(v, i, &item);
    PyObject *o = xfpy_from_value(item);
    if (!o) {
      Py_DECREF(list);
      return NULL;
    }
    PyList_SET_ITEM(list, (Py_ssize_t) i, o);
  }
  return list;
}

static void xfpy_value_capsule_free(PyObject *capsule) {
  xf_value_unref((xf_value_t *) PyCapsule_GetPointer(capsule, "xfutures.foreign"));
}

/* A new reference to the Python form of a value (see DESIGN, "Bindings"). A
 * Python object comes back as itself; another runtime's object as an opaque
 * capsule that can be passed along. */
static PyObject *xfpy_from_value(xf_value_t *v) {
  if (!v)
    Py_RETURN_NONE;
  switch (xf_value_kind(v)) {
  case XF_KIND_VOID:
    Py_RETURN_NONE;
  case XF_KIND_BOOL: {
    bool b = false;
    xf_value_get_bool(v, &b);
    return PyBool_FromLong(b);
  }
  case XF_KIND_INT: {
    int64_t i = 0;
    xf_value_get_int(v, &i);
    return PyLong_FromLongLong(i);
  }
  case XF_KIND_DOUBLE: {
    double d = 0;
    xf_value_get_double(v, &d);
    return PyFloat_FromDouble(d);
  }
  case XF_KIND_STRING: {
    const char *s = NULL;
    size_t len = 0;
    xf_value_get_string(v, &s, &len);
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t) len, "surrogateescape");
  }
  case XF_KIND_BYTES: {
    const void *p = NULL;
    size_t len = 0;
    xf_value_get_bytes(v, &p, &len);
    return PyBytes_FromStringAndSize((const char *) p, (Py_ssize_t) len);
  }
  case XF_KIND_LIST:
    return xfpy_list_from_value(v);
  case XF_KIND_POINTER: {
    void *p = NULL;
    xf_value_get_pointer(v, &p);
    return PyLong_FromVoidPtr(p);
  }
  case XF_KIND_OBJECT: {
    void *obj = NULL;
    const xf_object_hooks_t *hooks = NULL;
    xf_value_get_object(v, &obj, &hooks);
    if (hooks == &xfpy_hooks) {
      Py_INCREF((PyObject *) obj);
      return (PyObject *) obj;
    }
    PyObject *loaded = xfpy_opaque_load(v); /* a pickled result */
    if (loaded || PyErr_Occurred())
      return loaded;
    break;
  }
  case XF_KIND_ERROR: {
    xf_error_t *err = NULL;
    xf_value_get_error(v, &err);
    return xfpy_exception_from_error(err);
  }
  default:
    break;
  }
  PyObject *capsule =
      PyCapsule_New(xf_value_ref(v), "xfutures.foreign", xfpy_value_capsule_free);
  if (!capsule)
    xf_value_unref(v);
  return capsule;
}

/* Raise the Python exception for a core error code. */
static PyObject *xfpy_raise_code(int rc) {
  if (rc == XF_ENOMEM)
    return PyErr_NoMemory();
  PyObject *exc = xfpy_error_factory
                      ? PyObject_CallFunction(xfpy_error_factory, "issz", rc,
                                              xf_error_default_type(rc), xf_strerror(rc),
                                              NULL)
                      : NULL;
  if (exc) {
    PyErr_SetObject((PyObject *) Py_TYPE(exc), exc);
    Py_DECREF(exc);
  } else if (!PyErr_Occurred()) {
    PyErr_SetString(PyExc_RuntimeError, xf_strerror(rc));
  }
  return NULL;
}

/* A result from Python: None and the booleans as the core's own kinds, every
 * other object as itself (so that it comes back as the same object). */
static int xfpy_result_value(PyObject *o, xf_value_t **out) {
  if (o == Py_None) {
    *out = xf_value_void();
    return XF_OK;
  }
  if (PyBool_Check(o)) {
    *out = xf_value_bool(o == Py_True);
    return XF_OK;
  }
  return xf_value_new_object(o, &xfpy_hooks, out);
}

/* A value for C code (native arguments): Python's values as the core's kinds
 * (DESIGN, "Bindings"), ints that do not fit int64 as XF_ERANGE, anything
 * without a kind as an object. Sets a Python exception on failure. */
static int xfpy_kind_value(PyObject *o, xf_value_t **out) {
  int rc;
  if (o == Py_None || PyBool_Check(o))
    return xfpy_result_value(o, out);
  if (PyLong_Check(o)) {
    int overflow = 0;
    long long i = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow) {
      unsigned long long u = PyLong_AsUnsignedLongLong(o);
      if (PyErr_Occurred()) {
        PyErr_SetString(PyExc_OverflowError, "integer does not fit in 64 bits");
        return XF_ERANGE;
      }
      i = (long long) u;
    }
    rc = xf_value_new_int(i, out);
  } else if (PyFloat_Check(o)) {
    rc = xf_value_new_double(PyFloat_AS_DOUBLE(o), out);
  } else if (PyUnicode_Check(o)) {
    Py_ssize_t len = 0;
    const char *s = PyUnicode_AsUTF8AndSize(o, &len);
    if (!s)
      return XF_EINVAL;
    rc = xf_value_new_string(s, (size_t) len, out);
  } else if (PyBytes_Check(o)) {
    rc = xf_value_new_bytes(PyBytes_AS_STRING(o), (size_t) PyBytes_GET_SIZE(o), out);
  } else if (PyList_Check(o) || PyTuple_Check(o)) {
    PyObject *seq = PySequence_Fast(o, "a sequence");
    if (!seq)
      return XF_EINVAL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    xf_value_t **items = (xf_value_t **) calloc((size_t) n + 1, sizeof(*items));
    rc = items ? XF_OK : XF_ENOMEM;
    for (Py_ssize_t i = 0; rc == XF_OK && i < n; i++)
      rc = xfpy_kind_value(PySequence_Fast_GET_ITEM(seq, i), &items[i]);
    if (rc == XF_OK)
      rc = xf_value_new_list(items, (size_t) n, out);
    for (Py_ssize_t i = 0; items && i < n; i++)
      xf_value_unref(items[i]);
    free(items);
    Py_DECREF(seq);
    if (PyErr_Occurred())
      return rc ? rc : XF_EINVAL;
  } else {
    rc = xf_value_new_object(o, &xfpy_hooks, out);
  }
  if (rc != XF_OK && !PyErr_Occurred())
    xfpy_raise_code(rc);
  return rc;
}

/* An error for a Python exception (a new reference): its class name, its
 * message, and the exception itself as payload so that it comes back to
 * Python as the same object, traceback included. */
static int xfpy_error_from_exception(PyObject *exc, xf_error_t **out) {
  const char *type = _PyType_Name(Py_TYPE(exc));
  const char *msg = "";
  PyObject *str = PyObject_Str(exc);
  if (str)
    msg = PyUnicode_AsUTF8(str);
  if (!msg)
    msg = "";
  PyErr_Clear();
  xf_value_t *payload = NULL;
  int rc = xf_value_new_object(exc, &xfpy_hooks, &payload);
  if (rc == XF_OK)
    rc = xf_error_new_full(XF_EFAILED, type, msg, NULL, payload, out);
  xf_value_unref(payload);
  Py_XDECREF(str);
  return rc;
}

/* The exception being raised, normalized, with its traceback attached; the
 * error indicator is cleared. A new reference. */
static PyObject *xfpy_fetch_exception(void) {
  PyObject *type = NULL, *value = NULL, *tb = NULL;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb && value)
    PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  if (!value) {
    Py_INCREF(Py_None);
    value = Py_None;
  }
  return value;
}

/* Finish a future with the outcome of a Python call: r, or the exception
 * being raised when r is NULL. GIL held. Returns the core's code. */
static int xfpy_finish(xf_future_t *f, PyObject *r) {
  if (r) {
    xf_value_t *v = NULL;
    int rc = xfpy_result_value(r, &v);
    return rc == XF_OK ? xf_future_set_result(f, v) : rc;
  }
  PyObject *exc = xfpy_fetch_exception();
  xf_error_t *err = NULL;
  int rc = xfpy_error_from_exception(exc, &err);
  Py_DECREF(exc);
  return rc == XF_OK ? xf_future_set_error(f, err) : rc;
}

/* ---- Python callables run by the core ----------------------------------- */

/* A task: data is a tuple (fn, args, kwargs). Runs on a worker thread. */
static int xfpy_task(void *data, xf_future_t *f) {
  if (xfpy_finalizing())
    return XF_ESHUTDOWN;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *t = (PyObject *) data;
  PyObject *kwargs = PyTuple_GET_ITEM(t, 2);
  PyObject *r = PyObject_Call(PyTuple_GET_ITEM(t, 0), PyTuple_GET_ITEM(t, 1),
                              kwargs == Py_None ? NULL : kwargs);
  int rc = xfpy_finish(f, r);
  Py_XDECREF(r);
  PyGILState_Release(g);
  return rc == XF_ESTATE ? XF_OK : rc;
}

/* A done callback: data is a tuple (fn, future, context, on_error). It calls
 * fn(future), inside context when that is not None, and hands an exception
 * to on_error(exc, fn, future). */
static void xfpy_done(xf_future_t *f, void *data) {
  (void) f;
  if (xfpy_finalizing())
    return; /* dropped: nobody is left to run it */
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *t = (PyObject *) data;
  PyObject *fn = PyTuple_GET_ITEM(t, 0), *fut = PyTuple_GET_ITEM(t, 1);
  PyObject *ctx = PyTuple_GET_ITEM(t, 2);
  PyObject *r;
  if (ctx == Py_None)
    r = PyObject_CallOneArg(fn, fut);
  else
    r = PyObject_CallMethod(ctx, "run", "OO", fn, fut);
  if (!r) {
    PyObject *exc = xfpy_fetch_exception();
    PyObject *lr = PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(t, 3), exc, fn, fut, NULL);
    if (!lr)
      PyErr_WriteUnraisable(fn);
    Py_XDECREF(lr);
    Py_DECREF(exc);
  }
  Py_XDECREF(r);
  PyGILState_Release(g);
}

/* The worker threads of a pool keep one Python thread state each, made by
 * the pool's initializer and deleted when the thread exits. */
static pthread_key_t xfpy_tstate_key;
static pthread_once_t xfpy_tstate_once = PTHREAD_ONCE_INIT;

static void xfpy_tstate_free(void *ts) {
  if (xfpy_finalizing())
    return; /* the interpreter clears every thread state itself */
  /* The C library may already have cleared Python's own thread-specific
   * slot at this point, so the state is deleted directly rather than with
   * PyGILState_Release. */
  PyEval_RestoreThread((PyThreadState *) ts);
  PyThreadState_Clear((PyThreadState *) ts);
  PyThreadState_DeleteCurrent();
}

static void xfpy_tstate_key_make(void) {
  pthread_key_create(&xfpy_tstate_key, xfpy_tstate_free);
}

/* The initializer: data is a callable (the package's wrapper around the
 * user's initializer) or None. It returns true when the initializer worked. */
static int xfpy_worker_init(void *data) {
  if (xfpy_finalizing())
    return -1;
  pthread_once(&xfpy_tstate_once, xfpy_tstate_key_make);
  PyGILState_Ensure(); /* the thread's own state, kept until it exits */
  int rc = 0;
  PyObject *init = (PyObject *) data;
  if (init != Py_None) {
    PyObject *r = PyObject_CallNoArgs(init);
    if (!r) {
      PyErr_WriteUnraisable(init);
      rc = -1;
    } else {
      rc = PyObject_IsTrue(r) ? 0 : -1;
      Py_DECREF(r);
    }
  }
  PyThreadState *ts = PyEval_SaveThread();
  pthread_setspecific(xfpy_tstate_key, ts);
  return rc;
}

/* A loop's exception handler: data is a callable(message, exception). */
static void xfpy_loop_exception(xf_loop_t *loop, const char *message, xf_error_t *err,
                                void *data) {
  (void) loop;
  if (xfpy_finalizing())
    return;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *exc = NULL;
  if (err)
    exc = xfpy_exception_from_error(err);
  if (!exc) {
    PyErr_Clear();
    Py_INCREF(Py_None);
    exc = Py_None;
  }
  PyObject *r = PyObject_CallFunction((PyObject *) data, "sO", message, exc);
  if (!r)
    PyErr_WriteUnraisable((PyObject *) data);
  Py_XDECREF(r);
  Py_DECREF(exc);
  PyGILState_Release(g);
}

/* A timeout in seconds (None: forever) as nanoseconds. */
static int xfpy_timeout_ns(PyObject *timeout, int64_t *out) {
  if (timeout == Py_None) {
    *out = -1;
    return 0;
  }
  double s = PyFloat_AsDouble(timeout);
  if (s == -1.0 && PyErr_Occurred())
    return -1;
  if (s != s) {
    PyErr_SetString(PyExc_ValueError, "timeout is NaN");
    return -1;
  }
  *out = s <= 0 ? 0 : s >= 9.2e9 ? -1 : (int64_t) (s * 1e9);
  return 0;
}

/* Wait until f is done or the timeout passes, in slices with the GIL
 * released. 0 done, 1 timed out, 2 the wait would deadlock (XF_EDEADLK),
 * -1 a signal handler raised. */
static int xfpy_wait_one(xf_future_t *f, int64_t timeout_ns) {
  int64_t deadline = timeout_ns < 0 ? -1 : xf_now() + timeout_ns;
  for (;;) {
    if (xf_future_done(f))
      return 0;
    int64_t slice = XFPY_SLICE_NS;
    if (deadline >= 0) {
      int64_t left = deadline - xf_now();
      if (left <= 0)
        return 1;
      if (left < slice)
        slice = left;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = xf_future_wait(f, slice);
    Py_END_ALLOW_THREADS if (rc == XF_OK) return 0;
    if (rc == XF_EDEADLK)
      return 2;
    if (PyErr_CheckSignals() < 0)
      return -1;
  }
}

/* A list of future handles from a Python sequence of raw futures. */
static swig_type_info *xfpy_future_type(void);

static xf_future_t **xfpy_future_array(PyObject *seq, Py_ssize_t *n) {
  PyObject *fast = PySequence_Fast(seq, "expected a sequence of futures");
  if (!fast)
    return NULL;
  *n = PySequence_Fast_GET_SIZE(fast);
  xf_future_t **fs = (xf_future_t **) calloc((size_t) *n + 1, sizeof(*fs));
  if (!fs) {
    Py_DECREF(fast);
    PyErr_NoMemory();
    return NULL;
  }
  for (Py_ssize_t i = 0; i < *n; i++) {
    void *p = NULL;
    if (!SWIG_IsOK(SWIG_ConvertPtr(PySequence_Fast_GET_ITEM(fast, i), &p,
                                   xfpy_future_type(), 0)) ||
        !p) {
      free(fs);
      Py_DECREF(fast);
      PyErr_SetString(PyExc_TypeError, "expected xfutures futures");
      return NULL;
    }
    fs[i] = (xf_future_t *) p;
  }
  Py_DECREF(fast);
  return fs;
}

static PyObject *xfpy_new_future_object(xf_future_t *f);

/* The iterator behind as_completed. */
typedef struct xf_py_as_completed {
  xf_as_completed_t *it;
  xf_future_t **fs; /* own references; NULL once yielded */
  size_t n;
  int64_t deadline;
} xf_py_as_completed_t;
%}

/* ---- Handles ------------------------------------------------------------ */

typedef struct xf_future xf_future_t;
typedef struct xf_executor xf_executor_t;
typedef struct xf_loop xf_loop_t;
typedef struct xf_py_as_completed xf_py_as_completed_t;

/* Each handle is a class whose destructor drops the reference. Dropping an
 * executor or a loop may wait for worker threads that need the GIL, so the
 * GIL is released around it. */
%nodefaultctor xf_future;
%nodefaultctor xf_executor;
%nodefaultctor xf_loop;
%nodefaultctor xf_py_as_completed;
struct xf_future {};
struct xf_executor {};
struct xf_loop {};
struct xf_py_as_completed {};
%extend xf_future {
  ~xf_future() {
    xf_future_unref($self);
  }
}
%extend xf_executor {
  ~xf_executor() {
    if (xfpy_finalizing()) {
      xf_executor_unref($self);
      return;
    }
    Py_BEGIN_ALLOW_THREADS xf_executor_unref($self);
    Py_END_ALLOW_THREADS
  }
}
%extend xf_loop {
  ~xf_loop() {
    Py_BEGIN_ALLOW_THREADS xf_loop_unref($self);
    Py_END_ALLOW_THREADS
  }
}
%extend xf_py_as_completed {
  ~xf_py_as_completed() {
    xf_as_completed_free($self->it);
    for (size_t i = 0; i < $self->n; i++)
      xf_future_unref($self->fs[i]);
    free($self->fs);
    free($self);
  }
}

%{
static swig_type_info *xfpy_future_type(void) {
  return SWIGTYPE_p_xf_future;
}

static PyObject *xfpy_new_future_object(xf_future_t *f) {
  return SWIG_Python_NewPointerObj(NULL, f, SWIGTYPE_p_xf_future, SWIG_POINTER_OWN);
}
%}

/* Plain non-blocking calls, wrapped as they are. */
int xf_future_state(const xf_future_t *f);
bool xf_future_done(const xf_future_t *f);
bool xf_future_cancelled(const xf_future_t *f);
bool xf_future_running(const xf_future_t *f);
int xf_future_set_running_or_notify_cancel(xf_future_t *f);
int xf_future_cancel_msg(xf_future_t *f, const char *msg);
bool xf_task_is_task(const xf_future_t *f);
bool xf_loop_is_closed(const xf_loop_t *loop);
bool xf_loop_is_running(const xf_loop_t *loop);
int xf_loop_backend_fd(xf_loop_t *loop);
int64_t xf_loop_backend_timeout(xf_loop_t *loop);
int xf_loop_stop(xf_loop_t *loop);
int64_t xf_loop_time(const xf_loop_t *loop);

%inline %{
/* Install the factory of exceptions for errors that carry none. */
PyObject *py_set_error_factory(PyObject *factory) {
  Py_XINCREF(factory);
  Py_XSETREF(xfpy_error_factory, factory);
  Py_RETURN_NONE;
}

/* The address of a handle, for identity and hashing. */
PyObject *py_future_id(xf_future_t *f) {
  return PyLong_FromVoidPtr(f);
}

/* A new pending future. */
PyObject *py_future_new(void) {
  xf_future_t *f = NULL;
  int rc = xf_future_new(&f);
  return rc == XF_OK ? xfpy_new_future_object(f) : xfpy_raise_code(rc);
}

/* Another handle on the same future (a new reference). */
PyObject *py_future_ref(xf_future_t *f) {
  return f ? xfpy_new_future_object(xf_future_ref(f)) : xfpy_raise_code(XF_EINVAL);
}

/* Adopt a future made elsewhere (C, another language's binding) from its
 * address: a new handle holding a new reference. The address must be that of
 * a live xf_future_t, as Future.handle() or the C API gives it. */
PyObject *py_future_from_handle(PyObject *address) {
  if (!PyLong_Check(address)) {
    PyErr_SetString(PyExc_TypeError, "a future's address must be an int");
    return NULL;
  }
  void *p = PyLong_AsVoidPtr(address);
  if (!p) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_ValueError, "NULL future address");
    return NULL;
  }
  return xfpy_new_future_object(xf_future_ref((xf_future_t *) p));
}

/* A new pending future bound to a loop. */
PyObject *py_loop_create_future(xf_loop_t *loop) {
  xf_future_t *f = NULL;
  int rc = xf_loop_create_future(loop, &f);
  return rc == XF_OK ? xfpy_new_future_object(f) : xfpy_raise_code(rc);
}

/* Finish a future with a Python object; returns the core's code. */
int py_future_set_result(xf_future_t *f, PyObject *value) {
  xf_value_t *v = NULL;
  int rc = xfpy_result_value(value, &v);
  return rc == XF_OK ? xf_future_set_result(f, v) : rc;
}

/* Finish a future with a Python exception; returns the core's code. */
int py_future_set_exception(xf_future_t *f, PyObject *exc) {
  xf_error_t *err = NULL;
  int rc = xfpy_error_from_exception(exc, &err);
  return rc == XF_OK ? xf_future_set_error(f, err) : rc;
}

/* The outcome of a future as (code, object), waiting up to timeout seconds
 * (None: forever) with the GIL released:
 *   (0, value)             finished with a value
 *   (EFAILED, exception)   finished with an error
 *   (ECANCELLED, message)  cancelled (message None when none was given)
 *   (ETIMEDOUT, None)      not done in time
 * with want_error, (0, exception or None) replaces the first two. */
PyObject *py_future_outcome(xf_future_t *f, PyObject *timeout, int want_error) {
  int64_t ns;
  if (!f)
    return xfpy_raise_code(XF_EINVAL);
  if (xfpy_timeout_ns(timeout, &ns) < 0)
    return NULL;
  int w = xfpy_wait_one(f, ns);
  if (w < 0)
    return NULL;
  if (w == 2)
    return xfpy_raise_code(XF_EDEADLK);
  if (w > 0)
    return Py_BuildValue("(iO)", XF_ETIMEDOUT, Py_None);
  if (xf_future_cancelled(f)) {
    xf_error_t *err = NULL;
    xf_future_error(f, 0, &err);
    const char *msg = err ? xf_error_message(err) : NULL;
    PyObject *m = msg && *msg && strcmp(msg, xf_strerror(XF_ECANCELLED)) != 0
                      ? PyUnicode_FromString(msg)
                      : (Py_INCREF(Py_None), Py_None);
    xf_error_unref(err);
    if (!m)
      return NULL;
    PyObject *t = Py_BuildValue("(iN)", XF_ECANCELLED, m);
    return t;
  }
  if (want_error) {
    xf_error_t *err = NULL;
    int rc = xf_future_error(f, 0, &err);
    if (rc != XF_OK)
      return xfpy_raise_code(rc);
    if (!err)
      return Py_BuildValue("(iO)", 0, Py_None);
    PyObject *exc = xfpy_exception_from_error(err);
    xf_error_unref(err);
    return exc ? Py_BuildValue("(iN)", 0, exc) : NULL;
  }
  xf_value_t *v = NULL;
  int rc = xf_future_result(f, 0, &v);
  if (rc == XF_OK) {
    PyObject *o = xfpy_from_value(v);
    xf_value_unref(v);
    return o ? Py_BuildValue("(iN)", 0, o) : NULL;
  }
  if (rc == XF_EFAILED) {
    xf_error_t *err = NULL;
    xf_future_error(f, 0, &err);
    PyObject *exc = err ? xfpy_exception_from_error(err) : NULL;
    xf_error_unref(err);
    return exc ? Py_BuildValue("(iN)", XF_EFAILED, exc) : NULL;
  }
  return Py_BuildValue("(iO)", rc, Py_None);
}

/* Add a done callback; data is the tuple (fn, future, context, on_error)
 * that xfpy_done reads, and stays the key for removing it. loop None runs
 * it inline (concurrent.futures), a loop runs it there (asyncio). */
int py_future_add_done_callback(xf_future_t *f, PyObject *data, xf_loop_t *loop) {
  if (!PyTuple_Check(data) || PyTuple_GET_SIZE(data) != 4) {
    PyErr_SetString(PyExc_TypeError, "callback data must be a 4-tuple");
    return XF_EINVAL;
  }
  Py_INCREF(data);
  int rc = xf_future_add_done_callback(f, xfpy_done, data, xfpy_decref_data, loop);
  if (rc != XF_OK)
    Py_DECREF(data);
  return rc;
}

/* Remove the registrations made with this data tuple; returns how many. */
int py_future_remove_done_callback(xf_future_t *f, PyObject *data) {
  return xf_future_remove_done_callback(f, xfpy_done, data);
}

/* Copy src's outcome into dst (cancellation flows both ways). */
int py_future_chain(xf_future_t *src, xf_future_t *dst) {
  return xf_future_chain(src, dst);
}

/* ---- Combinators -------------------------------------------------------- */

/* concurrent.futures.wait: a list of done flags, waiting with the GIL
 * released in slices. */
PyObject *py_wait(PyObject *futures, int return_when, PyObject *timeout) {
  int64_t ns;
  Py_ssize_t n = 0;
  if (xfpy_timeout_ns(timeout, &ns) < 0)
    return NULL;
  xf_future_t **fs = xfpy_future_array(futures, &n);
  if (!fs)
    return NULL;
  unsigned char *flags = (unsigned char *) calloc((size_t) n + 1, 1);
  if (!flags) {
    free(fs);
    return PyErr_NoMemory();
  }
  int64_t deadline = ns < 0 ? -1 : xf_now() + ns;
  int rc;
  for (;;) {
    int64_t slice = XFPY_SLICE_NS;
    if (deadline >= 0) {
      int64_t left = deadline - xf_now();
      slice = left < 0 ? 0 : left < slice ? left : slice;
    }
    Py_BEGIN_ALLOW_THREADS rc = xf_wait(fs, (size_t) n, return_when, slice, flags);
    Py_END_ALLOW_THREADS if (rc != XF_ETIMEDOUT) break;
    if (deadline >= 0 && xf_now() >= deadline)
      break;
    if (PyErr_CheckSignals() < 0) {
      free(fs);
      free(flags);
      return NULL;
    }
  }
  PyObject *list = NULL;
  if (rc == XF_OK || rc == XF_ETIMEDOUT) {
    list = PyList_New(n);
    for (Py_ssize_t i = 0; list && i < n; i++)
      PyList_SET_ITEM(list, i, PyBool_FromLong(flags[i]));
  } else {
    xfpy_raise_code(rc);
  }
  free(fs);
  free(flags);
  return list;
}

/* concurrent.futures.as_completed over the core's iterator. */
PyObject *py_as_completed_new(PyObject *futures, PyObject *timeout) {
  int64_t ns;
  Py_ssize_t n = 0;
  if (xfpy_timeout_ns(timeout, &ns) < 0)
    return NULL;
  xf_future_t **fs = xfpy_future_array(futures, &n);
  if (!fs)
    return NULL;
  xf_py_as_completed_t *ac = (xf_py_as_completed_t *) calloc(1, sizeof(*ac));
  int rc = ac ? xf_as_completed_new(fs, (size_t) n, ns, &ac->it) : XF_ENOMEM;
  if (rc != XF_OK) {
    free(ac);
    free(fs);
    return xfpy_raise_code(rc);
  }
  for (Py_ssize_t i = 0; i < n; i++)
    xf_future_ref(fs[i]);
  ac->fs = fs;
  ac->n = (size_t) n;
  ac->deadline = ns < 0 ? -1 : xf_now() + ns;
  return SWIG_Python_NewPointerObj(NULL, ac, SWIGTYPE_p_xf_py_as_completed, SWIG_POINTER_OWN);
}

/* The next done future (a new raw handle), None when all were yielded; raises
 * nothing on a timeout but returns False. The core's iterator waits until its
 * own deadline, so it is asked only once a future it has not yielded is done
 * (or the deadline passed); the waiting before that happens here, in slices,
 * so that signals are seen. */
PyObject *py_as_completed_next(xf_py_as_completed_t *ac) {
  for (;;) {
    size_t left = 0;
    xf_future_t **rest = (xf_future_t **) calloc(ac->n + 1, sizeof(*rest));
    if (!rest)
      return PyErr_NoMemory();
    for (size_t i = 0; i < ac->n; i++)
      if (ac->fs[i])
        rest[left++] = ac->fs[i];
    int ready = left == 0 || (ac->deadline >= 0 && xf_now() >= ac->deadline);
    if (!ready) {
      int64_t slice = XFPY_SLICE_NS;
      if (ac->deadline >= 0 && ac->deadline - xf_now() < slice)
        slice = ac->deadline - xf_now();
      int rc;
      Py_BEGIN_ALLOW_THREADS rc =
          xf_wait(rest, left, XF_FIRST_COMPLETED, slice < 0 ? 0 : slice, NULL);
      Py_END_ALLOW_THREADS ready = rc == XF_OK;
      if (rc == XF_EDEADLK) {
        free(rest);
        return xfpy_raise_code(rc);
      }
    }
    free(rest);
    if (ready) {
      xf_future_t *f = NULL;
      int rc;
      Py_BEGIN_ALLOW_THREADS rc = xf_as_completed_next(ac->it, &f);
      Py_END_ALLOW_THREADS if (rc == XF_ETIMEDOUT) Py_RETURN_FALSE;
      if (rc != XF_OK)
        return xfpy_raise_code(rc);
      if (!f)
        Py_RETURN_NONE;
      for (size_t i = 0; i < ac->n; i++)
        if (ac->fs[i] == f) {
          xf_future_unref(ac->fs[i]);
          ac->fs[i] = NULL;
        }
      return xfpy_new_future_object(f);
    }
    if (PyErr_CheckSignals() < 0)
      return NULL;
  }
}

/* gather (flags: ALL_COLLECT), any (cancel_rest) and first (cancel_rest). */
PyObject *py_future_all(PyObject *futures, unsigned flags) {
  Py_ssize_t n = 0;
  xf_future_t **fs = xfpy_future_array(futures, &n);
  if (!fs)
    return NULL;
  xf_future_t *out = NULL;
  int rc = xf_future_all(fs, (size_t) n, flags, &out);
  free(fs);
  return rc == XF_OK ? xfpy_new_future_object(out) : xfpy_raise_code(rc);
}

PyObject *py_future_any(PyObject *futures, bool cancel_rest) {
  Py_ssize_t n = 0;
  xf_future_t **fs = xfpy_future_array(futures, &n);
  if (!fs)
    return NULL;
  xf_future_t *out = NULL;
  int rc = xf_future_any(fs, (size_t) n, cancel_rest, &out);
  free(fs);
  return rc == XF_OK ? xfpy_new_future_object(out) : xfpy_raise_code(rc);
}

PyObject *py_future_first(PyObject *futures, bool cancel_rest) {
  Py_ssize_t n = 0;
  xf_future_t **fs = xfpy_future_array(futures, &n);
  if (!fs)
    return NULL;
  xf_future_t *out = NULL;
  int rc = xf_future_first(fs, (size_t) n, cancel_rest, &out);
  free(fs);
  return rc == XF_OK ? xfpy_new_future_object(out) : xfpy_raise_code(rc);
}

PyObject *py_future_shield(xf_future_t *inner) {
  xf_future_t *out = NULL;
  int rc = xf_future_shield(inner, &out);
  return rc == XF_OK ? xfpy_new_future_object(out) : xfpy_raise_code(rc);
}

/* asyncio.wait_for on a loop (timeout in seconds, None: forever). */
PyObject *py_future_timeout(xf_loop_t *loop, xf_future_t *f, PyObject *timeout) {
  int64_t ns;
  if (xfpy_timeout_ns(timeout, &ns) < 0)
    return NULL;
  xf_future_t *out = NULL;
  int rc = xf_future_timeout(loop, f, ns, &out);
  return rc == XF_OK ? xfpy_new_future_object(out) : xfpy_raise_code(rc);
}

/* ---- Executors ---------------------------------------------------------- */

/* A thread pool. init is a callable returning true when the worker may run
 * tasks, or None; the caller keeps it alive as long as the pool. */
PyObject *py_thread_pool_new(unsigned max_workers, const char *prefix, PyObject *init,
                             size_t max_queue, int queue_policy) {
  xf_thread_pool_options_t o = XF_THREAD_POOL_OPTIONS_INIT;
  o.max_workers = max_workers;
  o.thread_name_prefix = prefix;
  o.initializer = xfpy_worker_init;
  o.init_data = init;
  o.max_queue = max_queue;
  o.queue_policy = queue_policy;
  xf_executor_t *ex = NULL;
  int rc = xf_thread_pool_new(&o, &ex);
  if (rc != XF_OK)
    return xfpy_raise_code(rc);
  return SWIG_Python_NewPointerObj(NULL, ex, SWIGTYPE_p_xf_executor, SWIG_POINTER_OWN);
}

/* Submit fn(*args, **kwargs); returns the raw future. The GIL is released
 * while submitting, as a bounded queue may make the caller wait. */
PyObject *py_executor_submit(xf_executor_t *ex, PyObject *fn, PyObject *args,
                             PyObject *kwargs) {
  if (!PyTuple_Check(args)) {
    PyErr_SetString(PyExc_TypeError, "args must be a tuple");
    return NULL;
  }
  PyObject *data = PyTuple_Pack(3, fn, args, kwargs);
  if (!data)
    return NULL;
  xf_future_t *f = NULL;
  int rc;
  Py_BEGIN_ALLOW_THREADS rc = xf_executor_submit(ex, xfpy_task, data, xfpy_decref_data, &f);
  Py_END_ALLOW_THREADS if (rc != XF_OK) {
    Py_DECREF(data);
    return xfpy_raise_code(rc);
  }
  return xfpy_new_future_object(f);
}

/* Run a native function on an executor (DESIGN, "Threads, trampolines and
 * libffi"); fn is its address. Pointer arguments may be given as ints. */
PyObject *py_executor_submit_native(xf_executor_t *ex, PyObject *fn_addr,
                                    const char *signature, PyObject *args) {
  void *fn = PyLong_AsVoidPtr(fn_addr);
  if (!fn) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_ValueError, "NULL function pointer");
    return NULL;
  }
  char errbuf[160];
  xf_signature_t *sig = NULL;
  int rc = xf_signature_parse(signature, errbuf, sizeof errbuf, &sig);
  if (rc != XF_OK) {
    PyErr_SetString(rc == XF_ENOMEM ? PyExc_MemoryError : PyExc_ValueError,
                    rc == XF_ENOMEM ? "out of memory" : errbuf);
    return NULL;
  }
  PyObject *fast = PySequence_Fast(args, "args must be a sequence");
  if (!fast) {
    xf_signature_unref(sig);
    return NULL;
  }
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  xf_value_t **vals = (xf_value_t **) calloc((size_t) n + 1, sizeof(*vals));
  rc = vals ? XF_OK : XF_ENOMEM;
  for (Py_ssize_t i = 0; rc == XF_OK && i < n; i++) {
    PyObject *a = PySequence_Fast_GET_ITEM(fast, i);
    if (xf_signature_arg_type(sig, (size_t) i) == XF_C_POINTER && PyLong_Check(a)) {
      void *p = PyLong_AsVoidPtr(a);
      rc = PyErr_Occurred() ? XF_ERANGE : xf_value_new_pointer(p, NULL, &vals[i]);
    } else {
      rc = xfpy_kind_value(a, &vals[i]);
    }
  }
  xf_future_t *f = NULL;
  if (rc == XF_OK) {
    Py_BEGIN_ALLOW_THREADS rc =
        xf_executor_submit_native_sig(ex, fn, sig, vals, (size_t) n, &f);
    Py_END_ALLOW_THREADS
  }
  for (Py_ssize_t i = 0; vals && i < n; i++)
    xf_value_unref(vals[i]);
  free(vals);
  Py_DECREF(fast);
  xf_signature_unref(sig);
  if (rc != XF_OK) {
    if (PyErr_Occurred())
      return NULL;
    if (rc == XF_EINVAL || rc == XF_ETYPE || rc == XF_ERANGE) {
      PyErr_Format(rc == XF_ERANGE ? PyExc_OverflowError : PyExc_TypeError,
                   "arguments do not match the signature \"%s\": %s", signature,
                   xf_strerror(rc));
      return NULL;
    }
    return xfpy_raise_code(rc);
  }
  return xfpy_new_future_object(f);
}

/* shutdown(wait, cancel_futures), with the GIL released. */
int py_executor_shutdown(xf_executor_t *ex, bool wait, bool cancel_futures) {
  int rc;
  Py_BEGIN_ALLOW_THREADS rc = xf_executor_shutdown(ex, wait, cancel_futures);
  Py_END_ALLOW_THREADS return rc;
}

/* (queued, running, completed, cancelled, threads, max_workers) */
PyObject *py_executor_stats(xf_executor_t *ex) {
  xf_executor_stats_t s = XF_EXECUTOR_STATS_INIT;
  int rc = xf_executor_stats(ex, &s);
  if (rc != XF_OK)
    return xfpy_raise_code(rc);
  return Py_BuildValue("(KKKKII)", (unsigned long long) s.queued,
                       (unsigned long long) s.running, (unsigned long long) s.completed,
                       (unsigned long long) s.cancelled, (unsigned) s.threads,
                       (unsigned) s.max_workers);
}

/* ---- The loop ----------------------------------------------------------- */

PyObject *py_loop_new(void) {
  xf_loop_t *loop = NULL;
  int rc = xf_loop_new(&loop);
  if (rc != XF_OK)
    return xfpy_raise_code(rc);
  return SWIG_Python_NewPointerObj(NULL, loop, SWIGTYPE_p_xf_loop, SWIG_POINTER_OWN);
}

/* Run the loop in this thread (mode RUN_*), with the GIL released while it
 * waits; Python callbacks take it back. */
int py_loop_run(xf_loop_t *loop, int mode) {
  int rc;
  if (mode == XF_RUN_NOWAIT)
    return xf_loop_run(loop, mode);
  Py_BEGIN_ALLOW_THREADS rc = xf_loop_run(loop, mode);
  Py_END_ALLOW_THREADS return rc;
}

int py_loop_close(xf_loop_t *loop) {
  int rc;
  Py_BEGIN_ALLOW_THREADS rc = xf_loop_close(loop);
  Py_END_ALLOW_THREADS return rc;
}

/* handler(message, exception or None) receives what the loop cannot hand to
 * anyone (futures whose exception was never retrieved, dropped callbacks). */
int py_loop_set_exception_handler(xf_loop_t *loop, PyObject *handler) {
  Py_INCREF(handler);
  int rc = xf_loop_set_exception_handler(loop, xfpy_loop_exception, handler,
                                         xfpy_decref_data);
  if (rc != XF_OK)
    Py_DECREF(handler);
  return rc;
}

/* run_in_executor: fn(*args) on ex, followed by a future of the loop. */
PyObject *py_loop_run_in_executor(xf_loop_t *loop, xf_executor_t *ex, PyObject *fn,
                                  PyObject *args) {
  if (!PyTuple_Check(args)) {
    PyErr_SetString(PyExc_TypeError, "args must be a tuple");
    return NULL;
  }
  PyObject *data = PyTuple_Pack(3, fn, args, Py_None);
  if (!data)
    return NULL;
  xf_future_t *f = NULL;
  int rc;
  Py_BEGIN_ALLOW_THREADS rc =
      xf_loop_run_in_executor(loop, ex, xfpy_task, data, xfpy_decref_data, &f);
  Py_END_ALLOW_THREADS if (rc != XF_OK) {
    Py_DECREF(data);
    return xfpy_raise_code(rc);
  }
  return xfpy_new_future_object(f);
}

/* A loop future done after delay seconds (asyncio.sleep). */
PyObject *py_loop_sleep(xf_loop_t *loop, double delay) {
  xf_future_t *f = NULL;
  int rc = xf_loop_sleep(loop, delay <= 0 ? 0 : (int64_t) (delay * 1e9), &f);
  return rc == XF_OK ? xfpy_new_future_object(f) : xfpy_raise_code(rc);
}
%}

/* ---- File descriptors ------------------------------------------------------ */

%{
/* A reader: data is a tuple (fn, on_error). It calls fn(fd) and hands an
 * exception to on_error(exc, fn). */
static void xfpy_reader(int fd, void *data) {
  if (xfpy_finalizing())
    return;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *t = (PyObject *) data;
  PyObject *fn = PyTuple_GET_ITEM(t, 0);
  PyObject *r = PyObject_CallFunction(fn, "i", fd);
  if (!r) {
    PyObject *exc = xfpy_fetch_exception();
    PyObject *lr = PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(t, 1), exc, fn, NULL);
    if (!lr)
      PyErr_WriteUnraisable(fn);
    Py_XDECREF(lr);
    Py_DECREF(exc);
  }
  Py_XDECREF(r);
  PyGILState_Release(g);
}
%}

%inline %{
/* xf_loop_add_reader: fn(fd) on the loop each time fd is readable, until
 * py_loop_remove_reader(fd); an exception of fn goes to on_error(exc, fn). */
int py_loop_add_reader(xf_loop_t *loop, int fd, PyObject *fn, PyObject *on_error) {
  PyObject *data = PyTuple_Pack(2, fn, on_error);
  if (!data)
    return XF_ENOMEM;
  int rc = xf_loop_add_reader(loop, fd, xfpy_reader, data, xfpy_decref_data);
  if (rc != XF_OK)
    Py_DECREF(data);
  return rc;
}

/* xf_loop_remove_reader: 1 if a reader was removed, 0 if none, or a code. */
int py_loop_remove_reader(xf_loop_t *loop, int fd) {
  return xf_loop_remove_reader(loop, fd);
}
%}

/* ---- Callbacks: Python functions as C function pointers ----------------- */

typedef struct xf_closure xf_closure_t;
%nodefaultctor xf_closure;
struct xf_closure {};
%extend xf_closure {
  ~xf_closure() {
    xf_closure_unref($self);
  }
}

%{
/* What a closure made by py_closure_new holds: the Python callable, the
 * owner loop (borrowed: the closure keeps its memory alive) and the return
 * type. */
typedef struct xfpy_closure_data {
  PyObject *fn;
  xf_loop_t *loop;
  int ret;
} xfpy_closure_data;

static void xfpy_closure_data_free(void *data) {
  xfpy_closure_data *d = (xfpy_closure_data *) data;
  xfpy_release(d->fn, NULL);
  free(d);
}

/* The handler: calls fn(*args) with the GIL taken, on the owner loop's
 * thread (or inline in the calling thread when there is no owner loop). An
 * exception goes to the owner loop's exception handler as the very same
 * exception object; with no owner loop it is printed as unraisable. */
static int xfpy_closure_handler(void *data, xf_value_t *const *args, size_t nargs,
                                xf_value_t **result) {
  xfpy_closure_data *d = (xfpy_closure_data *) data;
  if (xfpy_finalizing())
    return XF_ESHUTDOWN;
  PyGILState_STATE g = PyGILState_Ensure();
  int rc = XF_OK;
  PyObject *argv = PyTuple_New((Py_ssize_t) nargs);
  for (size_t i = 0; argv && i < nargs; i++) {
    PyObject *a = xfpy_from_value(args[i]);
    if (!a) {
      Py_CLEAR(argv);
      break;
    }
    PyTuple_SET_ITEM(argv, (Py_ssize_t) i, a);
  }
  PyObject *r = argv ? PyObject_Call(d->fn, argv, NULL) : NULL;
  Py_XDECREF(argv);
  if (r && result) {
    xf_value_t *v = NULL;
    if (d->ret == XF_C_POINTER && PyLong_Check(r)) {
      void *p = PyLong_AsVoidPtr(r);
      rc = PyErr_Occurred() ? XF_ERANGE : xf_value_new_pointer(p, NULL, &v);
    } else {
      rc = xfpy_kind_value(r, &v);
    }
    if (rc == XF_OK)
      *result = v;
    else if (!PyErr_Occurred())
      xfpy_raise_code(rc);
    Py_CLEAR(r);
  }
  if (!r && PyErr_Occurred()) {
    PyObject *exc = xfpy_fetch_exception();
    xf_error_t *err = NULL;
    if (d->loop && xfpy_error_from_exception(exc, &err) == XF_OK) {
      if (result) {
        /* Handed over as the failure: the core reports it. */
        rc = xf_value_new_error(err, result);
      } else {
        xf_loop_call_exception_handler(d->loop, "exception in a callback", err);
        rc = XF_OK;
      }
      xf_error_unref(err);
    } else {
      PyErr_SetObject((PyObject *) Py_TYPE(exc), exc);
      PyErr_WriteUnraisable(d->fn);
      rc = XF_EFAILED;
    }
    Py_DECREF(exc);
  }
  Py_XDECREF(r);
  PyGILState_Release(g);
  return rc;
}
%}

%inline %{
/* A closure calling fn with the given signature; owner is the loop whose
 * thread runs the calls (None: the calling thread). */
PyObject *py_closure_new(const char *signature, PyObject *fn, xf_loop_t *owner) {
  if (!PyCallable_Check(fn)) {
    PyErr_SetString(PyExc_TypeError, "callback: fn must be callable");
    return NULL;
  }
  char errbuf[160];
  xf_signature_t *sig = NULL;
  int rc = xf_signature_parse(signature, errbuf, sizeof errbuf, &sig);
  if (rc != XF_OK) {
    if (rc == XF_ENOMEM)
      return PyErr_NoMemory();
    PyErr_Format(PyExc_ValueError, "callback: bad signature: %s", errbuf);
    return NULL;
  }
  xfpy_closure_data *d = (xfpy_closure_data *) calloc(1, sizeof *d);
  if (!d) {
    xf_signature_unref(sig);
    return PyErr_NoMemory();
  }
  Py_INCREF(fn);
  d->fn = fn;
  d->loop = owner;
  d->ret = xf_signature_return_type(sig);
  xf_closure_t *c = NULL;
  rc = xf_closure_new_sig(sig, xfpy_closure_handler, d, xfpy_closure_data_free, owner, &c);
  xf_signature_unref(sig);
  if (rc != XF_OK) {
    Py_DECREF(fn);
    free(d);
    return xfpy_raise_code(rc);
  }
  return SWIG_Python_NewPointerObj(NULL, c, SWIGTYPE_p_xf_closure, SWIG_POINTER_OWN);
}

/* The C function pointer of a closure, as an int address. */
PyObject *py_closure_address(xf_closure_t *c) {
  return PyLong_FromVoidPtr(xf_closure_code(c));
}

/* The canonical signature text of a closure. */
const char *py_closure_signature(xf_closure_t *c) {
  return xf_signature_text(xf_closure_signature(c));
}
%}

/* ==== The process pool (xfutures/process.py, xfutures/worker.py) ==========
 *
 * ProcessPoolExecutor runs on the core's process pool with the Python
 * worker (python3 -m xfutures.worker), and both speak the frames of
 * docs/wire-protocol.md. The pool, its workers and its frames are the
 * core's; this section only translates:
 *
 * - the wire codec for the worker: Python structures to and from the core's
 *   CBOR (xf_value_encode, xf_value_decode), with an opaque payload as the
 *   package's Opaque(runtime, data) and an error as its WireError(code, type,
 *   message, traceback, payload), so that the worker never parses CBOR
 *   itself;
 * - the pool's functions (new, submit_payload, terminate, kill, stats), with
 *   the GIL released where they wait;
 * - opaque "python" payloads coming back in a future's value or in an
 *   error's payload, handed to the package's loader (pickle.loads), so that
 *   a pickled result or exception comes back to Python as itself.
 */

%{
static PyObject *xfpy_wire_opaque_type = NULL; /* Opaque(runtime, data) */
static PyObject *xfpy_wire_error_type = NULL;  /* WireError(code, type, message, traceback, payload) */
static PyObject *xfpy_opaque_loader = NULL;    /* loader(data, traceback or None) */

/* The bytes of an opaque payload of runtime "python", or NULL. */
static int xfpy_python_opaque(const xf_value_t *v, const void **data, size_t *len) {
  const char *runtime = NULL;
  return v && xf_value_get_opaque(v, &runtime, data, len) == XF_OK &&
         strcmp(runtime, "python") == 0;
}

/* A pickled "python" payload as the object it stood for: a new reference;
 * NULL with an exception set when the loader fails; NULL with none when v
 * is no such payload (or no loader is installed). */
static PyObject *xfpy_opaque_load(xf_value_t *v) {
  const void *data = NULL;
  size_t len = 0;
  if (!xfpy_opaque_loader || !xfpy_python_opaque(v, &data, &len))
    return NULL;
  return PyObject_CallFunction(xfpy_opaque_loader, "y#O", (const char *) data,
                               (Py_ssize_t) len, Py_None);
}

/* The exception an error's payload pickled, with the error's traceback text
 * handed to the loader too (it becomes the cause, as the stdlib's
 * _RemoteTraceback); NULL with no exception set when there is none or it
 * does not load, so that the caller falls back on the code and type. */
static PyObject *xfpy_opaque_exception(xf_error_t *err) {
  const void *data = NULL;
  size_t len = 0;
  if (!xfpy_opaque_loader || !xfpy_python_opaque(xf_error_payload(err), &data, &len))
    return NULL;
  const char *tb = xf_error_traceback(err);
  PyObject *exc = PyObject_CallFunction(xfpy_opaque_loader, "y#z", (const char *) data,
                                        (Py_ssize_t) len, tb);
  if (exc && !PyExceptionInstance_Check(exc))
    Py_CLEAR(exc);
  PyErr_Clear();
  return exc;
}

/* A frame item from Python: None, bool, int (int64), float, str, bytes,
 * list or tuple, Opaque and WireError. Sets a Python exception on failure. */
static int xfpy_wire_value(PyObject *o, xf_value_t **out) {
  int rc;
  *out = NULL;
  if (o == Py_None || PyBool_Check(o) || PyLong_Check(o) || PyFloat_Check(o) ||
      PyUnicode_Check(o) || PyBytes_Check(o) || PyList_Check(o) || PyTuple_Check(o)) {
    if (PyUnicode_Check(o)) {
      Py_ssize_t n = 0;
      const char *s = PyUnicode_AsUTF8AndSize(o, &n); /* surrogates: an error */
      if (!s)
        return XF_EINVAL;
      rc = xf_value_new_string(s, (size_t) n, out);
    } else if (PyList_Check(o) || PyTuple_Check(o)) {
      Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
      xf_value_t **items = (xf_value_t **) calloc((size_t) n + 1, sizeof(*items));
      rc = items ? XF_OK : XF_ENOMEM;
      for (Py_ssize_t i = 0; rc == XF_OK && i < n; i++)
        rc = xfpy_wire_value(PySequence_Fast_GET_ITEM(o, i), &items[i]);
      if (rc == XF_OK)
        rc = xf_value_new_list(items, (size_t) n, out);
      for (Py_ssize_t i = 0; items && i < n; i++)
        xf_value_unref(items[i]);
      free(items);
      if (PyErr_Occurred())
        return rc ? rc : XF_EINVAL;
    } else if (PyLong_Check(o) && !PyBool_Check(o)) {
      int overflow = 0;
      long long i = PyLong_AsLongLongAndOverflow(o, &overflow);
      if (overflow) {
        PyErr_SetString(PyExc_OverflowError, "integer does not fit in 64 bits");
        return XF_ERANGE;
      }
      rc = xf_value_new_int(i, out);
    } else {
      return xfpy_kind_value(o, out);
    }
  } else if (xfpy_wire_opaque_type && PyObject_IsInstance(o, xfpy_wire_opaque_type) == 1) {
    PyObject *runtime = PyObject_GetAttrString(o, "runtime");
    PyObject *data = runtime ? PyObject_GetAttrString(o, "data") : NULL;
    const char *r = runtime && PyUnicode_Check(runtime) ? PyUnicode_AsUTF8(runtime) : NULL;
    if (!r || !data || !PyBytes_Check(data)) {
      if (!PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "Opaque: runtime must be str and data bytes");
      Py_XDECREF(runtime);
      Py_XDECREF(data);
      return XF_ETYPE;
    }
    rc = xf_value_new_opaque(r, PyBytes_AS_STRING(data), (size_t) PyBytes_GET_SIZE(data),
                             out);
    Py_DECREF(runtime);
    Py_DECREF(data);
  } else if (xfpy_wire_error_type && PyObject_IsInstance(o, xfpy_wire_error_type) == 1) {
    PyObject *code = PyObject_GetAttrString(o, "code");
    PyObject *type = code ? PyObject_GetAttrString(o, "type") : NULL;
    PyObject *msg = type ? PyObject_GetAttrString(o, "message") : NULL;
    PyObject *tb = msg ? PyObject_GetAttrString(o, "traceback") : NULL;
    PyObject *payload = tb ? PyObject_GetAttrString(o, "payload") : NULL;
    long c = payload ? PyLong_AsLong(code) : -1;
    const char *t = payload && PyUnicode_Check(type) ? PyUnicode_AsUTF8(type) : NULL;
    const char *m = t && PyUnicode_Check(msg) ? PyUnicode_AsUTF8(msg) : NULL;
    const char *b = m && tb != Py_None && PyUnicode_Check(tb) ? PyUnicode_AsUTF8(tb) : NULL;
    xf_value_t *pv = NULL;
    rc = XF_ETYPE;
    if (m && !PyErr_Occurred() && (tb == Py_None || b))
      rc = payload == Py_None ? XF_OK : xfpy_wire_value(payload, &pv);
    else if (!PyErr_Occurred())
      PyErr_SetString(PyExc_TypeError, "WireError: code int, type and message str");
    xf_error_t *err = NULL;
    if (rc == XF_OK && (rc = xf_error_new_full((int) c, t, m, b, pv, &err)) == XF_OK)
      rc = xf_value_new_error(err, out);
    xf_error_unref(err);
    xf_value_unref(pv);
    Py_XDECREF(code);
    Py_XDECREF(type);
    Py_XDECREF(msg);
    Py_XDECREF(tb);
    Py_XDECREF(payload);
  } else {
    PyErr_Format(PyExc_TypeError, "%s has no wire encoding", Py_TYPE(o)->tp_name);
    return XF_ETYPE;
  }
  if (rc != XF_OK && !PyErr_Occurred())
    xfpy_raise_code(rc);
  return rc;
}

/* A decoded frame item as Python: the inverse of xfpy_wire_value, maps as
 * lists of (key, value) pairs. A new reference, or NULL with an exception. */
static PyObject *xfpy_wire_object(xf_value_t *v) {
  switch (xf_value_kind(v)) {
  case XF_KIND_LIST: {
    size_t n = 0;
    xf_value_list_len(v, &n);
    PyObject *list = PyList_New((Py_ssize_t) n);
    for (size_t i = 0; list && i < n; i++) {
      xf_value_t *item = NULL;
      xf_value_list_get(v, i, &item);
      PyObject *o = xfpy_wire_object(item);
      if (!o)
        Py_CLEAR(list);
      else
        PyList_SET_ITEM(list, (Py_ssize_t) i, o);
    }
    return list;
  }
  case XF_KIND_MAP: {
    size_t n = 0;
    xf_value_map_len(v, &n);
    PyObject *list = PyList_New((Py_ssize_t) n);
    for (size_t i = 0; list && i < n; i++) {
      xf_value_t *key = NULL, *val = NULL;
      xf_value_map_get(v, i, &key, &val);
      PyObject *k = xfpy_wire_object(key);
      PyObject *o = k ? xfpy_wire_object(val) : NULL;
      PyObject *pair = o ? PyTuple_Pack(2, k, o) : NULL;
      Py_XDECREF(k);
      Py_XDECREF(o);
      if (!pair)
        Py_CLEAR(list);
      else
        PyList_SET_ITEM(list, (Py_ssize_t) i, pair);
    }
    return list;
  }
  case XF_KIND_ERROR: {
    xf_error_t *err = NULL;
    xf_value_get_error(v, &err);
    xf_value_t *pv = xf_error_payload(err);
    PyObject *payload = pv ? xfpy_wire_object(pv) : (Py_INCREF(Py_None), Py_None);
    if (!payload)
      return NULL;
    PyObject *r = PyObject_CallFunction(xfpy_wire_error_type, "isszN", xf_error_code(err),
                                        xf_error_type(err), xf_error_message(err),
                                        xf_error_traceback(err), payload);
    return r;
  }
  case XF_KIND_OBJECT: {
    const char *runtime = NULL;
    const void *data = NULL;
    size_t len = 0;
    if (xf_value_get_opaque(v, &runtime, &data, &len) == XF_OK)
      return PyObject_CallFunction(xfpy_wire_opaque_type, "sy#", runtime,
                                   (const char *) data, (Py_ssize_t) len);
    break;
  }
  case XF_KIND_POINTER:
    break;
  default:
    return xfpy_from_value(v);
  }
  PyErr_SetString(PyExc_TypeError, "a value with no wire encoding");
  return NULL;
}

static PyObject *xfpy_pool_code(int rc) {
  return PyLong_FromLong(rc);
}
%}

int xf_error_code_of_type(const char *type);
%constant int WORKER_DEATH_BREAK = XF_WORKER_DEATH_BREAK;
%constant int WORKER_DEATH_REPLACE = XF_WORKER_DEATH_REPLACE;

%inline %{
/* Install the package's Opaque and WireError classes and its loader of
 * pickled payloads, loader(data, traceback or None). */
PyObject *py_wire_set_types(PyObject *opaque_type, PyObject *error_type, PyObject *loader) {
  if (!PyCallable_Check(opaque_type) || !PyCallable_Check(error_type) ||
      !PyCallable_Check(loader)) {
    PyErr_SetString(PyExc_TypeError, "py_wire_set_types: expected three callables");
    return NULL;
  }
  Py_INCREF(opaque_type);
  Py_XSETREF(xfpy_wire_opaque_type, opaque_type);
  Py_INCREF(error_type);
  Py_XSETREF(xfpy_wire_error_type, error_type);
  Py_INCREF(loader);
  Py_XSETREF(xfpy_opaque_loader, loader);
  Py_RETURN_NONE;
}

/* One frame item as the core's CBOR bytes (xf_value_encode). */
PyObject *py_wire_encode(PyObject *obj) {
  xf_value_t *v = NULL;
  if (xfpy_wire_value(obj, &v) != XF_OK)
    return NULL;
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = xf_value_encode(v, &buf, &len);
  xf_value_unref(v);
  if (rc != XF_OK)
    return xfpy_raise_code(rc);
  PyObject *r = PyBytes_FromStringAndSize((const char *) buf, (Py_ssize_t) len);
  xf_codec_free(buf);
  return r;
}

/* The item of the CBOR bytes data (xf_value_decode); ValueError when they
 * are malformed. */
PyObject *py_wire_decode(PyObject *data) {
  if (!xfpy_wire_opaque_type || !xfpy_wire_error_type) {
    PyErr_SetString(PyExc_RuntimeError, "py_wire_decode: py_wire_set_types first");
    return NULL;
  }
  Py_buffer view;
  if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
    return NULL;
  xf_value_t *v = NULL;
  int rc = xf_value_decode((const uint8_t *) view.buf, (size_t) view.len, &v);
  PyBuffer_Release(&view);
  if (rc != XF_OK) {
    PyErr_Format(rc == XF_ENOMEM ? PyExc_MemoryError : PyExc_ValueError,
                 "malformed frame: %s", xf_strerror(rc));
    return NULL;
  }
  PyObject *o = xfpy_wire_object(v);
  xf_value_unref(v);
  return o;
}

/* A process pool running argv (a list of str, argv[0] the program), whose
 * workers first run the "python" initializer init (pickled bytes, or
 * None). max_tasks_per_child 0: unlimited. on_worker_death: an
 * XF_WORKER_DEATH_* policy. */
PyObject *py_process_pool_new(unsigned max_workers, PyObject *argv,
                              unsigned max_tasks_per_child, PyObject *init,
                              int on_worker_death) {
  PyObject *fast = PySequence_Fast(argv, "argv must be a sequence of str");
  if (!fast)
    return NULL;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  const char **av = (const char **) calloc((size_t) n + 1, sizeof(*av));
  if (!av) {
    Py_DECREF(fast);
    return PyErr_NoMemory();
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *a = PySequence_Fast_GET_ITEM(fast, i);
    av[i] = PyUnicode_Check(a) ? PyUnicode_AsUTF8(a) : NULL;
    if (!av[i]) {
      if (!PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "argv must be a sequence of str");
      free(av);
      Py_DECREF(fast);
      return NULL;
    }
  }
  xf_value_t *payload = NULL;
  int rc = XF_OK;
  if (init != Py_None) {
    if (!PyBytes_Check(init)) {
      free(av);
      Py_DECREF(fast);
      PyErr_SetString(PyExc_TypeError, "init must be bytes or None");
      return NULL;
    }
    rc = xf_value_new_opaque("python", PyBytes_AS_STRING(init),
                             (size_t) PyBytes_GET_SIZE(init), &payload);
  }
  xf_executor_t *ex = NULL;
  if (rc == XF_OK) {
    xf_process_pool_options_t o = XF_PROCESS_POOL_OPTIONS_INIT;
    o.max_workers = max_workers;
    o.worker_path = n > 0 ? av[0] : NULL;
    o.worker_argv = n > 0 ? av : NULL;
    o.max_tasks_per_child = max_tasks_per_child;
    o.on_worker_death = on_worker_death;
    o.init_language = payload ? "python" : NULL;
    o.init_payload = payload;
    rc = xf_process_pool_new(&o, &ex);
  }
  xf_value_unref(payload);
  free(av);
  Py_DECREF(fast);
  if (rc != XF_OK)
    return xfpy_raise_code(rc);
  return SWIG_Python_NewPointerObj(NULL, ex, SWIGTYPE_p_xf_executor, SWIG_POINTER_OWN);
}

/* Submit a "python" task, data the pickled (fn, args, kwargs), with a
 * timeout in seconds (negative: none): the raw future, or the code when the
 * pool refuses it (ESHUTDOWN, EBROKEN), for the package to raise the
 * stdlib's exception. */
PyObject *py_process_pool_submit(xf_executor_t *ex, PyObject *data, double timeout) {
  if (!PyBytes_Check(data)) {
    PyErr_SetString(PyExc_TypeError, "data must be bytes");
    return NULL;
  }
  xf_value_t *payload = NULL;
  int rc = xf_value_new_opaque("python", PyBytes_AS_STRING(data),
                               (size_t) PyBytes_GET_SIZE(data), &payload);
  xf_future_t *f = NULL;
  if (rc == XF_OK) {
    int64_t ns = timeout < 0 ? -1 : (int64_t) (timeout * 1e9);
    Py_BEGIN_ALLOW_THREADS rc = xf_process_pool_submit_payload(ex, "python", payload, ns, &f);
    Py_END_ALLOW_THREADS
  }
  xf_value_unref(payload);
  if (rc == XF_ESHUTDOWN || rc == XF_EBROKEN)
    return xfpy_pool_code(rc);
  if (rc != XF_OK)
    return xfpy_raise_code(rc);
  return xfpy_new_future_object(f);
}

/* terminate_workers (grace in seconds, negative: the core's default) and
 * kill_workers; both wait for the workers with the GIL released. */
int py_process_pool_terminate(xf_executor_t *ex, double grace) {
  int rc;
  int64_t ns = grace < 0 ? -1 : (int64_t) (grace * 1e9);
  Py_BEGIN_ALLOW_THREADS rc = xf_process_pool_terminate(ex, ns);
  Py_END_ALLOW_THREADS return rc;
}

int py_process_pool_kill(xf_executor_t *ex) {
  int rc;
  Py_BEGIN_ALLOW_THREADS rc = xf_process_pool_kill(ex);
  Py_END_ALLOW_THREADS return rc;
}

/* (workers, max_workers, spawned, deaths, retired, timeouts, broken) */
PyObject *py_process_pool_stats(xf_executor_t *ex) {
  xf_process_pool_stats_t s = XF_PROCESS_POOL_STATS_INIT;
  int rc = xf_process_pool_stats(ex, &s);
  if (rc != XF_OK)
    return xfpy_raise_code(rc);
  return Py_BuildValue("(IIKKKKO)", (unsigned) s.workers, (unsigned) s.max_workers,
                       (unsigned long long) s.spawned, (unsigned long long) s.deaths,
                       (unsigned long long) s.retired, (unsigned long long) s.timeouts,
                       s.broken ? Py_True : Py_False);
}
%}
/* ==== End of the process pool ============================================= */

/* The Python binding's SWIG interface: the raw module xfutures._xfutures.
 *
 * The shared declarations (bindings/common/xfutures.i for the constants,
 * bindings/common/api.i for the handles and every core call the package
 * makes) get from this file what Python needs and nothing else:
 *
 * - its typemaps: handle out-parameters as results; sequences of futures
 *   and of values; seconds as nanoseconds; a Python callable as a done
 *   callback, a task, a reader, an exception handler or a closure's
 *   handler; a signature string as a parsed signature; values and errors
 *   in and out; and its call macros (a negative code raises what the
 *   package raises for it, the GIL is released around calls that wait);
 * - what is truly Python's own, in sections marked xf:lang-specific
 *   (scripts/binding-stats.py counts them apart):
 *   - the GIL, interpreter finalization and signal checks (blocking waits
 *     in slices of 50 ms, so that Ctrl-C interrupts them; the worker
 *     threads' Python thread states);
 *   - the value policy (README, "The value policy"): Python's plain data as
 *     the core's kinds, everything else as an XF_KIND_OBJECT value with the
 *     "python" hooks, and back; exceptions as errors and back; the wire
 *     codec of the Python worker;
 *   - the trampolines that run Python callables for the core, each taking
 *     the GIL itself;
 *   - the hot objects as C types: CFuture under xfutures.Future and
 *     CLoopFuture under xfutures.asyncio.Future (no Python frame per call),
 *     which implement concurrent.futures' and asyncio's protocols;
 * - a few hand-written calls whose arguments no typemap expresses (the
 *   pools' option structs, core_repr).
 *
 * The hand-written package (xfutures/__init__.py, xfutures/asyncio.py) turns
 * the codes and tuples returned here into the stdlib's exceptions.
 *
 * Interpreter finalization: every entry from a core thread into Python
 * checks _Py_IsFinalizing() first and, when the interpreter is going away,
 * leaks the reference or drops the call instead of taking the GIL (a thread
 * that asks for the GIL then never gets it back). Object values carry no
 * owner loop: their release takes the GIL on whichever thread drops them.
 */
%module(package = "xfutures") xfutures

%include "../common/xfutures.i"

%{
#include <pthread.h>
#include <structmember.h>
#include <string.h>

/* xf:lang-specific: the GIL, interpreter finalization and signal checks */
#define XFPY_SLICE_NS 50000000LL /* how long a blocking call waits between checks */

static int xfpy_finalizing(void) {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}
/* xf:end */

/* xf:lang-specific: Python's values (README, "The value policy") */
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

/* No owner loop: a release takes the GIL on whichever thread it runs. */
static const xf_object_hooks_t xfpy_hooks = {
    sizeof(xf_object_hooks_t), "python", xfpy_retain, xfpy_release, NULL, NULL};

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
  if (payload && xf_value_get_object(payload, &obj, &hooks) == XF_OK &&
      hooks == &xfpy_hooks) {
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

/* A key read back from a map: lists (unhashable) become tuples, so that a
 * map made by another runtime with list keys still reads as a dict. */
static PyObject *xfpy_key_from_value(xf_value_t *v) {
  PyObject *k = xfpy_from_value(v);
  if (k && PyList_CheckExact(k)) {
    PyObject *t = PyList_AsTuple(k);
    Py_DECREF(k);
    return t;
  }
  return k;
}

static PyObject *xfpy_container_from_value(xf_value_t *v, int kind) {
  size_t n = 0;
  if (kind == XF_KIND_MAP) {
    xf_value_map_len(v, &n);
    PyObject *dict = PyDict_New();
    for (size_t i = 0; dict && i < n; i++) {
      xf_value_t *key = NULL, *val = NULL;
      xf_value_map_get(v, i, &key, &val);
      PyObject *k = xfpy_key_from_value(key);
      PyObject *o = k ? xfpy_from_value(val) : NULL;
      if (!o || PyDict_SetItem(dict, k, o) < 0)
        Py_CLEAR(dict);
      Py_XDECREF(k);
      Py_XDECREF(o);
    }
    return dict;
  }
  xf_value_list_len(v, &n);
  PyObject *list = PyList_New((Py_ssize_t) n);
  for (size_t i = 0; list && i < n; i++) {
    xf_value_t *item = NULL;
    xf_value_list_get(v, i, &item);
    PyObject *o = xfpy_from_value(item);
    if (!o)
      Py_CLEAR(list);
    else
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
  case XF_KIND_MAP:
    return xfpy_container_from_value(v, xf_value_kind(v));
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
/* xf:end */

/* Raise the Python exception the package's factory makes of a core error
 * code, named type (NULL: none). */
static PyObject *xfpy_raise_typed(int rc, const char *type) {
  if (rc == XF_ENOMEM)
    return PyErr_NoMemory();
  PyObject *exc = xfpy_error_factory
                      ? PyObject_CallFunction(xfpy_error_factory, "iszz", rc, type,
                                              xf_strerror(rc), NULL)
                      : NULL;
  if (exc) {
    PyErr_SetObject((PyObject *) Py_TYPE(exc), exc);
    Py_DECREF(exc);
  } else if (!PyErr_Occurred()) {
    PyErr_SetString(PyExc_RuntimeError, xf_strerror(rc));
  }
  return NULL;
}

/* Raise the exception for a code the binding's own calls return, with the
 * code's default type name. A bare XF_EBROKEN comes from the thread pool
 * (an executor whose futures fail carries an error of its own type), so it
 * is given no type: the package makes it BrokenThreadPool. */
static PyObject *xfpy_raise_code(int rc) {
  return xfpy_raise_typed(rc, rc == XF_EBROKEN ? NULL : xf_error_default_type(rc));
}

/* Raise what the package's _check raises for a code of the shared API
 * (api.i's XF_CHECKED): the code under its own name, except a wrong type
 * and a value out of range, which are TypeError and OverflowError as their
 * default type names say. */
static PyObject *xfpy_raise_call(int rc) {
  bool typed = rc == XF_ETYPE || rc == XF_ERANGE;
  return xfpy_raise_typed(rc, typed ? xf_error_default_type(rc) : xf_err_name(rc));
}

/* xf:lang-specific: Python's values (README, "The value policy") */
/* ---- Python values as the core's kinds (README, "The value policy") ----- */

/* xfpy_plain_value's answers besides XF_OK and negative codes. */
#define XFPY_OPAQUE    1 /* o is no plain data: it crosses as an object */
#define XFPY_TOO_DEEP  2 /* nested deeper than XFPY_MAX_DEPTH, or cyclic */
#define XFPY_MAX_DEPTH 128

static int xfpy_item_value(PyObject *o, int depth, xf_value_t **out);

/* The n items of a list or tuple, or the pairs of a dict, as a list or map. */
static int xfpy_container_value(PyObject *o, int depth, xf_value_t **out) {
  int is_map = PyDict_Check(o);
  Py_ssize_t n = is_map ? PyDict_GET_SIZE(o) : PySequence_Fast_GET_SIZE(o);
  xf_value_t **items = (xf_value_t **) calloc(2 * (size_t) n + 1, sizeof(*items));
  if (!items) {
    PyErr_NoMemory();
    return XF_ENOMEM;
  }
  int rc = XF_OK;
  if (is_map) {
    PyObject *k, *v;
    Py_ssize_t pos = 0, i = 0;
    while (rc == XF_OK && i < n && PyDict_Next(o, &pos, &k, &v)) {
      rc = xfpy_item_value(k, depth + 1, &items[i]);
      if (rc == XF_OK)
        rc = xfpy_item_value(v, depth + 1, &items[n + i]);
      i++;
    }
    if (rc == XF_OK)
      rc = xf_value_new_map(items, items + n, (size_t) n, out);
  } else {
    for (Py_ssize_t i = 0; rc == XF_OK && i < n; i++)
      rc = xfpy_item_value(PySequence_Fast_GET_ITEM(o, i), depth + 1, &items[i]);
    if (rc == XF_OK)
      rc = xf_value_new_list(items, (size_t) n, out);
  }
  for (Py_ssize_t i = 0; i < 2 * n; i++)
    xf_value_unref(items[i]);
  free(items);
  if (rc < 0 && !PyErr_Occurred())
    PyErr_NoMemory();
  return rc;
}

/* o as one of the core's plain kinds: None, bool, int (int64), float, str,
 * bytes, list and tuple (as a list), dict (as a map). Subclasses cross as
 * their base kind. XF_OK with *out set; XFPY_OPAQUE for what has no kind (an
 * int beyond int64, a str with lone surrogates, any other object);
 * XFPY_TOO_DEEP; a negative code with a Python exception set. The GIL is
 * held throughout and no Python code runs, so containers cannot change
 * while they are read. */
static int xfpy_plain_value(PyObject *o, int depth, xf_value_t **out) {
  if (o == Py_None) {
    *out = xf_value_void();
    return XF_OK;
  }
  if (PyBool_Check(o)) {
    *out = xf_value_bool(o == Py_True);
    return XF_OK;
  }
  int rc = XFPY_OPAQUE;
  if (PyLong_Check(o)) {
    int overflow = 0;
    long long i = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow)
      return XFPY_OPAQUE;
    rc = xf_value_new_int(i, out);
  } else if (PyFloat_Check(o)) {
    rc = xf_value_new_double(PyFloat_AS_DOUBLE(o), out);
  } else if (PyUnicode_Check(o)) {
    Py_ssize_t len = 0;
    const char *s = PyUnicode_AsUTF8AndSize(o, &len);
    if (!s) {
      PyErr_Clear(); /* lone surrogates: no UTF-8 text */
      return XFPY_OPAQUE;
    }
    rc = xf_value_new_string(s, (size_t) len, out);
  } else if (PyBytes_Check(o)) {
    rc = xf_value_new_bytes(PyBytes_AS_STRING(o), (size_t) PyBytes_GET_SIZE(o), out);
  } else if (PyList_Check(o) || PyTuple_Check(o) || PyDict_Check(o)) {
    return depth >= XFPY_MAX_DEPTH ? XFPY_TOO_DEEP : xfpy_container_value(o, depth, out);
  }
  if (rc < 0)
    PyErr_NoMemory();
  return rc;
}

/* An item of a container: plain data, else the object itself. */
static int xfpy_item_value(PyObject *o, int depth, xf_value_t **out) {
  int rc = xfpy_plain_value(o, depth, out);
  if (rc == XFPY_OPAQUE) {
    rc = xf_value_new_object(o, &xfpy_hooks, out);
    if (rc < 0)
      PyErr_NoMemory();
  }
  return rc;
}

/* A result from Python: plain data as the core's kinds, anything else (and
 * a container too deep or cyclic to copy) as the object itself, which comes
 * back to Python as the same object. Sets a Python exception on failure. */
static int xfpy_result_value(PyObject *o, xf_value_t **out) {
  int rc = xfpy_plain_value(o, 0, out);
  if (rc == XFPY_OPAQUE || rc == XFPY_TOO_DEEP) {
    rc = xf_value_new_object(o, &xfpy_hooks, out);
    if (rc < 0)
      PyErr_NoMemory();
  }
  return rc;
}

/* A value for C code (native arguments): the value policy, except that an
 * int beyond int64 but within uint64 wraps to int64 (for uint64 arguments)
 * and a larger one is an OverflowError. Sets a Python exception on failure. */
static int xfpy_kind_value(PyObject *o, xf_value_t **out) {
  if (PyLong_Check(o) && !PyBool_Check(o)) {
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
    int rc = xf_value_new_int(i, out);
    return rc < 0 ? (PyErr_NoMemory(), rc) : rc;
  }
  return xfpy_result_value(o, out);
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
/* xf:end */

/* xf:lang-specific: Python callables run by the core, each taking the GIL */
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

/* Identity (README, "The value policy"): a Python future keeps the object
 * it was set with (its holder: the future itself, or for run_in_executor a
 * list shared with the task), so that a read through it returns the very
 * object while the core holds its plain form for the other runtimes. The
 * object is stored under the GIL before the core is told, and the previous
 * one put back when the core refuses it, so the held object is the core's
 * value whenever the core holds one set through this holder.
 *
 * xfpy_hold stores value in holder (a CFuture, a list, or NULL: nothing)
 * and hands the previous object to *saved; xfpy_unhold puts it back;
 * xfpy_held is the object held (borrowed), or NULL. */
/* The C part of xfutures.Future (see "The hot objects as C types"). */
typedef struct xfpy_future xfpy_future;
struct xfpy_future {
  PyObject_HEAD xf_future_t *h;
  PyObject *value; /* the object set through this future, or NULL */
  PyObject *cell;  /* a list whose first item is the object, shared with a task */
  PyObject *cbs;   /* the done callbacks' data tuples, or NULL */
  char user;       /* made by Future(): nobody but its user notifies a cancel */
  char notified;   /* set_running_or_notify_cancel saw it cancelled */
  char lazy;       /* a loop future whose core future is not made yet */
};
static int xfpy_hold(PyObject *holder, PyObject *value, PyObject **saved);
static void xfpy_unhold(PyObject *holder, PyObject *saved);
static PyObject *xfpy_held(PyObject *holder);

/* A task's data: the tuple (fn, args, kwargs, holder) until the task has
 * run. The task drops the tuple itself, under the GIL it holds anyway, so
 * that what the core does after the task (free the data) needs no GIL. */
typedef struct xfpy_task_data {
  PyObject *t;
} xfpy_task_data;

static void xfpy_task_data_free(void *data) {
  xfpy_task_data *d = (xfpy_task_data *) data;
  if (d->t)
    xfpy_release(d->t, NULL); /* the task never ran */
  free(d);
}

/* Data for xfpy_task holding a new reference to the tuple t, or NULL with
 * MemoryError. */
static xfpy_task_data *xfpy_task_data_new(PyObject *t) {
  xfpy_task_data *d = (xfpy_task_data *) malloc(sizeof *d);
  if (!d)
    return (xfpy_task_data *) PyErr_NoMemory();
  d->t = Py_NewRef(t);
  return d;
}

/* A task (data: xfpy_task_data). Runs on a worker thread. The outcome is
 * made and held under the GIL; the future is finished once the GIL is
 * released, so that the thread it wakes (a caller in result()) finds the
 * GIL free rather than sleep on it while this one finishes. A future done
 * already (its user set it) is finished as before, under the GIL, so that
 * its held object can be put back when the core refuses this outcome. */
static int xfpy_task(void *data, xf_future_t *f) {
  if (xfpy_finalizing())
    return XF_ESHUTDOWN;
  PyGILState_STATE g = PyGILState_Ensure();
  xfpy_task_data *d = (xfpy_task_data *) data;
  PyObject *t = d->t;
  PyObject *kwargs = PyTuple_GET_ITEM(t, 2);
  PyObject *holder = PyTuple_GET_SIZE(t) > 3 ? PyTuple_GET_ITEM(t, 3) : NULL;
  PyObject *r = PyObject_Call(PyTuple_GET_ITEM(t, 0), PyTuple_GET_ITEM(t, 1),
                              kwargs == Py_None ? NULL : kwargs);
  PyObject *saved = NULL;
  if (r && xfpy_hold(holder, r, &saved) < 0)
    Py_CLEAR(r); /* out of memory: the future fails with MemoryError */
  int rc;
  if (xf_future_done(f)) {
    rc = xfpy_finish(f, r);
    if (r && rc != XF_OK)
      xfpy_unhold(holder, saved);
    else
      Py_XDECREF(saved);
    Py_XDECREF(r);
    d->t = NULL;
    Py_DECREF(t);
    PyGILState_Release(g);
    return rc == XF_ESTATE ? XF_OK : rc;
  }
  /* Only a concurrent set_result of its user can finish the future now, and
   * that one holds its own object: the one saved here is not needed back. */
  xf_value_t *v = NULL;
  xf_error_t *err = NULL;
  if (r) {
    rc = xfpy_result_value(r, &v);
  } else {
    PyObject *exc = xfpy_fetch_exception();
    rc = xfpy_error_from_exception(exc, &err);
    Py_DECREF(exc);
  }
  Py_XDECREF(saved);
  Py_XDECREF(r);
  d->t = NULL;
  Py_DECREF(t);
  PyErr_Clear();
  PyGILState_Release(g);
  if (rc == XF_OK)
    rc = err ? xf_future_set_error(f, err) : xf_future_set_result(f, v);
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
    PyObject *lr =
        PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(t, 3), exc, fn, fut, NULL);
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

/* What a closure made by closure_new_sig holds: the Python callable, the
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
/* xf:end */

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

/* xf:lang-specific: blocking waits in slices, GIL released, signals checked */
/* Wait until f is done or the timeout passes, in slices with the GIL
 * released. 0 done, 1 timed out, 2 the wait would deadlock (XF_EDEADLK),
 * -1 a signal handler raised. */
static int xfpy_wait_one(xf_future_t *f, int64_t timeout_ns) {
  if (xf_future_done(f))
    return 0; /* the common case, without reading the clock */
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
/* xf:end */

/* xf:lang-specific: reading a Python future's outcome, for the C types below */
/* The outcome of f, waiting up to ns (negative: forever) with the GIL
 * released: 0 and *out the value (the object held, when there is one),
 * XF_EFAILED and *out the exception, XF_ECANCELLED and *out the cancel
 * message or None, XF_ETIMEDOUT and *out None; with want_error, 0 and *out
 * the exception or None replace the first two. -1 with a Python exception
 * set when the wait was interrupted or would deadlock. *out is a new
 * reference. */
static int xfpy_read(xf_future_t *f, int64_t ns, int want_error, PyObject *holder,
                     PyObject **out) {
  if (!f) {
    xfpy_raise_code(XF_EINVAL);
    return -1;
  }
  int w = xfpy_wait_one(f, ns);
  if (w < 0 || w == 2) {
    if (w == 2)
      xfpy_raise_code(XF_EDEADLK);
    return -1;
  }
  if (w > 0) {
    *out = Py_NewRef(Py_None);
    return XF_ETIMEDOUT;
  }
  /* An object held through this future was set with success: the future
   * finished with it, and the core need not be asked. */
  PyObject *held = want_error ? NULL : xfpy_held(holder);
  if (held && xf_future_state(f) == XF_FINISHED) {
    *out = Py_NewRef(held);
    return 0;
  }
  xf_value_t *v = NULL;
  xf_error_t *err = NULL;
  int state = xf_future_outcome(f, want_error ? NULL : &v, &err);
  if (state != XF_FINISHED && state != XF_CANCELLED) {
    xf_value_unref(v);
    xf_error_unref(err);
    xfpy_raise_code(state < 0 ? state : XF_ESTATE);
    return -1;
  }
  if (state == XF_CANCELLED) {
    const char *msg = err ? xf_error_message(err) : NULL;
    *out = msg && *msg && strcmp(msg, xf_strerror(XF_ECANCELLED)) != 0
               ? PyUnicode_FromString(msg)
               : Py_NewRef(Py_None);
    xf_error_unref(err);
    return *out ? XF_ECANCELLED : -1;
  }
  if (!err) {
    *out = want_error ? Py_NewRef(Py_None) : xfpy_from_value(v);
    xf_value_unref(v);
    return *out ? 0 : -1;
  }
  *out = xfpy_exception_from_error(err);
  xf_error_unref(err);
  return !*out ? -1 : want_error ? 0 : XF_EFAILED;
}
/* xf:end */

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
static PyObject *xfpy_future_wrap(PyTypeObject *cls, xf_future_t *f, PyObject *cell);
static PyTypeObject xfpy_cfuture_type;
/* A signature string, parsed into *out: 0, or -1 with ValueError
 * (TypeError when it is no str). */
static int xfpy_signature_arg(PyObject *o, xf_signature_t **out) {
  char errbuf[160];
  const char *text = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
  if (!text) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_TypeError, "a signature must be a str");
    return -1;
  }
  int rc = xf_signature_parse(text, errbuf, sizeof errbuf, out);
  if (rc == XF_ENOMEM)
    PyErr_NoMemory();
  else if (rc != XF_OK)
    PyErr_Format(PyExc_ValueError, "bad signature \"%s\": %s", text, errbuf);
  return rc == XF_OK ? 0 : -1;
}

/* A native call's arguments from a sequence: as many as the signature has
 * parameters (else TypeError), each by the value policy, except that an int
 * for a pointer parameter is that address. NULL with an exception set. */
static xf_value_t **xfpy_native_args(PyObject *seq, const xf_signature_t *sig,
                                     Py_ssize_t *n) {
  PyObject *fast = PySequence_Fast(seq, "args must be a sequence");
  if (!fast)
    return NULL;
  *n = PySequence_Fast_GET_SIZE(fast);
  if (*n != xf_signature_arity(sig)) {
    PyErr_Format(PyExc_TypeError, "the signature \"%s\" takes %d arguments, not %zd",
                 xf_signature_text(sig), xf_signature_arity(sig), *n);
    Py_DECREF(fast);
    return NULL;
  }
  xf_value_t **vals = (xf_value_t **) calloc((size_t) *n + 1, sizeof(*vals));
  int rc = vals ? XF_OK : XF_ENOMEM;
  for (Py_ssize_t i = 0; rc == XF_OK && i < *n; i++) {
    PyObject *a = PySequence_Fast_GET_ITEM(fast, i);
    if (xf_signature_arg_type(sig, (size_t) i) == XF_C_POINTER && PyLong_Check(a)) {
      void *p = PyLong_AsVoidPtr(a);
      rc = PyErr_Occurred() ? XF_ERANGE : xf_value_new_pointer(p, NULL, &vals[i]);
    } else {
      rc = xfpy_kind_value(a, &vals[i]);
    }
  }
  Py_DECREF(fast);
  if (rc == XF_OK)
    return vals;
  for (Py_ssize_t i = 0; vals && i < *n; i++)
    xf_value_unref(vals[i]);
  free(vals);
  if (!PyErr_Occurred())
    PyErr_NoMemory();
  return NULL;
}

/* A new executor's handle, or the exception for rc. */
static PyObject *xfpy_new_executor(int rc, xf_executor_t *ex) {
  if (rc != XF_OK)
    return PyErr_Occurred() ? NULL : xfpy_raise_code(rc);
  return SWIG_Python_NewPointerObj(NULL, ex, SWIGTYPE_p_xf_executor, SWIG_POINTER_OWN);
}

static PyObject *xfpy_new_future_object(xf_future_t *f) {
  return SWIG_Python_NewPointerObj(NULL, f, SWIGTYPE_p_xf_future, SWIG_POINTER_OWN);
}

/* xf:lang-specific: the iterator of as_completed, which waits in slices */
/* The iterator behind as_completed. */
typedef struct xf_py_as_completed {
  xf_as_completed_t *it;
  xf_future_t **fs; /* own references; NULL once yielded */
  size_t n;
  int64_t deadline;
} xf_py_as_completed_t;
/* xf:end */
%}

/* ---- The shared declarations (bindings/common/api.i) --------------------
 *
 * What Python adds to them: its typemaps, the call macros, and the GIL
 * released where dropping an executor or a loop waits for threads that
 * need it. */

/* Handles made by a call: the out-parameter is the result, a handle Python
 * owns. A call that is not checked and made none answers its code instead
 * (the process pool's submit: the package raises the stdlib's exception). */
%typemap(in, numinputs = 0) xf_future_t **out (xf_future_t *tmp = NULL) "$1 = &tmp;";
%typemap(argout) xf_future_t **out {
  Py_DECREF($result);
  $result = tmp$argnum ? xfpy_new_future_object(tmp$argnum) : PyLong_FromLong(result);
}
%typemap(in, numinputs = 0) xf_loop_t **out (xf_loop_t *tmp = NULL) "$1 = &tmp;";
%typemap(argout) xf_loop_t **out {
  Py_DECREF($result);
  $result =
      SWIG_Python_NewPointerObj(NULL, tmp$argnum, SWIGTYPE_p_xf_loop, SWIG_POINTER_OWN);
}
%typemap(in, numinputs = 0) xf_closure_t **out (xf_closure_t *tmp = NULL) "$1 = &tmp;";
%typemap(argout) xf_closure_t **out {
  Py_DECREF($result);
  $result = SWIG_Python_NewPointerObj(NULL, tmp$argnum, SWIGTYPE_p_xf_closure,
                                      SWIG_POINTER_OWN);
}

/* A sequence of raw future handles. */
%typemap(in) (xf_future_t *const *fs, size_t n) (Py_ssize_t count = 0) {
  $1 = xfpy_future_array($input, &count);
  if (!$1)
    SWIG_fail;
  $2 = (size_t) count;
}
%typemap(freearg) (xf_future_t *const *fs, size_t n) "free((void *) $1);";

/* Seconds (None: forever) as nanoseconds. */
%typemap(in) int64_t timeout_ns, int64_t ns, int64_t grace_ns {
  if (xfpy_timeout_ns($input, &$1) < 0)
    SWIG_fail;
}

/* A Python callable as a core callback: the trampoline is the function and
 * the Python object (checked by CHECK) its data, a new reference that the
 * core takes over when the call succeeds and releases under the GIL. When
 * the call fails the core has not taken it, and it is dropped here. */
%define XFPY_CALLABLE(FN_TYPE, FN_NAME, TRAMPOLINE, CHECK, WHAT)
%typemap(in) (FN_TYPE FN_NAME, void *data, xf_free_data_fn free_data)
    (PyObject *held = NULL) {
  if (!(CHECK)) {
    PyErr_SetString(PyExc_TypeError, WHAT);
    SWIG_fail;
  }
  held = Py_NewRef($input);
  $1 = TRAMPOLINE;
  $2 = held;
  $3 = xfpy_decref_data;
}
%typemap(argout) (FN_TYPE FN_NAME, void *data, xf_free_data_fn free_data)
    "if (result == XF_OK) held$argnum = NULL;";
%typemap(freearg) (FN_TYPE FN_NAME, void *data, xf_free_data_fn free_data)
    "Py_XDECREF(held$argnum);";
%enddef
/* The data tuples the trampolines read (see each one). */
XFPY_CALLABLE(xf_done_fn, fn, xfpy_done,
              PyTuple_Check($input) && PyTuple_GET_SIZE($input) == 4,
              "a done callback is a tuple (fn, future, context, on_error)")
/* A task: the tuple (fn, args tuple, kwargs, holder) in xfpy_task's data. */
%typemap(in) (xf_task_fn fn, void *data, xf_free_data_fn free_data)
    (xfpy_task_data *d = NULL) {
  if (!PyTuple_Check($input) || PyTuple_GET_SIZE($input) != 4 ||
      !PyTuple_Check(PyTuple_GET_ITEM($input, 1))) {
    PyErr_SetString(PyExc_TypeError,
                    "a task is a tuple (fn, args tuple, kwargs, holder)");
    SWIG_fail;
  }
  if (!(d = xfpy_task_data_new($input)))
    SWIG_fail;
  $1 = xfpy_task;
  $2 = d;
  $3 = xfpy_task_data_free;
}
%typemap(argout) (xf_task_fn fn, void *data, xf_free_data_fn free_data)
    "if (result == XF_OK) d$argnum = NULL;";
%typemap(freearg) (xf_task_fn fn, void *data, xf_free_data_fn free_data)
    "if (d$argnum) xfpy_task_data_free(d$argnum);";
XFPY_CALLABLE(xf_io_fn, fn, xfpy_reader,
              PyTuple_Check($input) && PyTuple_GET_SIZE($input) == 2,
              "a reader is a tuple (fn, on_error)")
XFPY_CALLABLE(xf_exception_handler_fn, fn, xfpy_loop_exception, PyCallable_Check($input),
              "an exception handler must be callable")
/* A registration to remove: the same data tuple (borrowed). */
%typemap(in) (xf_done_fn fn, void *data) {
  $1 = xfpy_done;
  $2 = $input;
}

/* A closure's handler: the callable, with the signature's return type and
 * the owner loop that the handler needs as well. They are the first and
 * fifth arguments of xf_closure_new_sig (argN is SWIG's name for the Nth
 * argument of the wrapped call), read once all are converted. */
%typemap(in) (xf_closure_handler_fn handler, void *data, xf_free_data_fn free_data)
    (xfpy_closure_data *d = NULL) {
  if (!PyCallable_Check($input)) {
    PyErr_SetString(PyExc_TypeError, "callback: fn must be callable");
    SWIG_fail;
  }
  if (!(d = (xfpy_closure_data *) calloc(1, sizeof *d))) {
    PyErr_NoMemory();
    SWIG_fail;
  }
  d->fn = Py_NewRef($input);
  $1 = xfpy_closure_handler;
  $2 = d;
  $3 = xfpy_closure_data_free;
}
%typemap(check) (xf_closure_handler_fn handler, void *data, xf_free_data_fn free_data) {
  d$argnum->ret = xf_signature_return_type(arg1);
  d$argnum->loop = arg5;
}
%typemap(argout) (xf_closure_handler_fn handler, void *data, xf_free_data_fn free_data)
    "if (result == XF_OK) d$argnum = NULL;";
%typemap(freearg) (xf_closure_handler_fn handler, void *data, xf_free_data_fn free_data)
    "if (d$argnum) xfpy_closure_data_free(d$argnum);";

/* A signature string, parsed; a bad one is ValueError. */
%typemap(in) xf_signature_t *sig {
  if (xfpy_signature_arg($input, &$1) < 0)
    SWIG_fail;
}
%typemap(freearg) xf_signature_t *sig "xf_signature_unref($1);";

/* A C function's address (an int) in; a code pointer out as an int. */
%typemap(in) void *fn {
  $1 = PyLong_AsVoidPtr($input);
  if (!$1) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_ValueError, "NULL function pointer");
    SWIG_fail;
  }
}
%typemap(out) void *xf_closure_code "$result = PyLong_FromVoidPtr($1);";

/* A native call's arguments from a sequence, by the value policy; an int
 * given for a pointer argument of the signature (the third argument of
 * xf_executor_submit_native_sig, converted before) is that address. */
%typemap(in) (xf_value_t *const *args, size_t nargs) (Py_ssize_t count = 0) {
  $1 = xfpy_native_args($input, arg3, &count);
  if (!$1)
    SWIG_fail;
  $2 = (size_t) count;
}
%typemap(freearg) (xf_value_t *const *args, size_t nargs) {
  for (size_t i = 0; $1 && i < $2; i++)
    xf_value_unref($1[i]);
  free((void *) $1);
}

/* A frame item of the worker protocol (the caller keeps its reference). */
%typemap(in) xf_value_t *payload {
  if (xfpy_wire_value($input, &$1) != XF_OK)
    SWIG_fail;
}
%typemap(freearg) xf_value_t *payload "xf_value_unref($1);";

/* An outcome's value and error, appended to the state as Python objects
 * (the error as its exception; None for none). */
%typemap(in, numinputs = 0) xf_value_t **value (xf_value_t *tmp = NULL) "$1 = &tmp;";
%typemap(argout) xf_value_t **value {
  PyObject *o = tmp$argnum ? xfpy_from_value(tmp$argnum) : Py_NewRef(Py_None);
  if (!o)
    SWIG_fail;
  $result = SWIG_Python_AppendOutput($result, o);
}
%typemap(freearg) xf_value_t **value "xf_value_unref(tmp$argnum);";
%typemap(in, numinputs = 0) xf_error_t **error (xf_error_t *tmp = NULL) "$1 = &tmp;";
%typemap(argout) xf_error_t **error {
  PyObject *o = tmp$argnum ? xfpy_exception_from_error(tmp$argnum) : Py_NewRef(Py_None);
  if (!o)
    SWIG_fail;
  $result = SWIG_Python_AppendOutput($result, o);
}
%typemap(freearg) xf_error_t **error "xf_error_unref(tmp$argnum);";

/* Counters as a tuple (queued, running, completed, cancelled, threads,
 * max_workers). */
%typemap(in, numinputs = 0) xf_executor_stats_t *out
    (xf_executor_stats_t tmp = XF_EXECUTOR_STATS_INIT) "$1 = &tmp;";
%typemap(argout) xf_executor_stats_t *out {
  Py_DECREF($result);
  $result = Py_BuildValue("(KKKKII)", (unsigned long long) tmp$argnum.queued,
                          (unsigned long long) tmp$argnum.running,
                          (unsigned long long) tmp$argnum.completed,
                          (unsigned long long) tmp$argnum.cancelled,
                          (unsigned) tmp$argnum.threads,
                          (unsigned) tmp$argnum.max_workers);
}

/* Extra int results, appended to the code: (0, rank, size), (0, fd). */
%typemap(in, numinputs = 0) int *rank (int tmp = -1), int *size (int tmp = 0),
    int *fd (int tmp = -1) "$1 = &tmp;";
%typemap(argout) int *rank, int *size, int *fd
    "$result = SWIG_Python_AppendOutput($result, PyLong_FromLong(tmp$argnum));";

/* The call macros of api.i: a negative code raises what the package's
 * _check raises for it; a call that waits releases the GIL (not while the
 * interpreter finalizes: nothing runs Python then). */
%define XFPY_RAISE_NEGATIVE
  if (result < 0) {
    xfpy_raise_call(result);
    SWIG_fail;
  }
%enddef
%define XFPY_RELEASING(action)
  if (xfpy_finalizing()) {
    action
  } else {
    Py_BEGIN_ALLOW_THREADS action
    Py_END_ALLOW_THREADS
  }
%enddef
%define XF_CHECKED(fn)
%exception fn {
  $action
  XFPY_RAISE_NEGATIVE
}
%enddef
%define XF_BLOCKING(fn)
%exception fn {
  XFPY_RELEASING($action)
}
%enddef
%define XF_BLOCKING_CHECKED(fn)
%exception fn {
  XFPY_RELEASING($action)
  XFPY_RAISE_NEGATIVE
}
%enddef

/* Dropping an executor or a loop may wait for worker threads that need the
 * GIL. A run of the loop that does not wait keeps the GIL for the Python
 * callbacks it runs (asyncio's bridge makes one per turn). */
%exception xf_executor::~xf_executor {
  XFPY_RELEASING($action)
}
%exception xf_loop::~xf_loop {
  XFPY_RELEASING($action)
}
%exception xf_loop_run {
  if (arg2 == XF_RUN_NOWAIT) {
    $action
  } else {
    XFPY_RELEASING($action)
  }
}

%include "../common/api.i"
%exception;

/* xf:lang-specific: the iterator of as_completed, which waits in slices */
/* The iterator behind as_completed, Python's own. */
typedef struct xf_py_as_completed xf_py_as_completed_t;
%nodefaultctor xf_py_as_completed;
struct xf_py_as_completed {};
%extend xf_py_as_completed {
  ~xf_py_as_completed() {
    xf_as_completed_free($self->it);
    for (size_t i = 0; i < $self->n; i++)
      xf_future_unref($self->fs[i]);
    free($self->fs);
    free($self);
  }
}
/* xf:end */

%{
static swig_type_info *xfpy_future_type(void) {
  return SWIGTYPE_p_xf_future;
}
%}

%inline %{
/* xf:lang-specific: Python's values: the factory of exceptions */
/* Install the factory of exceptions for errors that carry none. */
PyObject *py_set_error_factory(PyObject *factory) {
  Py_XINCREF(factory);
  Py_XSETREF(xfpy_error_factory, factory);
  Py_RETURN_NONE;
}
/* xf:end */

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

/* What the core holds for a done future: (kind, text), the kind's name
 * ("int", "map", "object", "error", ...) and xf_value_repr's canonical
 * text, made in C and the same for every runtime. A pending or running
 * future is InvalidStateError; a cancelled one reads as its error. */
PyObject *py_core_repr(xf_future_t *f) {
  static const char *const names[] = {"void",   "bool",  "int",  "double",
                                      "string", "bytes", "list", "pointer",
                                      "object", "error", "map"};
  xf_value_t *v = NULL;
  xf_error_t *err = NULL;
  int state = f ? xf_future_outcome(f, &v, &err) : XF_EINVAL;
  int rc = state < 0 ? state : xf_future_done(f) ? XF_OK : XF_ESTATE;
  if (rc == XF_OK && err)
    rc = xf_value_new_error(err, &v);
  xf_error_unref(err);
  if (rc != XF_OK) {
    xf_value_unref(v);
    return xfpy_raise_code(rc);
  }
  int kind = xf_value_kind(v);
  size_t len = xf_value_repr(v, NULL, 0);
  char *text = (char *) malloc(len + 1);
  if (!text) {
    xf_value_unref(v);
    return PyErr_NoMemory();
  }
  xf_value_repr(v, text, len + 1);
  xf_value_unref(v);
  const char *name = kind >= 0 && (size_t) kind < sizeof names / sizeof names[0]
                         ? names[kind]
                         : "unknown";
  PyObject *r = Py_BuildValue("(ss#)", name, text, (Py_ssize_t) len);
  free(text);
  return r;
}

/* xf:lang-specific: blocking waits in slices, GIL released, signals checked */
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
  return SWIG_Python_NewPointerObj(NULL, ac, SWIGTYPE_p_xf_py_as_completed,
                                   SWIG_POINTER_OWN);
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
/* xf:end */

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
  return xfpy_new_executor(rc, ex);
}
%}

/* xf:lang-specific: the C future types (concurrent.futures', asyncio's protocols) */
/* ---- The hot objects as C types ------------------------------------------
 *
 * xfutures.Future is a Python subclass of CFuture and of
 * concurrent.futures.Future (so isinstance holds); the methods a program
 * calls per future (done, result, set_result, cancel, ...) are CFuture's,
 * in C, with no Python frame. What is called once per program or per
 * registration (repr, add_done_callback, __await__) stays in the package.
 *
 * A CFuture holds a reference to its core future (NULL until __init__ ran:
 * then every method raises InvalidStateError, as a subclass that forgot to
 * call __init__ must not crash), its identity cell and the list of its done
 * callbacks' data tuples (for remove_done_callback). Both may hold the future
 * itself, hence the GC support. */
%{

static PyTypeObject xfpy_cfuture_type;

/* Finish a future with a Python object, held by holder for the reads
 * through the same Python future; returns the core's code. */
static int xfpy_set_result(xf_future_t *f, PyObject *value, PyObject *holder) {
  xf_value_t *v = NULL;
  PyObject *saved = NULL;
  if (xfpy_hold(holder, value, &saved) < 0)
    return XF_ENOMEM;
  int rc = xfpy_result_value(value, &v);
  rc = rc == XF_OK ? xf_future_set_result(f, v) : rc;
  if (rc != XF_OK)
    xfpy_unhold(holder, saved);
  else
    Py_XDECREF(saved);
  return rc;
}

/* Finish a future with a Python exception; returns the core's code. */
static int xfpy_set_exception(xf_future_t *f, PyObject *exc) {
  xf_error_t *err = NULL;
  int rc = xfpy_error_from_exception(exc, &err);
  return rc == XF_OK ? xf_future_set_error(f, err) : rc;
}

/* Add a done callback whose data is the tuple (fn, future, context,
 * on_error) that xfpy_done reads; loop NULL runs it inline. */
static int xfpy_add_done(xf_future_t *f, PyObject *data, xf_loop_t *loop) {
  Py_INCREF(data);
  int rc = xf_future_add_done_callback(f, xfpy_done, data, xfpy_decref_data, loop);
  if (rc != XF_OK)
    Py_DECREF(data);
  return rc;
}

/* The stdlib's exceptions, installed by the package (py_set_exceptions). */
static PyObject *xfpy_exc_cancelled, *xfpy_exc_timeout, *xfpy_exc_invalid;

static int xfpy_hold(PyObject *holder, PyObject *value, PyObject **saved) {
  *saved = NULL;
  if (holder && PyList_Check(holder))
    return PyList_Append(holder, value);
  if (holder && PyObject_TypeCheck(holder, &xfpy_cfuture_type)) {
    xfpy_future *fut = (xfpy_future *) holder;
    *saved = fut->value;
    fut->value = Py_NewRef(value);
  }
  return 0;
}

static void xfpy_unhold(PyObject *holder, PyObject *saved) {
  if (holder && PyList_Check(holder)) {
    Py_ssize_t n = PyList_GET_SIZE(holder);
    if (n > 0)
      PyList_SetSlice(holder, n - 1, n, NULL);
  } else if (holder && PyObject_TypeCheck(holder, &xfpy_cfuture_type)) {
    Py_XSETREF(((xfpy_future *) holder)->value, saved);
  }
}

static PyObject *xfpy_held(PyObject *holder) {
  if (holder && PyList_Check(holder))
    return PyList_GET_SIZE(holder) > 0 ? PyList_GET_ITEM(holder, 0) : NULL;
  if (holder && PyObject_TypeCheck(holder, &xfpy_cfuture_type)) {
    xfpy_future *fut = (xfpy_future *) holder;
    if (fut->value)
      return fut->value;
    return xfpy_held(fut->cell);
  }
  return NULL;
}

/* Raise type(arg), or type() when arg is NULL or None; takes over the
 * reference to arg (the callers make their message for it). */
static PyObject *xfpy_raise(PyObject *type, PyObject *arg) {
  PyObject *exc = arg && arg != Py_None
                      ? PyObject_CallOneArg(type ? type : PyExc_RuntimeError, arg)
                      : PyObject_CallNoArgs(type ? type : PyExc_RuntimeError);
  Py_XDECREF(arg);
  if (exc) {
    PyErr_SetObject((PyObject *) Py_TYPE(exc), exc);
    Py_DECREF(exc);
  }
  return NULL;
}

static xf_future_t *xfpy_loop_materialize(xfpy_future *self);

/* The core future; a loop future made lazily gets it now (see CLoopFuture). */
static xf_future_t *xfpy_handle(xfpy_future *self) {
  if (!self->h && self->lazy)
    return xfpy_loop_materialize(self);
  if (!self->h)
    xfpy_raise(xfpy_exc_invalid, PyUnicode_FromFormat("%s.__init__() was not called",
                                                      Py_TYPE(self)->tp_name));
  return self->h;
}

/* A new instance of cls (CFuture or a subclass) over f, whose reference it
 * takes over, with cell (may be NULL) as its identity cell. */
static PyObject *xfpy_future_wrap(PyTypeObject *cls, xf_future_t *f, PyObject *cell) {
  xfpy_future *self = (xfpy_future *) cls->tp_alloc(cls, 0);
  if (!self) {
    xf_future_unref(f);
    return NULL;
  }
  self->h = f;
  self->cell = Py_XNewRef(cell);
  return (PyObject *) self;
}

static int xfpy_future_init(xfpy_future *self, PyObject *args, PyObject *kwargs) {
  if (PyTuple_GET_SIZE(args) || (kwargs && PyDict_GET_SIZE(kwargs))) {
    PyErr_SetString(PyExc_TypeError, "Future() takes no arguments");
    return -1;
  }
  xf_future_t *f = NULL;
  int rc = xf_future_new(&f);
  if (rc != XF_OK) {
    xfpy_raise_code(rc);
    return -1;
  }
  xf_future_unref(self->h);
  self->h = f;
  Py_CLEAR(self->value);
  Py_CLEAR(self->cell);
  self->user = 1;
  self->notified = 0;
  return 0;
}

static int xfpy_future_traverse(xfpy_future *self, visitproc visit, void *arg) {
  Py_VISIT(self->value);
  Py_VISIT(self->cell);
  Py_VISIT(self->cbs);
  if (Py_TYPE(self)->tp_flags & Py_TPFLAGS_HEAPTYPE)
    Py_VISIT(Py_TYPE(self));
  return 0;
}

static int xfpy_future_clear(xfpy_future *self) {
  Py_CLEAR(self->value);
  Py_CLEAR(self->cell);
  Py_CLEAR(self->cbs);
  return 0;
}

static void xfpy_future_dealloc(xfpy_future *self) {
  PyObject_GC_UnTrack(self);
  xfpy_future_clear(self);
  xf_future_unref(self->h);
  self->h = NULL;
  Py_TYPE(self)->tp_free((PyObject *) self);
}

static PyObject *xfpy_future_done(xfpy_future *self, PyObject *unused) {
  (void) unused;
  xf_future_t *f = xfpy_handle(self);
  return f ? PyBool_FromLong(xf_future_done(f)) : NULL;
}

static PyObject *xfpy_future_cancelled(xfpy_future *self, PyObject *unused) {
  (void) unused;
  xf_future_t *f = xfpy_handle(self);
  return f ? PyBool_FromLong(xf_future_cancelled(f)) : NULL;
}

static PyObject *xfpy_future_running(xfpy_future *self, PyObject *unused) {
  (void) unused;
  xf_future_t *f = xfpy_handle(self);
  return f ? PyBool_FromLong(xf_future_running(f)) : NULL;
}

static PyObject *xfpy_future_cancel(xfpy_future *self, PyObject *unused) {
  (void) unused;
  xf_future_t *f = xfpy_handle(self);
  return f ? PyBool_FromLong(xf_future_cancel_msg(f, NULL) == XF_OK) : NULL;
}

/* The timeout argument of result() and exception(): none, or one given by
 * position or as timeout=. */
static int xfpy_timeout_arg(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                            int64_t *ns) {
  PyObject *t = Py_None;
  Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  if (nargs + nkw > 1 || (nkw == 1 && !_PyUnicode_EqualToASCIIString(
                                          PyTuple_GET_ITEM(kwnames, 0), "timeout"))) {
    PyErr_SetString(PyExc_TypeError, "expected at most one argument, timeout");
    return -1;
  }
  if (nargs + nkw == 1)
    t = args[0];
  return xfpy_timeout_ns(t, ns);
}

static PyObject *xfpy_future_result(xfpy_future *self, PyObject *const *args,
                                    Py_ssize_t nargs, PyObject *kwnames) {
  int64_t ns;
  xf_future_t *f = xfpy_handle(self);
  if (!f || xfpy_timeout_arg(args, nargs, kwnames, &ns) < 0)
    return NULL;
  PyObject *o = NULL;
  switch (xfpy_read(f, ns, 0, (PyObject *) self, &o)) {
  case 0:
    return o;
  case XF_EFAILED:
    PyErr_SetObject((PyObject *) Py_TYPE(o), o);
    Py_DECREF(o);
    return NULL;
  case XF_ECANCELLED:
    return xfpy_raise(xfpy_exc_cancelled, o);
  case XF_ETIMEDOUT:
    Py_DECREF(o);
    return xfpy_raise(xfpy_exc_timeout, NULL);
  default:
    return NULL;
  }
}

static PyObject *xfpy_future_exception(xfpy_future *self, PyObject *const *args,
                                       Py_ssize_t nargs, PyObject *kwnames) {
  int64_t ns;
  xf_future_t *f = xfpy_handle(self);
  if (!f || xfpy_timeout_arg(args, nargs, kwnames, &ns) < 0)
    return NULL;
  PyObject *o = NULL;
  switch (xfpy_read(f, ns, 1, NULL, &o)) {
  case 0:
    return o;
  case XF_ECANCELLED:
    return xfpy_raise(xfpy_exc_cancelled, o);
  case XF_ETIMEDOUT:
    Py_DECREF(o);
    return xfpy_raise(xfpy_exc_timeout, NULL);
  default:
    return NULL;
  }
}

static const char *xfpy_state_name(xf_future_t *f) {
  switch (xf_future_state(f)) {
  case XF_PENDING:
    return "PENDING";
  case XF_RUNNING:
    return "RUNNING";
  case XF_CANCELLED:
    return "CANCELLED";
  default:
    return "FINISHED";
  }
}

static PyObject *xfpy_invalid_state(PyObject *self, xf_future_t *f) {
  return xfpy_raise(xfpy_exc_invalid,
                    PyUnicode_FromFormat("%s: %R", xfpy_state_name(f), self));
}

static PyObject *xfpy_future_set_result(xfpy_future *self, PyObject *value) {
  xf_future_t *f = xfpy_handle(self);
  if (!f)
    return NULL;
  int rc = xfpy_set_result(f, value, (PyObject *) self);
  if (rc == XF_ESTATE)
    return xfpy_invalid_state((PyObject *) self, f);
  if (rc != XF_OK)
    return PyErr_Occurred() ? NULL : xfpy_raise_code(rc);
  Py_RETURN_NONE;
}

/* The exception set_exception stores: an instance, or a class called with no
 * arguments. The state is checked first: a done future is InvalidStateError
 * whatever the argument, as asyncio's and the stdlib's are. */
static PyObject *xfpy_exception_arg(PyObject *self, xf_future_t *f, PyObject *exc) {
  if (xf_future_done(f))
    return xfpy_invalid_state(self, f);
  if (PyType_Check(exc) &&
      PyType_IsSubtype((PyTypeObject *) exc, (PyTypeObject *) PyExc_BaseException))
    return PyObject_CallNoArgs(exc);
  if (!PyExceptionInstance_Check(exc)) {
    PyErr_SetString(PyExc_TypeError, "exceptions must derive from BaseException");
    return NULL;
  }
  return Py_NewRef(exc);
}

static PyObject *xfpy_future_set_exception(xfpy_future *self, PyObject *exc) {
  xf_future_t *f = xfpy_handle(self);
  PyObject *e = f ? xfpy_exception_arg((PyObject *) self, f, exc) : NULL;
  if (!e)
    return NULL;
  int rc = xfpy_set_exception(f, e);
  Py_DECREF(e);
  if (rc == XF_ESTATE)
    return xfpy_invalid_state((PyObject *) self, f);
  if (rc != XF_OK)
    return PyErr_Occurred() ? NULL : xfpy_raise_code(rc);
  Py_RETURN_NONE;
}

static PyObject *xfpy_future_set_running(xfpy_future *self, PyObject *unused) {
  (void) unused;
  xf_future_t *f = xfpy_handle(self);
  if (!f)
    return NULL;
  int rc = xf_future_set_running_or_notify_cancel(f);
  if (rc == XF_OK)
    Py_RETURN_TRUE;
  if (rc == XF_ECANCELLED) {
    self->notified = 1;
    Py_RETURN_FALSE;
  }
  PyErr_SetString(PyExc_RuntimeError, "Future in unexpected state");
  return NULL;
}

/* _wrap(handle, cell=None): a future of this class over a raw handle (a new
 * reference of its own). */
static PyObject *xfpy_future_wrap_method(PyObject *cls, PyObject *args) {
  PyObject *handle = NULL, *cell = Py_None;
  void *p = NULL;
  if (!PyArg_ParseTuple(args, "O|O:_wrap", &handle, &cell))
    return NULL;
  if (!SWIG_IsOK(SWIG_ConvertPtr(handle, &p, SWIGTYPE_p_xf_future, 0)) || !p) {
    PyErr_SetString(PyExc_TypeError, "_wrap: expected a raw future handle");
    return NULL;
  }
  return xfpy_future_wrap((PyTypeObject *) cls, xf_future_ref((xf_future_t *) p),
                          cell == Py_None ? NULL : cell);
}

/* _h: a raw handle on the same core future, for the raw module's calls. */
static PyObject *xfpy_future_get_h(xfpy_future *self, void *closure) {
  (void) closure;
  xf_future_t *f = xfpy_handle(self);
  return f ? xfpy_new_future_object(xf_future_ref(f)) : NULL;
}

/* _notified: False only for a cancelled future made by Future() whose
 * set_running_or_notify_cancel has not been called: concurrent.futures.wait
 * does not count such a future as done yet (CANCELLED, not
 * CANCELLED_AND_NOTIFIED). An executor's futures are notified by it. */
static PyObject *xfpy_future_get_notified(xfpy_future *self, void *closure) {
  (void) closure;
  return PyBool_FromLong(!self->user || self->notified);
}

static PyObject *xfpy_future_get_cbs(xfpy_future *self, void *closure) {
  (void) closure;
  return Py_NewRef(self->cbs ? self->cbs : Py_None);
}

static int xfpy_future_set_cbs(xfpy_future *self, PyObject *value, void *closure) {
  (void) closure;
  Py_XSETREF(self->cbs, value && value != Py_None ? Py_NewRef(value) : NULL);
  return 0;
}

static PyObject *xfpy_future_reduce(PyObject *self, PyObject *unused) {
  (void) unused;
  PyErr_Format(PyExc_TypeError,
               "cannot pickle '%s' object: a future is a live handle on a C future",
               Py_TYPE(self)->tp_name);
  return NULL;
}

static PyMethodDef xfpy_future_methods[] = {
    {"done", (PyCFunction) xfpy_future_done, METH_NOARGS,
     "True if finished or cancelled."},
    {"cancelled", (PyCFunction) xfpy_future_cancelled, METH_NOARGS, "True if cancelled."},
    {"running", (PyCFunction) xfpy_future_running, METH_NOARGS, "True if running."},
    {"cancel", (PyCFunction) xfpy_future_cancel, METH_NOARGS,
     "Cancel the future if it is pending; True if it is (now) cancelled."},
    {"result", (PyCFunction) (void (*)(void)) xfpy_future_result,
     METH_FASTCALL | METH_KEYWORDS,
     "The value, waiting up to timeout seconds (None: forever). Raises the task's "
     "exception, CancelledError or TimeoutError."},
    {"exception", (PyCFunction) (void (*)(void)) xfpy_future_exception,
     METH_FASTCALL | METH_KEYWORDS,
     "The exception (None if the future has a value), waiting as result()."},
    {"set_result", (PyCFunction) xfpy_future_set_result, METH_O, "Finish with a value."},
    {"set_exception", (PyCFunction) xfpy_future_set_exception, METH_O,
     "Finish with an exception (an instance or a class)."},
    {"set_running_or_notify_cancel", (PyCFunction) xfpy_future_set_running, METH_NOARGS,
     "Mark running; False if the future was cancelled."},
    {"_wrap", (PyCFunction) xfpy_future_wrap_method, METH_VARARGS | METH_CLASS, NULL},
    {"__reduce__", (PyCFunction) xfpy_future_reduce, METH_NOARGS, NULL},
    {"__reduce_ex__", (PyCFunction) xfpy_future_reduce, METH_O, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef xfpy_future_getset[] = {
    {"_h", (getter) xfpy_future_get_h, NULL, NULL, NULL},
    {"_notified", (getter) xfpy_future_get_notified, NULL, NULL, NULL},
    {"_cbs", (getter) xfpy_future_get_cbs, (setter) xfpy_future_set_cbs, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject xfpy_cfuture_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "xfutures._xfutures.CFuture",
    .tp_basicsize = sizeof(xfpy_future),
    .tp_dealloc = (destructor) xfpy_future_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The C part of xfutures.Future: a handle on a C future.",
    .tp_traverse = (traverseproc) xfpy_future_traverse,
    .tp_clear = (inquiry) xfpy_future_clear,
    .tp_methods = xfpy_future_methods,
    .tp_getset = xfpy_future_getset,
    .tp_init = (initproc) xfpy_future_init,
    .tp_new = PyType_GenericNew,
};
%}

%init %{
  if (PyType_Ready(&xfpy_cfuture_type) < 0 ||
      PyModule_AddObjectRef(m, "CFuture", (PyObject *) &xfpy_cfuture_type) < 0)
    return NULL;
%}

%inline %{
/* Submit fn(*args, **kwargs); returns a future of class cls (a CFuture
 * subclass) whose identity cell the task fills. The GIL is released while
 * submitting only when may_block: a bounded queue may make the caller wait,
 * and otherwise taking the GIL back would cost a hand-over per task. */
PyObject *py_executor_submit(xf_executor_t *ex, PyObject *fn, PyObject *args,
                             PyObject *kwargs, PyObject *cls, bool may_block) {
  if (!PyTuple_Check(args) || !PyType_Check(cls) ||
      !PyType_IsSubtype((PyTypeObject *) cls, &xfpy_cfuture_type)) {
    PyErr_SetString(PyExc_TypeError, "py_executor_submit: args tuple, CFuture class");
    return NULL;
  }
  /* The future is made first: the task holds it, to keep its result. */
  PyObject *fut = xfpy_future_wrap((PyTypeObject *) cls, NULL, NULL);
  PyObject *data = fut ? PyTuple_Pack(4, fn, args, kwargs, fut) : NULL;
  if (!data) {
    Py_XDECREF(fut);
    return NULL;
  }
  /* Only the core refers to the task's data until it runs, so the cycle
   * collector could never free it: it need not look at it. */
  PyObject_GC_UnTrack(data);
  xfpy_task_data *d = xfpy_task_data_new(data);
  Py_DECREF(data);
  if (!d) {
    Py_DECREF(fut);
    return NULL;
  }
  xf_future_t *f = NULL;
  int rc;
  if (may_block) {
    Py_BEGIN_ALLOW_THREADS rc =
        xf_executor_submit(ex, xfpy_task, d, xfpy_task_data_free, &f);
    Py_END_ALLOW_THREADS
  } else {
    rc = xf_executor_submit(ex, xfpy_task, d, xfpy_task_data_free, &f);
  }
  if (rc != XF_OK) {
    xfpy_task_data_free(d);
    Py_DECREF(fut);
    return xfpy_raise_code(rc);
  }
  ((xfpy_future *) fut)->h = f;
  return fut;
}

/* Install the stdlib's exceptions the C types raise. */
PyObject *py_set_exceptions(PyObject *cancelled, PyObject *timeout, PyObject *invalid) {
  Py_XSETREF(xfpy_exc_cancelled, Py_NewRef(cancelled));
  Py_XSETREF(xfpy_exc_timeout, Py_NewRef(timeout));
  Py_XSETREF(xfpy_exc_invalid, Py_NewRef(invalid));
  Py_RETURN_NONE;
}
%}

/* xfutures.asyncio.Future is a Python subclass of CLoopFuture, a CFuture
 * bound to the C loop embedded in an asyncio loop (its _Bridge). CLoopFuture
 * has asyncio's semantics where they differ from concurrent.futures':
 * result() and exception() never wait, callbacks run on the loop in their
 * context, `await` yields the future itself to the Task (the
 * _asyncio_future_blocking protocol), and an operation that queues work on
 * the C loop asks the bridge to run it soon (kick).
 *
 * A CLoopFuture made by Future() is lazy: it has no core future until
 * something needs one (a done callback, which is how a Task waits; cancel;
 * the raw handle _h, which the combinators and core_repr take). Until then
 * its outcome is the object's own (the value held for identity, or the
 * exception in exc), and set_result, result and await touch no core future
 * and need no run of the C loop: nobody can be waiting on it. Making the
 * core future copies that outcome into it. Only the thread holding the GIL
 * changes the lazy state, so a set_result from another thread is ordered
 * with the loop's thread by the GIL. */
%{
typedef struct xfpy_loop_future {
  xfpy_future base;
  PyObject *loop;      /* the asyncio loop */
  PyObject *bridge;    /* its _Bridge */
  PyObject *source_tb; /* _source_traceback (the loop in debug mode), or NULL */
  xf_loop_t *xloop;    /* the bridge's C loop (the bridge keeps it alive) */
  PyObject *exc;       /* the exception set while lazy, or NULL */
  char blocking;       /* _asyncio_future_blocking */
  char log_tb;         /* _log_traceback: an exception set here nobody read yet */
  char finished;       /* set_result or set_exception ran while lazy */
  PyObject *dict;      /* attributes set on the future, as asyncio's allows */
  PyObject *weakrefs;  /* weak references to it, as asyncio's allows */
} xfpy_loop_future;

static PyTypeObject xfpy_loop_future_type;

/* The package's glue, installed by py_set_loop_glue: _bridge(aloop),
 * _callback_error(exc, fn, fut) and asyncio.get_event_loop. */
static PyObject *xfpy_bridge_fn, *xfpy_callback_error_fn, *xfpy_get_event_loop_fn;
static PyObject *xfpy_extract_stack_fn;
/* asyncio.base_events.BaseEventLoop.get_debug, and the repr of a future
 * (asyncio's _future_repr), installed by the package. */
static PyObject *xfpy_base_get_debug, *xfpy_future_repr_fn;
static PyObject *xfpy_aio_cancelled, *xfpy_aio_invalid;

/* The bridge of the last loop seen, and a weak reference to that loop: most
 * programs run one loop, so the lookup is one pointer comparison. */
static PyObject *xfpy_last_bridge, *xfpy_last_aref;
static xf_loop_t *xfpy_last_xloop;

/* A new reference to the bridge of aloop, and its C loop in *xloop. */
static PyObject *xfpy_bridge_of(PyObject *aloop, xf_loop_t **xloop) {
  if (xfpy_last_aref && PyWeakref_GET_OBJECT(xfpy_last_aref) == aloop) {
    *xloop = xfpy_last_xloop;
    return Py_NewRef(xfpy_last_bridge);
  }
  if (!xfpy_bridge_fn) {
    PyErr_SetString(PyExc_RuntimeError, "xfutures.asyncio is not initialised");
    return NULL;
  }
  PyObject *b = PyObject_CallOneArg(xfpy_bridge_fn, aloop);
  PyObject *h = b ? PyObject_GetAttrString(b, "xloop") : NULL;
  PyObject *aref = h ? PyObject_GetAttrString(b, "_aref") : NULL;
  void *p = NULL;
  if (aref && (!SWIG_IsOK(SWIG_ConvertPtr(h, &p, SWIGTYPE_p_xf_loop, 0)) || !p ||
               !PyWeakref_CheckRef(aref))) {
    PyErr_SetString(PyExc_TypeError, "a bridge without a C loop");
    Py_CLEAR(aref);
  }
  Py_XDECREF(h);
  if (!aref) {
    Py_XDECREF(b);
    return NULL;
  }
  Py_XSETREF(xfpy_last_bridge, Py_NewRef(b));
  Py_XSETREF(xfpy_last_aref, aref);
  xfpy_last_xloop = *xloop = (xf_loop_t *) p;
  return b;
}

static xf_loop_t *xfpy_xloop(xfpy_loop_future *self) {
  return self->xloop;
}

/* Names looked up per future, interned once. */
static PyObject *xfpy_str_kicked, *xfpy_str_kick, *xfpy_str_get_debug, *xfpy_str_loop;
static PyObject *xfpy_str_debug;

/* loop.get_debug(), as asyncio's Future asks it for each future. The
 * stdlib's loops answer their _debug attribute, which is read directly,
 * without the Python frame of the call. */
static int xfpy_loop_debug(PyObject *loop) {
  PyObject *debug;
  if (xfpy_base_get_debug &&
      _PyType_Lookup(Py_TYPE(loop), xfpy_str_get_debug) == xfpy_base_get_debug)
    debug = PyObject_GetAttr(loop, xfpy_str_debug);
  else
    debug = PyObject_CallMethodNoArgs(loop, xfpy_str_get_debug);
  int on = debug ? PyObject_IsTrue(debug) : -1;
  Py_XDECREF(debug);
  return on;
}

/* Run the C loop soon: the bridge's kick(), skipped when one is pending. */
static int xfpy_kick(xfpy_loop_future *self) {
  PyObject *k = PyObject_GetAttr(self->bridge, xfpy_str_kicked);
  int kicked = k ? PyObject_IsTrue(k) : -1;
  Py_XDECREF(k);
  if (kicked)
    return kicked < 0 ? -1 : 0;
  PyObject *r = PyObject_CallMethodNoArgs(self->bridge, xfpy_str_kick);
  Py_XDECREF(r);
  return r ? 0 : -1;
}

static int xfpy_loop_future_bind(xfpy_loop_future *self, PyObject *loop) {
  xf_loop_t *xloop = NULL;
  PyObject *b = xfpy_bridge_of(loop, &xloop);
  if (!b)
    return -1;
  Py_XSETREF(self->loop, Py_NewRef(loop));
  Py_XSETREF(self->bridge, b);
  self->xloop = xloop;
  /* As asyncio: in debug mode a future remembers where it was made. */
  int on = xfpy_loop_debug(loop);
  if (on > 0 && xfpy_extract_stack_fn) {
    PyObject *frame = (PyObject *) PyEval_GetFrame();
    Py_XSETREF(self->source_tb,
               PyObject_CallOneArg(xfpy_extract_stack_fn, frame ? frame : Py_None));
    if (!self->source_tb)
      return -1;
  }
  return on < 0 ? -1 : 0;
}

static int xfpy_loop_future_init(xfpy_loop_future *self, PyObject *args,
                                 PyObject *kwargs) {
  PyObject *loop = kwargs ? PyDict_GetItemWithError(kwargs, xfpy_str_loop) : NULL;
  if (PyTuple_GET_SIZE(args) || (kwargs && PyDict_GET_SIZE(kwargs) != (loop ? 1 : 0))) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_TypeError, "Future() takes only a keyword argument loop");
    return -1;
  }
  if (!loop)
    loop = Py_None;
  PyObject *own = NULL;
  if (loop == Py_None) {
    loop = own = PyObject_CallNoArgs(xfpy_get_event_loop_fn);
    if (!loop)
      return -1;
  }
  int rc = xfpy_loop_future_bind(self, loop);
  Py_XDECREF(own);
  if (rc < 0)
    return -1;
  /* The core future is made when something needs it (see above). */
  xf_future_unref(self->base.h);
  self->base.h = NULL;
  self->base.lazy = 1;
  Py_CLEAR(self->base.value);
  Py_CLEAR(self->base.cell);
  Py_CLEAR(self->exc);
  self->blocking = 0;
  self->finished = 0;
  return 0;
}

/* The core future of a lazy loop future, made with the outcome the future
 * holds so far; NULL with an exception set. */
static xf_future_t *xfpy_loop_materialize(xfpy_future *base) {
  xfpy_loop_future *self = (xfpy_loop_future *) base;
  xf_future_t *f = NULL;
  int rc = xf_loop_create_future(self->xloop, &f);
  if (rc == XF_OK && self->finished && self->exc) {
    rc = xfpy_set_exception(f, self->exc);
  } else if (rc == XF_OK && self->finished) {
    xf_value_t *v = NULL;
    rc = xfpy_result_value(base->value, &v);
    rc = rc == XF_OK ? xf_future_set_result(f, v) : rc;
  }
  if (rc != XF_OK) {
    xf_future_unref(f);
    return PyErr_Occurred() ? NULL : (xfpy_raise_code(rc), NULL);
  }
  /* An exception nobody retrieved is still reported by this object's
   * finalizer, which reads it from the core as before. */
  base->h = f;
  base->lazy = 0;
  Py_CLEAR(self->exc);
  return f;
}

static int xfpy_loop_future_traverse(xfpy_loop_future *self, visitproc visit, void *arg) {
  Py_VISIT(self->source_tb);
  Py_VISIT(self->exc);
  Py_VISIT(self->dict);
  Py_VISIT(self->loop);
  Py_VISIT(self->bridge);
  return xfpy_future_traverse(&self->base, visit, arg);
}

static int xfpy_loop_future_clear(xfpy_loop_future *self) {
  Py_CLEAR(self->source_tb);
  Py_CLEAR(self->exc);
  Py_CLEAR(self->dict);
  Py_CLEAR(self->loop);
  Py_CLEAR(self->bridge);
  return xfpy_future_clear(&self->base);
}

/* An exception set on this future that nobody retrieved goes to the loop's
 * exception handler, with the future in the context, as asyncio's __del__
 * does; reading it marks it retrieved in the core, which then stays silent. */
static void xfpy_loop_future_finalize(xfpy_loop_future *self) {
  if (!self->log_tb || !(self->base.h || self->exc) || !self->loop)
    return;
  self->log_tb = 0;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyObject *exc = NULL;
  PyObject *ctx = NULL;
  if (self->exc)
    exc = Py_NewRef(self->exc);
  else if (xfpy_read(self->base.h, 0, 1, NULL, &exc) != 0)
    Py_CLEAR(exc);
  if (exc && exc != Py_None) {
    PyObject *msg = PyUnicode_FromFormat("%s exception was never retrieved",
                                         _PyType_Name(Py_TYPE(self)));
    ctx = msg ? Py_BuildValue("{sNsOsO}", "message", msg, "exception", exc, "future",
                              (PyObject *) self)
              : NULL;
    if (ctx && self->source_tb &&
        PyDict_SetItemString(ctx, "source_traceback", self->source_tb) < 0)
      Py_CLEAR(ctx);
    PyObject *r =
        ctx ? PyObject_CallMethod(self->loop, "call_exception_handler", "O", ctx) : NULL;
    if (!r)
      PyErr_WriteUnraisable((PyObject *) self);
    Py_XDECREF(r);
  }
  PyErr_Clear();
  Py_XDECREF(ctx);
  Py_XDECREF(exc);
  PyErr_Restore(type, value, tb);
}

static void xfpy_loop_future_dealloc(xfpy_loop_future *self) {
  if (PyObject_CallFinalizerFromDealloc((PyObject *) self) < 0)
    return; /* resurrected */
  PyObject_GC_UnTrack(self);
  if (self->weakrefs)
    PyObject_ClearWeakRefs((PyObject *) self);
  xfpy_loop_future_clear(self);
  xf_future_unref(self->base.h);
  self->base.h = NULL;
  Py_TYPE(self)->tp_free((PyObject *) self);
}

/* The asyncio CancelledError of a cancelled future, with its message. */
static PyObject *xfpy_loop_cancelled_error(xf_future_t *f) {
  PyObject *msg = NULL;
  if (xfpy_read(f, 0, 1, NULL, &msg) != XF_ECANCELLED) {
    Py_XDECREF(msg);
    return PyErr_Occurred() ? NULL : xfpy_raise_code(XF_ESTATE);
  }
  return xfpy_raise(xfpy_aio_cancelled, msg);
}

/* Whether the future is still lazy: no core future yet, so it is pending or
 * was finished by set_result or set_exception, and no callback is waiting. */
static int xfpy_loop_lazy(xfpy_loop_future *self) {
  return !self->base.h && self->base.lazy;
}

static PyObject *xfpy_loop_future_done(xfpy_loop_future *self, PyObject *unused) {
  if (xfpy_loop_lazy(self))
    return PyBool_FromLong(self->finished);
  return xfpy_future_done(&self->base, unused);
}

static PyObject *xfpy_loop_future_cancelled(xfpy_loop_future *self, PyObject *unused) {
  if (xfpy_loop_lazy(self))
    Py_RETURN_FALSE;
  return xfpy_future_cancelled(&self->base, unused);
}

static PyObject *xfpy_loop_future_result(xfpy_loop_future *self, PyObject *unused) {
  (void) unused;
  if (xfpy_loop_lazy(self)) {
    if (!self->finished)
      return xfpy_raise(xfpy_aio_invalid, PyUnicode_FromString("Result is not set."));
    self->log_tb = 0;
    if (self->exc) {
      PyErr_SetObject((PyObject *) Py_TYPE(self->exc), self->exc);
      return NULL;
    }
    return Py_NewRef(self->base.value);
  }
  xf_future_t *f = xfpy_handle(&self->base);
  if (!f)
    return NULL;
  int state = xf_future_state(f);
  if (state == XF_CANCELLED)
    return xfpy_loop_cancelled_error(f);
  if (state != XF_FINISHED)
    return xfpy_raise(xfpy_aio_invalid, PyUnicode_FromString("Result is not set."));
  self->log_tb = 0;
  PyObject *o = NULL;
  int rc = xfpy_read(f, 0, 0, (PyObject *) self, &o);
  if (rc == 0)
    return o;
  if (rc == XF_EFAILED) {
    PyErr_SetObject((PyObject *) Py_TYPE(o), o);
    Py_DECREF(o);
  }
  return NULL;
}

static PyObject *xfpy_loop_future_exception(xfpy_loop_future *self, PyObject *unused) {
  (void) unused;
  if (xfpy_loop_lazy(self)) {
    if (!self->finished)
      return xfpy_raise(xfpy_aio_invalid, PyUnicode_FromString("Exception is not set."));
    self->log_tb = 0;
    return Py_NewRef(self->exc ? self->exc : Py_None);
  }
  xf_future_t *f = xfpy_handle(&self->base);
  if (!f)
    return NULL;
  int state = xf_future_state(f);
  if (state == XF_CANCELLED)
    return xfpy_loop_cancelled_error(f);
  if (state != XF_FINISHED)
    return xfpy_raise(xfpy_aio_invalid, PyUnicode_FromString("Exception is not set."));
  self->log_tb = 0;
  PyObject *o = NULL;
  return xfpy_read(f, 0, 1, NULL, &o) == 0 ? o : NULL;
}

static PyObject *xfpy_loop_invalid_state(xfpy_loop_future *self, xf_future_t *f) {
  return xfpy_raise(xfpy_aio_invalid, PyUnicode_FromFormat("%s: %R", xfpy_state_name(f),
                                                           (PyObject *) self));
}

static PyObject *xfpy_loop_future_set_result(xfpy_loop_future *self, PyObject *value) {
  if (xfpy_loop_lazy(self)) {
    /* Nobody waits on the core yet: the object is the whole outcome. */
    if (self->finished)
      return xfpy_loop_invalid_state(self, NULL);
    Py_XSETREF(self->base.value, Py_NewRef(value));
    self->finished = 1;
    Py_RETURN_NONE;
  }
  xf_future_t *f = xfpy_handle(&self->base);
  if (!f)
    return NULL;
  int rc = xfpy_set_result(f, value, (PyObject *) self);
  if (rc == XF_ESTATE)
    return xfpy_loop_invalid_state(self, f);
  if (rc != XF_OK)
    return PyErr_Occurred() ? NULL : xfpy_raise_code(rc);
  if (xfpy_kick(self) < 0)
    return NULL;
  Py_RETURN_NONE;
}

static PyObject *xfpy_loop_future_set_exception(xfpy_loop_future *self, PyObject *exc) {
  int lazy = xfpy_loop_lazy(self);
  xf_future_t *f = lazy ? NULL : xfpy_handle(&self->base);
  if (!lazy && !f)
    return NULL;
  if (lazy ? self->finished : xf_future_done(f))
    return xfpy_loop_invalid_state(self, f);
  PyObject *e = xfpy_exception_arg((PyObject *) self, f, exc);
  if (!e)
    return NULL;
  if (Py_IS_TYPE(e, (PyTypeObject *) PyExc_StopIteration)) {
    Py_DECREF(e);
    PyErr_SetString(PyExc_TypeError, "StopIteration interacts badly with generators "
                                     "and cannot be raised into a Future");
    return NULL;
  }
  if (lazy) {
    Py_XSETREF(self->exc, e);
    self->finished = 1;
    self->log_tb = 1;
    Py_RETURN_NONE;
  }
  int rc = xfpy_set_exception(f, e);
  Py_DECREF(e);
  if (rc == XF_ESTATE)
    return xfpy_loop_invalid_state(self, f);
  if (rc != XF_OK)
    return PyErr_Occurred() ? NULL : xfpy_raise_code(rc);
  self->log_tb = 1;
  if (xfpy_kick(self) < 0)
    return NULL;
  Py_RETURN_NONE;
}

static PyObject *xfpy_loop_future_add_done_callback(xfpy_loop_future *self,
                                                    PyObject *args, PyObject *kwargs) {
  static char *kwlist[] = {"fn", "context", NULL};
  PyObject *fn = NULL, *ctx = Py_None;
  xf_future_t *f = xfpy_handle(&self->base);
  if (!f || !PyArg_ParseTupleAndKeywords(args, kwargs, "O|$O:add_done_callback", kwlist,
                                         &fn, &ctx))
    return NULL;
  PyObject *own = ctx == Py_None ? PyContext_CopyCurrent() : Py_NewRef(ctx);
  PyObject *data =
      own ? PyTuple_Pack(4, fn, (PyObject *) self, own, xfpy_callback_error_fn) : NULL;
  Py_XDECREF(own);
  if (!data)
    return NULL;
  if (!self->base.cbs && !(self->base.cbs = PyList_New(0))) {
    Py_DECREF(data);
    return NULL;
  }
  int rc = xfpy_add_done(f, data, xfpy_xloop(self));
  if (rc == XF_OK)
    rc = PyList_Append(self->base.cbs, data) < 0 ? XF_ENOMEM : XF_OK;
  Py_DECREF(data);
  if (rc != XF_OK)
    return PyErr_Occurred() ? NULL : xfpy_raise_code(rc);
  if (xf_future_done(f) && xfpy_kick(self) < 0)
    return NULL;
  Py_RETURN_NONE;
}

static PyObject *xfpy_loop_future_get_loop(xfpy_loop_future *self, PyObject *unused) {
  (void) unused;
  return Py_NewRef(self->loop ? self->loop : Py_None);
}

/* _wrap(handle, loop, cell=None): a future of this class over a raw handle
 * of loop's C loop. */
static PyObject *xfpy_loop_future_wrap_method(PyObject *cls, PyObject *args) {
  PyObject *handle = NULL, *loop = NULL, *cell = Py_None;
  void *p = NULL;
  if (!PyArg_ParseTuple(args, "OO|O:_wrap", &handle, &loop, &cell))
    return NULL;
  if (!SWIG_IsOK(SWIG_ConvertPtr(handle, &p, SWIGTYPE_p_xf_future, 0)) || !p) {
    PyErr_SetString(PyExc_TypeError, "_wrap: expected a raw future handle");
    return NULL;
  }
  PyObject *self =
      xfpy_future_wrap((PyTypeObject *) cls, xf_future_ref((xf_future_t *) p),
                       cell == Py_None ? NULL : cell);
  if (self && xfpy_loop_future_bind((xfpy_loop_future *) self, loop) < 0)
    Py_CLEAR(self);
  return self;
}

static PyObject *xfpy_loop_future_get_blocking(xfpy_loop_future *self, void *closure) {
  (void) closure;
  return PyBool_FromLong(self->blocking);
}

static int xfpy_loop_future_set_blocking(xfpy_loop_future *self, PyObject *v,
                                         void *closure) {
  (void) closure;
  int b = v ? PyObject_IsTrue(v) : 0;
  if (b < 0)
    return -1;
  self->blocking = (char) b;
  return 0;
}

static PyObject *xfpy_loop_future_get_log_tb(xfpy_loop_future *self, void *closure) {
  (void) closure;
  return PyBool_FromLong(self->log_tb);
}

static int xfpy_loop_future_set_log_tb(xfpy_loop_future *self, PyObject *v,
                                       void *closure) {
  (void) closure;
  int b = v ? PyObject_IsTrue(v) : 0;
  if (b < 0)
    return -1;
  if (b) {
    PyErr_SetString(PyExc_ValueError, "_log_traceback can only be set to False");
    return -1;
  }
  self->log_tb = 0;
  return 0;
}

static PyObject *xfpy_loop_future_get_source_tb(xfpy_loop_future *self, void *closure) {
  (void) closure;
  return Py_NewRef(self->source_tb ? self->source_tb : Py_None);
}

/* `await fut`: the future is its own iterator (no object is made per
 * await). It yields itself while it is pending (a Task then waits for it,
 * seeing _asyncio_future_blocking set), and stops with its result once it
 * is done. Being resumed while still pending means no Task awaited it. */
static PyObject *xfpy_loop_future_await(xfpy_loop_future *self) {
  return Py_NewRef((PyObject *) self);
}

static PyObject *xfpy_loop_future_next(xfpy_loop_future *fut) {
  int done = fut->finished;
  if (!xfpy_loop_lazy(fut)) {
    xf_future_t *f = xfpy_handle(&fut->base);
    if (!f)
      return NULL;
    done = xf_future_done(f);
  }
  if (!done) {
    if (fut->blocking) {
      PyErr_SetString(PyExc_RuntimeError, "await wasn't used with future");
      return NULL;
    }
    fut->blocking = 1;
    return Py_NewRef((PyObject *) fut);
  }
  fut->blocking = 0;
  PyObject *r = xfpy_loop_future_result(fut, NULL);
  if (!r)
    return NULL;
  _PyGen_SetStopIterationValue(r);
  Py_DECREF(r);
  return NULL;
}

static PyMethodDef xfpy_loop_future_methods[] = {
    {"done", (PyCFunction) xfpy_loop_future_done, METH_NOARGS,
     "True if finished or cancelled."},
    {"cancelled", (PyCFunction) xfpy_loop_future_cancelled, METH_NOARGS,
     "True if cancelled."},
    {"result", (PyCFunction) xfpy_loop_future_result, METH_NOARGS,
     "The value (asyncio)."},
    {"exception", (PyCFunction) xfpy_loop_future_exception, METH_NOARGS,
     "The exception or None (asyncio)."},
    {"set_result", (PyCFunction) xfpy_loop_future_set_result, METH_O,
     "Finish with a value."},
    {"set_exception", (PyCFunction) xfpy_loop_future_set_exception, METH_O,
     "Finish with an exception."},
    {"add_done_callback",
     (PyCFunction) (void (*)(void)) xfpy_loop_future_add_done_callback,
     METH_VARARGS | METH_KEYWORDS, "Run fn(future) on the loop once done, in context."},
    {"get_loop", (PyCFunction) xfpy_loop_future_get_loop, METH_NOARGS,
     "The asyncio loop."},
    {"_wrap", (PyCFunction) xfpy_loop_future_wrap_method, METH_VARARGS | METH_CLASS,
     NULL},
    {NULL, NULL, 0, NULL}};

static PyMemberDef xfpy_loop_future_members[] = {
    {"_loop", T_OBJECT, offsetof(xfpy_loop_future, loop), READONLY, NULL},
    {"_bridge", T_OBJECT, offsetof(xfpy_loop_future, bridge), READONLY, NULL},
    {NULL, 0, 0, 0, NULL}};

static PyGetSetDef xfpy_loop_future_getset[] = {
    {"_asyncio_future_blocking", (getter) xfpy_loop_future_get_blocking,
     (setter) xfpy_loop_future_set_blocking, NULL, NULL},
    {"_log_traceback", (getter) xfpy_loop_future_get_log_tb,
     (setter) xfpy_loop_future_set_log_tb, NULL, NULL},
    {"_source_traceback", (getter) xfpy_loop_future_get_source_tb, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

/* asyncio's repr of a future, from the package (see py_loop_future_define). */
static PyObject *xfpy_loop_future_repr(PyObject *self) {
  if (!xfpy_future_repr_fn)
    return PyUnicode_FromFormat("<%s object at %p>", Py_TYPE(self)->tp_name, self);
  return PyObject_CallOneArg(xfpy_future_repr_fn, self);
}

static PyAsyncMethods xfpy_loop_future_async = {.am_await =
                                                    (unaryfunc) xfpy_loop_future_await};

static PyTypeObject xfpy_loop_future_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "xfutures.asyncio.Future",
    .tp_basicsize = sizeof(xfpy_loop_future),
    .tp_dealloc = (destructor) xfpy_loop_future_dealloc,
    .tp_repr = (reprfunc) xfpy_loop_future_repr,
    .tp_dictoffset = offsetof(xfpy_loop_future, dict),
    .tp_weaklistoffset = offsetof(xfpy_loop_future, weakrefs),
    .tp_as_async = &xfpy_loop_future_async,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "asyncio.Future over a future of the C loop embedded in an asyncio "
              "loop.\n\n"
              "It behaves as asyncio.Future, and may be finished from any thread.",
    .tp_traverse = (traverseproc) xfpy_loop_future_traverse,
    .tp_clear = (inquiry) xfpy_loop_future_clear,
    .tp_iter = (getiterfunc) xfpy_loop_future_await,
    .tp_iternext = (iternextfunc) xfpy_loop_future_next,
    .tp_methods = xfpy_loop_future_methods,
    .tp_members = xfpy_loop_future_members,
    .tp_getset = xfpy_loop_future_getset,
    .tp_base = &xfpy_cfuture_type,
    .tp_init = (initproc) xfpy_loop_future_init,
    .tp_finalize = (destructor) xfpy_loop_future_finalize,
};
%}

%init %{
  xfpy_str_kicked = PyUnicode_InternFromString("_kicked");
  xfpy_str_kick = PyUnicode_InternFromString("kick");
  xfpy_str_get_debug = PyUnicode_InternFromString("get_debug");
  xfpy_str_debug = PyUnicode_InternFromString("_debug");
  xfpy_str_loop = PyUnicode_InternFromString("loop");
  if (!xfpy_str_kicked || !xfpy_str_kick || !xfpy_str_get_debug || !xfpy_str_loop ||
      !xfpy_str_debug ||
      PyType_Ready(&xfpy_loop_future_type) < 0 ||
      PyModule_AddObjectRef(m, "CLoopFuture", (PyObject *) &xfpy_loop_future_type) < 0)
    return NULL;
%}

%inline %{
/* Install xfutures.asyncio's glue: _bridge(aloop), the handler of failed
 * callbacks, asyncio.get_event_loop, and asyncio's CancelledError and
 * InvalidStateError. */
PyObject *py_set_loop_glue(PyObject *bridge, PyObject *callback_error,
                           PyObject *get_event_loop, PyObject *extract_stack,
                           PyObject *cancelled, PyObject *invalid,
                           PyObject *base_get_debug) {
  Py_XSETREF(xfpy_base_get_debug, Py_NewRef(base_get_debug));
  Py_XSETREF(xfpy_extract_stack_fn, Py_NewRef(extract_stack));
  Py_XSETREF(xfpy_bridge_fn, Py_NewRef(bridge));
  Py_XSETREF(xfpy_callback_error_fn, Py_NewRef(callback_error));
  Py_XSETREF(xfpy_get_event_loop_fn, Py_NewRef(get_event_loop));
  Py_XSETREF(xfpy_aio_cancelled, Py_NewRef(cancelled));
  Py_XSETREF(xfpy_aio_invalid, Py_NewRef(invalid));
  Py_RETURN_NONE;
}

/* Define a member of xfutures.asyncio.Future written in Python (what
 * asyncio's helpers read: _state, _callbacks, cancel, ...): the class is
 * the C type itself, so that making a future makes no instance of a Python
 * class. __repr__ becomes its repr. */
PyObject *py_loop_future_define(PyObject *name, PyObject *value) {
  PyTypeObject *t = &xfpy_loop_future_type;
  if (!PyUnicode_Check(name) || PyDict_SetItem(t->tp_dict, name, value) < 0) {
    if (!PyErr_Occurred())
      PyErr_SetString(PyExc_TypeError, "py_loop_future_define: a str name");
    return NULL;
  }
  if (_PyUnicode_EqualToASCIIString(name, "__repr__"))
    Py_XSETREF(xfpy_future_repr_fn, Py_NewRef(value));
  PyType_Modified(t);
  Py_RETURN_NONE;
}
%}
/* xf:end */

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
 * - the pool's constructor and stats, which no typemap expresses (its
 *   submit_payload, terminate and kill are declared in api.i);
 * - opaque "python" payloads coming back in a future's value or in an
 *   error's payload, handed to the package's loader (pickle.loads), so that
 *   a pickled result or exception comes back to Python as itself.
 */

%{
/* xf:lang-specific: Python's values: the wire codec of the Python worker */
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

/* xf:end */
%}

int xf_error_code_of_type(const char *type);
%constant int WORKER_DEATH_BREAK = XF_WORKER_DEATH_BREAK;
%constant int WORKER_DEATH_REPLACE = XF_WORKER_DEATH_REPLACE;

%inline %{
/* xf:lang-specific: Python's values: the wire codec of the Python worker */
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
/* xf:end */

%}

%{
/* A sequence of str as a NULL-terminated argv of *n strings, valid while
 * *keep (a new reference the caller drops, with free() of the array)
 * lives. NULL with an exception set. */
static const char **xfpy_argv(PyObject *argv, PyObject **keep, Py_ssize_t *n) {
  PyObject *fast = PySequence_Fast(argv, "argv must be a sequence of str");
  if (!fast)
    return NULL;
  *n = PySequence_Fast_GET_SIZE(fast);
  const char **av = (const char **) calloc((size_t) *n + 1, sizeof(*av));
  if (!av) {
    Py_DECREF(fast);
    PyErr_NoMemory();
    return NULL;
  }
  for (Py_ssize_t i = 0; i < *n; i++) {
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
  *keep = fast;
  return av;
}

/* The "python" initializer of a pool's workers (pickled bytes, or None:
 * *out NULL) as an opaque payload. XF_OK, or a code with an exception set. */
static int xfpy_init_payload(PyObject *init, xf_value_t **out) {
  *out = NULL;
  if (init == Py_None)
    return XF_OK;
  if (!PyBytes_Check(init)) {
    PyErr_SetString(PyExc_TypeError, "init must be bytes or None");
    return XF_ETYPE;
  }
  int rc = xf_value_new_opaque("python", PyBytes_AS_STRING(init),
                               (size_t) PyBytes_GET_SIZE(init), out);
  if (rc != XF_OK)
    xfpy_raise_code(rc);
  return rc;
}
%}

%inline %{
/* A process pool running argv (a list of str, argv[0] the program), whose
 * workers first run the "python" initializer init (pickled bytes, or
 * None). max_tasks_per_child 0: unlimited. on_worker_death: an
 * XF_WORKER_DEATH_* policy. */
PyObject *py_process_pool_new(unsigned max_workers, PyObject *argv,
                              unsigned max_tasks_per_child, PyObject *init,
                              int on_worker_death) {
  PyObject *keep = NULL;
  Py_ssize_t n = 0;
  xf_value_t *payload = NULL;
  xf_executor_t *ex = NULL;
  const char **av = xfpy_argv(argv, &keep, &n);
  if (!av)
    return NULL;
  int rc = xfpy_init_payload(init, &payload);
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
  Py_DECREF(keep);
  return xfpy_new_executor(rc, ex);
}

/* (workers, max_workers, spawned, deaths, retired, timeouts, broken) */
PyObject *py_process_pool_stats(xf_executor_t *ex) {
  xf_process_pool_stats_t s = XF_PROCESS_POOL_STATS_INIT;
  int rc = xf_process_pool_stats(ex, &s);
  if (rc != XF_OK)
    return xfpy_raise_code(rc);
  /* The workers one by one, as (pid, tasks done, tasks running): room for
   * as many as max_workers, which bounds them. */
  size_t cap = s.max_workers, n = 0;
  xf_process_worker_t *w = PyMem_Calloc(cap ? cap : 1, sizeof *w);
  if (!w)
    return PyErr_NoMemory();
  if ((rc = xf_process_pool_workers(ex, w, cap, &n)) != XF_OK) {
    PyMem_Free(w);
    return xfpy_raise_code(rc);
  }
  PyObject *workers = PyList_New(0);
  for (size_t i = 0; workers && i < n && i < cap; i++) {
    PyObject *t = Py_BuildValue("(LKI)", (long long) w[i].pid,
                                (unsigned long long) w[i].tasks_done, (unsigned) w[i].running);
    if (!t || PyList_Append(workers, t) < 0)
      Py_CLEAR(workers);
    Py_XDECREF(t);
  }
  PyMem_Free(w);
  if (!workers)
    return NULL;
  return Py_BuildValue("(IIKKKKON)", (unsigned) s.workers, (unsigned) s.max_workers,
                       (unsigned long long) s.spawned, (unsigned long long) s.deaths,
                       (unsigned long long) s.retired, (unsigned long long) s.timeouts,
                       s.broken ? Py_True : Py_False, workers);
}
%}
/* ==== End of the process pool ============================================= */

/* ==== The MPI executor (xfutures/mpi.py) ====================================
 *
 * MPIPoolExecutor runs on the core's MPI executor (xf/mpi.h), whose tasks
 * are the process pool's: it submits with process_pool_submit_payload and
 * reads stats with executor_stats. The serving side of a rank (the Python
 * worker loop of xfutures.worker runs on the socket the core relays) is
 * declared in api.i. This block adds only the constructors, whose options
 * no typemap expresses, with the GIL released while they wait on MPI.
 */
%{
#include <xf/mpi.h>

/* The options of an executor whose ranks first run the "python"
 * initializer init (pickled bytes, or None), into *payload. XF_OK, or a
 * code with an exception set. */
static int xfpy_mpi_options(xf_mpi_options_t *o, unsigned max_in_flight, PyObject *init,
                            xf_value_t **payload) {
  o->max_in_flight = max_in_flight;
  int rc = xfpy_init_payload(init, payload);
  if (*payload) {
    o->init_language = "python";
    o->init_payload = *payload;
  }
  return rc;
}
%}

%inline %{
/* SPMD over MPI_COMM_WORLD, on the root rank (the other ranks serve with
 * mpi_serve_open): collective with their mpi_serve_open. */
PyObject *py_mpi_executor_new(int root, unsigned max_in_flight, PyObject *init) {
  xf_mpi_options_t o = XF_MPI_OPTIONS_INIT;
  xf_value_t *payload = NULL;
  xf_executor_t *ex = NULL;
  if (xfpy_mpi_options(&o, max_in_flight, init, &payload) != XF_OK)
    return NULL;
  int rc;
  Py_BEGIN_ALLOW_THREADS rc = xf_mpi_world_executor_new(root, &o, &ex);
  Py_END_ALLOW_THREADS xf_value_unref(payload);
  if (rc == XF_OK && !ex) {
    PyErr_SetString(PyExc_RuntimeError, "this rank is not the root: it served C tasks");
    return NULL;
  }
  return xfpy_new_executor(rc, ex);
}

/* Spawn mode: max_workers processes running argv (a list of str). */
PyObject *py_mpi_pool_new(unsigned max_workers, PyObject *argv, unsigned max_in_flight,
                          PyObject *init) {
  PyObject *keep = NULL;
  Py_ssize_t n = 0;
  xf_mpi_options_t o = XF_MPI_OPTIONS_INIT;
  xf_value_t *payload = NULL;
  xf_executor_t *ex = NULL;
  const char **av = xfpy_argv(argv, &keep, &n);
  if (!av)
    return NULL;
  int rc = xfpy_mpi_options(&o, max_in_flight, init, &payload);
  if (rc == XF_OK) {
    o.max_workers = max_workers;
    o.worker_argv = n > 0 ? av : NULL;
    Py_BEGIN_ALLOW_THREADS rc = xf_mpi_pool_new(&o, &ex);
    Py_END_ALLOW_THREADS
  }
  xf_value_unref(payload);
  free(av);
  Py_DECREF(keep);
  return xfpy_new_executor(rc, ex);
}
%}
/* ==== End of the MPI executor ============================================== */

/* The three-runtime host of the scenario matrix: one process, C + Python +
 * Lua, sharing futures by address.
 *
 *   xf_matrix_host        (run by tests/matrix/run.py as host_three_runtimes)
 *
 * The process embeds CPython (libpython3.11) and Lua 5.4 (liblua5.4); both
 * load the project's bindings from the build tree, which share this
 * process's single copy of libxfutures.
 *
 *  - The main thread is the Python thread: it initialises Python, keeps the
 *    GIL while it runs an asyncio loop, and the loop releases it while it
 *    blocks.
 *  - C makes two free-standing futures: `f` (the one under test) and `ready`
 *    (Python says that its callback is registered), and registers an inline
 *    C done callback on `f`, which records the thread that finishes it.
 *  - A second thread owns a Lua state (luaL_newstate + require "xfutures"):
 *    it adopts `f` from a light userdata (xf.future_from_handle), makes an
 *    xf.lua_pool of one worker and submits a job with both handles as
 *    integers. The job, in the worker's own Lua state on the worker's
 *    thread, waits for `ready` and finishes `f`.
 *  - Python adopts both futures (xfutures.Future.from_handle) inside the
 *    asyncio loop, adds a done callback to `f` (so it is delivered on the
 *    loop's thread through xfutures.asyncio's embedded C loop), then finishes
 *    `ready` with True.
 *
 * Then values cross (value_phase): a Lua state on the main thread sets a
 * table on one C future, Python sets a dict on another; Lua reads Python's,
 * Python reads Lua's, each checks what it got field by field, each checks
 * that its own value comes back as the same object, and C reads both with
 * xf_value_repr against the text the value policy (README) says.
 *
 * Every thread identity is recorded on the C side (gettid and pthread_self):
 * the Python thread and the callback's thread through a small built-in
 * module `_xfhost`, the finishing thread by the C done callback, the Lua
 * thread by the thread itself. The host checks that the callback ran on the
 * Python thread, and that the finishing thread is a Lua pool worker: neither
 * the Python thread nor the Lua state's thread. It prints one line per check
 * and then one JSON line in the matrix result format
 * ({"status": "ran", "obs": [...]}, tests/matrix/README.md); it exits 1 when
 * a check fails and 2 when a runtime cannot be set up.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <lauxlib.h>
#include <limits.h>
#include <stdarg.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xf/xf.h>

/* ---- Thread identities -------------------------------------------------- */

typedef struct seen {
  bool set;
  long tid;
  pthread_t self;
} seen_t;

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static seen_t seen_main, seen_python, seen_callback, seen_finisher, seen_lua;

static long current_tid(void) {
  return (long) syscall(SYS_gettid);
}

static void record(seen_t *s) {
  pthread_mutex_lock(&seen_lock);
  s->tid = current_tid();
  s->self = pthread_self();
  s->set = true;
  pthread_mutex_unlock(&seen_lock);
}

static seen_t get_seen(const seen_t *s) {
  pthread_mutex_lock(&seen_lock);
  seen_t copy = *s;
  pthread_mutex_unlock(&seen_lock);
  return copy;
}

static bool same_thread(seen_t a, seen_t b) {
  return a.set && b.set && a.tid == b.tid && pthread_equal(a.self, b.self);
}

/* The C done callback on f: registered without a loop on a future without
 * one, it runs inline in the thread that finishes f. */
static void on_finished(xf_future_t *f, void *data) {
  (void) f;
  record((seen_t *) data);
}

/* ---- The built-in Python module _xfhost ---------------------------------- */

/* _xfhost.record(name): record the calling thread under name ("python" or
 * "callback"); returns its thread id. */
static PyObject *xfhost_record(PyObject *self, PyObject *arg) {
  (void) self;
  const char *name = PyUnicode_AsUTF8(arg);
  if (!name)
    return NULL;
  seen_t *slot = strcmp(name, "python") == 0     ? &seen_python
                 : strcmp(name, "callback") == 0 ? &seen_callback
                                                 : NULL;
  if (!slot) {
    PyErr_Format(PyExc_ValueError, "unknown thread role %R", arg);
    return NULL;
  }
  record(slot);
  return PyLong_FromLong(current_tid());
}

static PyMethodDef xfhost_methods[] = {
    {"record", xfhost_record, METH_O, "Record the calling thread under a role."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef xfhost_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_xfhost",
    .m_doc = "The matrix host's thread recorder.",
    .m_size = -1,
    .m_methods = xfhost_methods,
};

static PyObject *xfhost_init(void) {
  return PyModule_Create(&xfhost_module);
}

/* The Python side, run on the main thread. F_HANDLE and READY_HANDLE are the
 * futures' addresses; RESULT gets (the value f held, the thread id the
 * callback saw). */
static const char PYTHON_CODE[] =
    "import asyncio, threading\n"
    "import xfutures, _xfhost\n"
    "\n"
    "async def main():\n"
    "    _xfhost.record('python')\n"
    "    f = xfutures.Future.from_handle(F_HANDLE)\n"
    "    ready = xfutures.Future.from_handle(READY_HANDLE)\n"
    "    assert f.handle() == F_HANDLE and not f.done()\n"
    "    seen = asyncio.get_running_loop().create_future()\n"
    "    def observe(fut):\n"
    "        _xfhost.record('callback')\n"
    "        seen.set_result((fut.result(), threading.get_native_id()))\n"
    "    f.add_done_callback(observe)\n"
    "    ready.set_result(True)\n"
    "    return await asyncio.wait_for(seen, 20)\n"
    "\n"
    "RESULT = asyncio.run(main())\n";

/* ---- The Lua side --------------------------------------------------------- */

/* Run by the Lua state's thread with (f as a light userdata, ready's address
 * as an integer); returns the worker's thread id, the state's thread id and
 * f's value as the state sees it. */
static const char LUA_CODE[] =
    "local fptr, ready_h = ...\n"
    "local xf = require 'xfutures'\n"
    "local f = xf.future_from_handle(fptr)\n"
    "local pool <close> = xf.lua_pool { workers = 1 }\n"
    "local job = pool:submit(function(fh, rh)\n"
    "  local x = require 'xfutures'\n"
    "  local said = x.future_from_handle(rh):result(15)\n"
    "  if said ~= true then\n"
    "    error('ready holds ' .. tostring(said) .. ', not true')\n"
    "  end\n"
    "  x.future_from_handle(fh):set_result { 'set by Lua', x.thread_id() }\n"
    "  return x.thread_id()\n"
    "end, f:handle(), ready_h)\n"
    "local worker = job:result(20)\n"
    "return worker, xf.thread_id(), f:result(5)[1]\n";

typedef struct lua_side {
  xf_future_t *f, *ready;
  long worker_tid, state_tid;
  char value[64];
  char error[512];
  bool ok;
} lua_side_t;

static int traceback(lua_State *L) {
  luaL_traceback(L, L, luaL_tolstring(L, 1, NULL), 1);
  return 1;
}

static void *lua_thread(void *arg) {
  lua_side_t *ls = arg;
  record(&seen_lua);
  lua_State *L = luaL_newstate();
  if (!L) {
    snprintf(ls->error, sizeof ls->error, "luaL_newstate failed");
    return NULL;
  }
  luaL_openlibs(L);
  lua_pushcfunction(L, traceback);
  if (luaL_loadbufferx(L, LUA_CODE, sizeof LUA_CODE - 1, "=host", "t") != LUA_OK) {
    snprintf(ls->error, sizeof ls->error, "%s", lua_tostring(L, -1));
    lua_close(L);
    return NULL;
  }
  lua_pushlightuserdata(L, ls->f);
  lua_pushinteger(L, (lua_Integer) (uintptr_t) ls->ready);
  if (lua_pcall(L, 2, 3, 1) != LUA_OK) {
    snprintf(ls->error, sizeof ls->error, "%s", luaL_tolstring(L, -1, NULL));
  } else if (!lua_isinteger(L, -3) || !lua_isinteger(L, -2) || !lua_isstring(L, -1)) {
    snprintf(ls->error, sizeof ls->error, "the Lua chunk returned %s, %s, %s",
             luaL_typename(L, -3), luaL_typename(L, -2), luaL_typename(L, -1));
  } else {
    ls->worker_tid = (long) lua_tointeger(L, -3);
    ls->state_tid = (long) lua_tointeger(L, -2);
    snprintf(ls->value, sizeof ls->value, "%s", lua_tostring(L, -1));
    ls->ok = true;
  }
  lua_close(L);
  return NULL;
}

/* ---- Checks and output ---------------------------------------------------- */

static int checks, failed;
static char obs[8192], failures[2048];

static void check(bool ok, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void check(bool ok, const char *what, const char *fmt, ...) {
  char detail[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  printf("%s %s (%s)\n", ok ? "ok  " : "FAIL", what, detail);
  size_t len = strlen(obs);
  snprintf(obs + len, sizeof obs - len, "%s{\"check\": \"%s\", \"ok\": %s}",
           checks ? ", " : "", what, ok ? "true" : "false");
  checks++;
  if (!ok) {
    len = strlen(failures);
    snprintf(failures + len, sizeof failures - len, "%s%s", failed ? ", " : ": ", what);
    failed++;
  }
}

/* ---- Values across runtimes ------------------------------------------------ */

/* What each side sets. Python's list holds a None, which Lua reads as a hole;
 * Lua's bytes are xf.bytes (a Lua string that is UTF-8 would be a string). */
static const char PYTHON_SET_CODE[] =
    "import math, xfutures\n"
    "pv = xfutures.Future.from_handle(PV_HANDLE)\n"
    "lv = xfutures.Future.from_handle(LV_HANDLE)\n"
    "PV_OBJ = {'a': [1, 2.5, None], 'b': b'', 'big': 2**53 + 1, 'neg0': -0.0,\n"
    "          's': 'x\\x00\\u00e9'}\n"
    "pv.set_result(PV_OBJ)\n"
    "PY_SAME = pv.result() is PV_OBJ\n"
    "got = lv.result(timeout=5)\n"
    "want = {'a': [1, 2.5], 'b': b'', 'big': 2**53 + 1, 'neg0': -0.0,\n"
    "        's': 'x\\x00\\u00e9'}\n"
    "PY_READS_LUA = (got == want and type(got['big']) is int\n"
    "                and type(got['b']) is bytes\n"
    "                and math.copysign(1.0, got['neg0']) < 0)\n"
    "PY_SAW = repr(got)[:200]\n";

static const char LUA_SET_CODE[] =
    "local lvptr = ...\n"
    "local xf = require 'xfutures'\n"
    "LV_T = { a = { 1, 2.5 }, b = xf.bytes(''), big = 9007199254740993, neg0 = -0.0,\n"
    "         s = 'x\\0\\xc3\\xa9' }\n"
    "LV = xf.future_from_handle(lvptr)\n"
    "LV:set_result(LV_T)\n";

static const char LUA_READ_CODE[] =
    "local pvptr = ...\n"
    "local xf = require 'xfutures'\n"
    "local t = xf.future_from_handle(pvptr):result(5)\n"
    "local ok = type(t) == 'table' and type(t.a) == 'table'\n"
    "  and math.type(t.a[1]) == 'integer' and t.a[1] == 1 and t.a[2] == 2.5\n"
    "  and t.a[3] == nil and t.b == ''\n"
    "  and math.type(t.big) == 'integer' and t.big == 9007199254740993\n"
    "  and t.neg0 == 0 and 1 / t.neg0 < 0 and t.s == 'x\\0\\xc3\\xa9'\n"
    "local seen = {}\n"
    "if type(t) == 'table' then\n"
    "  for k, v in pairs(t) do seen[#seen + 1] = tostring(k) .. '=' .. tostring(v) end\n"
    "  table.sort(seen)\n"
    "end\n"
    "return ok, rawequal(LV:result(), LV_T), type(t) .. ' ' .. table.concat(seen, ' ')\n";

/* The core's text of a done future's value, into buf. */
static const char *repr_of(xf_future_t *f, char *buf, size_t size) {
  xf_value_t *v = NULL;
  if (xf_future_result(f, 0, &v) != XF_OK)
    return "(not a value)";
  xf_value_repr(v, buf, size);
  xf_value_unref(v);
  return buf;
}

/* Run chunk (with the light userdata arg) in L; on error, the message. */
static bool lua_run(lua_State *L, const char *chunk, size_t len, void *arg, int nres,
                    char *err, size_t errsize) {
  lua_pushcfunction(L, traceback);
  int h = lua_gettop(L);
  if (luaL_loadbufferx(L, chunk, len, "=host-values", "t") != LUA_OK ||
      (lua_pushlightuserdata(L, arg), lua_pcall(L, 1, nres, h)) != LUA_OK) {
    snprintf(err, errsize, "%s", luaL_tolstring(L, -1, NULL));
    lua_settop(L, h - 1);
    return false;
  }
  lua_remove(L, h);
  return true;
}

static void value_phase(PyObject *globals) {
  static const char want_py[] =
      "{\"a\": [1, 2.5, none], \"b\": b\"\", \"big\": "
      "9007199254740993, \"neg0\": -0.0, \"s\": \"x\\u0000\xc3\xa9\"}";
  static const char want_lua[] =
      "{\"a\": [1, 2.5], \"b\": b\"\", \"big\": "
      "9007199254740993, \"neg0\": -0.0, \"s\": \"x\\u0000\xc3\xa9\"}";
  char err[512] = "", buf[512], saw[256] = "";
  xf_future_t *pv = NULL, *lv = NULL;
  if (xf_future_new(&pv) != XF_OK || xf_future_new(&lv) != XF_OK) {
    check(false, "value_futures", "xf_future_new failed");
    xf_future_unref(pv);
    return;
  }
  lua_State *L = luaL_newstate();
  bool lua_set = false, lua_read = false, lua_ok = false, lua_same = false;
  if (L) {
    luaL_openlibs(L);
    lua_set = lua_run(L, LUA_SET_CODE, sizeof LUA_SET_CODE - 1, lv, 0, err, sizeof err);
  }
  check(lua_set, "value_lua_set", "%s", lua_set ? "Lua set a table" : err);

  bool py_ran = false, py_same = false, py_read = false;
  PyObject *ph = PyLong_FromVoidPtr(pv), *lh = PyLong_FromVoidPtr(lv);
  if (ph && lh && PyDict_SetItemString(globals, "PV_HANDLE", ph) == 0 &&
      PyDict_SetItemString(globals, "LV_HANDLE", lh) == 0) {
    PyObject *r = PyRun_String(PYTHON_SET_CODE, Py_file_input, globals, globals);
    if (r) {
      Py_DECREF(r);
      py_ran = true;
      PyObject *same = PyDict_GetItemString(globals, "PY_SAME"); /* borrowed */
      PyObject *read = PyDict_GetItemString(globals, "PY_READS_LUA");
      PyObject *text = PyDict_GetItemString(globals, "PY_SAW");
      py_same = same && PyObject_IsTrue(same) == 1;
      py_read = read && PyObject_IsTrue(read) == 1;
      const char *t = text ? PyUnicode_AsUTF8(text) : NULL;
      snprintf(saw, sizeof saw, "%s", t ? t : "?");
      PyErr_Clear();
    }
  }
  if (!py_ran) {
    fprintf(stderr, "host: the Python value side failed:\n");
    if (PyErr_Occurred())
      PyErr_Print();
  }
  Py_XDECREF(ph);
  Py_XDECREF(lh);

  if (L && lua_set &&
      lua_run(L, LUA_READ_CODE, sizeof LUA_READ_CODE - 1, pv, 3, err, sizeof err)) {
    lua_read = true;
    lua_ok = lua_toboolean(L, -3);
    lua_same = lua_toboolean(L, -2);
    snprintf(err, sizeof err, "Lua saw %s", lua_tostring(L, -1));
  }
  check(lua_read && lua_ok, "value_lua_reads_python", "%s", err);
  check(py_ran && py_read, "value_python_reads_lua", "Python saw %s",
        py_ran ? saw : "nothing");
  check(lua_read && lua_same, "value_lua_identity", "Lua's table came back as itself");
  check(py_ran && py_same, "value_python_identity", "Python's dict came back as itself");
  const char *got = repr_of(pv, buf, sizeof buf);
  check(strcmp(got, want_py) == 0, "value_c_reads_python", "%s", got);
  got = repr_of(lv, buf, sizeof buf);
  check(strcmp(got, want_lua) == 0, "value_c_reads_lua", "%s", got);
  if (L)
    lua_close(L);
  xf_future_unref(pv);
  xf_future_unref(lv);
}

/* Point the interpreters at the build tree (<build>/tests/matrix/<this>)
 * unless the environment already does. */
static void default_paths(void) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return;
  exe[n] = '\0';
  for (int up = 0; up < 3; up++) {
    char *slash = strrchr(exe, '/');
    if (!slash)
      return;
    *slash = '\0';
  }
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/bindings/python", exe);
  setenv("PYTHONPATH", path, 0);
  snprintf(path, sizeof path, "%s/bindings/lua/?.lua;;", exe);
  setenv("LUA_PATH", path, 0);
  snprintf(path, sizeof path, "%s/bindings/lua/?.so;;", exe);
  setenv("LUA_CPATH", path, 0);
}

static int setup_failed(const char *what) {
  printf("{\"status\": \"error\", \"error\": \"%s\"}\n", what);
  return 2;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  record(&seen_main);
  default_paths();

  /* The futures, made in C. */
  xf_future_t *f = NULL, *ready = NULL;
  if (xf_future_new(&f) != XF_OK || xf_future_new(&ready) != XF_OK)
    return setup_failed("xf_future_new failed");
  if (xf_future_add_done_callback(f, on_finished, &seen_finisher, NULL, NULL) != XF_OK)
    return setup_failed("xf_future_add_done_callback failed");

  /* Python, on this thread. */
  if (PyImport_AppendInittab("_xfhost", xfhost_init) != 0)
    return setup_failed("PyImport_AppendInittab failed");
  Py_Initialize();
  PyObject *main_module = PyImport_AddModule("__main__"); /* borrowed */
  PyObject *globals = main_module ? PyModule_GetDict(main_module) : NULL;
  PyObject *fh = PyLong_FromVoidPtr(f), *rh = PyLong_FromVoidPtr(ready);
  if (!globals || !fh || !rh || PyDict_SetItemString(globals, "F_HANDLE", fh) != 0 ||
      PyDict_SetItemString(globals, "READY_HANDLE", rh) != 0) {
    if (PyErr_Occurred())
      PyErr_Print();
    return setup_failed("cannot set up __main__");
  }
  Py_DECREF(fh);
  Py_DECREF(rh);

  /* Lua, on a thread of its own. */
  lua_side_t ls = {.f = f, .ready = ready};
  pthread_t lt;
  if (pthread_create(&lt, NULL, lua_thread, &ls) != 0)
    return setup_failed("pthread_create failed");

  /* The Python thread runs its asyncio loop until the callback has run. */
  bool py_ok = false;
  char py_value[64] = "";
  long py_native_tid = -1, py_lua_tid = -1;
  PyObject *r = PyRun_String(PYTHON_CODE, Py_file_input, globals, globals);
  if (!r) {
    fprintf(stderr, "host: the Python side failed:\n");
    PyErr_Print();
  } else {
    Py_DECREF(r);
    PyObject *res = PyDict_GetItemString(globals, "RESULT"); /* borrowed */
    const char *text = NULL;
    if (res && PyArg_ParseTuple(res, "(sl)l;RESULT is ([str, int], int)", &text,
                                &py_lua_tid, &py_native_tid)) {
      snprintf(py_value, sizeof py_value, "%s", text);
      py_ok = true;
    } else if (PyErr_Occurred()) {
      PyErr_Print();
    }
  }
  /* If Python failed before saying so, the Lua job must not wait in vain. */
  xf_future_cancel(ready);

  Py_BEGIN_ALLOW_THREADS pthread_join(lt, NULL);
  Py_END_ALLOW_THREADS if (!ls.ok)
      fprintf(stderr, "host: the Lua side failed: %s\n", ls.error);

  seen_t main_t = get_seen(&seen_main), python = get_seen(&seen_python),
         callback = get_seen(&seen_callback), finisher = get_seen(&seen_finisher),
         lua = get_seen(&seen_lua);

  printf("host: threads: main/Python %ld, Lua state %ld, finished on %ld, Python "
         "callback on %ld\n",
         main_t.tid, lua.tid, finisher.tid, callback.tid);
  check(py_ok, "python_observed", "the Python callback saw %s from Lua's thread %ld",
        py_ok ? py_value : "nothing", py_lua_tid);
  check(ls.ok, "lua_finished", "the Lua job finished f: %s", ls.ok ? ls.value : ls.error);
  check(same_thread(python, main_t), "python_thread_is_main", "%ld == %ld", python.tid,
        main_t.tid);
  check(same_thread(callback, python), "callback_on_python_thread", "%ld == %ld",
        callback.tid, python.tid);
  check(callback.tid == py_native_tid, "callback_thread_agrees",
        "threading.get_native_id() %ld == %ld", py_native_tid, callback.tid);
  check(finisher.set && !same_thread(finisher, python), "finisher_not_python_thread",
        "%ld != %ld", finisher.tid, python.tid);
  check(finisher.set && !same_thread(finisher, lua), "finisher_not_lua_state_thread",
        "%ld != %ld", finisher.tid, lua.tid);
  check(ls.ok && finisher.tid == ls.worker_tid && finisher.tid == py_lua_tid &&
            lua.tid == ls.state_tid,
        "finisher_is_lua_worker",
        "C saw %ld, the Lua worker said %ld, the value says %ld", finisher.tid,
        ls.worker_tid, py_lua_tid);
  check(ls.ok && strcmp(ls.value, "set by Lua") == 0 && py_ok &&
            strcmp(py_value, "set by Lua") == 0,
        "value_crossed", "Lua and Python both read \"%s\"", py_value);
  check(xf_future_state(f) == XF_FINISHED, "finished_in_c",
        "C sees state %d, XF_FINISHED is %d", xf_future_state(f), XF_FINISHED);

  value_phase(globals);

  if (Py_FinalizeEx() < 0)
    check(false, "python_finalized", "Py_FinalizeEx failed");
  xf_future_unref(ready);
  xf_future_unref(f);

  printf("{\"status\": \"ran\", \"threads\": {\"python\": %ld, \"lua_state\": %ld, "
         "\"finisher\": %ld, \"callback\": %ld}, \"obs\": [%s]}\n",
         python.tid, lua.tid, finisher.tid, callback.tid, obs);
  printf("host: %d checks, %d failed%s\n", checks, failed, failures);
  return failed ? 1 : 0;
}

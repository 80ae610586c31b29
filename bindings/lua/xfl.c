/* The C glue of the Lua binding: what is Lua's own. The core's plain calls
 * (futures' states and combinators, timeouts, sleeping, the process pool's
 * terminate and kill, MPI's world) are declared once in bindings/common/api.i
 * and wrapped by SWIG with the typemaps of xfutures.i, which use the
 * helpers exported here (xfl.h).
 *
 * Design notes
 * ------------
 * A Lua state is single-threaded, so everything that touches Lua runs on the
 * state's owner thread (the thread that loaded the module). Each state gets a
 * runtime (xfl_rt): its owner loop (an xf_loop_t), the owner thread, and the
 * registry references that C data holds on Lua values. Done callbacks, task
 * steps and timers are registered on the owner loop, so the core delivers
 * them to the thread that runs it (xf.run, or a blocking wait on the owner
 * thread, which pumps the loop). Nothing here reimplements futures, tasks or
 * pools: a Lua coroutine is driven by a core task (xf_task_new), whose step
 * resumes the coroutine and awaits the future it yields.
 *
 * Registry references held by C data (a callback, a task's coroutine, a Lua
 * object carried in an xf_value_t) are boxes, and may be dropped on any
 * thread. They are released on the owner thread only, and the core does the
 * moving: the state's object hooks name its loop as their owner, so the
 * last reference to an object value dropped elsewhere is posted to that
 * loop, and a C holder dropping its last reference off the owner thread
 * hands the box to the core as an object value that it drops at once (see
 * box_unref). The owner thread itself releases at once inside a run of the
 * loop, and when C data drops a box; an object value it drops outside a run
 * (a future collected by the GC) is released at the loop's next iteration.
 * Once the state closes (the runtime is no longer alive, and its loop is
 * closed) a box only frees its own memory, on whichever thread drops it
 * last.
 *
 * Closing. lua_close runs every finalizer; a sentinel (see "Knowing that
 * the state closes") tells the others that it has begun. From then on no
 * Lua code runs from C; a callback (xf.callback) collected then is retired
 * rather than freed (xf_closure_retire), since a C library's thread may
 * still call it: those calls get the default value, reported once, and the
 * module is linked -z nodelete so that the code they run stays mapped. A
 * pool shut down while waiting (its __gc, or :shutdown{wait = true}) has
 * its workers joined by a thread of its own while the owner thread runs the
 * loop, so that a worker waiting for a callback's answer is answered.
 *
 * Calls into Lua from C callbacks are made in protected mode, with a message
 * handler that adds a traceback; an error goes to the loop's exception
 * handler and never unwinds through the core.
 *
 * The Lua-state pool (lua_pool) is a core thread pool whose initializer gives
 * each worker thread its own lua_State (a thread-specific key closes it when
 * the thread exits). A job carries a dumped function (string.dump) or a
 * module and function name, and its arguments as xf_value_t; values cross
 * between states only as xf_value_t, and a Lua object of another state is an
 * opaque handle that comes back to its own state as the very same object.
 */
#include "xfl.h"

#include <dlfcn.h>
#include <lauxlib.h>
#include <lualib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xf/xf.h>

/* xf:lang-specific: Lua's metatables and registry keys, its runtime (the state's owner
 * loop and thread, lua_close), its error tables, registry references, values and
 * metatables, and calls into Lua */
#define MT_FUTURE   "xf.future"
#define MT_EXECUTOR "xf.executor"
#define MT_HANDLE   "xf.handle"
#define MT_OPAQUE   "xf.opaque"
#define MT_ERROR    "xf.Error"
#define MT_RUNTIME  "xf.runtime"

#define MAX_DEPTH 64

/* Diagnostics for the tests: userdata holding a core reference, and C data
 * holding a registry reference. */
static atomic_long live_handles;
static atomic_long live_refs;

/* Registry keys (their addresses). */
static char RT_KEY, CACHE_KEY, SENTINEL_KEY;
/* The first value a task's coroutine yields to await a future. */
static char AWAIT_KEY;

/* ---- The runtime ---------------------------------------------------- */

typedef struct xfl_rt {
  atomic_int refs;
  atomic_bool alive;
  atomic_bool closing; /* lua_close has begun: no more Lua runs from C */
  lua_State *L;        /* the state's main thread */
  lua_State *cur;      /* the Lua thread running the loop now, if any */
  /* The coroutine of the task whose step runs now, and its future (steps
   * never nest): how await knows it is inside a task. Not a weak table
   * keyed by coroutine, which can lose the entry of a running task. */
  lua_State *task_co;
  xf_future_t *task_self;
  pthread_t owner;
  xf_loop_t *loop;
  int handler_ref;         /* the Lua exception handler, or LUA_NOREF */
  xf_object_hooks_t hooks; /* of this state's objects; the owner is loop */
} xfl_rt;

static void print_error(const char *message, xf_error_t *err);

/* Once the state has closed, what is still reported (a C thread calling a
 * callback of the closed state) goes to stderr, as nobody else is left. */
static void closed_handler(xf_loop_t *loop, const char *message, xf_error_t *err,
                           void *data) {
  (void) loop, (void) data;
  print_error(message, err);
}

static xfl_rt *rt_ref(xfl_rt *rt) {
  atomic_fetch_add(&rt->refs, 1);
  return rt;
}

static void rt_unref(xfl_rt *rt) {
  if (!rt || atomic_fetch_sub(&rt->refs, 1) != 1)
    return;
  /* The loop's memory may outlive us (futures bound to it): its handler must
   * no longer point here. */
  xf_loop_set_exception_handler(rt->loop, closed_handler, NULL, NULL);
  xf_loop_unref(rt->loop);
  free(rt);
}

static bool on_owner(xfl_rt *rt) {
  return rt && atomic_load(&rt->alive) && pthread_equal(pthread_self(), rt->owner);
}

/* The runtime of L's state, or NULL (a lua_pool worker that never loaded
 * the module). */
static xfl_rt *get_rt(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &RT_KEY);
  xfl_rt **p = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return p ? *p : NULL;
}

/* The runtime of L's state, usable from this thread. */
static xfl_rt *check_rt(lua_State *L) {
  xfl_rt *rt = get_rt(L);
  if (!rt)
    luaL_error(L, "xfutures: the module is not initialised in this state");
  if (!on_owner(rt))
    luaL_error(L, "xfutures: this Lua state belongs to another thread");
  return rt;
}

/* ---- Knowing that the state closes ----------------------------------- *
 *
 * lua_close runs the finalizers of every object, newest mark first. A
 * sentinel userdata whose only reference is the registry is collected only
 * then; made again (and the old one dropped) each time an object is made
 * whose finalizer must know (a callback, an executor), it is always newer
 * than those, so its finalizer runs before theirs and sets rt->closing.
 * From then on C callbacks no longer run Lua code, callbacks still called
 * by C code get their default value, and a shutdown that waits for pool
 * threads lets those calls through. An old sentinel collected by an
 * ordinary cycle is no longer the registry's, and says nothing. */

#define MT_SENTINEL "xf.closing"

static int sentinel_gc(lua_State *L) {
  xfl_rt **p = lua_touserdata(L, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &SENTINEL_KEY);
  if (lua_rawequal(L, -1, 1) && *p)
    atomic_store(&(*p)->closing, true);
  return 0;
}

static void mark_closing_sentinel(lua_State *L, xfl_rt *rt) {
  xfl_rt **p = lua_newuserdatauv(L, sizeof *p, 0);
  *p = rt;
  if (luaL_newmetatable(L, MT_SENTINEL)) {
    lua_pushcfunction(L, sentinel_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &SENTINEL_KEY);
}

static bool closing(xfl_rt *rt) {
  return atomic_load(&rt->closing);
}

/* ---- Errors --------------------------------------------------------- */

static void push_error_table(lua_State *L, int code, const char *type,
                             const char *message, const char *traceback) {
  lua_createtable(L, 0, 6);
  lua_pushstring(L, type);
  lua_setfield(L, -2, "type");
  lua_pushstring(L, message);
  lua_setfield(L, -2, "message");
  if (traceback && *traceback) {
    lua_pushstring(L, traceback);
    lua_setfield(L, -2, "traceback");
  }
  lua_pushinteger(L, code);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, xf_err_name(code));
  lua_setfield(L, -2, "name");
  luaL_setmetatable(L, MT_ERROR);
}

static void push_value(lua_State *L, xf_value_t *v, xfl_rt *rt, int depth);

/* Push an xf_error_t as a Lua error table. The payload, if any, is the
 * field "value" (the original Lua error object when it came from here). */
static void push_error(lua_State *L, xf_error_t *e, xfl_rt *rt) {
  push_error_table(L, xf_error_code(e), xf_error_type(e), xf_error_message(e),
                   xf_error_traceback(e));
  xf_value_t *payload = xf_error_payload(e);
  if (payload) {
    push_value(L, payload, rt, 0);
    /* An error group's list of errors is also its field "errors", the
     * name a Lua caller of xf.group reads (the error table may have crossed
     * a task's future on its way). */
    if (xf_error_group_len(e) >= 0) {
      lua_pushvalue(L, -1);
      lua_setfield(L, -3, "errors");
    }
    lua_setfield(L, -2, "value");
  }
}

static int raise_code(lua_State *L, int code, const char *message) {
  push_error_table(L, code, xf_error_default_type(code),
                   message ? message : xf_strerror(code), NULL);
  return lua_error(L);
}

int xfl_raise_code(lua_State *L, int code) {
  return raise_code(L, code,
                    code == XF_EWRONGTHREAD ? "another thread runs the loop" : NULL);
}

/* Raise e as a Lua error table, taking over the caller's reference. */
static int raise_error(lua_State *L, xf_error_t *e, xfl_rt *rt) {
  push_error(L, e, rt);
  xf_error_unref(e);
  return lua_error(L);
}

/* Parse a signature given by a user; a bad one raises the core's error for
 * it, which names the call (context) and the place in the text. */
static xf_signature_t *check_signature(lua_State *L, const char *context,
                                       const char *text, xfl_rt *rt) {
  xf_signature_t *sig = NULL;
  int rc = xf_signature_parse(text, NULL, 0, &sig);
  if (rc != XF_OK) {
    xf_error_t *e = NULL;
    xf_signature_error_new(context, text, rc, &e);
    raise_error(L, e, rt);
  }
  return sig;
}

static int code_for_type(const char *type) {
  if (strcmp(type, "CancelledError") == 0)
    return XF_ECANCELLED;
  if (strcmp(type, "TimeoutError") == 0)
    return XF_ETIMEDOUT;
  return XF_EFAILED;
}

static const char *rawstring(lua_State *L, int idx, const char *field) {
  lua_getfield(L, idx, field); /* error tables have no __index */
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1); /* the string stays reachable from the table */
  return s;
}

static int to_value(lua_State *L, int idx, xfl_rt *rt, int depth, xf_value_t **out,
                    const char **why);

/* Make an xf_error_t from the Lua error value at idx: an error table (type,
 * message, traceback, code, value) or any other value (type "LuaError").
 * traceback, if not NULL, is used when the value has none. NULL when out of
 * memory. */
static xf_error_t *error_from_lua(lua_State *L, int idx, xfl_rt *rt,
                                  const char *traceback) {
  idx = lua_absindex(L, idx);
  const char *type = "LuaError", *message = NULL, *tb = NULL;
  int code = XF_EFAILED;
  xf_value_t *payload = NULL;
  const char *why;
  switch (lua_type(L, idx)) {
  case LUA_TSTRING:
  case LUA_TNUMBER:
    message = lua_tostring(L, idx);
    break;
  case LUA_TTABLE: {
    bool ours = false;
    if (lua_getmetatable(L, idx)) {
      luaL_getmetatable(L, MT_ERROR);
      ours = lua_rawequal(L, -1, -2);
      lua_pop(L, 2);
    }
    const char *t = rawstring(L, idx, "type");
    if (t)
      type = t;
    message = rawstring(L, idx, "message");
    tb = rawstring(L, idx, "traceback");
    lua_getfield(L, idx, "code");
    code = lua_isinteger(L, -1) && lua_tointeger(L, -1) < 0 ? (int) lua_tointeger(L, -1)
                                                            : code_for_type(type);
    lua_pop(L, 1);
    if (ours) {
      lua_getfield(L, idx, "value");
      if (!lua_isnil(L, -1) && to_value(L, -1, rt, 0, &payload, &why) != XF_OK)
        payload = NULL;
      lua_pop(L, 1);
    } else if (rt && to_value(L, idx, rt, 0, &payload, &why) != XF_OK) {
      payload = NULL;
    }
    if (!message)
      message = "error object without a message";
    break;
  }
  case LUA_TNIL:
    message = "nil";
    break;
  default:
    message = luaL_typename(L, idx);
    if (rt && to_value(L, idx, rt, 0, &payload, &why) != XF_OK)
      payload = NULL;
    break;
  }
  if (!tb)
    tb = traceback;
  xf_error_t *e = NULL;
  if (xf_error_new_full(code, type, message, tb, payload, &e) != XF_OK)
    e = NULL;
  xf_value_unref(payload);
  return e;
}

/* Message handler: turn any error into an error table with a traceback. */
static int msgh(lua_State *L) {
  if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, MT_ERROR);
    bool ours = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (ours) {
      lua_getfield(L, 1, "traceback");
      bool has = !lua_isnil(L, -1);
      lua_pop(L, 1);
      if (!has) {
        luaL_traceback(L, L, NULL, 1);
        lua_setfield(L, 1, "traceback");
      }
      lua_settop(L, 1);
      return 1;
    }
  }
  const char *type = "LuaError";
  const char *message = NULL;
  if (lua_type(L, 1) == LUA_TTABLE) {
    const char *t = rawstring(L, 1, "type");
    if (t)
      type = t;
    message = rawstring(L, 1, "message");
  }
  if (!message) {
    if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER)
      message = lua_tostring(L, 1);
    else
      message = luaL_tolstring(L, 1, NULL);
  }
  luaL_traceback(L, L, NULL, 1);
  const char *tb = lua_tostring(L, -1);
  push_error_table(L, code_for_type(type), type, message, tb);
  if (lua_type(L, 1) != LUA_TSTRING) {
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "value");
  }
  return 1;
}

static int error_tostring(lua_State *L) {
  const char *type = rawstring(L, 1, "type");
  const char *message = rawstring(L, 1, "message");
  lua_pushfstring(L, "%s: %s", type ? type : "Error", message ? message : "");
  return 1;
}

/* ---- Boxes: registry references held by C data ---------------------- */

typedef struct box {
  atomic_int refs;
  xfl_rt *rt;
  int ref;
} box;

/* A box of the value at idx with refs references, or NULL without memory.
 * Owner thread. */
static box *box_new(lua_State *L, int idx, xfl_rt *rt, int refs) {
  box *b = malloc(sizeof *b);
  if (!b)
    return NULL;
  atomic_init(&b->refs, refs);
  lua_pushvalue(L, idx);
  b->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  b->rt = rt_ref(rt);
  atomic_fetch_add(&live_refs, 1);
  return b;
}

/* As box_new, raising a memory error (from a function Lua called). */
static box *box_check_new(lua_State *L, int idx, xfl_rt *rt, int refs) {
  box *b = box_new(L, idx, rt, refs);
  if (!b)
    raise_code(L, XF_ENOMEM, NULL);
  return b;
}

/* The last reference is gone. The registry reference is released only on
 * the owner thread of a live state; elsewhere (no memory was left to post
 * the release, or the state has closed) it is left behind, which for a
 * closed state is nothing, as the registry went with it. */
static void box_free(box *b) {
  xfl_rt *rt = b->rt;
  if (on_owner(rt)) {
    lua_State *L = rt->cur ? rt->cur : rt->L;
    if (lua_checkstack(L, 2))
      luaL_unref(L, LUA_REGISTRYINDEX, b->ref);
  }
  rt_unref(rt);
  free(b);
  atomic_fetch_sub(&live_refs, 1);
}

/* The object hooks: the core calls release on the owner loop's thread (it
 * posts it there when the last reference drops elsewhere), or on any thread
 * once that loop is closed, which box_free copes with. */
static void box_retain(void *object, void *hook_data) {
  (void) hook_data;
  atomic_fetch_add(&((box *) object)->refs, 1);
}

static void box_release(void *object, void *hook_data) {
  (void) hook_data;
  box *b = object;
  if (atomic_fetch_sub(&b->refs, 1) == 1)
    box_free(b);
}

/* Drop a reference held by C data (a callback record, a task), on any
 * thread. The last one dropped off the owner thread of a live state goes to
 * the core as an object value of the state's hooks that is dropped at once,
 * so the core posts its release to the owner loop as it does for any of the
 * state's objects. */
static void box_unref(box *b) {
  if (atomic_fetch_sub(&b->refs, 1) != 1)
    return;
  xfl_rt *rt = b->rt;
  xf_value_t *v = NULL;
  if (!on_owner(rt) && atomic_load(&rt->alive) &&
      xf_value_new_object(b, &rt->hooks, &v) == XF_OK) {
    xf_value_unref(v); /* its retain counted one; its release frees b */
    return;
  }
  box_free(b);
}

static void box_free_data(void *data) {
  box_unref(data);
}

/* ---- Lua objects as values ------------------------------------------ */

typedef struct ud_value {
  xf_value_t *v;
} ud_value;

static int value_ud_gc(lua_State *L) {
  ud_value *u = lua_touserdata(L, 1);
  if (u->v) {
    xf_value_unref(u->v);
    u->v = NULL;
    atomic_fetch_sub(&live_handles, 1);
  }
  return 0;
}

/* Whether the table at idx is a sequence (keys exactly 1..n, no
 * metatable); an empty table counts as one. */
static bool is_sequence(lua_State *L, int idx, size_t *n) {
  if (lua_getmetatable(L, idx)) {
    lua_pop(L, 1);
    return false;
  }
  size_t len = lua_rawlen(L, idx), count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
        (size_t) lua_tointeger(L, -1) > len) {
      lua_pop(L, 1);
      return false;
    }
    count++;
  }
  *n = len;
  return count == len;
}

static int make_object(lua_State *L, int idx, xfl_rt *rt, xf_value_t **out,
                       const char **why) {
  if (!rt) {
    *why = "a function, userdata, table with a metatable or table that cannot be data "
           "cannot leave a lua_pool worker";
    return XF_ETYPE;
  }
  box *b = box_new(L, idx, rt, 1);
  if (!b)
    return XF_ENOMEM;
  int rc = xf_value_new_object(b, &rt->hooks, out);
  box_unref(b); /* the value holds its own reference, or b is gone */
  if (rc != XF_OK) {
    *why = "cannot make an object value";
  }
  return rc;
}

/* ---- Tables as data ------------------------------------------------- *
 *
 * A plain table (no metatable) crosses as data: a sequence as a list, any
 * other table as a map whose pairs are sorted by key (numbers, then
 * strings by their bytes, then false and true), so that the same table
 * always makes the same value and the same text. A table that cannot be
 * data (it contains itself, nests deeper than MAX_DEPTH, or has a key that
 * is not a boolean, number or string) makes the conversion answer NOT_DATA,
 * and the whole value is then one opaque object, which comes back to this
 * state as itself.
 *
 * Identity. A value given back to this state is the very table it was made
 * from, as long as that table lives: two weak registry tables map the value
 * (a light userdata of its address) to the table, and the table to a small
 * userdata that holds a reference to the value, so the address cannot be
 * reused while it is a key. The weak values are cleared when the table is
 * collected, before the userdata's __gc drops the reference. A table keeps
 * one value: converted again with the same contents it gives the same value
 * (so two futures set with it both give it back); once it has changed, the
 * new value replaces the old one, whose readers get a copy of the old
 * contents. Only tables converted at the top (a result, an argument) are
 * recorded: a nested table comes back inside its parent. */

#define NOT_DATA 1 /* internal to the conversion, never returned by to_value */
#define MT_IDENT "xf.ident"

static char IDENT_VALUES_KEY, IDENT_TABLES_KEY;

typedef struct ident {
  xf_value_t *v;
} ident;

static int ident_gc(lua_State *L) {
  ident *u = lua_touserdata(L, 1);
  xf_value_unref(u->v);
  u->v = NULL;
  return 0;
}

/* Push the registry's weak table at key, made on first use. */
static void push_weak_table(lua_State *L, const void *key, const char *mode) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TTABLE)
    return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushstring(L, mode);
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

/* Equal as data, doubles bit for bit (xf_value_equal finds -0.0 equal to
 * 0.0), maps pair by pair in their order, and two boxes of one Lua object
 * as the same item. */
static bool same_data(lua_State *L, const xf_value_t *a, const xf_value_t *b) {
  if (a == b)
    return true;
  int kind = xf_value_kind(a);
  if (kind != xf_value_kind(b))
    return false;
  size_t n = 0, m = 0;
  switch (kind) {
  case XF_KIND_DOUBLE: {
    double x = 0, y = 0;
    xf_value_get_double(a, &x);
    xf_value_get_double(b, &y);
    return memcmp(&x, &y, sizeof x) == 0;
  }
  case XF_KIND_LIST:
    xf_value_list_len(a, &n);
    xf_value_list_len(b, &m);
    for (size_t i = 0; i < n && n == m; i++) {
      xf_value_t *x = NULL, *y = NULL;
      xf_value_list_get(a, i, &x);
      xf_value_list_get(b, i, &y);
      if (!same_data(L, x, y))
        return false;
    }
    return n == m;
  case XF_KIND_MAP:
    xf_value_map_len(a, &n);
    xf_value_map_len(b, &m);
    for (size_t i = 0; i < n && n == m; i++) {
      xf_value_t *xk = NULL, *xv = NULL, *yk = NULL, *yv = NULL;
      xf_value_map_get(a, i, &xk, &xv);
      xf_value_map_get(b, i, &yk, &yv);
      if (!same_data(L, xk, yk) || !same_data(L, xv, yv))
        return false;
    }
    return n == m;
  case XF_KIND_OBJECT: {
    void *x = NULL, *y = NULL;
    const xf_object_hooks_t *hx = NULL, *hy = NULL;
    xf_value_get_object(a, &x, &hx);
    xf_value_get_object(b, &y, &hy);
    /* Only this state's boxes have their objects in this registry. */
    xfl_rt *rt = get_rt(L);
    if (!rt || hx != &rt->hooks || hy != &rt->hooks || !lua_checkstack(L, 2))
      return xf_value_equal(a, b);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ((box *) x)->ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ((box *) y)->ref);
    bool same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
  }
  default:
    return xf_value_equal(a, b);
  }
}

/* Record that the table at idx made *out; when it made an equal value
 * before, *out becomes that one. */
static void ident_record(lua_State *L, int idx, xf_value_t **out) {
  if (!lua_checkstack(L, 6))
    return; /* no identity then, which is no error */
  push_weak_table(L, &IDENT_TABLES_KEY, "k");
  push_weak_table(L, &IDENT_VALUES_KEY, "v");
  int tables = lua_gettop(L) - 1, values = tables + 1;
  lua_pushvalue(L, idx);
  lua_rawget(L, tables);
  ident *u = luaL_testudata(L, -1, MT_IDENT);
  if (u && u->v && same_data(L, u->v, *out)) {
    xf_value_unref(*out);
    *out = xf_value_ref(u->v);
    lua_pop(L, 3);
    return;
  }
  if (u && u->v) {
    /* The old value is no longer this table's: forget it before its
     * address may be reused. */
    lua_pushnil(L);
    lua_rawsetp(L, values, u->v);
    xf_value_unref(u->v);
    u->v = NULL;
  }
  if (!u) {
    lua_pop(L, 1);
    u = lua_newuserdatauv(L, sizeof *u, 0);
    u->v = NULL;
    if (luaL_newmetatable(L, MT_IDENT)) {
      lua_pushcfunction(L, ident_gc);
      lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    lua_pushvalue(L, idx);
    lua_pushvalue(L, -2);
    lua_rawset(L, tables);
  }
  u->v = xf_value_ref(*out);
  lua_pushvalue(L, idx);
  lua_rawsetp(L, values, u->v);
  lua_pop(L, 3);
}

/* Push the table that made v, if this state has one; else push nothing. */
static bool ident_push(lua_State *L, const xf_value_t *v) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &IDENT_VALUES_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    return false;
  }
  if (lua_rawgetp(L, -1, v) != LUA_TTABLE) {
    lua_pop(L, 2);
    return false;
  }
  lua_remove(L, -2);
  return true;
}

typedef struct pair {
  xf_value_t *key, *value;
} pair;

static int key_rank(const xf_value_t *k) {
  switch (xf_value_kind(k)) {
  case XF_KIND_INT:
  case XF_KIND_DOUBLE:
    return 0;
  case XF_KIND_STRING:
  case XF_KIND_BYTES:
    return 1;
  default:
    return 2;
  }
}

static long double key_number(const xf_value_t *k) {
  int64_t i = 0;
  double d = 0;
  if (xf_value_get_int(k, &i) == XF_OK)
    return (long double) i;
  xf_value_get_double(k, &d);
  return d;
}

static int pair_cmp(const void *pa, const void *pb) {
  const xf_value_t *a = ((const pair *) pa)->key, *b = ((const pair *) pb)->key;
  int ra = key_rank(a), rb = key_rank(b);
  if (ra != rb)
    return ra < rb ? -1 : 1;
  if (ra == 0) {
    long double x = key_number(a), y = key_number(b);
    if (x != y)
      return x < y ? -1 : 1;
    return xf_value_kind(a) - xf_value_kind(b);
  }
  if (ra == 1) {
    const char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    if (xf_value_get_string(a, &x, &nx) != XF_OK)
      xf_value_get_bytes(a, (const void **) &x, &nx);
    if (xf_value_get_string(b, &y, &ny) != XF_OK)
      xf_value_get_bytes(b, (const void **) &y, &ny);
    int c = memcmp(x, y, nx < ny ? nx : ny);
    if (c != 0 || nx != ny)
      return c != 0 ? c : (nx < ny ? -1 : 1);
    return xf_value_kind(a) - xf_value_kind(b);
  }
  bool x = false, y = false;
  xf_value_get_bool(a, &x);
  xf_value_get_bool(b, &y);
  return (int) x - (int) y;
}

static int to_data(lua_State *L, int idx, xfl_rt *rt, int depth, xf_value_t **out,
                   const char **why);

/* The plain table at idx (not a sequence) as a map. */
static int table_to_map(lua_State *L, int idx, xfl_rt *rt, int depth, xf_value_t **out,
                        const char **why) {
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    n++;
  }
  pair *pairs = calloc(n ? n : 1, sizeof *pairs);
  if (!pairs)
    return XF_ENOMEM;
  int rc = XF_OK;
  size_t i = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (i == n) { /* the table grew meanwhile (a __gc?): keep what was counted */
      lua_pop(L, 2);
      break;
    }
    int kt = lua_type(L, -2);
    if (kt != LUA_TNUMBER && kt != LUA_TSTRING && kt != LUA_TBOOLEAN)
      rc = NOT_DATA;
    else
      rc = to_data(L, -2, rt, depth + 1, &pairs[i].key, why);
    if (rc == XF_OK)
      rc = to_data(L, -1, rt, depth + 1, &pairs[i].value, why);
    lua_pop(L, 1);
    i++;
    if (rc != XF_OK) {
      lua_pop(L, 1); /* the key: the traversal stops */
      break;
    }
  }
  if (rc == XF_OK) {
    qsort(pairs, i, sizeof *pairs, pair_cmp);
    xf_value_t **kv = malloc((i ? i : 1) * 2 * sizeof *kv);
    if (!kv) {
      rc = XF_ENOMEM;
    } else {
      for (size_t j = 0; j < i; j++) {
        kv[j] = pairs[j].key;
        kv[i + j] = pairs[j].value;
      }
      rc = xf_value_new_map(kv, kv + i, i, out);
      free(kv);
    }
  }
  for (size_t j = 0; j < n; j++) {
    xf_value_unref(pairs[j].key);
    xf_value_unref(pairs[j].value);
  }
  free(pairs);
  return rc;
}

/* Convert the Lua value at idx to a new xf_value_t reference, NOT_DATA for
 * a table that cannot be data (see above). */
static int to_data(lua_State *L, int idx, xfl_rt *rt, int depth, xf_value_t **out,
                   const char **why) {
  idx = lua_absindex(L, idx);
  *out = NULL;
  switch (lua_type(L, idx)) {
  case LUA_TNONE:
  case LUA_TNIL:
    *out = xf_value_void();
    return XF_OK;
  case LUA_TBOOLEAN:
    *out = xf_value_bool(lua_toboolean(L, idx));
    return XF_OK;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx))
      return xf_value_new_int(lua_tointeger(L, idx), out);
    return xf_value_new_double(lua_tonumber(L, idx), out);
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    /* Strings are byte strings in Lua: valid UTF-8 crosses as a string, the
     * rest as bytes; both come back as the same Lua string. */
    if (xf_value_new_string(s, len, out) == XF_OK)
      return XF_OK;
    return xf_value_new_bytes(s, len, out);
  }
  case LUA_TLIGHTUSERDATA:
    return xf_value_new_pointer(lua_touserdata(L, idx), NULL, out);
  case LUA_TTABLE: {
    size_t n;
    if (lua_getmetatable(L, idx)) {
      lua_pop(L, 1);
      return make_object(L, idx, rt, out, why);
    }
    if (depth >= MAX_DEPTH)
      return NOT_DATA;
    if (!lua_checkstack(L, 6)) {
      *why = "Lua stack overflow";
      return XF_ENOMEM;
    }
    if (!is_sequence(L, idx, &n))
      return table_to_map(L, idx, rt, depth, out, why);
    xf_value_t **items = calloc(n ? n : 1, sizeof *items);
    if (!items)
      return XF_ENOMEM;
    int rc = XF_OK;
    size_t i;
    for (i = 0; i < n && rc == XF_OK; i++) {
      lua_rawgeti(L, idx, (lua_Integer) i + 1);
      rc = to_data(L, -1, rt, depth + 1, &items[i], why);
      lua_pop(L, 1);
    }
    if (rc == XF_OK)
      rc = xf_value_new_list(items, n, out);
    for (size_t j = 0; j < n; j++)
      xf_value_unref(items[j]);
    free(items);
    return rc;
  }
  case LUA_TUSERDATA: {
    ud_value *u = luaL_testudata(L, idx, MT_OPAQUE);
    if (u && u->v) {
      *out = xf_value_ref(u->v);
      return XF_OK;
    }
    return make_object(L, idx, rt, out, why);
  }
  default:
    return make_object(L, idx, rt, out, why);
  }
}

/* Convert the Lua value at idx to a new xf_value_t reference. rt NULL (a
 * worker state without the module) refuses what only an object could carry.
 * On failure, returns a negative code and *why says why. */
static int to_value(lua_State *L, int idx, xfl_rt *rt, int depth, xf_value_t **out,
                    const char **why) {
  idx = lua_absindex(L, idx);
  *why = NULL;
  int rc = to_data(L, idx, rt, depth, out, why);
  if (rc == NOT_DATA)
    return make_object(L, idx, rt, out, why);
  if (rc == XF_OK && rt && depth == 0 && lua_type(L, idx) == LUA_TTABLE &&
      xf_value_kind(*out) != XF_KIND_OBJECT)
    ident_record(L, idx, out);
  return rc;
}

/* to_value, raising a Lua error on failure. */
static xf_value_t *check_value(lua_State *L, int idx, xfl_rt *rt) {
  xf_value_t *v;
  const char *why;
  int rc = to_value(L, idx, rt, 0, &v, &why);
  if (rc != XF_OK)
    raise_code(L, rc, why);
  return v;
}

static void push_value(lua_State *L, xf_value_t *v, xfl_rt *rt, int depth) {
  luaL_checkstack(L, 4, "xfutures: value nested too deeply");
  switch (xf_value_kind(v)) {
  case XF_KIND_BOOL: {
    bool b = false;
    xf_value_get_bool(v, &b);
    lua_pushboolean(L, b);
    return;
  }
  case XF_KIND_INT: {
    int64_t i = 0;
    xf_value_get_int(v, &i);
    lua_pushinteger(L, (lua_Integer) i);
    return;
  }
  case XF_KIND_DOUBLE: {
    double d = 0;
    xf_value_get_double(v, &d);
    lua_pushnumber(L, d);
    return;
  }
  case XF_KIND_STRING: {
    const char *s = "";
    size_t len = 0;
    xf_value_get_string(v, &s, &len);
    lua_pushlstring(L, s, len);
    return;
  }
  case XF_KIND_BYTES: {
    const void *p = "";
    size_t len = 0;
    xf_value_get_bytes(v, &p, &len);
    lua_pushlstring(L, p, len);
    return;
  }
  case XF_KIND_LIST: {
    size_t n = 0;
    if (rt && ident_push(L, v))
      return;
    xf_value_list_len(v, &n);
    lua_createtable(L, (int) n, 0);
    for (size_t i = 0; i < n; i++) {
      xf_value_t *item = NULL;
      xf_value_list_get(v, i, &item);
      push_value(L, item, rt, depth + 1);
      lua_rawseti(L, -2, (lua_Integer) i + 1);
    }
    return;
  }
  case XF_KIND_MAP: {
    size_t n = 0;
    if (rt && ident_push(L, v))
      return;
    xf_value_map_len(v, &n);
    lua_createtable(L, 0, (int) n);
    for (size_t i = 0; i < n; i++) {
      xf_value_t *key = NULL, *item = NULL;
      xf_value_map_get(v, i, &key, &item);
      push_value(L, key, rt, depth + 1);
      /* A Lua table has no nil or NaN key. */
      if (lua_isnil(L, -1) || (lua_type(L, -1) == LUA_TNUMBER &&
                               lua_tonumber(L, -1) != lua_tonumber(L, -1))) {
        lua_pop(L, 1);
        continue;
      }
      push_value(L, item, rt, depth + 1);
      lua_rawset(L, -3);
    }
    return;
  }
  case XF_KIND_POINTER: {
    void *p = NULL;
    xf_value_get_pointer(v, &p);
    lua_pushlightuserdata(L, p);
    return;
  }
  case XF_KIND_OBJECT: {
    void *object = NULL;
    const xf_object_hooks_t *hooks = NULL;
    xf_value_get_object(v, &object, &hooks);
    if (rt && hooks == &rt->hooks) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, ((box *) object)->ref);
      return;
    }
    /* Another state's or another runtime's object: an opaque handle. */
    ud_value *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->v = xf_value_ref(v);
    atomic_fetch_add(&live_handles, 1);
    luaL_setmetatable(L, MT_OPAQUE);
    return;
  }
  case XF_KIND_ERROR: {
    xf_error_t *e = NULL;
    xf_value_get_error(v, &e);
    push_error(L, e, rt);
    return;
  }
  default:
    lua_pushnil(L);
    return;
  }
}

/* ---- Metatables ----------------------------------------------------- */

static int future_gc(lua_State *L);
static int future_tostring(lua_State *L);
static int executor_gc(lua_State *L);
static int handle_gc(lua_State *L);
static int runtime_gc(lua_State *L);

static void new_metatable(lua_State *L, const char *name, lua_CFunction gc,
                          lua_CFunction tostring) {
  if (luaL_newmetatable(L, name)) {
    if (gc) {
      lua_pushcfunction(L, gc);
      lua_setfield(L, -2, "__gc");
    }
    if (tostring) {
      lua_pushcfunction(L, tostring);
      lua_setfield(L, -2, "__tostring");
    }
    /* Methods are added by the Lua layer to __index. */
    lua_newtable(L);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
}

static void setup_metatables(lua_State *L) {
  new_metatable(L, MT_FUTURE, future_gc, future_tostring);
  new_metatable(L, MT_EXECUTOR, executor_gc, NULL);
  new_metatable(L, MT_HANDLE, handle_gc, NULL);
  new_metatable(L, MT_OPAQUE, value_ud_gc, NULL);
  new_metatable(L, MT_RUNTIME, runtime_gc, NULL);
  if (luaL_newmetatable(L, MT_ERROR)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushstring(L, MT_ERROR);
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
}

/* ---- Calling Lua from C callbacks ----------------------------------- */

typedef struct call_ctx {
  xfl_rt *rt;
  int fnref;
  void (*push)(lua_State *L, void *arg, xfl_rt *rt); /* may be NULL */
  void *arg;
  const char *what; /* the exception handler's message on error */
  bool is_handler;  /* errors are printed instead of reported */
} call_ctx;

static void print_error(const char *message, xf_error_t *err) {
  fprintf(stderr, "xfutures: %s", message ? message : "error");
  if (err) {
    fprintf(stderr, ": %s: %s", xf_error_type(err), xf_error_message(err));
    if (xf_error_traceback(err))
      fprintf(stderr, "\n%s", xf_error_traceback(err));
  }
  fputc('\n', stderr);
}

/* Protected: hand the error object at 2 to the exception handler. */
static int report_lua_error_p(lua_State *L) {
  call_ctx *c = lua_touserdata(L, 1);
  xf_error_t *e = error_from_lua(L, 2, c->rt, NULL);
  if (c->is_handler)
    print_error("the exception handler failed", e);
  else
    xf_loop_call_exception_handler(c->rt->loop, c->what, e);
  xf_error_unref(e);
  return 0;
}

static void report_lua_error(lua_State *L, call_ctx *c) {
  lua_pushcfunction(L, report_lua_error_p);
  lua_pushlightuserdata(L, c);
  lua_pushvalue(L, -3);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK)
    fprintf(stderr, "xfutures: %s\n", lua_tostring(L, -1));
}

static int call_lua_p(lua_State *L) {
  call_ctx *c = lua_touserdata(L, 1);
  lua_pushcfunction(L, msgh);
  int h = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->fnref);
  int top = lua_gettop(L);
  if (c->push)
    c->push(L, c->arg, c->rt);
  if (lua_pcall(L, lua_gettop(L) - top, 0, h) != LUA_OK)
    report_lua_error(L, c);
  return 0;
}

/* Call the function held by fnref on the owner thread, protected. */
static void call_lua(call_ctx *c) {
  xfl_rt *rt = c->rt;
  if (!on_owner(rt) || c->fnref == LUA_NOREF || closing(rt))
    return;
  lua_State *L = rt->cur ? rt->cur : rt->L;
  if (!lua_checkstack(L, 4)) {
    print_error("Lua stack overflow; a callback was dropped", NULL);
    return;
  }
  int top = lua_gettop(L);
  if (!c->push) {
    /* Nothing to push that could raise (a timer's function): one protected
     * call instead of two. */
    lua_pushcfunction(L, msgh);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->fnref);
    if (lua_pcall(L, 0, 0, top + 1) != LUA_OK)
      report_lua_error(L, c);
    lua_settop(L, top);
    return;
  }
  lua_pushcfunction(L, call_lua_p);
  lua_pushlightuserdata(L, c);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK)
    fprintf(stderr, "xfutures: %s\n", lua_tostring(L, -1));
  lua_settop(L, top);
}

static void push_handler_args(lua_State *L, void *arg, xfl_rt *rt) {
  void **a = arg;
  lua_pushstring(L, a[0]);
  if (a[1])
    push_error(L, a[1], rt);
  else
    lua_pushnil(L);
}

static void exception_handler(xf_loop_t *loop, const char *message, xf_error_t *err,
                              void *data) {
  (void) loop;
  xfl_rt *rt = data;
  if (on_owner(rt) && rt->handler_ref != LUA_NOREF && !closing(rt)) {
    void *args[2] = {(void *) message, err};
    call_ctx c = {rt, rt->handler_ref, push_handler_args, args, NULL, true};
    call_lua(&c);
    return;
  }
  print_error(message, err);
}

/* xf:end */

/* xf:lang-specific: Lua's future objects (one userdata per future), its functions as done
 * callbacks, waits that run the owner loop */
/* ---- Futures -------------------------------------------------------- */

/* A future's userdata (xfl.h): its tag tells it from any other. */
typedef xfl_future_ud ud_future;

const char xfl_future_tag = 0;

static ud_future *to_future_ud(lua_State *L, int idx) {
  return xfl_future_ud_at(L, idx);
}

/* How many values a lua_pool job returned, shared by the job and the Lua
 * object of its future (its second user value, a light userdata): with two
 * or more, the future's value is the list of them, and reading the outcome
 * in this state unpacks it. Written by the worker before it finishes the
 * future, so a done future's reader sees it. */
typedef struct results {
  atomic_int refs;
  atomic_int n;
} results;

static void results_unref(results *r) {
  if (r && atomic_fetch_sub(&r->refs, 1) == 1)
    free(r);
}

/* Push the Lua object of f, the same one for as long as it lives. steal:
 * take over the caller's reference. */
static void push_future(lua_State *L, xf_future_t *f, bool steal) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &CACHE_KEY);
  if (lua_rawgetp(L, -1, f) == LUA_TUSERDATA) {
    lua_remove(L, -2);
    if (steal)
      xf_future_unref(f);
    return;
  }
  lua_pop(L, 1);
  ud_future *u = lua_newuserdatauv(L, sizeof *u, 2);
  u->tag = &xfl_future_tag;
  u->f = steal ? f : xf_future_ref(f);
  atomic_fetch_add(&live_handles, 1);
  luaL_setmetatable(L, MT_FUTURE);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, -3, f);
  lua_remove(L, -2);
}

static xf_future_t *check_future(lua_State *L, int idx) {
  ud_future *u = to_future_ud(L, idx);
  if (!u)
    luaL_typeerror(L, idx, MT_FUTURE);
  if (!u->f)
    luaL_argerror(L, idx, "released future");
  return u->f;
}

xf_future_t *xfl_check_future(lua_State *L, int idx) {
  return check_future(L, idx);
}

void xfl_push_future(lua_State *L, xf_future_t *f) {
  push_future(L, f, true);
}

static int future_gc(lua_State *L) {
  ud_future *u = lua_touserdata(L, 1);
  if (!u->f)
    return 0;
  /* The Lua-side list of callback records: drop our references. */
  if (lua_getiuservalue(L, 1, 1) == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      size_t n = lua_rawlen(L, -1);
      for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, (lua_Integer) i);
        box_unref(lua_touserdata(L, -1));
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  if (lua_getiuservalue(L, 1, 2) == LUA_TLIGHTUSERDATA)
    results_unref(lua_touserdata(L, -1));
  lua_pop(L, 1);
  xf_future_unref(u->f);
  u->f = NULL;
  atomic_fetch_sub(&live_handles, 1);
  return 0;
}

static const char *state_name(int s) {
  switch (s) {
  case XF_PENDING:
    return "pending";
  case XF_RUNNING:
    return "running";
  case XF_FINISHED:
    return "finished";
  case XF_CANCELLED:
    return "cancelled";
  default:
    return "released";
  }
}

static int future_tostring(lua_State *L) {
  ud_future *u = luaL_checkudata(L, 1, MT_FUTURE);
  lua_pushfstring(L, "xf.future (%s): %p", state_name(xf_future_state(u->f)),
                  (void *) u->f);
  return 1;
}

int xfl_is_future(lua_State *L) {
  lua_pushboolean(L, to_future_ud(L, 1) != NULL);
  return 1;
}

/* Adopt a future made elsewhere (C, another state, another language's
 * binding) from its address, a light userdata or an integer: the state's
 * object for it, holding a reference of its own. The address must be that of
 * a live xf_future_t. */
int xfl_future_from_handle(lua_State *L) {
  check_rt(L);
  void *p = NULL;
  if (lua_type(L, 1) == LUA_TLIGHTUSERDATA)
    p = lua_touserdata(L, 1);
  else if (lua_isinteger(L, 1))
    p = (void *) (uintptr_t) lua_tointeger(L, 1);
  else
    return luaL_typeerror(L, 1, "light userdata or integer address");
  if (!p)
    return luaL_argerror(L, 1, "NULL future address");
  push_future(L, (xf_future_t *) p, false);
  return 1;
}

/* The address of a future's C handle, as an integer (for C, other states and
 * other languages' bindings). */
int xfl_future_handle(lua_State *L) {
  lua_pushinteger(L, (lua_Integer) (uintptr_t) check_future(L, 1));
  return 1;
}

static void raise_state(lua_State *L, int rc, const char *what) {
  if (rc == XF_ESTATE)
    raise_code(L, rc, lua_pushfstring(L, "%s: the future is already done", what));
  if (rc != XF_OK)
    raise_code(L, rc, NULL);
}

int xfl_future_set_result(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  xf_future_t *f = check_future(L, 1);
  xf_value_t *v = check_value(L, 2, rt);
  raise_state(L, xf_future_set_result(f, v), "set_result");
  return 0;
}

int xfl_future_set_error(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  xf_future_t *f = check_future(L, 1);
  /* An error with no value would be a failure that says nothing. */
  if (lua_isnoneornil(L, 2))
    return luaL_argerror(
        L, 2, "set_error needs an error (a string or an error table), got nil");
  xf_error_t *e = error_from_lua(L, 2, rt, NULL);
  if (!e)
    return raise_code(L, XF_ENOMEM, NULL);
  raise_state(L, xf_future_set_error(f, e), "set_error");
  return 0;
}

xf_loop_t *xfl_state_loop(lua_State *L) {
  return check_rt(L)->loop;
}

int64_t xfl_to_ns(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx))
    return -1;
  lua_Number s = luaL_checknumber(L, idx);
  if (s < 0)
    return -1;
  if (s > 9.0e9)
    return INT64_MAX / 2;
  return (int64_t) (s * 1e9);
}

static void noop_done(xf_future_t *f, void *data) {
  (void) f, (void) data;
}

static void noop_callback(void *data) {
  (void) data;
}

/* Wait until f is done or timeout_ns passes; true when done. On the owner
 * thread with its loop idle, the loop runs meanwhile, so that callbacks and
 * tasks make progress (a blocking wait is then what xf.run is, with a
 * deadline). */
static bool wait_future(lua_State *L, xfl_rt *rt, xf_future_t *f, int64_t timeout_ns) {
  if (xf_future_done(f))
    return true;
  if (rt && on_owner(rt) && !xf_loop_is_running(rt->loop) &&
      !xf_loop_is_closed(rt->loop) && xf_loop_current() == NULL) {
    int64_t deadline = timeout_ns >= 0 ? xf_now() + timeout_ns : -1;
    xf_handle_t *timer = NULL;
    /* A done callback on the loop wakes it when f finishes elsewhere. */
    bool wake = xf_future_add_done_callback(f, noop_done, NULL, NULL, rt->loop) == XF_OK;
    if (timeout_ns >= 0)
      xf_loop_call_later(rt->loop, timeout_ns, noop_callback, NULL, NULL, &timer);
    lua_State *prev = rt->cur;
    rt->cur = L;
    while (!xf_future_done(f)) {
      if (deadline >= 0 && xf_now() >= deadline)
        break;
      if (xf_loop_run(rt->loop, wake ? XF_RUN_ONCE : XF_RUN_NOWAIT) != XF_OK)
        break;
      if (!wake && !xf_future_done(f))
        xf_future_wait(f, 1000000);
    }
    rt->cur = prev;
    if (timer) {
      xf_handle_cancel(timer);
      xf_handle_unref(timer);
    }
    if (wake)
      xf_future_remove_done_callback(f, noop_done, NULL);
    return xf_future_done(f);
  }
  /* The core refuses a wait that only this thread's running loop could end. */
  int rc = xf_future_wait(f, timeout_ns);
  if (rc == XF_EDEADLK)
    raise_code(L, rc,
               "blocking on a future of the running loop would deadlock; use xf.await "
               "inside a task");
  return rc == XF_OK;
}

/* future_wait(f, timeout, for_await): with for_await, a wait that would
 * block the loop this thread is running (xf.await in a plain coroutine
 * inside a task, or in a callback) is refused with an error that names the
 * fix, rather than blocking every task of the state. */
int xfl_future_wait(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  xf_future_t *f = check_future(L, 1);
  if (lua_toboolean(L, 3) && !xf_future_done(f) && xf_loop_current() == rt->loop)
    return raise_code(L, XF_EDEADLK,
                      "xf.await outside a task (in a plain coroutine, or a callback) "
                      "while the loop runs would block every task of this state; run "
                      "the function as a task with xf.spawn(fn, ...) and await the "
                      "future it returns");
  lua_pushboolean(L, wait_future(L, rt, f, xfl_to_ns(L, 2)));
  return 1;
}

/* Read f's outcome as xf_future_outcome does; a future not done yet is
 * XF_ETIMEDOUT, as a wait of zero would be. */
static int read_outcome(lua_State *L, xf_future_t *f, xf_value_t **v, xf_error_t **e) {
  int state = xf_future_outcome(f, v, e);
  if (state < 0)
    return raise_code(L, state, NULL);
  if (state == XF_PENDING || state == XF_RUNNING)
    return raise_code(L, XF_ETIMEDOUT, "the future is not done yet");
  return state;
}

/* Push the outcome of the future at idx (done): its value, or raise its
 * error; the values of a lua_pool job that returned several, unpacked. */
static int push_outcome(lua_State *L, xfl_rt *rt, int idx) {
  xf_future_t *f = check_future(L, idx);
  xf_value_t *v = NULL;
  xf_error_t *e = NULL;
  read_outcome(L, f, &v, &e);
  if (e)
    return raise_error(L, e, rt);
  int n = 1;
  if (lua_getiuservalue(L, idx, 2) == LUA_TLIGHTUSERDATA)
    n = atomic_load(&((results *) lua_touserdata(L, -1))->n);
  lua_pop(L, 1);
  size_t len = 0;
  if (n < 2 || xf_value_kind(v) != XF_KIND_LIST || xf_value_list_len(v, &len) != XF_OK ||
      len != (size_t) n) {
    push_value(L, v, rt, 0);
    xf_value_unref(v);
    return 1;
  }
  if (!lua_checkstack(L, n + 4)) {
    xf_value_unref(v);
    return raise_code(L, XF_ENOMEM, "too many results");
  }
  for (int i = 0; i < n; i++) {
    xf_value_t *item = NULL;
    xf_value_list_get(v, (size_t) i, &item);
    push_value(L, item, rt, 0);
  }
  xf_value_unref(v);
  return n;
}

int xfl_future_outcome(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  return push_outcome(L, rt, 1);
}

int xfl_future_get_error(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  xf_future_t *f = check_future(L, 1);
  xf_error_t *e = NULL;
  read_outcome(L, f, NULL, &e);
  if (!e) {
    lua_pushnil(L);
    return 1;
  }
  push_error(L, e, rt);
  xf_error_unref(e);
  return 1;
}

static void push_future_arg(lua_State *L, void *arg, xfl_rt *rt) {
  (void) rt;
  push_future(L, arg, false);
}

/* A done callback: the Lua function receives the future (the same object). */
static void done_callback(xf_future_t *f, void *data) {
  box *r = data;
  call_ctx c = {r->rt, r->ref, push_future_arg, f, "exception in a done callback", false};
  call_lua(&c);
}

int xfl_future_on_done(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  xf_future_t *f = check_future(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  /* The list first, so that no Lua error can come after the registration. */
  if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, 1);
  }
  lua_pushvalue(L, 2);
  if (lua_rawget(L, -2) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  lua_Integer n = (lua_Integer) lua_rawlen(L, -1);
  lua_checkstack(L, 2);
  /* Two references: the core's registration and the list's entry (so that
   * remove_on_done can name the box safely). */
  box *r = box_check_new(L, 2, rt, 2);
  lua_pushlightuserdata(L, r);
  lua_rawseti(L, -2, n + 1);
  int rc = xf_future_add_done_callback(f, done_callback, r, box_free_data, rt->loop);
  if (rc != XF_OK) {
    lua_pushnil(L);
    lua_rawseti(L, -2, n + 1);
    box_unref(r);
    box_unref(r);
    return raise_code(L, rc, NULL);
  }
  return 0;
}

int xfl_future_remove_on_done(lua_State *L) {
  check_rt(L);
  xf_future_t *f = check_future(L, 1);
  luaL_checkany(L, 2);
  int removed = 0;
  if (lua_getiuservalue(L, 1, 1) == LUA_TTABLE) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) == LUA_TTABLE) {
      size_t n = lua_rawlen(L, -1);
      for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, (lua_Integer) i);
        box *r = lua_touserdata(L, -1);
        lua_pop(L, 1);
        int rc = xf_future_remove_done_callback(f, done_callback, r);
        if (rc > 0)
          removed += rc;
        box_unref(r);
      }
    }
    lua_pop(L, 1);
    lua_pushvalue(L, 2);
    lua_pushnil(L);
    lua_rawset(L, -3);
  }
  lua_pushinteger(L, removed);
  return 1;
}

/* xf:end */

/* ---- Combinators ---------------------------------------------------- */

/* xf:lang-specific: a Lua sequence of futures */
/* The futures of the sequence table at idx, each a borrowed pointer kept
 * alive by the table; freed with free(). */
xf_future_t **xfl_check_future_list(lua_State *L, int idx, size_t *n);
xf_future_t **xfl_check_future_list(lua_State *L, int idx, size_t *n) {
  luaL_checktype(L, idx, LUA_TTABLE);
  *n = lua_rawlen(L, idx);
  xf_future_t **fs = lua_newuserdatauv(L, (*n ? *n : 1) * sizeof *fs, 0);
  for (size_t i = 0; i < *n; i++) {
    lua_rawgeti(L, idx, (lua_Integer) i + 1);
    ud_future *u = to_future_ud(L, -1);
    if (!u || !u->f)
      luaL_error(L, "item %d is not a future", (int) i + 1);
    fs[i] = u->f;
    lua_pop(L, 1);
  }
  return fs; /* a userdata on the stack: the GC frees it */
}

/* xf:end */

/* xf:lang-specific: Lua's coroutines as the core's tasks, its functions as timers and
 * readers, running the state's loop */
/* ---- Tasks: coroutines driven by the core's tasks ------------------- */

typedef struct task {
  xfl_rt *rt;
  box *co; /* the coroutine */
  bool started;
} task;

static void task_free(void *data) {
  task *t = data;
  box_unref(t->co);
  rt_unref(t->rt);
  free(t);
}

static int task_step(xf_future_t *self, void *data, xf_future_t *awaited, int status) {
  (void) awaited;
  task *t = data;
  xfl_rt *rt = t->rt;
  if (!on_owner(rt))
    return XF_EWRONGTHREAD;
  if (closing(rt))
    return XF_ECANCELLED; /* the state closes: no coroutine runs again */
  lua_State *from = rt->cur ? rt->cur : rt->L;
  if (!lua_checkstack(from, 8))
    return XF_ENOMEM;
  lua_rawgeti(from, LUA_REGISTRYINDEX, t->co->ref);
  lua_State *co = lua_tothread(from, -1);
  lua_pop(from, 1); /* the registry keeps it */
  int nargs;
  if (!t->started) {
    t->started = true;
    nargs = lua_gettop(co) - 1;
  } else {
    if (!lua_checkstack(co, 2))
      return XF_ENOMEM;
    lua_pushinteger(co, status);
    nargs = 1;
  }
  int nres = 0;
  lua_State *prev_co = rt->task_co;
  xf_future_t *prev_self = rt->task_self;
  rt->task_co = co;
  rt->task_self = self;
  int rc = lua_resume(co, from, nargs, &nres);
  rt->task_co = prev_co;
  rt->task_self = prev_self;
  if (rc == LUA_YIELD) {
    int ret = XF_TASK_YIELD;
    if (nres == 2 && lua_touserdata(co, -2) == &AWAIT_KEY) {
      ud_future *u = to_future_ud(co, -1);
      int arc = u && u->f ? xf_task_await(self, u->f) : XF_EINVAL;
      if (arc == XF_OK) {
        ret = XF_TASK_AWAIT;
      } else {
        xf_future_fail(self, arc, NULL, "a task cannot await this (itself?)");
        ret = XF_OK;
      }
    }
    lua_pop(co, nres);
    return ret;
  }
  if (rc == LUA_OK) {
    xf_value_t *v = NULL;
    const char *why = NULL;
    int vrc = nres > 0 ? to_value(co, -nres, rt, 0, &v, &why) : XF_OK;
    lua_pop(co, nres);
    if (vrc == XF_OK)
      xf_future_set_result(self, v);
    else
      xf_future_fail(self, vrc, NULL, why ? why : "cannot convert the task's result");
    return XF_OK;
  }
  /* The coroutine failed: its stack is still there for the traceback. */
  lua_xmove(co, from, 1);
  luaL_traceback(from, co, NULL, 0);
  xf_error_t *e = error_from_lua(from, -2, rt, lua_tostring(from, -1));
  lua_pop(from, 2);
  if (!e)
    return XF_ENOMEM;
  if (xf_error_code(e) == XF_ECANCELLED) {
    xf_error_unref(e);
    return XF_ECANCELLED;
  }
  xf_future_set_error(self, e);
  return XF_OK;
}

int xfl_spawn(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  int n = lua_gettop(L);
  lua_State *co = lua_newthread(L);
  lua_rotate(L, 1, 1); /* the thread below the function and its arguments */
  lua_xmove(L, co, n);
  task *t = malloc(sizeof *t);
  if (!t)
    return raise_code(L, XF_ENOMEM, NULL);
  t->co = box_new(L, 1, rt, 1);
  if (!t->co) {
    free(t);
    return raise_code(L, XF_ENOMEM, NULL);
  }
  lua_pop(L, 1); /* the registry keeps the thread */
  t->rt = rt_ref(rt);
  t->started = false;
  xf_future_t *f;
  int rc = xf_task_new(rt->loop, task_step, t, task_free, &f);
  if (rc != XF_OK) {
    task_free(t);
    return raise_code(L, rc, NULL);
  }
  push_future(L, f, true);
  return 1;
}

int xfl_current_task(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  if (rt->task_co == L && rt->task_self)
    push_future(L, rt->task_self, false);
  else
    lua_pushnil(L);
  return 1;
}

/* ---- Timers and handles --------------------------------------------- */

typedef struct ud_handle {
  xf_handle_t *h;
} ud_handle;

static int handle_gc(lua_State *L) {
  ud_handle *u = lua_touserdata(L, 1);
  if (u->h) {
    xf_handle_unref(u->h);
    u->h = NULL;
    atomic_fetch_sub(&live_handles, 1);
  }
  return 0;
}

static void timer_callback(void *data) {
  box *r = data;
  call_ctx c = {r->rt, r->ref, NULL, NULL, "exception in a scheduled callback", false};
  call_lua(&c);
}

static int schedule(lua_State *L, bool later) {
  xfl_rt *rt = check_rt(L);
  int fnidx = later ? 2 : 1;
  int64_t ns = later ? xfl_to_ns(L, 1) : 0;
  luaL_checktype(L, fnidx, LUA_TFUNCTION);
  ud_handle *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->h = NULL;
  luaL_setmetatable(L, MT_HANDLE);
  box *r = box_check_new(L, fnidx, rt, 1);
  int rc = later ? xf_loop_call_later(rt->loop, ns < 0 ? 0 : ns, timer_callback, r,
                                      box_free_data, &u->h)
                 : xf_loop_call_soon(rt->loop, timer_callback, r, box_free_data, &u->h);
  if (rc != XF_OK) {
    box_unref(r);
    return raise_code(L, rc,
                      rc == XF_EWRONGTHREAD ? "another thread runs the loop" : NULL);
  }
  atomic_fetch_add(&live_handles, 1);
  return 1;
}

int xfl_call_later(lua_State *L) {
  return schedule(L, true);
}

int xfl_call_soon(lua_State *L) {
  return schedule(L, false);
}

int xfl_handle_cancel(lua_State *L) {
  ud_handle *u = luaL_checkudata(L, 1, MT_HANDLE);
  if (u->h)
    xf_handle_cancel(u->h);
  lua_pushboolean(L, u->h && xf_handle_cancelled(u->h));
  return 1;
}

/* ---- File descriptors ----------------------------------------------- */

/* The fd reaches the Lua function as its argument; a record carries the
 * function, as for a timer. */
static void push_fd_arg(lua_State *L, void *arg, xfl_rt *rt) {
  (void) rt;
  lua_pushinteger(L, (lua_Integer) (intptr_t) arg);
}

static void reader_callback(int fd, void *data) {
  box *r = data;
  void *arg = (void *) (intptr_t) fd;
  call_ctx c = {r->rt, r->ref, push_fd_arg, arg, "exception in a reader callback", false};
  call_lua(&c);
}

static int check_fd(lua_State *L, int idx) {
  lua_Integer fd = luaL_checkinteger(L, idx);
  if (fd < 0 || fd > INT32_MAX)
    raise_code(L, XF_EINVAL, "a file descriptor is an integer from 0");
  return (int) fd;
}

/* add_reader(fd, fn): fn(fd) on the state's loop each time fd is readable,
 * until remove_reader(fd) (xf_loop_add_reader; one reader per fd, a new one
 * replaces it). The loop does not own fd. */
int xfl_add_reader(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  int fd = check_fd(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  box *r = box_check_new(L, 2, rt, 1);
  int rc = xf_loop_add_reader(rt->loop, fd, reader_callback, r, box_free_data);
  if (rc != XF_OK) {
    box_unref(r);
    return raise_code(L, rc,
                      rc == XF_EWRONGTHREAD ? "another thread runs the loop"
                      : rc == XF_ESYS       ? "the kernel cannot watch this descriptor"
                                            : NULL);
  }
  return 0;
}

/* ---- Running the loop ----------------------------------------------- */

int xfl_run_until_complete(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  xf_future_t *f = check_future(L, 1);
  lua_State *prev = rt->cur;
  rt->cur = L;
  int rc = xf_loop_run_until_complete(rt->loop, f, NULL);
  rt->cur = prev;
  if (rc == XF_EBUSY)
    return raise_code(L, rc,
                      "the loop is already running (xf.run does not nest; use xf.await "
                      "inside a task)");
  if (rc == XF_ESTATE)
    return raise_code(L, rc, "the loop stopped before the future was done");
  if (rc == XF_ECLOSED)
    return raise_code(L, rc, NULL);
  return push_outcome(L, rt, 1);
}

int xfl_run_once(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  lua_State *prev = rt->cur;
  rt->cur = L;
  int rc = xf_loop_run(rt->loop, lua_toboolean(L, 1) ? XF_RUN_ONCE : XF_RUN_NOWAIT);
  rt->cur = prev;
  if (rc != XF_OK)
    return raise_code(L, rc, NULL);
  return 0;
}

int xfl_set_exception_handler(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  if (!lua_isnoneornil(L, 1))
    luaL_checktype(L, 1, LUA_TFUNCTION);
  if (rt->handler_ref != LUA_NOREF)
    luaL_unref(L, LUA_REGISTRYINDEX, rt->handler_ref);
  rt->handler_ref = LUA_NOREF;
  if (!lua_isnoneornil(L, 1)) {
    lua_pushvalue(L, 1);
    rt->handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  return 0;
}

/* report(message, err): hand an error to the loop's exception handler. */
int xfl_report(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  const char *message = luaL_checkstring(L, 1);
  xf_error_t *e = lua_isnoneornil(L, 2) ? NULL : error_from_lua(L, 2, rt, NULL);
  xf_loop_call_exception_handler(rt->loop, message, e);
  xf_error_unref(e);
  return 0;
}

/* xf:end */

/* ---- Executors ------------------------------------------------------ */

typedef struct lpool {
  char *path, *cpath, *init;
  size_t initlen;
} lpool;

typedef struct ud_exec {
  xf_executor_t *ex;
  lpool *lp;
} ud_exec;

static void lpool_free(lpool *lp) {
  if (!lp)
    return;
  free(lp->path);
  free(lp->cpath);
  free(lp->init);
  free(lp);
}

/* xf:lang-specific: waiting for a pool while the owner loop of the Lua state runs */
/* ---- Waiting for a pool without blocking the owner loop ------------- */

typedef struct joiner {
  xf_executor_t *ex;
  bool cancel;
  xf_future_t *done; /* its value: what the shutdown returned */
} joiner;

static void *joiner_main(void *p) {
  joiner *j = p;
  xf_value_t *v = NULL;
  if (xf_value_new_int(xf_executor_shutdown(j->ex, true, j->cancel), &v) == XF_OK)
    xf_future_set_result(j->done, v);
  else
    xf_future_fail(j->done, XF_ENOMEM, NULL, NULL);
  xf_value_unref(v);
  return NULL;
}

/* Shut ex down and wait for its workers. A worker may be calling one of
 * this state's callbacks, which waits for the owner loop: on the owner
 * thread with its loop idle, a thread of its own joins the workers while
 * this one runs the loop, so that the call is answered (or, while the state
 * closes, gets its default value) and the worker can finish. Elsewhere, or
 * without the means to do that, it is the core's blocking shutdown. */
static int shutdown_wait(lua_State *L, xfl_rt *rt, xf_executor_t *ex, bool cancel) {
  if (!rt || !on_owner(rt) || xf_loop_is_running(rt->loop) ||
      xf_loop_is_closed(rt->loop) || xf_loop_current() != NULL)
    return xf_executor_shutdown(ex, true, cancel);
  joiner j = {ex, cancel, NULL};
  pthread_t t;
  if (xf_future_new(&j.done) != XF_OK)
    return xf_executor_shutdown(ex, true, cancel);
  if (pthread_create(&t, NULL, joiner_main, &j) != 0) {
    xf_future_unref(j.done);
    return xf_executor_shutdown(ex, true, cancel);
  }
  if (!wait_future(L, rt, j.done, -1))
    xf_future_wait(j.done, -1); /* the loop failed: block, as before */
  pthread_join(t, NULL);
  xf_value_t *v = NULL;
  int64_t rc = XF_ENOMEM;
  if (xf_future_outcome(j.done, &v, NULL) == XF_FINISHED)
    xf_value_get_int(v, &rc);
  xf_value_unref(v);
  xf_future_unref(j.done);
  return (int) rc;
}

static int executor_gc(lua_State *L) {
  ud_exec *u = lua_touserdata(L, 1);
  if (!u->ex)
    return 0;
  /* Queued jobs are cancelled; running ones finish, as the pool's init data
   * must outlive its threads. */
  shutdown_wait(L, get_rt(L), u->ex, u->lp != NULL);
  xf_executor_unref(u->ex);
  lpool_free(u->lp);
  u->ex = NULL;
  u->lp = NULL;
  atomic_fetch_sub(&live_handles, 1);
  return 0;
}

/* xf:end */

static xf_executor_t *check_executor(lua_State *L, int idx) {
  ud_exec *u = luaL_checkudata(L, idx, MT_EXECUTOR);
  if (!u->ex)
    luaL_argerror(L, idx, "released executor");
  return u->ex;
}

xf_executor_t *xfl_check_executor(lua_State *L, int idx) {
  return check_executor(L, idx);
}

static ud_exec *new_executor_ud(lua_State *L) {
  ud_exec *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->ex = NULL;
  u->lp = NULL;
  luaL_setmetatable(L, MT_EXECUTOR);
  mark_closing_sentinel(L, get_rt(L));
  return u;
}

int xfl_executor_shutdown(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  xf_executor_t *ex = check_executor(L, 1);
  bool cancel = lua_toboolean(L, 3);
  int rc = lua_toboolean(L, 2) ? shutdown_wait(L, rt, ex, cancel)
                               : xf_executor_shutdown(ex, false, cancel);
  if (rc != XF_OK)
    return raise_code(L, rc, NULL);
  return 0;
}

int xfl_executor_stats(lua_State *L) {
  xf_executor_t *ex = check_executor(L, 1);
  xf_executor_stats_t s = XF_EXECUTOR_STATS_INIT;
  int rc = xf_executor_stats(ex, &s);
  if (rc != XF_OK)
    return raise_code(L, rc, NULL);
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, (lua_Integer) s.queued);
  lua_setfield(L, -2, "queued");
  lua_pushinteger(L, (lua_Integer) s.running);
  lua_setfield(L, -2, "running");
  lua_pushinteger(L, (lua_Integer) s.completed);
  lua_setfield(L, -2, "completed");
  lua_pushinteger(L, (lua_Integer) s.cancelled);
  lua_setfield(L, -2, "cancelled");
  lua_pushinteger(L, (lua_Integer) s.threads);
  lua_setfield(L, -2, "threads");
  lua_pushinteger(L, (lua_Integer) s.max_workers);
  lua_setfield(L, -2, "max_workers");
  return 1;
}

/* submit_native(executor, fnptr, signature, args...) */
int xfl_executor_submit_native(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  xf_executor_t *ex = check_executor(L, 1);
  luaL_checktype(L, 2, LUA_TLIGHTUSERDATA);
  void *fn = lua_touserdata(L, 2);
  const char *text = luaL_checkstring(L, 3);
  if (!fn)
    return raise_code(L, XF_EINVAL, "submit_native: NULL function pointer");
  xf_signature_t *sig = check_signature(L, "submit_native", text, rt);
  int rc = XF_OK;
  int nargs = lua_gettop(L) - 3;
  xf_value_t **args =
      lua_newuserdatauv(L, (nargs ? (size_t) nargs : 1) * sizeof *args, 0);
  int crc = XF_OK;
  const char *why = NULL;
  int i;
  for (i = 0; i < nargs && crc == XF_OK; i++)
    crc = to_value(L, 4 + i, rt, 0, &args[i], &why);
  xf_future_t *f = NULL;
  if (crc == XF_OK)
    rc = xf_executor_submit_native_sig(ex, fn, sig, args, (size_t) nargs, &f);
  for (int j = 0; j < i; j++)
    xf_value_unref(args[j]);
  xf_signature_unref(sig);
  if (crc != XF_OK)
    return raise_code(L, crc, why);
  if (rc != XF_OK) {
    const char *msg = rc == XF_EINVAL   ? "wrong number of arguments for the signature"
                      : rc == XF_ETYPE  ? "an argument does not match the signature"
                      : rc == XF_ERANGE ? "an argument is out of range for its C type"
                                        : NULL;
    return raise_code(L, rc, msg);
  }
  push_future(L, f, true);
  return 1;
}

int xfl_dlsym(lua_State *L) {
  const char *lib = luaL_optstring(L, 1, NULL);
  const char *name = luaL_checkstring(L, 2);
  void *h = dlopen(lib, RTLD_NOW | RTLD_GLOBAL);
  if (!h) {
    lua_pushnil(L);
    lua_pushstring(L, dlerror());
    return 2;
  }
  /* The library stays loaded: the pointer may be used at any time. */
  void *p = dlsym(h, name);
  if (!p) {
    lua_pushnil(L);
    lua_pushfstring(L, "symbol not found: %s", name);
    return 2;
  }
  lua_pushlightuserdata(L, p);
  return 1;
}

/* xf:lang-specific: the Lua-state pool: a Lua state per worker thread */
/* ---- The Lua-state pool --------------------------------------------- */

static pthread_key_t worker_key;
static pthread_once_t worker_once = PTHREAD_ONCE_INIT;

static void close_worker_state(void *p) {
  lua_close(p);
}

static void make_worker_key(void) {
  pthread_key_create(&worker_key, close_worker_state);
}

static int worker_setup(lua_State *W) {
  lpool *lp = lua_touserdata(W, 1);
  luaL_openlibs(W);
  setup_metatables(W);
  lua_getglobal(W, "package");
  if (lp->path) {
    lua_pushstring(W, lp->path);
    lua_setfield(W, -2, "path");
  }
  if (lp->cpath) {
    lua_pushstring(W, lp->cpath);
    lua_setfield(W, -2, "cpath");
  }
  lua_pop(W, 1);
  if (lp->init) {
    luaL_loadbufferx(W, lp->init, lp->initlen, "=(lua_pool initializer)", NULL) == LUA_OK
        ? lua_call(W, 0, 0)
        : (void) lua_error(W);
  }
  return 0;
}

/* The pool's initializer: this worker thread's own Lua state. */
static int worker_init(void *data) {
  pthread_once(&worker_once, make_worker_key);
  lua_State *W = luaL_newstate();
  if (!W)
    return -1;
  lua_pushcfunction(W, worker_setup);
  lua_pushlightuserdata(W, data);
  if (lua_pcall(W, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "xfutures: lua_pool initializer failed: %s\n", lua_tostring(W, -1));
    lua_close(W);
    return -1;
  }
  if (pthread_setspecific(worker_key, W) != 0) {
    lua_close(W);
    return -1;
  }
  return 0;
}

int xfl_lua_pool_new(lua_State *L) {
  check_rt(L);
  lua_Integer workers = luaL_optinteger(L, 1, 0);
  const char *path = luaL_optstring(L, 2, NULL);
  const char *cpath = luaL_optstring(L, 3, NULL);
  size_t initlen = 0;
  const char *init = luaL_optlstring(L, 4, NULL, &initlen);
  if (workers < 0 || workers > 100000)
    return raise_code(L, XF_EINVAL, "workers must be between 0 and 100000");
  ud_exec *u = new_executor_ud(L);
  lpool *lp = calloc(1, sizeof *lp);
  if (!lp)
    return raise_code(L, XF_ENOMEM, NULL);
  lp->path = path ? strdup(path) : NULL;
  lp->cpath = cpath ? strdup(cpath) : NULL;
  lp->init = init ? malloc(initlen) : NULL;
  if ((path && !lp->path) || (cpath && !lp->cpath) || (init && !lp->init)) {
    lpool_free(lp);
    return raise_code(L, XF_ENOMEM, NULL);
  }
  if (init)
    memcpy(lp->init, init, initlen);
  lp->initlen = initlen;
  xf_thread_pool_options_t opts = XF_THREAD_POOL_OPTIONS_INIT;
  opts.max_workers = (uint32_t) workers;
  opts.thread_name_prefix = "xflua";
  opts.initializer = worker_init;
  opts.init_data = lp;
  int rc = xf_thread_pool_new(&opts, &u->ex);
  if (rc != XF_OK) {
    lpool_free(lp);
    return raise_code(L, rc, NULL);
  }
  u->lp = lp;
  atomic_fetch_add(&live_handles, 1);
  return 1;
}

typedef struct job {
  char *code; /* a dumped function, or NULL */
  size_t len;
  char *module, *name;
  xf_value_t *args; /* a list */
  results *res;     /* a reference */
} job;

static void job_free(void *data) {
  job *j = data;
  results_unref(j->res);
  free(j->code);
  free(j->module);
  free(j->name);
  xf_value_unref(j->args);
  free(j);
}

static int job_resolve(lua_State *W) {
  const char *module = lua_tostring(W, 1), *name = lua_tostring(W, 2);
  lua_getglobal(W, "require");
  lua_pushstring(W, module);
  lua_call(W, 1, 1);
  if (!lua_istable(W, -1))
    return luaL_error(W, "module '%s' did not return a table", module);
  lua_getfield(W, -1, name);
  if (!lua_isfunction(W, -1))
    return luaL_error(W, "module '%s' has no function '%s'", module, name);
  return 1;
}

/* Runs in protected mode on the worker: everything that may raise. */
static int job_protected(lua_State *W) {
  job *j = lua_touserdata(W, 1);
  xf_future_t *fut = lua_touserdata(W, 2);
  xfl_rt *rt = get_rt(W); /* NULL unless the worker loaded the module */
  lua_pushcfunction(W, msgh);
  int h = lua_gettop(W);
  int rc;
  if (j->code) {
    rc = luaL_loadbufferx(W, j->code, j->len, "=(lua_pool task)", "b");
    if (rc == LUA_OK) {
      /* A dumped function's upvalues are fresh; _ENV gets the globals. */
      for (int i = 1;; i++) {
        const char *up = lua_getupvalue(W, -1, i);
        if (!up)
          break;
        lua_pop(W, 1);
        if (strcmp(up, "_ENV") == 0) {
          lua_pushglobaltable(W);
          lua_setupvalue(W, -2, i);
        }
      }
    } else {
      lua_pushcfunction(W, msgh);
      lua_insert(W, -2);
      lua_call(W, 1, 1);
    }
  } else {
    lua_pushcfunction(W, job_resolve);
    lua_pushstring(W, j->module);
    lua_pushstring(W, j->name);
    rc = lua_pcall(W, 2, 1, h);
  }
  if (rc != LUA_OK) {
    xf_error_t *e = error_from_lua(W, -1, rt, NULL);
    if (e)
      xf_future_set_error(fut, e);
    else
      xf_future_fail(fut, XF_ENOMEM, NULL, NULL);
    return 0;
  }
  int fn = lua_gettop(W);
  size_t n = 0;
  xf_value_list_len(j->args, &n);
  luaL_checkstack(W, (int) n + 4, "too many arguments");
  for (size_t i = 0; i < n; i++) {
    xf_value_t *item = NULL;
    xf_value_list_get(j->args, i, &item);
    push_value(W, item, rt, 0);
  }
  if (lua_pcall(W, (int) n, LUA_MULTRET, h) != LUA_OK) {
    xf_error_t *e = error_from_lua(W, -1, rt, NULL);
    if (e)
      xf_future_set_error(fut, e);
    else
      xf_future_fail(fut, XF_ENOMEM, NULL, NULL);
    return 0;
  }
  /* One value is the future's value; several, the list of them. */
  int nres = lua_gettop(W) - fn + 1;
  xf_value_t *v = NULL;
  const char *why = NULL;
  int vrc = XF_OK;
  if (nres == 1) {
    vrc = to_value(W, fn, rt, 0, &v, &why);
  } else if (nres > 1) {
    xf_value_t **items = lua_newuserdatauv(W, (size_t) nres * sizeof *items, 0);
    int i;
    for (i = 0; i < nres && vrc == XF_OK; i++)
      vrc = to_value(W, fn + i, rt, 0, &items[i], &why);
    if (vrc == XF_OK)
      vrc = xf_value_new_list(items, (size_t) nres, &v);
    for (int k = 0; k < i; k++)
      xf_value_unref(items[k]);
    atomic_store(&j->res->n, nres);
  }
  if (vrc == XF_OK)
    xf_future_set_result(fut, v);
  else
    xf_future_fail(fut, vrc, NULL, why ? why : "cannot convert the task's result");
  return 0;
}

static int job_run(void *data, xf_future_t *fut) {
  lua_State *W = pthread_getspecific(worker_key);
  if (!W)
    return xf_future_fail(fut, XF_EBROKEN, NULL, "this worker has no Lua state");
  int top = lua_gettop(W);
  lua_pushcfunction(W, job_protected);
  lua_pushlightuserdata(W, data);
  lua_pushlightuserdata(W, fut);
  if (lua_pcall(W, 2, 0, 0) != LUA_OK)
    xf_future_fail(fut, XF_EFAILED, "LuaError", lua_tostring(W, -1));
  lua_settop(W, top);
  return XF_OK;
}

/* lua_pool_submit(pool, code|nil, module|nil, name|nil, args...) */
int xfl_lua_pool_submit(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  ud_exec *u = luaL_checkudata(L, 1, MT_EXECUTOR);
  if (!u->ex || !u->lp)
    return luaL_argerror(L, 1, "not a lua_pool");
  size_t len = 0;
  const char *code = luaL_optlstring(L, 2, NULL, &len);
  const char *module = luaL_optstring(L, 3, NULL);
  const char *name = luaL_optstring(L, 4, NULL);
  if (!code && (!module || !name))
    return luaL_error(L, "lua_pool: a function, or a module and a function name");
  /* Each argument is converted on its own, so that one that cannot be data
   * is an opaque item of the list rather than turning the list opaque. */
  int nargs = lua_gettop(L) > 4 ? lua_gettop(L) - 4 : 0;
  xf_value_t **items = calloc(nargs ? (size_t) nargs : 1, sizeof *items);
  if (!items)
    return raise_code(L, XF_ENOMEM, NULL);
  const char *why = NULL;
  int crc = XF_OK;
  for (int i = 0; i < nargs && crc == XF_OK; i++)
    crc = to_value(L, 5 + i, rt, 0, &items[i], &why);
  xf_value_t *args = NULL;
  if (crc == XF_OK)
    crc = xf_value_new_list(items, (size_t) nargs, &args);
  for (int i = 0; i < nargs; i++)
    xf_value_unref(items[i]);
  free(items);
  if (crc != XF_OK)
    return raise_code(L, crc, why);
  job *j = calloc(1, sizeof *j);
  if (!j) {
    xf_value_unref(args);
    return raise_code(L, XF_ENOMEM, NULL);
  }
  j->args = args;
  j->res = malloc(sizeof *j->res);
  if (j->res) {
    atomic_init(&j->res->refs, 2);
    atomic_init(&j->res->n, 1);
  }
  j->len = len;
  j->code = code ? malloc(len) : NULL;
  j->module = module ? strdup(module) : NULL;
  j->name = name ? strdup(name) : NULL;
  if (!j->res || (code && !j->code) || (module && !j->module) || (name && !j->name)) {
    if (j->res)
      atomic_store(&j->res->refs, 1);
    job_free(j);
    return raise_code(L, XF_ENOMEM, NULL);
  }
  if (code)
    memcpy(j->code, code, len);
  results *res = j->res;
  xf_future_t *f;
  int rc = xf_executor_submit(u->ex, job_run, j, job_free, &f);
  if (rc != XF_OK) {
    job_free(j);
    results_unref(res);
    return raise_code(L, rc, NULL);
  }
  push_future(L, f, true);
  lua_pushlightuserdata(L, res);
  lua_setiuservalue(L, -2, 2);
  return 1;
}

/* xf:end */

/* ---- Values, errors, diagnostics ------------------------------------ */

/* xf:lang-specific: a Lua value's kind as the binding converts it */
int xfl_value_kind(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  xf_value_t *v = check_value(L, 1, rt);
  lua_pushinteger(L, xf_value_kind(v));
  xf_value_unref(v);
  return 1;
}

/* xf:end */

static const char *kind_name(int kind) {
  static const char *const names[] = {"void",   "bool",  "int",  "double",
                                      "string", "bytes", "list", "pointer",
                                      "object", "error", "map"};
  return kind >= 0 && kind < (int) (sizeof names / sizeof names[0]) ? names[kind]
                                                                    : "invalid";
}

/* core_repr(fut): the kind name and the core's text (xf_value_repr) of a
 * done future's value; an error or a cancellation as an error value. */
int xfl_core_repr(lua_State *L) {
  xf_future_t *f = check_future(L, 1);
  if (!xf_future_done(f))
    return raise_code(L, XF_ESTATE, "core_repr: the future is not done");
  xf_value_t *v = NULL;
  xf_error_t *e = NULL;
  read_outcome(L, f, &v, &e);
  if (e) {
    int rc = xf_value_new_error(e, &v);
    xf_error_unref(e);
    if (rc != XF_OK)
      return raise_code(L, rc, NULL);
  }
  size_t n = xf_value_repr(v, NULL, 0);
  char *text = malloc(n + 1);
  if (!text) {
    xf_value_unref(v);
    return raise_code(L, XF_ENOMEM, NULL);
  }
  xf_value_repr(v, text, n + 1);
  lua_pushstring(L, kind_name(xf_value_kind(v)));
  lua_pushlstring(L, text, n);
  free(text);
  xf_value_unref(v);
  return 2;
}

/* xf:lang-specific: Lua strings as bytes, and Lua error tables */
/* bytes(s): s as a value of kind bytes (an opaque userdata that crosses as
 * it), for a Lua string that is valid UTF-8, which would cross as a string. */
int xfl_bytes(lua_State *L) {
  size_t len = 0;
  const char *s = luaL_checklstring(L, 1, &len);
  ud_value *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->v = NULL;
  luaL_setmetatable(L, MT_OPAQUE);
  int rc = xf_value_new_bytes(s, len, &u->v);
  if (rc != XF_OK)
    return raise_code(L, rc, NULL);
  atomic_fetch_add(&live_handles, 1);
  return 1;
}

/* make_error(code, type, message, traceback): an error table. */
int xfl_make_error(lua_State *L) {
  int code = (int) luaL_optinteger(L, 1, XF_EFAILED);
  const char *type = luaL_optstring(L, 2, xf_error_default_type(code));
  const char *message = luaL_optstring(L, 3, xf_strerror(code));
  push_error_table(L, code, type, message, luaL_optstring(L, 4, NULL));
  return 1;
}

/* xf:end */

int xfl_thread_id(lua_State *L) {
  lua_pushinteger(L, (lua_Integer) syscall(SYS_gettid));
  return 1;
}

/* The live counters, for the tests' C module (xfl_testlib), which finds
 * this symbol in the loaded module; no Lua function of this module shows
 * them. */
__attribute__((visibility("default"))) void xfl_live_counts(long *handles, long *refs);
void xfl_live_counts(long *handles, long *refs) {
  *handles = atomic_load(&live_handles);
  *refs = atomic_load(&live_refs);
}

/* xf:lang-specific: the state's runtime, made by luaopen and closed with the state */
/* ---- The state's runtime -------------------------------------------- */

static int runtime_gc(lua_State *L) {
  xfl_rt **p = lua_touserdata(L, 1);
  xfl_rt *rt = *p;
  if (!rt)
    return 0;
  *p = NULL;
  /* From here on nothing touches this state: the releases still posted to
   * the loop run as it closes, and those that come later run on the thread
   * that drops the last reference; both find the runtime no longer alive
   * and only free their own memory, as do callbacks that come late. */
  atomic_store(&rt->alive, false);
  xf_loop_set_exception_handler(rt->loop, closed_handler, NULL, NULL);
  xf_loop_close(rt->loop);
  rt_unref(rt);
  return 0;
}

/* What the Lua layer needs of the C side, as fields of the module table
 * (at mod): the key a task yields to await, the null pointer and the
 * metatables, whose __index tables the layer fills with methods. */
static void set_module_fields(lua_State *L, int mod) {
  lua_pushlightuserdata(L, &AWAIT_KEY);
  lua_setfield(L, mod, "await_key");
  lua_pushlightuserdata(L, NULL); /* xf.null: the null pointer value */
  lua_setfield(L, mod, "null");
  lua_createtable(L, 0, 5);
  const char *names[][2] = {{"future", MT_FUTURE},
                            {"executor", MT_EXECUTOR},
                            {"handle", MT_HANDLE},
                            {"opaque", MT_OPAQUE},
                            {"error", MT_ERROR}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    luaL_getmetatable(L, names[i][1]);
    lua_setfield(L, -2, names[i][0]);
  }
  lua_setfield(L, mod, "metatables");
}

void xfl_init(lua_State *L) {
  setup_metatables(L);
  if (lua_istable(L, -1))
    set_module_fields(L, lua_gettop(L));
  if (get_rt(L))
    return;        /* loaded again in the same state */
  lua_newtable(L); /* the future cache: weak values */
  lua_createtable(L, 0, 1);
  lua_pushstring(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &CACHE_KEY);

  xfl_rt **p = lua_newuserdatauv(L, sizeof *p, 0);
  *p = NULL;
  luaL_setmetatable(L, MT_RUNTIME);
  xfl_rt *rt = calloc(1, sizeof *rt);
  if (!rt)
    luaL_error(L, "xfutures: out of memory");
  if (xf_loop_new(&rt->loop) != XF_OK) {
    free(rt);
    luaL_error(L, "xfutures: cannot create the event loop");
  }
  atomic_init(&rt->refs, 1);
  atomic_init(&rt->alive, true);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  rt->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  rt->owner = pthread_self();
  rt->handler_ref = LUA_NOREF;
  rt->hooks = (xf_object_hooks_t){.sz = sizeof(xf_object_hooks_t),
                                  .name = "lua",
                                  .retain = box_retain,
                                  .release = box_release,
                                  .owner = rt->loop};
  xf_loop_set_exception_handler(rt->loop, exception_handler, rt, NULL);
  *p = rt;
  lua_rawsetp(L, LUA_REGISTRYINDEX, &RT_KEY);
  mark_closing_sentinel(L, rt);
}

/* xf:end */

/* ---- Thread pools -------------------------------------------------- */

/* thread_pool_new(max_workers, name, max_queue, policy): a thread pool
 * whose queue holds at most max_queue waiting jobs (0 or nil: unbounded);
 * policy "block" (submit waits for room, running nothing meanwhile) or
 * "reject" (submit raises an error with code EAGAIN). */
int xfl_thread_pool_new(lua_State *L) {
  check_rt(L);
  lua_Integer workers = luaL_optinteger(L, 1, 0);
  const char *name = luaL_optstring(L, 2, NULL);
  lua_Integer max_queue = luaL_optinteger(L, 3, 0);
  static const char *const policies[] = {"block", "reject", NULL};
  int policy = luaL_checkoption(L, 4, "block", policies);
  if (workers < 0 || workers > 100000)
    return raise_code(L, XF_EINVAL, "max_workers must be between 0 and 100000");
  if (max_queue < 0)
    return raise_code(L, XF_EINVAL, "max_queue must be 0 or more");
  ud_exec *u = new_executor_ud(L);
  xf_thread_pool_options_t opts = XF_THREAD_POOL_OPTIONS_INIT;
  opts.max_workers = (uint32_t) workers;
  opts.thread_name_prefix = name;
  opts.max_queue = (size_t) max_queue;
  opts.queue_policy = policy == 1 ? XF_QUEUE_REJECT : XF_QUEUE_BLOCK;
  int rc = xf_thread_pool_new(&opts, &u->ex);
  if (rc != XF_OK)
    return raise_code(L, rc, NULL);
  atomic_fetch_add(&live_handles, 1);
  return 1;
}

/* xf:lang-specific: Lua functions as C function pointers (closures), retired when the
 * state closes */
/* ---- Callbacks: Lua functions as C function pointers ---------------- */

#define MT_CLOSURE "xf.closure"

/* What a closure made by closure_new holds: the Lua function (a box) and
 * the return type. */
typedef struct lclosure {
  box *r;
  int ret;
  xf_closure_t *c; /* borrowed: the closure owns this record */
} lclosure;

typedef struct ud_closure {
  xf_closure_t *c;
  xfl_rt *rt; /* a reference */
} ud_closure;

/* Callbacks retired as their state closed. C code may go on calling them
 * (a library's thread knows nothing of Lua), so they stay, answering with
 * their default value, for the life of the process (xf_closure_retire);
 * the list keeps them reachable. */
typedef struct parked {
  xf_closure_t *c;
  struct parked *next;
} parked;

static parked *parked_list;
static pthread_mutex_t parked_mu = PTHREAD_MUTEX_INITIALIZER;

static void park_closure(xf_closure_t *c) {
  xf_closure_retire(c);
  parked *p = malloc(sizeof *p);
  if (!p)
    return; /* kept all the same, only unlisted */
  pthread_mutex_lock(&parked_mu);
  p->c = c;
  p->next = parked_list;
  parked_list = p;
  pthread_mutex_unlock(&parked_mu);
}

static void lclosure_free(void *data) {
  lclosure *k = data;
  box_unref(k->r);
  free(k);
}

typedef struct lclosure_call {
  lclosure *k;
  xf_value_t *const *args;
  size_t nargs;
  xf_value_t **result;
  int rc;
} lclosure_call;

static bool is_int_ctype(int t) {
  return t >= XF_C_INT8 && t <= XF_C_SIZE;
}

/* Protected: call the function with the arguments, convert its result. */
static int lclosure_call_p(lua_State *L) {
  lclosure_call *cc = lua_touserdata(L, 1);
  xfl_rt *rt = cc->k->r->rt;
  luaL_checkstack(L, (int) cc->nargs + 4, "xfutures: too many callback arguments");
  lua_pushcfunction(L, msgh);
  int h = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cc->k->r->ref);
  for (size_t i = 0; i < cc->nargs; i++)
    push_value(L, cc->args[i], rt, 0);
  if (lua_pcall(L, (int) cc->nargs, 1, h) != LUA_OK) {
    xf_error_t *e = error_from_lua(L, -1, rt, NULL);
    if (!e) {
      cc->rc = XF_ENOMEM;
    } else if (cc->result) {
      cc->rc = xf_value_new_error(e, cc->result); /* the core reports it */
    } else {
      xf_loop_call_exception_handler(rt->loop, "exception in a callback", e);
      cc->rc = XF_OK;
    }
    xf_error_unref(e);
    return 0;
  }
  if (!cc->result) {
    cc->rc = XF_OK;
    return 0;
  }
  /* A float with an integral value is accepted where C wants an integer. */
  lua_Integer i;
  int isint = 0;
  if (is_int_ctype(cc->k->ret) && lua_type(L, -1) == LUA_TNUMBER &&
      !lua_isinteger(L, -1)) {
    i = lua_tointegerx(L, -1, &isint);
    if (isint) {
      lua_pop(L, 1);
      lua_pushinteger(L, i);
    }
  }
  const char *why = NULL;
  cc->rc = to_value(L, -1, rt, 0, cc->result, &why);
  return 0;
}

/* The closure's handler, on the state's thread (the owner loop's). */
static int lclosure_handler(void *data, xf_value_t *const *args, size_t nargs,
                            xf_value_t **result) {
  lclosure *k = data;
  xfl_rt *rt = k->r->rt;
  if (!on_owner(rt))
    return atomic_load(&rt->alive) ? XF_EWRONGTHREAD : XF_ECLOSED;
  if (closing(rt)) {
    /* A call let through while the state closes: no Lua runs any more. */
    xf_closure_retire(k->c);
    return XF_ECLOSED;
  }
  lua_State *L = rt->cur ? rt->cur : rt->L;
  if (!lua_checkstack(L, 4))
    return XF_ENOMEM;
  lclosure_call cc = {k, args, nargs, result, XF_EFAILED};
  int top = lua_gettop(L);
  lua_pushcfunction(L, lclosure_call_p);
  lua_pushlightuserdata(L, &cc);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "xfutures: %s\n", lua_tostring(L, -1));
    cc.rc = XF_EFAILED;
  }
  lua_settop(L, top);
  return cc.rc;
}

static int closure_gc(lua_State *L) {
  ud_closure *u = lua_touserdata(L, 1);
  if (u->c) {
    /* Collected while the state lives, or closed: the owner said no C code
     * calls it any more. Collected as the state closes: nobody could say. */
    if (closing(u->rt))
      park_closure(u->c);
    else
      xf_closure_unref(u->c);
    u->c = NULL;
    rt_unref(u->rt);
    u->rt = NULL;
    atomic_fetch_sub(&live_handles, 1);
  }
  return 0;
}

/* closure_new(signature, fn): a closure of this state's loop, returned as
 * (handle, pointer as light userdata, canonical signature, address as an
 * integer). */
int xfl_closure_new(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  const char *text = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  xf_signature_t *sig = check_signature(L, "callback", text, rt);
  if (luaL_newmetatable(L, MT_CLOSURE)) {
    lua_pushcfunction(L, closure_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushstring(L, MT_CLOSURE);
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
  ud_closure *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->c = NULL;
  u->rt = NULL;
  luaL_setmetatable(L, MT_CLOSURE);
  lclosure *k = malloc(sizeof *k);
  if (!k) {
    xf_signature_unref(sig);
    return raise_code(L, XF_ENOMEM, NULL);
  }
  k->ret = xf_signature_return_type(sig);
  k->r = box_check_new(L, 2, rt, 1);
  int rc = xf_closure_new_sig(sig, lclosure_handler, k, lclosure_free, rt->loop, &u->c);
  xf_signature_unref(sig);
  if (rc != XF_OK) {
    lclosure_free(k);
    return raise_code(L, rc, NULL);
  }
  k->c = u->c;
  u->rt = rt_ref(rt);
  atomic_fetch_add(&live_handles, 1);
  int top = lua_gettop(L);
  mark_closing_sentinel(L, rt);
  lua_settop(L, top);
  lua_pushlightuserdata(L, xf_closure_code(u->c));
  lua_pushstring(L, xf_signature_text(xf_closure_signature(u->c)));
  lua_pushinteger(L, (lua_Integer) (uintptr_t) xf_closure_code(u->c));
  return 4;
}

/* closure_free(handle): drop the closure now (the GC does it otherwise). */
int xfl_closure_free(lua_State *L) {
  luaL_checkudata(L, 1, MT_CLOSURE);
  return closure_gc(L);
}

/* xf:end */

/* ==== The process pool (xf.process_pool, xfutures_worker.lua) ===========
 *
 * Design notes
 * ------------
 * xf.process_pool is the core's process pool (xf/process.h) with worker
 * programs that run lua5.4 on the module xfutures_worker. Nothing of the
 * pool lives here: the parent's functions only translate Lua arguments to
 * the core's calls, and the worker's only move frames (docs/wire-protocol.md)
 * between its socket and Lua, encoded and decoded by the core's codec; the
 * conversation itself is written in Lua (xfutures_worker.lua).
 *
 * A task of language "lua" has as payload the list [code, module, name,
 * args, n]: code the bytes of string.dump(fn) (or false), else module and
 * name for require(module)[name]; args the n arguments (a map when some are
 * nil). Values that cross are the core's plain
 * kinds (pp_to_value): nil, booleans, integers, floats, strings (valid
 * UTF-8 as text, other byte strings as bytes; both come back as the same
 * Lua string), sequences as lists, other tables as maps, and error tables
 * as errors. A function, a userdata, a coroutine or a table with another
 * metatable has no encoding: converting it fails with XF_ETYPE and says
 * what it was, so that the submission (in the parent) or the task (in the
 * worker) fails, never the pool.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>

/* The worker's socket: descriptor 3 in a process-pool worker, the relay's
 * socket on a rank that serves an MPI executor (the block at the end). */
static int pp_fd = 3;
#define PP_FD        pp_fd
#define PP_FRAME_MAX (1u << 30)

/* xf:lang-specific: Lua values as the worker protocol's plain values */
/* The plain conversion of the Lua value at idx (see the design notes). */
static int pp_to_value(lua_State *L, int idx, int depth, xf_value_t **out,
                       const char **why) {
  idx = lua_absindex(L, idx);
  *out = NULL;
  switch (lua_type(L, idx)) {
  case LUA_TNONE:
  case LUA_TNIL:
  case LUA_TBOOLEAN:
  case LUA_TNUMBER:
  case LUA_TSTRING:
    return to_value(L, idx, NULL, depth, out, why);
  case LUA_TTABLE:
    break;
  case LUA_TFUNCTION:
    *why = "a function cannot cross to another process";
    return XF_ETYPE;
  case LUA_TTHREAD:
    *why = "a coroutine cannot cross to another process";
    return XF_ETYPE;
  default:
    *why = "a userdata cannot cross to another process";
    return XF_ETYPE;
  }
  if (depth >= MAX_DEPTH) {
    *why = "table nested too deeply (a cycle?)";
    return XF_ERANGE;
  }
  if (!lua_checkstack(L, 6)) {
    *why = "Lua stack overflow";
    return XF_ENOMEM;
  }
  if (lua_getmetatable(L, idx)) {
    luaL_getmetatable(L, MT_ERROR);
    bool err = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (!err) {
      *why = "a table with a metatable cannot cross to another process";
      return XF_ETYPE;
    }
    xf_error_t *e = error_from_lua(L, idx, NULL, NULL);
    if (!e)
      return XF_ENOMEM;
    int rc = xf_value_new_error(e, out);
    xf_error_unref(e);
    return rc;
  }
  size_t n = 0, count = 0;
  bool seq = is_sequence(L, idx, &n);
  if (!seq) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_pop(L, 1);
      count++;
    }
  }
  size_t total = seq ? n : count;
  xf_value_t **items = calloc(total ? 2 * total : 1, sizeof *items);
  if (!items)
    return XF_ENOMEM;
  int rc = XF_OK;
  if (seq) {
    for (size_t i = 0; i < n && rc == XF_OK; i++) {
      lua_rawgeti(L, idx, (lua_Integer) i + 1);
      rc = pp_to_value(L, -1, depth + 1, &items[i], why);
      lua_pop(L, 1);
    }
    if (rc == XF_OK)
      rc = xf_value_new_list(items, n, out);
  } else {
    size_t i = 0;
    lua_pushnil(L);
    while (rc == XF_OK && lua_next(L, idx)) {
      rc = pp_to_value(L, -2, depth + 1, &items[2 * i], why);
      if (rc == XF_OK)
        rc = pp_to_value(L, -1, depth + 1, &items[2 * i + 1], why);
      lua_pop(L, 1);
      i++;
      if (rc != XF_OK)
        lua_pop(L, 1); /* the key: the traversal stops */
    }
    if (rc == XF_OK) {
      xf_value_t **keys = malloc((count ? count : 1) * 2 * sizeof *keys);
      if (!keys) {
        rc = XF_ENOMEM;
      } else {
        for (size_t j = 0; j < count; j++) {
          keys[j] = items[2 * j];
          keys[count + j] = items[2 * j + 1];
        }
        rc = xf_value_new_map(keys, keys + count, count, out);
        free(keys);
      }
    }
  }
  for (size_t j = 0; j < 2 * total; j++)
    xf_value_unref(items[j]);
  free(items);
  return rc;
}

/* pp_to_value, raising an error table (TypeError for what cannot cross). */
static xf_value_t *pp_check_value(lua_State *L, int idx, const char *what) {
  xf_value_t *v;
  const char *why = NULL;
  int rc = pp_to_value(L, idx, 0, &v, &why);
  if (rc != XF_OK) {
    const char *msg =
        lua_pushfstring(L, "process_pool: %s: %s", what, why ? why : xf_strerror(rc));
    raise_code(L, rc, msg);
    return NULL;
  }
  return v;
}

/* xf:end */

/* Raise the error of a refused submission; a broken pool is a
 * BrokenProcessPool, as the futures of its tasks are. */
static int pp_raise(lua_State *L, int rc) {
  if (rc == XF_EBROKEN) {
    push_error_table(L, rc, "BrokenProcessPool", "the process pool is broken", NULL);
    return lua_error(L);
  }
  return raise_code(L, rc, NULL);
}

static xf_executor_t *pp_check_pool(lua_State *L, int idx) {
  xf_executor_t *ex = check_executor(L, idx);
  xf_process_pool_stats_t s = XF_PROCESS_POOL_STATS_INIT;
  if (xf_process_pool_stats(ex, &s) != XF_OK)
    luaL_argerror(L, idx, "not a process pool");
  return ex;
}

/* The worker's argv from the sequence of strings at idx, NULL-terminated;
 * the strings are kept alive by the table, the array by the stack. */
static const char **check_argv(lua_State *L, int idx) {
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_Integer argc = (lua_Integer) lua_rawlen(L, idx);
  if (argc < 1 || argc > 1000)
    raise_code(L, XF_EINVAL, "the worker's argv must have 1 to 1000 items");
  const char **argv = lua_newuserdatauv(L, ((size_t) argc + 1) * sizeof *argv, 0);
  for (lua_Integer i = 0; i < argc; i++) {
    if (lua_rawgeti(L, idx, i + 1) != LUA_TSTRING)
      raise_code(L, XF_EINVAL, "the worker's argv must hold strings");
    argv[i] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  argv[argc] = NULL;
  return argv;
}

/* process_pool_new(argv, workers, max_tasks_per_child, on_worker_death,
 * init_payload|nil, forward_stderr) */
int xfl_process_pool_new(lua_State *L) {
  check_rt(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer workers = luaL_optinteger(L, 2, 0);
  lua_Integer max_tasks = luaL_optinteger(L, 3, 0);
  const char *death = luaL_optstring(L, 4, "break");
  if (workers < 0 || workers > 100000)
    return raise_code(L, XF_EINVAL, "workers must be between 0 and 100000");
  if (max_tasks < 0 || max_tasks > UINT32_MAX)
    return raise_code(L, XF_EINVAL, "max_tasks_per_child must be 0 or more");
  int policy;
  if (strcmp(death, "break") == 0)
    policy = XF_WORKER_DEATH_BREAK;
  else if (strcmp(death, "replace") == 0)
    policy = XF_WORKER_DEATH_REPLACE;
  else
    return raise_code(L, XF_EINVAL, "on_worker_death must be \"break\" or \"replace\"");
  const char **argv = check_argv(L, 1);
  xf_value_t *init = NULL;
  if (!lua_isnoneornil(L, 5))
    init = pp_check_value(L, 5, "the initializer");
  xf_process_pool_options_t o = XF_PROCESS_POOL_OPTIONS_INIT;
  o.max_workers = (uint32_t) workers;
  o.worker_path = argv[0];
  o.worker_argv = argv;
  o.max_tasks_per_child = (uint32_t) max_tasks;
  o.on_worker_death = policy;
  o.forward_stderr = lua_isnone(L, 6) || lua_toboolean(L, 6);
  o.init_language = init ? "lua" : NULL;
  o.init_payload = init;
  ud_exec *u = new_executor_ud(L);
  int rc = xf_process_pool_new(&o, &u->ex);
  xf_value_unref(init);
  if (rc != XF_OK)
    return raise_code(L, rc, NULL);
  atomic_fetch_add(&live_handles, 1);
  return 1;
}

/* process_pool_submit(pool, payload, timeout_s|nil) */
int xfl_process_pool_submit(lua_State *L) {
  check_rt(L);
  xf_executor_t *ex = pp_check_pool(L, 1);
  int64_t timeout_ns = lua_isnoneornil(L, 3) ? -1 : xfl_to_ns(L, 3);
  xf_value_t *payload = pp_check_value(L, 2, "an argument");
  xf_future_t *f = NULL;
  int rc = xf_process_pool_submit_payload(ex, "lua", payload, timeout_ns, &f);
  xf_value_unref(payload);
  if (rc != XF_OK)
    return pp_raise(L, rc);
  push_future(L, f, true);
  return 1;
}

/* The process pool's own counters, added to the executor's (stats). */
int xfl_process_pool_stats(lua_State *L) {
  xf_executor_t *ex = check_executor(L, 1);
  xf_process_pool_stats_t s = XF_PROCESS_POOL_STATS_INIT;
  int rc = xf_process_pool_stats(ex, &s);
  if (rc != XF_OK)
    return raise_code(L, rc, NULL);
  xfl_executor_stats(L);
  lua_pushinteger(L, (lua_Integer) s.workers);
  lua_setfield(L, -2, "workers");
  lua_pushinteger(L, (lua_Integer) s.spawned);
  lua_setfield(L, -2, "spawned");
  lua_pushinteger(L, (lua_Integer) s.deaths);
  lua_setfield(L, -2, "deaths");
  lua_pushinteger(L, (lua_Integer) s.retired);
  lua_setfield(L, -2, "retired");
  lua_pushinteger(L, (lua_Integer) s.timeouts);
  lua_setfield(L, -2, "timeouts");
  lua_pushboolean(L, s.broken);
  lua_setfield(L, -2, "broken");
  /* per_worker: one table per live worker, {pid, tasks_done, running}; as
   * many as max_workers at the most. */
  size_t cap = s.max_workers, n = 0;
  xf_process_worker_t *w = calloc(cap ? cap : 1, sizeof *w);
  if (!w)
    return raise_code(L, XF_ENOMEM, NULL);
  rc = xf_process_pool_workers(ex, w, cap, &n);
  lua_createtable(L, (int) (n < cap ? n : cap), 0);
  for (size_t i = 0; rc == XF_OK && i < n && i < cap; i++) {
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer) w[i].pid);
    lua_setfield(L, -2, "pid");
    lua_pushinteger(L, (lua_Integer) w[i].tasks_done);
    lua_setfield(L, -2, "tasks_done");
    lua_pushinteger(L, (lua_Integer) w[i].running);
    lua_setfield(L, -2, "running");
    lua_rawseti(L, -2, (lua_Integer) i + 1);
  }
  free(w);
  if (rc != XF_OK)
    return raise_code(L, rc, NULL);
  lua_setfield(L, -2, "per_worker");
  return 1;
}

/* ---- The worker's side: frames on fd 3 ---- */

/* wire_start(): what a worker does first (docs/wire-protocol.md): die with
 * the parent, leave if it is gone already, ignore SIGINT and SIGPIPE, and
 * keep fd 3 from the task's own child processes. Returns the pid, or nil
 * when the pool is gone. */
int xfl_wire_start(lua_State *L) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const char *parent = getenv("XF_PARENT_PID");
  if (parent && atol(parent) != (long) getppid()) {
    lua_pushnil(L);
    return 1;
  }
  signal(SIGINT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  int fl = fcntl(PP_FD, F_GETFD);
  if (fl >= 0)
    fcntl(PP_FD, F_SETFD, fl | FD_CLOEXEC);
  lua_pushinteger(L, (lua_Integer) getpid());
  return 1;
}

static bool pp_read_all(uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t k = read(PP_FD, p, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return false;
    p += k;
    n -= (size_t) k;
  }
  return true;
}

static bool pp_write_all(const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(PP_FD, p, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return false;
    p += k;
    n -= (size_t) k;
  }
  return true;
}

/* wire_recv(): the next frame as a Lua value (a list), or nil at the end of
 * the socket or for a frame that does not decode (either way the
 * conversation is over). */
int xfl_wire_recv(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  uint8_t head[4];
  if (!pp_read_all(head, 4)) {
    lua_pushnil(L);
    return 1;
  }
  uint32_t n = (uint32_t) head[0] << 24 | (uint32_t) head[1] << 16 |
               (uint32_t) head[2] << 8 | head[3];
  uint8_t *body = n >= 1 && n <= PP_FRAME_MAX ? malloc(n) : NULL;
  xf_value_t *v = NULL;
  int rc = body && pp_read_all(body, n) ? xf_value_decode(body, n, &v) : XF_EINVAL;
  free(body);
  if (rc != XF_OK) {
    lua_pushnil(L);
    return 1;
  }
  /* A deep frame must not raise out of here with v held. */
  if (!lua_checkstack(L, 2 * XF_CODEC_MAX_DEPTH + 8)) {
    xf_value_unref(v);
    lua_pushnil(L);
    return 1;
  }
  push_value(L, v, rt, 0);
  xf_value_unref(v);
  return 1;
}

/* wire_send(type, item...): convert, encode and send the frame [type,
 * item...] (the items as arguments, so that a nil result is an item).
 * true when sent; nil, message, code when the frame has no encoding
 * (nothing was sent); false when the socket is gone. */
int xfl_wire_send(lua_State *L) {
  check_rt(L);
  int n = lua_gettop(L);
  xf_value_t **items = lua_newuserdatauv(L, (n ? (size_t) n : 1) * sizeof *items, 0);
  const char *why = NULL;
  int rc = XF_OK, i;
  for (i = 0; i < n && rc == XF_OK; i++)
    rc = pp_to_value(L, i + 1, 1, &items[i], &why);
  xf_value_t *v = NULL;
  if (rc == XF_OK)
    rc = xf_value_new_list(items, (size_t) n, &v);
  for (int j = 0; j < i; j++)
    xf_value_unref(items[j]);
  uint8_t *buf = NULL;
  size_t len = 0;
  if (rc == XF_OK) {
    rc = xf_value_encode(v, &buf, &len);
    xf_value_unref(v);
    if (rc != XF_OK)
      why = rc == XF_ERANGE ? "the value is nested too deeply" : xf_strerror(rc);
    else if (len > PP_FRAME_MAX) {
      xf_codec_free(buf);
      rc = XF_ERANGE;
      why = "the value is larger than a frame (1 GiB)";
    }
  }
  if (rc != XF_OK) {
    lua_pushnil(L);
    lua_pushstring(L, why ? why : xf_strerror(rc));
    lua_pushinteger(L, rc);
    return 3;
  }
  uint8_t head[4] = {(uint8_t) (len >> 24), (uint8_t) (len >> 16), (uint8_t) (len >> 8),
                     (uint8_t) len};
  bool ok = pp_write_all(head, 4) && pp_write_all(buf, len);
  xf_codec_free(buf);
  lua_pushboolean(L, ok);
  return 1;
}

/* ==== End of the process pool ============================================ */

/* ==== The MPI executor (xf.mpi_pool, xf/mpi.h) =============================
 *
 * The executor runs the process pool's "lua" tasks on the ranks of an MPI
 * job; this block adds its constructors, its submit (the process pool's,
 * without the check that the executor is a process pool) and the serving
 * side of a rank: the worker loop of xfutures_worker runs unchanged, with
 * its socket (PP_FD) the core's relay socket for the loop's duration.
 */
#include <xf/mpi.h>

static void mpi_options(lua_State *L, int in_flight_idx, int init_idx,
                        xf_mpi_options_t *o, xf_value_t **init) {
  lua_Integer n = luaL_optinteger(L, in_flight_idx, 1);
  if (n < 0 || n > 100000)
    raise_code(L, XF_EINVAL, "max_in_flight must be between 0 and 100000");
  o->max_in_flight = (uint32_t) n;
  *init = lua_isnoneornil(L, init_idx) ? NULL
                                       : pp_check_value(L, init_idx, "the initializer");
  o->init_language = *init ? "lua" : NULL;
  o->init_payload = *init;
}

/* mpi_executor_new(root, max_in_flight, init|nil): SPMD over the world, on
 * the root (the other ranks serve with mpi_serve_open). */
int xfl_mpi_executor_new(lua_State *L) {
  check_rt(L);
  int root = (int) luaL_checkinteger(L, 1);
  xf_mpi_options_t o = XF_MPI_OPTIONS_INIT;
  xf_value_t *init;
  mpi_options(L, 2, 3, &o, &init);
  ud_exec *u = new_executor_ud(L);
  int rc = xf_mpi_world_executor_new(root, &o, &u->ex);
  xf_value_unref(init);
  if (rc == XF_OK && !u->ex)
    return raise_code(L, XF_EINVAL, "mpi_pool: this rank is not the root");
  if (rc != XF_OK)
    return raise_code(L, rc, NULL);
  atomic_fetch_add(&live_handles, 1);
  return 1;
}

/* mpi_pool_new(argv, workers, max_in_flight, init|nil): spawn mode. */
int xfl_mpi_pool_new(lua_State *L) {
  check_rt(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer workers = luaL_optinteger(L, 2, 0);
  if (workers < 0 || workers > 100000)
    return raise_code(L, XF_EINVAL, "workers must be between 0 and 100000");
  const char **argv = check_argv(L, 1);
  xf_mpi_options_t o = XF_MPI_OPTIONS_INIT;
  xf_value_t *init;
  mpi_options(L, 3, 4, &o, &init);
  o.max_workers = (uint32_t) workers;
  o.worker_argv = argv;
  ud_exec *u = new_executor_ud(L);
  int rc = xf_mpi_pool_new(&o, &u->ex);
  xf_value_unref(init);
  if (rc != XF_OK)
    return raise_code(L, rc, NULL);
  atomic_fetch_add(&live_handles, 1);
  return 1;
}

/* mpi_submit(executor, payload): as process_pool_submit. */
int xfl_mpi_submit(lua_State *L) {
  check_rt(L);
  xf_executor_t *ex = check_executor(L, 1);
  xf_value_t *payload = pp_check_value(L, 2, "an argument");
  xf_future_t *f = NULL;
  int rc = xf_process_pool_submit_payload(ex, "lua", payload, -1, &f);
  xf_value_unref(payload);
  if (rc != XF_OK)
    return pp_raise(L, rc);
  push_future(L, f, true);
  return 1;
}

/* mpi_serve_open(root): the relay's socket becomes the worker loop's (root
 * < 0: the parent that spawned this process). */
int xfl_mpi_serve_open(lua_State *L) {
  int root = (int) luaL_checkinteger(L, 1);
  int fd = -1;
  int rc = xf_mpi_serve_open(root, &fd);
  if (rc != XF_OK)
    return raise_code(L, rc, NULL);
  pp_fd = fd;
  lua_pushboolean(L, 1);
  return 1;
}

/* mpi_serve_wait(): after the loop, which ends the relay; true, or false
 * when the root released the ranks (no executor comes any more). */
int xfl_mpi_serve_wait(lua_State *L) {
  if (pp_fd != 3) {
    close(pp_fd);
    pp_fd = 3;
  }
  int rc = xf_mpi_serve_wait();
  if (rc != XF_OK && rc != XF_ESHUTDOWN)
    return raise_code(L, rc, NULL);
  lua_pushboolean(L, rc == XF_OK);
  return 1;
}
/* ==== End of the MPI executor ============================================== */

/* ==== Cancellation, scopes and groups ======================================
 *
 * The core's tokens, scopes and groups (cancel.h, scope.h, group.h) as Lua
 * userdata of four metatables, each holding one core reference that its
 * __gc drops. The rules are the core's; this block only translates: a Lua
 * function becomes a task whose steps resume its coroutine (task_step, as
 * for xf.spawn), spawned into a scope or a group; a Lua function given to
 * a token runs on the state's loop when the token is cancelled; a reason
 * crosses as an error table. The plain queries (is a token cancelled, has
 * a scope expired, a group's join future) are declared in
 * bindings/common/api.i and reach these handles through the typemaps of
 * xfutures.i. */

#define MT_SOURCE "xf.cancel_source"
#define MT_TOKEN  "xf.cancel_token"
#define MT_SCOPE  "xf.scope"
#define MT_GROUP  "xf.group"

typedef struct ud_sc {
  void *p; /* the core handle; NULL once released */
} ud_sc;

static int source_gc(lua_State *L) {
  ud_sc *u = lua_touserdata(L, 1);
  xf_cancel_source_unref(u->p);
  u->p = NULL;
  return 0;
}

static int token_gc(lua_State *L) {
  ud_sc *u = lua_touserdata(L, 1);
  xf_cancel_token_unref(u->p);
  u->p = NULL;
  return 0;
}

static int scope_gc(lua_State *L) {
  ud_sc *u = lua_touserdata(L, 1);
  xf_scope_unref(u->p);
  u->p = NULL;
  return 0;
}

static int group_gc(lua_State *L) {
  ud_sc *u = lua_touserdata(L, 1);
  xf_group_unref(u->p);
  u->p = NULL;
  return 0;
}

static void sc_setup_metatables(lua_State *L) {
  new_metatable(L, MT_SOURCE, source_gc, NULL);
  new_metatable(L, MT_TOKEN, token_gc, NULL);
  new_metatable(L, MT_SCOPE, scope_gc, NULL);
  new_metatable(L, MT_GROUP, group_gc, NULL);
}

/* Push a new userdata of metatable mt taking over the reference p. */
static void push_sc(lua_State *L, const char *mt, void *p) {
  ud_sc *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->p = p;
  sc_setup_metatables(L);
  luaL_setmetatable(L, mt);
}

static void *check_sc(lua_State *L, int idx, const char *mt) {
  ud_sc *u = luaL_checkudata(L, idx, mt);
  if (!u->p)
    luaL_argerror(L, idx, "released handle");
  return u->p;
}

/* A token argument: a token, or a source standing for its token. */
xf_cancel_token_t *xfl_check_token(lua_State *L, int idx) {
  ud_sc *u = luaL_testudata(L, idx, MT_SOURCE);
  if (u && u->p)
    return xf_cancel_source_token(u->p);
  return check_sc(L, idx, MT_TOKEN);
}

xf_scope_t *xfl_check_scope(lua_State *L, int idx) {
  return check_sc(L, idx, MT_SCOPE);
}

xf_group_t *xfl_check_group(lua_State *L, int idx) {
  return check_sc(L, idx, MT_GROUP);
}

/* The metatables, for the Lua layer to add methods to their __index. */
int xfl_sc_metatables(lua_State *L) {
  sc_setup_metatables(L);
  lua_createtable(L, 0, 4);
  const char *names[][2] = {{"cancel_source", MT_SOURCE},
                            {"cancel_token", MT_TOKEN},
                            {"scope", MT_SCOPE},
                            {"group", MT_GROUP}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    luaL_getmetatable(L, names[i][1]);
    lua_setfield(L, -2, names[i][0]);
  }
  return 1;
}

/* A reason at idx: nil (NULL, the core's CancelledError), a string (a
 * CancelledError with that message) or an error table. Raises without
 * memory. */
static xf_error_t *check_reason(lua_State *L, int idx, xfl_rt *rt) {
  xf_error_t *e = NULL;
  if (lua_isnoneornil(L, idx))
    return NULL;
  if (lua_type(L, idx) == LUA_TSTRING) {
    if (xf_error_new(XF_ECANCELLED, "CancelledError", lua_tostring(L, idx), &e) != XF_OK)
      raise_code(L, XF_ENOMEM, NULL);
    return e;
  }
  e = error_from_lua(L, idx, rt, NULL);
  if (!e)
    raise_code(L, XF_ENOMEM, NULL);
  return e;
}

/* cancel_source_new(parent...): a source linked to the parents (tokens or
 * sources). */
int xfl_cancel_source_new(lua_State *L) {
  int n = lua_gettop(L);
  xf_cancel_token_t **parents =
      lua_newuserdatauv(L, (size_t) (n ? n : 1) * sizeof *parents, 0);
  for (int i = 0; i < n; i++)
    parents[i] = xfl_check_token(L, i + 1);
  xf_cancel_source_t *src = NULL;
  int rc = xf_cancel_source_new_linked(parents, (size_t) n, &src);
  if (rc != XF_OK)
    return raise_code(L, rc, NULL);
  push_sc(L, MT_SOURCE, src);
  return 1;
}

/* cancel_source_token(src): its token, as an object of its own. */
int xfl_cancel_source_token(lua_State *L) {
  xf_cancel_source_t *src = check_sc(L, 1, MT_SOURCE);
  push_sc(L, MT_TOKEN, xf_cancel_token_ref(xf_cancel_source_token(src)));
  return 1;
}

/* cancel_source_cancel(src, reason): true if this call cancelled it. */
int xfl_cancel_source_cancel(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  xf_cancel_source_t *src = check_sc(L, 1, MT_SOURCE);
  int rc = xf_cancel_source_cancel(src, check_reason(L, 2, rt));
  if (rc != XF_OK && rc != XF_ESTATE)
    return raise_code(L, rc, NULL);
  lua_pushboolean(L, rc == XF_OK);
  return 1;
}

/* token_reason(tok): the reason as an error table, or nil. */
int xfl_token_reason(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  xf_error_t *e = NULL;
  int rc = xf_cancel_token_reason(xfl_check_token(L, 1), &e);
  if (rc != XF_OK)
    return raise_code(L, rc, NULL);
  if (!e) {
    lua_pushnil(L);
    return 1;
  }
  push_error(L, e, rt);
  xf_error_unref(e);
  return 1;
}

static void push_reason_arg(lua_State *L, void *arg, xfl_rt *rt) {
  push_error(L, arg, rt);
}

static void on_cancel_callback(xf_cancel_token_t *t, xf_error_t *reason, void *data) {
  (void) t;
  box *r = data;
  call_ctx c = {
      r->rt, r->ref, push_reason_arg, reason, "exception in an on_cancel callback",
      false};
  call_lua(&c);
}

/* token_on_cancel(tok, fn): fn(reason) on the state's loop once the token is
 * cancelled (posted, also when it is cancelled already). */
int xfl_token_on_cancel(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  xf_cancel_token_t *t = xfl_check_token(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  box *r = box_check_new(L, 2, rt, 1);
  int rc =
      xf_cancel_token_add_callback(t, on_cancel_callback, r, box_free_data, rt->loop);
  if (rc != XF_OK) {
    box_unref(r);
    return raise_code(L, rc, NULL);
  }
  return 0;
}

/* token_current_cancelled(): whether the token of the running task is
 * cancelled, in any state and thread: what a lua_pool job polls. */
int xfl_token_current_cancelled(lua_State *L) {
  lua_pushboolean(L, xf_cancel_token_cancelled(xf_cancel_token_current()));
  return 1;
}

/* lua_pool_with_token(pool, tok): a lua_pool object whose submissions run on
 * pool with the token (xf_executor_with_token). Its lpool record is an
 * empty one of its own: it only marks the object as a lua_pool, since the
 * workers and their initial data stay the pool's. */
int xfl_lua_pool_with_token(lua_State *L) {
  check_rt(L);
  ud_exec *p = luaL_checkudata(L, 1, MT_EXECUTOR);
  if (!p->ex || !p->lp)
    return luaL_argerror(L, 1, "not a lua_pool");
  xf_cancel_token_t *t = xfl_check_token(L, 2);
  ud_exec *u = new_executor_ud(L);
  lpool *lp = calloc(1, sizeof *lp);
  if (!lp)
    return raise_code(L, XF_ENOMEM, NULL);
  int rc = xf_executor_with_token(p->ex, t, &u->ex);
  if (rc != XF_OK) {
    free(lp);
    return raise_code(L, rc, NULL);
  }
  u->lp = lp;
  atomic_fetch_add(&live_handles, 1);
  return 1;
}

/* A task of the function at first and its arguments above it, made by
 * make(where, step, data, free_data, &f); its future is pushed, and the
 * task is known to xf.await as xfl_spawn's are. */
typedef int (*task_maker)(void *where, xf_loop_t *loop, xf_step_fn step, void *data,
                          xf_free_data_fn free_data, xf_future_t **out);

static int spawn_into(lua_State *L, int first, task_maker make, void *where) {
  xfl_rt *rt = check_rt(L);
  luaL_checktype(L, first, LUA_TFUNCTION);
  int n = lua_gettop(L) - first + 1;
  lua_State *co = lua_newthread(L);
  lua_rotate(L, first, 1);
  lua_xmove(L, co, n);
  task *t = malloc(sizeof *t);
  if (!t)
    return raise_code(L, XF_ENOMEM, NULL);
  t->co = box_new(L, first, rt, 1);
  if (!t->co) {
    free(t);
    return raise_code(L, XF_ENOMEM, NULL);
  }
  lua_pop(L, 1);
  t->rt = rt_ref(rt);
  t->started = false;
  xf_future_t *f;
  int rc = make(where, rt->loop, task_step, t, task_free, &f);
  if (rc != XF_OK) {
    task_free(t);
    return raise_code(L, rc, NULL);
  }
  push_future(L, f, true);
  return 1;
}

static int make_in_scope(void *where, xf_loop_t *loop, xf_step_fn step, void *data,
                         xf_free_data_fn free_data, xf_future_t **out) {
  (void) loop;
  return xf_scope_spawn(where, step, data, free_data, out);
}

static int make_in_group(void *where, xf_loop_t *loop, xf_step_fn step, void *data,
                         xf_free_data_fn free_data, xf_future_t **out) {
  return xf_group_spawn(where, loop, step, data, free_data, out);
}

/* scope_new(seconds|nil, shield): a scope of the state's loop inside the
 * current one (none with shield). */
int xfl_scope_new(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  int64_t ns = xfl_to_ns(L, 1);
  xf_scope_t *s = NULL;
  int rc = xf_scope_new(rt->loop, ns, lua_toboolean(L, 2) ? XF_SCOPE_SHIELD : 0u, &s);
  if (rc != XF_OK)
    return xfl_raise_code(L, rc);
  push_sc(L, MT_SCOPE, s);
  return 1;
}

/* scope_spawn(scope, fn, ...): fn(...) as a task in the scope. */
int xfl_scope_spawn(lua_State *L) {
  return spawn_into(L, 2, make_in_scope, xfl_check_scope(L, 1));
}

/* scope_cancel(scope, reason): true if this call cancelled it. */
int xfl_scope_cancel(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  xf_scope_t *s = xfl_check_scope(L, 1);
  int rc = xf_scope_cancel(s, check_reason(L, 2, rt));
  if (rc != XF_OK && rc != XF_ESTATE)
    return raise_code(L, rc, NULL);
  lua_pushboolean(L, rc == XF_OK);
  return 1;
}

/* group_new(): a group of the state's loop, inside the current scope. */
int xfl_group_new(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  xf_group_t *g = NULL;
  int rc = xf_group_new(rt->loop, NULL, &g);
  if (rc != XF_OK)
    return raise_code(L, rc, NULL);
  push_sc(L, MT_GROUP, g);
  return 1;
}

/* group_spawn(g, fn, ...): fn(...) as a task of the group. */
int xfl_group_spawn(lua_State *L) {
  return spawn_into(L, 2, make_in_group, xfl_check_group(L, 1));
}

/* group_token(g): the group's token, as an object of its own. */
int xfl_group_token(lua_State *L) {
  xf_group_t *g = xfl_check_group(L, 1);
  push_sc(L, MT_TOKEN, xf_cancel_token_ref(xf_group_token(g)));
  return 1;
}

/* group_cancel(g, reason): true if this call cancelled it. */
int xfl_group_cancel(lua_State *L) {
  xfl_rt *rt = check_rt(L);
  xf_group_t *g = xfl_check_group(L, 1);
  int rc = xf_group_cancel(g, check_reason(L, 2, rt));
  if (rc != XF_OK && rc != XF_ESTATE)
    return raise_code(L, rc, NULL);
  lua_pushboolean(L, rc == XF_OK);
  return 1;
}
/* ==== End of cancellation, scopes and groups =============================== */

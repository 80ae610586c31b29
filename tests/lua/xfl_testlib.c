/* A Lua C module for the Lua tests only (require "xfl_testlib"): C code
 * that calls xf.callback pointers from threads of its own, as a C library
 * would, and the binding's live-object counters.
 *
 *   hammer(address)       start a thread that calls the int64(int64)
 *                         function at address in a loop, for the rest of the
 *                         process; at exit, two more calls are made and
 *                         their results printed ("after close: 0 0").
 *   calls()               how many calls the hammering threads have made.
 *   live()                userdata holding core references and C data
 *                         holding Lua references (xfl_live_counts of
 *                         xfutures_core, found in the loaded module).
 */
#include <dlfcn.h>
#include <lauxlib.h>
#include <lua.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef int64_t (*fn_t)(int64_t);

static _Atomic(fn_t) last_fn;
static atomic_long ncalls;

static void *hammer_main(void *p) {
  fn_t fn = (fn_t) p;
  for (int64_t i = 0;; i++) {
    fn(i);
    atomic_fetch_add(&ncalls, 1);
  }
  return NULL;
}

/* Runs after the Lua state has closed (lua.c closes it, then exits). */
static void after_close(void) {
  fn_t fn = atomic_load(&last_fn);
  if (!fn)
    return;
  int64_t a = fn(1), b = fn(2);
  printf("after close: %lld %lld\n", (long long) a, (long long) b);
  fflush(stdout);
}

static int l_hammer(lua_State *L) {
  fn_t fn = (fn_t) (uintptr_t) luaL_checkinteger(L, 1);
  if (!atomic_exchange(&last_fn, fn))
    atexit(after_close);
  pthread_t t;
  if (pthread_create(&t, NULL, hammer_main, (void *) fn) != 0)
    return luaL_error(L, "cannot start a thread");
  pthread_detach(t);
  return 0;
}

static int l_calls(lua_State *L) {
  lua_pushinteger(L, atomic_load(&ncalls));
  return 1;
}

static int l_live(lua_State *L) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchpath");
  lua_pushliteral(L, "xfutures_core");
  lua_getfield(L, -3, "cpath");
  lua_call(L, 2, 1);
  const char *path = lua_tostring(L, -1);
  void *h = path ? dlopen(path, RTLD_NOW | RTLD_NOLOAD) : NULL;
  void (*counts)(long *, long *) =
      h ? (void (*)(long *, long *)) dlsym(h, "xfl_live_counts") : NULL;
  if (!counts)
    return luaL_error(L, "xfl_testlib: xfutures_core is not loaded");
  long handles = 0, refs = 0;
  counts(&handles, &refs);
  dlclose(h);
  lua_pushinteger(L, handles);
  lua_pushinteger(L, refs);
  return 2;
}

static const luaL_Reg funcs[] = {
    {"hammer", l_hammer}, {"calls", l_calls}, {"live", l_live}, {NULL, NULL}};

__attribute__((visibility("default"))) int luaopen_xfl_testlib(lua_State *L) {
  luaL_newlib(L, funcs);
  return 1;
}

/* The anchor of the Lua call workloads (8, 9): a plain C Lua module whose
 * functions do as little as a binding call can, so that a call into
 * xfutures_core is compared with the bare cost of Lua calling C.
 *
 *   local noop = require "xfbench_noop"
 *   noop.noop()       -- returns nothing
 *   noop.version()    -- returns a constant string, as xf_version does
 */
#include <lauxlib.h>
#include <lua.h>

static int l_noop(lua_State *L) {
  (void) L;
  return 0;
}

static int l_version(lua_State *L) {
  lua_pushliteral(L, "0.0.0");
  return 1;
}

static const luaL_Reg funcs[] = {{"noop", l_noop}, {"version", l_version}, {NULL, NULL}};

__attribute__((visibility("default"))) int luaopen_xfbench_noop(lua_State *L) {
  luaL_newlib(L, funcs);
  return 1;
}

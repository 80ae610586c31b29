-- The luarocks package of the Lua binding. Built from a checkout of the
-- repository (the top directory, where CMakeLists.txt is):
--   luarocks make bindings/lua/xfutures-0.1.0-1.rockspec
-- The core is linked statically, so the rock needs only libffi at run time.
rockspec_format = "3.0"
package = "xfutures"
version = "0.1.0-1"
-- `luarocks make` builds the checkout it is run in; the source is that
-- directory (the project publishes no archive yet).
source = {
  url = "file://.",
}
description = {
  summary = "Futures, coroutines that await them, thread pools and pools of Lua states",
  detailed = [[
    The Lua 5.4 binding of xfutures, a C library of futures, executors and an
    event loop: futures with callbacks that run on the Lua state's own thread,
    coroutines that await them (xf.spawn, xf.await, xf.run), timers, gather,
    wait_for, as_completed, native thread pools and pools of Lua states that
    run Lua code in parallel.
  ]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
external_dependencies = {
  LIBFFI = { header = "ffi.h" },
}
build_dependencies = {}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    CMAKE_POSITION_INDEPENDENT_CODE = "ON",
    XF_LUA_STATIC = "ON",
    XF_LUA_INSTALL_CMOD = "$(LIBDIR)",
    XF_LUA_INSTALL_LMOD = "$(LUADIR)",
    XF_TESTS = "OFF",
    XF_EXAMPLES = "OFF",
    XF_PYTHON = "OFF",
    XF_NODE = "OFF",
  },
}
test = {
  type = "busted",
  flags = { "tests/lua" },
}

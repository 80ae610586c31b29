/* The C glue of the Lua binding: the functions that xfutures.i registers
 * with %native in the generated module xfutures_core. Each one is a plain
 * lua_CFunction; the idiomatic layer (xfutures.lua) calls them. See xfl.c
 * for the design notes.
 */
#ifndef XFL_H
#define XFL_H

#include <lua.h>

/* Called once by the module's luaopen function: metatables and the state's
 * runtime (its owner loop). */
void xfl_init(lua_State *L);

/* Futures. */
int xfl_future_new(lua_State *L);
int xfl_future_set_result(lua_State *L);
int xfl_future_set_error(lua_State *L);
int xfl_future_wait(lua_State *L);
int xfl_future_outcome(lua_State *L);
int xfl_future_get_error(lua_State *L);
int xfl_future_state(lua_State *L);
int xfl_future_cancel(lua_State *L);
int xfl_future_on_done(lua_State *L);
int xfl_future_remove_on_done(lua_State *L);
int xfl_is_future(lua_State *L);
int xfl_future_from_handle(lua_State *L);
int xfl_future_handle(lua_State *L);

/* Combinators over futures. */
int xfl_gather(lua_State *L);
int xfl_first(lua_State *L);
int xfl_shield(lua_State *L);
int xfl_wait_for(lua_State *L);

/* The loop: tasks, timers, running. */
int xfl_spawn(lua_State *L);
int xfl_current_task(lua_State *L);
int xfl_sleep_future(lua_State *L);
int xfl_call_later(lua_State *L);
int xfl_call_soon(lua_State *L);
int xfl_handle_cancel(lua_State *L);
int xfl_run_until_complete(lua_State *L);
int xfl_run_once(lua_State *L);
int xfl_add_reader(lua_State *L);
int xfl_remove_reader(lua_State *L);
int xfl_set_exception_handler(lua_State *L);
int xfl_report(lua_State *L);

/* Executors. */
int xfl_thread_pool_new(lua_State *L);
int xfl_lua_pool_new(lua_State *L);
int xfl_lua_pool_submit(lua_State *L);
int xfl_executor_submit_native(lua_State *L);
int xfl_executor_shutdown(lua_State *L);
int xfl_executor_stats(lua_State *L);
int xfl_dlsym(lua_State *L);

/* Chain, bounded thread pools and callbacks (closures). */
int xfl_future_chain(lua_State *L);
int xfl_thread_pool_bounded(lua_State *L);
int xfl_closure_new(lua_State *L);
int xfl_closure_free(lua_State *L);

/* The process pool (the parent's side, then the worker's). */
int xfl_process_pool_new(lua_State *L);
int xfl_process_pool_submit(lua_State *L);
int xfl_process_pool_terminate(lua_State *L);
int xfl_process_pool_kill(lua_State *L);
int xfl_process_pool_stats(lua_State *L);
int xfl_wire_start(lua_State *L);
int xfl_wire_recv(lua_State *L);
int xfl_wire_send(lua_State *L);

/* Values, errors and diagnostics. */
int xfl_roundtrip(lua_State *L);
int xfl_value_kind(lua_State *L);
int xfl_core_repr(lua_State *L);
int xfl_bytes(lua_State *L);
int xfl_make_error(lua_State *L);
int xfl_thread_id(lua_State *L);
int xfl_live(lua_State *L);
int xfl_internals(lua_State *L);

#endif /* XFL_H */

/* The Lua 5.4 module xfutures_core: the shared interface (constants, the
 * plain functions of common.h), integer typemaps so that integers stay
 * integers, and the C glue of xfl.c registered as native functions. The
 * idiomatic module, xfutures.lua, is written on top of this one.
 */
%module xfutures_core

%{
#include "xfl.h"
%}

/* SWIG's Lua typemaps push every C number as a float; under Lua 5.4 that
 * turns 5 into 5.0. Integers cross as Lua integers, and only integers are
 * accepted where C wants one. */
%typemap(out) int, short, long, long long, signed char, unsigned int,
              unsigned short, unsigned long, unsigned long long, unsigned char,
              int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t,
              uint64_t, size_t, enum SWIGTYPE
%{ lua_pushinteger(L, (lua_Integer) $1); SWIG_arg++; %}
%typemap(in, checkfn="lua_isinteger") int, short, long, long long, signed char,
              int8_t, int16_t, int32_t, int64_t, enum SWIGTYPE
%{ $1 = ($type) lua_tointeger(L, $input); %}

%include "../common/xfutures.i"

/* The glue (xfl.c). */
%native(future_new) int xfl_future_new(lua_State *L);
%native(future_set_result) int xfl_future_set_result(lua_State *L);
%native(future_set_error) int xfl_future_set_error(lua_State *L);
%native(future_wait) int xfl_future_wait(lua_State *L);
%native(future_outcome) int xfl_future_outcome(lua_State *L);
%native(future_error) int xfl_future_get_error(lua_State *L);
%native(future_state) int xfl_future_state(lua_State *L);
%native(future_cancel) int xfl_future_cancel(lua_State *L);
%native(future_on_done) int xfl_future_on_done(lua_State *L);
%native(future_remove_on_done) int xfl_future_remove_on_done(lua_State *L);
%native(is_future) int xfl_is_future(lua_State *L);
%native(future_from_handle) int xfl_future_from_handle(lua_State *L);
%native(future_handle) int xfl_future_handle(lua_State *L);
%native(gather) int xfl_gather(lua_State *L);
%native(first) int xfl_first(lua_State *L);
%native(shield) int xfl_shield(lua_State *L);
%native(wait_for) int xfl_wait_for(lua_State *L);
%native(spawn) int xfl_spawn(lua_State *L);
%native(current_task) int xfl_current_task(lua_State *L);
%native(sleep_future) int xfl_sleep_future(lua_State *L);
%native(call_later) int xfl_call_later(lua_State *L);
%native(call_soon) int xfl_call_soon(lua_State *L);
%native(handle_cancel) int xfl_handle_cancel(lua_State *L);
%native(run_until_complete) int xfl_run_until_complete(lua_State *L);
%native(run_once) int xfl_run_once(lua_State *L);
%native(add_reader) int xfl_add_reader(lua_State *L);
%native(remove_reader) int xfl_remove_reader(lua_State *L);
%native(set_exception_handler) int xfl_set_exception_handler(lua_State *L);
%native(report) int xfl_report(lua_State *L);
%native(thread_pool_new) int xfl_thread_pool_new(lua_State *L);
%native(lua_pool_new) int xfl_lua_pool_new(lua_State *L);
%native(lua_pool_submit) int xfl_lua_pool_submit(lua_State *L);
%native(executor_submit_native) int xfl_executor_submit_native(lua_State *L);
%native(executor_shutdown) int xfl_executor_shutdown(lua_State *L);
%native(executor_stats) int xfl_executor_stats(lua_State *L);
%native(dlsym) int xfl_dlsym(lua_State *L);
%native(future_chain) int xfl_future_chain(lua_State *L);
%native(thread_pool_bounded) int xfl_thread_pool_bounded(lua_State *L);
%native(closure_new) int xfl_closure_new(lua_State *L);
%native(closure_free) int xfl_closure_free(lua_State *L);
%native(process_pool_new) int xfl_process_pool_new(lua_State *L);
%native(process_pool_submit) int xfl_process_pool_submit(lua_State *L);
%native(process_pool_terminate) int xfl_process_pool_terminate(lua_State *L);
%native(process_pool_kill) int xfl_process_pool_kill(lua_State *L);
%native(process_pool_stats) int xfl_process_pool_stats(lua_State *L);
%native(wire_start) int xfl_wire_start(lua_State *L);
%native(wire_recv) int xfl_wire_recv(lua_State *L);
%native(wire_send) int xfl_wire_send(lua_State *L);
%native(roundtrip) int xfl_roundtrip(lua_State *L);
%native(value_kind) int xfl_value_kind(lua_State *L);
%native(core_repr) int xfl_core_repr(lua_State *L);
%native(bytes) int xfl_bytes(lua_State *L);
%native(make_error) int xfl_make_error(lua_State *L);
%native(thread_id) int xfl_thread_id(lua_State *L);
%native(live) int xfl_live(lua_State *L);
%native(internals) int xfl_internals(lua_State *L);
/* The MPI executor (xfl.c, its block at the end). */
%{
int xfl_mpi_available(lua_State *L);
int xfl_mpi_world(lua_State *L);
int xfl_mpi_executor_new(lua_State *L);
int xfl_mpi_pool_new(lua_State *L);
int xfl_mpi_submit(lua_State *L);
int xfl_mpi_serve_open(lua_State *L);
int xfl_mpi_serve_wait(lua_State *L);
int xfl_mpi_world_release(lua_State *L);
%}
%native(mpi_available) int xfl_mpi_available(lua_State *L);
%native(mpi_world) int xfl_mpi_world(lua_State *L);
%native(mpi_executor_new) int xfl_mpi_executor_new(lua_State *L);
%native(mpi_pool_new) int xfl_mpi_pool_new(lua_State *L);
%native(mpi_submit) int xfl_mpi_submit(lua_State *L);
%native(mpi_serve_open) int xfl_mpi_serve_open(lua_State *L);
%native(mpi_serve_wait) int xfl_mpi_serve_wait(lua_State *L);
%native(mpi_world_release) int xfl_mpi_world_release(lua_State *L);

%init %{
  xfl_init(L);
%}

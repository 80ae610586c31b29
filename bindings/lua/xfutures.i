/* The Lua 5.4 module xfutures_core: the shared interface (constants, the
 * plain functions of common.h, and the core calls of bindings/common/api.i
 * with Lua's typemaps), integer typemaps so that integers stay integers, and
 * Lua's own glue of xfl.c (coroutines, the Lua-state pool, the runtime,
 * values and callables) registered as native functions. The idiomatic
 * module, xfutures.lua, is written on top of this one.
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

/* ---- The shared declarations (bindings/common/api.i) --------------------
 *
 * What Lua adds to them: its typemaps and the call macros. Futures are this
 * binding's own userdata (the same object for a future as long as it
 * lives, see xfl.c), executors too; the loop is always the state's own, so
 * a loop argument is not one a Lua caller passes. Times are seconds. */
%typemap(in) xf_future_t *, const xf_future_t * {
  $1 = xfl_future_arg(L, $input);
}
%typemap(in, numinputs = 0) xf_future_t **out (xf_future_t *tmp = NULL) "$1 = &tmp;";
/* The future replaces the code that the call answered. */
%typemap(argout) xf_future_t **out {
  lua_pop(L, 1);
  xfl_push_future(L, tmp$argnum);
}
%typemap(in) (xf_future_t *const *fs, size_t n) {
  $1 = xfl_check_future_list(L, $input, &$2);
}
%typemap(in, numinputs = 0) xf_loop_t *loop, const xf_loop_t *loop "$1 = xfl_state_loop(L);";
%typemap(in, checkfn = "lua_isuserdata") xf_executor_t *ex {
  $1 = xfl_check_executor(L, $input);
}
%typemap(in) int64_t timeout_ns, int64_t ns, int64_t grace_ns "$1 = xfl_to_ns(L, $input);";
%typemap(in, numinputs = 0) int *rank (int tmp = -1), int *size (int tmp = 0) "$1 = &tmp;";
%typemap(argout) int *rank, int *size {
  lua_pushinteger(L, *$1);
  SWIG_arg++;
}

/* Cancellation tokens, scopes and groups are this binding's userdata (a
 * source stands for its token). */
%typemap(in) xf_cancel_token_t *, const xf_cancel_token_t * {
  $1 = xfl_check_token(L, $input);
}
%typemap(in) xf_scope_t *, const xf_scope_t * {
  $1 = xfl_check_scope(L, $input);
}
%typemap(in) xf_group_t *, const xf_group_t * {
  $1 = xfl_check_group(L, $input);
}

/* A negative code is an error table raised; Lua has no lock to release
 * around a wait. */
%define XF_CHECKED(fn)
%exception fn {
  $action
  if (result < 0)
    xfl_raise_code(L, result);
}
%enddef
%define XF_BLOCKING(fn)
%enddef
%define XF_BLOCKING_CHECKED(fn)
XF_CHECKED(fn)
%enddef

/* Done by Lua's own glue below, not as the core's calls: the handles are
 * this binding's userdata; the state's loop is never closed, run or made
 * from Lua but by its runtime; callables, values and signatures cross
 * through xfl.c's conversions; a shutdown that waits runs the owner loop;
 * an outcome unpacks the several results of a lua_pool job; the stats are
 * a table; serving an MPI executor moves the worker's socket. */
%ignore xf_future;
%ignore xf_executor;
%ignore xf_loop;
%ignore xf_closure;
%ignore xf_loop_new;
%ignore xf_loop_close;
%ignore xf_loop_stop;
%ignore xf_loop_run;
%ignore xf_loop_backend_fd;
%ignore xf_loop_backend_timeout;
%ignore xf_loop_create_future;
%ignore xf_loop_set_exception_handler;
%ignore xf_loop_run_in_executor;
%ignore xf_loop_add_reader;
%ignore xf_future_outcome;
%ignore xf_future_add_done_callback;
%ignore xf_future_remove_done_callback;
%ignore xf_future_set_running_or_notify_cancel;
%ignore xf_executor_shutdown;
%ignore xf_executor_stats;
%ignore xf_executor_submit_native_sig;
%ignore xf_closure_new_sig;
%ignore xf_closure_code;
%ignore xf_closure_signature;
%ignore xf_signature_text;
%ignore xf_process_pool_submit_payload;
%ignore xf_mpi_serve_open;
%ignore xf_mpi_serve_wait;

%include "../common/api.i"
%exception;

/* The glue (xfl.c). */
%native(future_set_result) int xfl_future_set_result(lua_State *L);
%native(future_set_error) int xfl_future_set_error(lua_State *L);
%native(future_wait) int xfl_future_wait(lua_State *L);
%native(future_outcome) int xfl_future_outcome(lua_State *L);
%native(future_error) int xfl_future_get_error(lua_State *L);
%native(future_on_done) int xfl_future_on_done(lua_State *L);
%native(future_remove_on_done) int xfl_future_remove_on_done(lua_State *L);
%native(is_future) int xfl_is_future(lua_State *L);
%native(future_from_handle) int xfl_future_from_handle(lua_State *L);
%native(future_handle) int xfl_future_handle(lua_State *L);
%native(spawn) int xfl_spawn(lua_State *L);
%native(current_task) int xfl_current_task(lua_State *L);
%native(call_later) int xfl_call_later(lua_State *L);
%native(call_soon) int xfl_call_soon(lua_State *L);
%native(handle_cancel) int xfl_handle_cancel(lua_State *L);
%native(run_until_complete) int xfl_run_until_complete(lua_State *L);
%native(run_once) int xfl_run_once(lua_State *L);
%native(add_reader) int xfl_add_reader(lua_State *L);
%native(set_exception_handler) int xfl_set_exception_handler(lua_State *L);
%native(report) int xfl_report(lua_State *L);
%native(thread_pool_new) int xfl_thread_pool_new(lua_State *L);
%native(lua_pool_new) int xfl_lua_pool_new(lua_State *L);
%native(lua_pool_submit) int xfl_lua_pool_submit(lua_State *L);
%native(executor_submit_native) int xfl_executor_submit_native(lua_State *L);
%native(executor_shutdown) int xfl_executor_shutdown(lua_State *L);
%native(executor_stats) int xfl_executor_stats(lua_State *L);
%native(dlsym) int xfl_dlsym(lua_State *L);
%native(closure_new) int xfl_closure_new(lua_State *L);
%native(closure_free) int xfl_closure_free(lua_State *L);
%native(process_pool_new) int xfl_process_pool_new(lua_State *L);
%native(process_pool_submit) int xfl_process_pool_submit(lua_State *L);
%native(process_pool_stats) int xfl_process_pool_stats(lua_State *L);
%native(wire_start) int xfl_wire_start(lua_State *L);
%native(wire_recv) int xfl_wire_recv(lua_State *L);
%native(wire_send) int xfl_wire_send(lua_State *L);
%native(value_kind) int xfl_value_kind(lua_State *L);
%native(core_repr) int xfl_core_repr(lua_State *L);
%native(bytes) int xfl_bytes(lua_State *L);
%native(make_error) int xfl_make_error(lua_State *L);
%native(thread_id) int xfl_thread_id(lua_State *L);
/* The MPI executor (xfl.c, its block at the end). */
%{
int xfl_mpi_executor_new(lua_State *L);
int xfl_mpi_pool_new(lua_State *L);
int xfl_mpi_submit(lua_State *L);
int xfl_mpi_serve_open(lua_State *L);
int xfl_mpi_serve_wait(lua_State *L);
%}
%native(mpi_executor_new) int xfl_mpi_executor_new(lua_State *L);
%native(mpi_pool_new) int xfl_mpi_pool_new(lua_State *L);
%native(mpi_submit) int xfl_mpi_submit(lua_State *L);
%native(mpi_serve_open) int xfl_mpi_serve_open(lua_State *L);
%native(mpi_serve_wait) int xfl_mpi_serve_wait(lua_State *L);

/* Cancellation, scopes and groups (xfl.c, their block at the end). */
%native(sc_metatables) int xfl_sc_metatables(lua_State *L);
%native(cancel_source_new) int xfl_cancel_source_new(lua_State *L);
%native(cancel_source_token) int xfl_cancel_source_token(lua_State *L);
%native(cancel_source_cancel) int xfl_cancel_source_cancel(lua_State *L);
%native(token_reason) int xfl_token_reason(lua_State *L);
%native(token_on_cancel) int xfl_token_on_cancel(lua_State *L);
%native(token_current_cancelled) int xfl_token_current_cancelled(lua_State *L);
%native(lua_pool_with_token) int xfl_lua_pool_with_token(lua_State *L);
%native(scope_new) int xfl_scope_new(lua_State *L);
%native(scope_spawn) int xfl_scope_spawn(lua_State *L);
%native(scope_cancel) int xfl_scope_cancel(lua_State *L);
%native(group_new) int xfl_group_new(lua_State *L);
%native(group_spawn) int xfl_group_spawn(lua_State *L);
%native(group_token) int xfl_group_token(lua_State *L);
%native(group_cancel) int xfl_group_cancel(lua_State *L);

%init %{
  xfl_init(L);
%}

/* The C glue of the Lua binding: the functions that xfutures.i registers
 * with %native in the generated module xfutures_core. Each one is a plain
 * lua_CFunction; the idiomatic layer (xfutures.lua) calls them. See xfl.c
 * for the design notes.
 */
#ifndef XFL_H
#define XFL_H

#include <lua.h>
#include <xf/xf.h>

/* What the typemaps of xfutures.i use: a future argument (raises unless the
 * value at idx is a live future of this binding), a new future pushed as
 * the state's object for it (taking over the reference), a sequence of
 * futures (borrowed, kept alive by the table), an executor argument, the
 * state's own loop, seconds as nanoseconds (nil or negative: forever), and
 * a core code raised as an error table. */
xf_future_t *xfl_check_future(lua_State *L, int idx);

/* xf:lang-specific: the future's Lua userdata, read by the typemaps */
/* A future's userdata: tag is &xfl_future_tag, so that a full userdata of
 * this size whose first word is that address is one of this binding's
 * futures. Checking an argument so takes a few instructions and no
 * metatable lookup (this is the path of every call that takes a future);
 * only C code could forge one. */
typedef struct xfl_future_ud {
  const void *tag;
  xf_future_t *f;
} xfl_future_ud;

extern const char xfl_future_tag;

/* The future userdata at idx, or NULL. A light userdata has no length: it
 * is refused before it is read. */
static inline xfl_future_ud *xfl_future_ud_at(lua_State *L, int idx) {
  xfl_future_ud *u = (xfl_future_ud *) lua_touserdata(L, idx);
  return u && lua_rawlen(L, idx) == sizeof *u && u->tag == &xfl_future_tag ? u : NULL;
}

/* xfl_check_future, inline when the argument is a live future. */
static inline xf_future_t *xfl_future_arg(lua_State *L, int idx) {
  xfl_future_ud *u = xfl_future_ud_at(L, idx);
  return u && u->f ? u->f : xfl_check_future(L, idx);
}
/* xf:end */
void xfl_push_future(lua_State *L, xf_future_t *f);
xf_future_t **xfl_check_future_list(lua_State *L, int idx, size_t *n);
xf_executor_t *xfl_check_executor(lua_State *L, int idx);
xf_loop_t *xfl_state_loop(lua_State *L);
int64_t xfl_to_ns(lua_State *L, int idx);
int xfl_raise_code(lua_State *L, int code);

/* Called by the module's luaopen function, with the module table on top:
 * the metatables, the state's runtime (its owner loop, made once per state)
 * and the module's fields for the Lua layer (await_key, null,
 * metatables). */
void xfl_init(lua_State *L);

/* Futures. */
int xfl_future_set_result(lua_State *L);
int xfl_future_set_error(lua_State *L);
int xfl_future_wait(lua_State *L);
int xfl_future_outcome(lua_State *L);
int xfl_future_get_error(lua_State *L);
int xfl_future_on_done(lua_State *L);
int xfl_future_remove_on_done(lua_State *L);
int xfl_is_future(lua_State *L);
int xfl_future_from_handle(lua_State *L);
int xfl_future_handle(lua_State *L);

/* Combinators over futures. */

/* The loop: tasks, timers, running. */
int xfl_spawn(lua_State *L);
int xfl_current_task(lua_State *L);
int xfl_call_later(lua_State *L);
int xfl_call_soon(lua_State *L);
int xfl_handle_cancel(lua_State *L);
int xfl_run_until_complete(lua_State *L);
int xfl_run_once(lua_State *L);
int xfl_add_reader(lua_State *L);
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
int xfl_closure_new(lua_State *L);
int xfl_closure_free(lua_State *L);

/* The process pool (the parent's side, then the worker's). */
int xfl_process_pool_new(lua_State *L);
int xfl_process_pool_submit(lua_State *L);
int xfl_process_pool_stats(lua_State *L);
int xfl_wire_start(lua_State *L);
int xfl_wire_recv(lua_State *L);
int xfl_wire_send(lua_State *L);

/* Values, errors and diagnostics. */
int xfl_value_kind(lua_State *L);
int xfl_core_repr(lua_State *L);
int xfl_bytes(lua_State *L);
int xfl_make_error(lua_State *L);
int xfl_thread_id(lua_State *L);

/* Cancellation, scopes and groups: the typemaps' handle arguments (a
 * source stands for its token), and the glue. */
xf_cancel_token_t *xfl_check_token(lua_State *L, int idx);
xf_scope_t *xfl_check_scope(lua_State *L, int idx);
xf_group_t *xfl_check_group(lua_State *L, int idx);
int xfl_sc_metatables(lua_State *L);
int xfl_cancel_source_new(lua_State *L);
int xfl_cancel_source_token(lua_State *L);
int xfl_cancel_source_cancel(lua_State *L);
int xfl_token_reason(lua_State *L);
int xfl_token_on_cancel(lua_State *L);
int xfl_token_current_cancelled(lua_State *L);
int xfl_lua_pool_with_token(lua_State *L);
int xfl_scope_new(lua_State *L);
int xfl_scope_spawn(lua_State *L);
int xfl_scope_cancel(lua_State *L);
int xfl_group_new(lua_State *L);
int xfl_group_spawn(lua_State *L);
int xfl_group_token(lua_State *L);
int xfl_group_cancel(lua_State *L);

#endif /* XFL_H */

/* xfutures — immutable values.
 *
 * An xf_value_t is an immutable, reference-counted value that is safe to
 * share between threads. Void, booleans, most integers and most doubles are
 * encoded in the handle itself and cost no allocation; for them _ref and
 * _unref do nothing. Every constructor returns a new reference in its
 * out-parameter, which the caller owns and releases with xf_value_unref().
 *
 * Objects are foreign values (a Python object, a Lua table, a JS object): the
 * value keeps the runtime's name and its retain/release hooks, so the same
 * object comes back to its own runtime, and another runtime sees an opaque
 * handle it can pass along. A runtime whose objects must be released on
 * their own thread names its owner loop in the hooks, and the core posts the
 * release there when the last reference drops elsewhere.
 *
 * Plain data crosses between runtimes as the kinds void, bool, int, double,
 * string, bytes, list and map: a Python dict, a Lua table with keys other
 * than 1..n and a plain JS object become maps, which every runtime reads.
 */
#ifndef XF_VALUE_H
#define XF_VALUE_H

#include <stdbool.h>
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xf_value xf_value_t;
typedef struct xf_error xf_error_t;

typedef enum xf_kind {
  XF_KIND_VOID = 0,
  XF_KIND_BOOL = 1,
  XF_KIND_INT = 2,
  XF_KIND_DOUBLE = 3,
  XF_KIND_STRING = 4,
  XF_KIND_BYTES = 5,
  XF_KIND_LIST = 6,
  XF_KIND_POINTER = 7,
  XF_KIND_OBJECT = 8,
  XF_KIND_ERROR = 9,
  XF_KIND_MAP = 10
} xf_kind_t;

/* The hooks of a foreign runtime for the objects it hands to xfutures.
 * retain is called when the core needs another reference to the object and
 * release when it drops one; both may be NULL. The struct must outlive every
 * object value that points to it, until that value's release has run
 * (usually static, or one per runtime instance that lives as long as its
 * objects do).
 *
 * Where release runs. With owner NULL, release runs on whichever thread
 * drops the last reference to the value, and must be safe there. With an
 * owner loop, the core releases the object on the loop's thread:
 * - dropped on the thread that is running the owner loop (inside one of its
 *   callbacks): release runs at once, before xf_value_unref returns;
 * - dropped anywhere else, the runtime's own thread outside a run of its
 *   loop included: the release is posted to the owner loop (as by
 *   xf_loop_call_soon_threadsafe) and runs on the thread that next runs it;
 *   if the loop is closed before that, the release runs as the loop closes,
 *   on the thread closing it (never running it);
 * - once the owner loop is closed (or in a forked child, where it counts as
 *   closed), or when no memory is left to post it: release runs on the
 *   dropping thread. A runtime therefore closes its owner loop only when its
 *   release can run on any thread (when the runtime is gone, it only frees
 *   its own record of the object, or leaks the foreign object on purpose;
 *   xf_loop_is_closed(owner) tells it which case it is in).
 * Release runs exactly once per object value, in every case (hooks without
 * a release have nothing to post and are never posted). An object value
 * holds a reference to its owner loop's memory (not a user reference: it does
 * not keep the loop open), so the loop may be closed and unreferenced while
 * its objects live on.
 *
 * owner is read when an object value is made, and only when sz covers it: a
 * caller built before the field existed passes the smaller sz of its
 * version, and its objects are released where they drop, as they always
 * were. */
typedef struct xf_object_hooks {
  size_t sz;        /* sizeof(xf_object_hooks_t), for growth */
  const char *name; /* the runtime's name: "python", "lua", "node", ... */
  void (*retain)(void *object, void *hook_data);
  void (*release)(void *object, void *hook_data);
  void *hook_data;
  struct xf_loop *owner; /* since 0.2: the loop whose thread releases; may be NULL */
} xf_object_hooks_t;

/* Static values: never fail, never allocate. */
XF_API xf_value_t *xf_value_void(void);
XF_API xf_value_t *xf_value_bool(bool b);

/* Numbers. Most integers and doubles need no allocation; the others allocate
 * and may fail with XF_ENOMEM. */
XF_API int xf_value_new_int(int64_t i, xf_value_t **out);
XF_API int xf_value_new_double(double d, xf_value_t **out);

/* Strings are UTF-8 with an explicit length (they may contain NUL); bytes are
 * arbitrary. The bytes are copied, and the copy is followed by a NUL byte
 * that the length does not count. Invalid UTF-8 in a string is XF_EINVAL.
 * A NULL pointer is allowed only with a length of 0. */
XF_API int xf_value_new_string(const char *s, size_t len, xf_value_t **out);
XF_API int xf_value_new_cstring(const char *s, xf_value_t **out);
XF_API int xf_value_new_bytes(const void *p, size_t len, xf_value_t **out);

/* A list takes a new reference to each of the n items (the caller keeps its
 * own). A NULL item is XF_EINVAL. */
XF_API int xf_value_new_list(xf_value_t *const *items, size_t n, xf_value_t **out);

/* A map: n pairs of keys[i] -> values[i], kept in the given order (the order
 * a runtime reads them back in). It takes a new reference to each key and
 * value (the caller keeps its own). Keys may be of any kind; the map does not
 * look for duplicates (the runtimes that build maps have distinct keys
 * already), and a lookup finds the first equal key. A NULL key or value, or
 * NULL arrays with n > 0, is XF_EINVAL. */
XF_API int xf_value_new_map(xf_value_t *const *keys, xf_value_t *const *values, size_t n,
                            xf_value_t **out);

/* A raw pointer. When the last reference drops, dtor (if not NULL) is called
 * with the pointer, on whichever thread drops it. On failure dtor is not
 * called: the caller still owns the pointer. */
XF_API int xf_value_new_pointer(void *p, xf_free_data_fn dtor, xf_value_t **out);

/* A foreign object. hooks->retain is called once here (the value holds its
 * own reference) and hooks->release once when the value is freed, on the
 * owner loop's thread when hooks->owner is set (see xf_object_hooks_t). On
 * failure neither is called. A NULL object, a NULL hooks->name or a
 * hooks->sz smaller than the struct of version 0.1 (which ends with
 * hook_data) is XF_EINVAL. */
XF_API int xf_value_new_object(void *object, const xf_object_hooks_t *hooks,
                               xf_value_t **out);

/* An error as a value (for lists of outcomes, as gather with collected
 * errors returns). Takes a new reference to err. */
XF_API int xf_value_new_error(xf_error_t *err, xf_value_t **out);

/* Reference counting; any thread. ref returns its argument. NULL is a no-op. */
XF_API xf_value_t *xf_value_ref(xf_value_t *v);
XF_API void xf_value_unref(xf_value_t *v);

/* The kind of a value; XF_EINVAL for NULL. */
XF_API int xf_value_kind(const xf_value_t *v);

/* Accessors. Each returns XF_ETYPE when the value has another kind,
 * XF_EINVAL for NULL arguments (every out-parameter is required) and, for
 * xf_value_list_get, XF_ERANGE for an index past the end. Borrowed results (string bytes,
 * list items, object pointers, errors) stay valid as long as the caller holds the value.
 */
XF_API int xf_value_get_bool(const xf_value_t *v, bool *out);
XF_API int xf_value_get_int(const xf_value_t *v, int64_t *out);
XF_API int xf_value_get_double(const xf_value_t *v, double *out);
XF_API int xf_value_get_string(const xf_value_t *v, const char **out, size_t *len);
XF_API int xf_value_get_bytes(const xf_value_t *v, const void **out, size_t *len);
XF_API int xf_value_list_len(const xf_value_t *v, size_t *out);
XF_API int xf_value_list_get(const xf_value_t *v, size_t i, xf_value_t **borrowed);
XF_API int xf_value_get_pointer(const xf_value_t *v, void **out);

/* A map's number of pairs, its i-th pair (borrowed key and value; XF_ERANGE
 * past the end), and the value of the first key equal to key
 * (xf_value_equal; XF_ERANGE when there is none). */
XF_API int xf_value_map_len(const xf_value_t *v, size_t *out);
XF_API int xf_value_map_get(const xf_value_t *v, size_t i, xf_value_t **key,
                            xf_value_t **value);
XF_API int xf_value_map_find(const xf_value_t *v, const xf_value_t *key,
                             xf_value_t **value);
XF_API int xf_value_get_object(const xf_value_t *v, void **object,
                               const xf_object_hooks_t **hooks);
XF_API int xf_value_get_error(const xf_value_t *v, xf_error_t **borrowed);

/* Structural equality: same kind and same contents (lists element-wise, maps
 * as sets of pairs whatever their order,
 * pointers and objects by identity, errors by code, type and message).
 * Doubles compare numerically, except that NaN equals NaN so that equality
 * stays reflexive. Anything compared with NULL is unequal. */
XF_API bool xf_value_equal(const xf_value_t *a, const xf_value_t *b);

/* A canonical text of a value, the same in every runtime for the same
 * value: none, true, false, integers in decimal, doubles in their shortest
 * round-trip form that always shows a point or an exponent ("1.0", "1e+300",
 * "-0.0", "nan", "inf", "-inf"), strings quoted with JSON's escapes (other
 * bytes as they are), bytes as b"<hex>", lists as [a, b], maps as {k: v}
 * in their order, errors as error(Type: message), objects as
 * object(<runtime>) and pointers as pointer. Containers nested deeper than
 * 256 levels show as [...] or {...}, and a text that would pass 1 MiB
 * (values can share items, so a small value can have a huge text) is cut
 * below 1 MiB and ends with "...". As snprintf: writes at most size bytes
 * including a terminating NUL (buf may be NULL when size is 0) and returns
 * the length of the whole text. A NULL or invalid handle renders as
 * "invalid". */
XF_API size_t xf_value_repr(const xf_value_t *v, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* XF_VALUE_H */

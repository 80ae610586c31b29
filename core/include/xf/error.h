/* xfutures — error objects.
 *
 * An xf_error_t is what a failed future holds: an XF_E* code, a type name
 * ("ValueError", "TimeoutError", a JS Error.name), a message, an optional
 * traceback text and an optional foreign payload (the original exception
 * object, as an object value), so that an exception raised in one runtime
 * comes back to it as itself. Errors are immutable, reference-counted and
 * safe to share between threads.
 */
#ifndef XF_ERROR_H
#define XF_ERROR_H

#include "value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A new error with code (a negative XF_E* code; XF_OK is XF_EINVAL), a type
 * name and a message. type NULL means the default type for the code
 * (xf_error_default_type); message NULL means xf_strerror(code). The strings
 * are copied. The caller owns the new reference in *out. */
XF_API int xf_error_new(int code, const char *type, const char *message,
                        xf_error_t **out);

/* As xf_error_new, with a traceback text (copied; may be NULL) and a payload
 * (may be NULL; the error takes its own reference to it). */
XF_API int xf_error_new_full(int code, const char *type, const char *message,
                             const char *traceback, xf_value_t *payload,
                             xf_error_t **out);

/* Reference counting; any thread. NULL is a no-op. */
XF_API xf_error_t *xf_error_ref(xf_error_t *e);
XF_API void xf_error_unref(xf_error_t *e);

/* Accessors; all return borrowed data valid while the caller holds the error.
 * On NULL: code XF_EINVAL, strings "", traceback and payload NULL. */
XF_API int xf_error_code(const xf_error_t *e);
XF_API const char *xf_error_type(const xf_error_t *e);
XF_API const char *xf_error_message(const xf_error_t *e);
XF_API const char *xf_error_traceback(const xf_error_t *e);
XF_API xf_value_t *xf_error_payload(const xf_error_t *e);

/* The type name used when none is given: the type column of the error table
 * (XF_ERRNO_MAP in common.h): "CancelledError" for XF_ECANCELLED,
 * "TimeoutError" for XF_ETIMEDOUT, "InvalidStateError" for XF_ESTATE,
 * "BrokenExecutor" for XF_EBROKEN, "MemoryError" for XF_ENOMEM, "TypeError"
 * for XF_ETYPE, "ValueError" for XF_EINVAL, "QueueFull" for XF_EAGAIN,
 * "OverflowError" for XF_ERANGE, "DeadlockError" for XF_EDEADLK, "OSError"
 * for XF_ESYS, "" for XF_OK, and "RuntimeError" for every other code and for
 * a code that is not in the table. Static storage; never NULL. */
XF_API const char *xf_error_default_type(int code);

/* The reverse of xf_error_default_type: the code of the first row of the
 * error table whose type is `type` ("TimeoutError" gives XF_ETIMEDOUT,
 * "RuntimeError" XF_EFAILED), XF_EFAILED for a type the table does not
 * name (a user's own exception type), and XF_EINVAL for NULL or "". A
 * binding uses it to give an error raised in its language the code that
 * other languages map back to the same exception. */
XF_API int xf_error_code_of_type(const char *type);

#ifdef __cplusplus
}
#endif
#endif /* XF_ERROR_H */

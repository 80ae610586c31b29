/* xfutures — C signatures, libffi closures and native calls.
 *
 * Three things live here, all built on libffi:
 *
 * - A signature: a C function type written as text, such as
 *   "double(int32, pointer)", parsed once into a reference-counted
 *   xf_signature_t that any thread may share.
 * - A closure: a real C function pointer of a given signature whose calls
 *   land in a handler bound to an owner loop. Foreign callables (a Python,
 *   Lua or JS function) become closures, so any C code — a third-party
 *   library on its own threads included — can call them, and they run on the
 *   thread that owns their runtime.
 * - Native calls: a C function of any signature run on an executor through
 *   ffi_call, its return becoming the future's value.
 *
 * The signature language
 * ----------------------
 *   signature := type "(" [ "void" | type { "," type } ] ")"
 *
 * Types, with their accepted aliases:
 *   void                          (return type only)
 *   int8 int16 int32 int64        int8_t ... int64_t; int = int32
 *   uint8 uint16 uint32 uint64    uint8_t ... uint64_t; unsigned = uint32
 *   size_t
 *   float double
 *   pointer                       void*
 *   string                        a NUL-terminated C string: char*, const char*
 * Whitespace may appear between tokens and around "*". Zero arguments are
 * written "void()" or "void(void)". At most XF_SIGNATURE_MAX_ARGS arguments.
 * The canonical text (xf_signature_text) uses the first name of each type,
 * ", " between arguments and "()" for none: "double(int32, pointer)".
 *
 * How C values cross as xf_value_t
 * --------------------------------
 * C to value (closure arguments, native return values):
 *   integers      XF_KIND_INT; uint64 and size_t values above INT64_MAX wrap
 *                 to the int64 with the same bits, so every value round-trips
 *   float/double  XF_KIND_DOUBLE
 *   pointer       XF_KIND_POINTER (no destructor); NULL is a void value
 *   string        XF_KIND_STRING, copied; NULL is void; bytes that are not
 *                 valid UTF-8 arrive as XF_KIND_BYTES
 * Value to C (closure results, native arguments):
 *   integers      XF_KIND_INT or XF_KIND_BOOL; a value outside the type's
 *                 range is XF_ERANGE, except for uint64 and size_t, which
 *                 take the int64's bits (the inverse of the wrap above)
 *   float/double  XF_KIND_DOUBLE or XF_KIND_INT; a finite double beyond the
 *                 range of float is XF_ERANGE
 *   pointer       XF_KIND_POINTER; XF_KIND_VOID or the integer 0 is NULL
 *   string        XF_KIND_STRING or XF_KIND_BYTES (one that contains a NUL
 *                 byte is XF_EINVAL); XF_KIND_VOID is NULL
 * Any other kind is XF_ETYPE.
 */
#ifndef XF_CLOSURE_H
#define XF_CLOSURE_H

#include "loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Signatures ------------------------------------------------------- */

typedef enum xf_ctype {
  XF_C_VOID = 0,
  XF_C_INT8 = 1,
  XF_C_INT16 = 2,
  XF_C_INT32 = 3,
  XF_C_INT64 = 4,
  XF_C_UINT8 = 5,
  XF_C_UINT16 = 6,
  XF_C_UINT32 = 7,
  XF_C_UINT64 = 8,
  XF_C_SIZE = 9,
  XF_C_FLOAT = 10,
  XF_C_DOUBLE = 11,
  XF_C_POINTER = 12,
  XF_C_STRING = 13
} xf_ctype_t;

#define XF_SIGNATURE_MAX_ARGS 32

typedef struct xf_signature xf_signature_t;

/* Parse a signature. On XF_OK *out is a new reference the caller owns. A
 * malformed text is XF_EINVAL and, when errbuf is not NULL, errbuf receives
 * (truncated to errlen bytes, NUL included) a sentence saying what was
 * expected and where, such as: expected a type at offset 7: "int33".
 * XF_ENOMEM when memory runs out. Any thread. */
XF_API int xf_signature_parse(const char *text, char *errbuf, size_t errlen,
                              xf_signature_t **out);

/* The error to raise when a signature given by a user does not parse: one
 * wording for every binding. code is what xf_signature_parse returned for
 * text. For XF_EINVAL the error has code XF_EINVAL, type "ValueError" and
 * the message "<context>: bad signature: <sentence>", the sentence being
 * the parser's (the one xf_signature_parse writes into errbuf, such as
 * expected a type at offset 4: "uint33"); for another code, that code's
 * type and "<context>: " followed by xf_strerror(code). context (such as
 * "callback" or "submit_native") may be NULL or "", and the message then
 * starts at "bad signature". The strings are copied.
 *
 * XF_OK with *out a new reference the caller owns. XF_ENOMEM when the
 * error cannot be made: *out is then the preallocated MemoryError, which a
 * binding raises the same way (unref is harmless on it), so *out is always
 * an error to raise. XF_EINVAL, with *out NULL, for out NULL or a code
 * that is not negative. Any thread. */
XF_API int xf_signature_error_new(const char *context, const char *text, int code,
                                  xf_error_t **out);

/* Reference counting; any thread. NULL is a no-op. */
XF_API xf_signature_t *xf_signature_ref(xf_signature_t *sig);
XF_API void xf_signature_unref(xf_signature_t *sig);

/* The number of arguments, or XF_EINVAL for NULL. */
XF_API int xf_signature_arity(const xf_signature_t *sig);

/* The xf_ctype_t of argument i; XF_EINVAL for NULL, XF_ERANGE past the end. */
XF_API int xf_signature_arg_type(const xf_signature_t *sig, size_t i);

/* The xf_ctype_t of the return value; XF_EINVAL for NULL. */
XF_API int xf_signature_return_type(const xf_signature_t *sig);

/* The canonical text, borrowed for as long as the caller holds sig; "" for
 * NULL. */
XF_API const char *xf_signature_text(const xf_signature_t *sig);

/* The canonical name of a type ("int32"); NULL for a value that is not an
 * xf_ctype_t. Static storage. */
XF_API const char *xf_ctype_name(int type);

/* ---- Closures --------------------------------------------------------- */

typedef struct xf_closure xf_closure_t;

/* A closure's handler. It receives the data given to xf_closure_new and the
 * call's arguments converted to values (borrowed for the call; take a
 * reference to keep one). For a signature that returns a value, result is
 * not NULL and the handler stores in *result a new reference to the return
 * value (left NULL, it counts as void: for a non-void signature that is the
 * default below); for a void signature result is NULL.
 *
 * The handler returns XF_OK, or a negative code for a failure: the C caller
 * then receives the default return value (zero, 0.0 or NULL) and the failure
 * goes to the owner loop's exception handler. A result that holds an error
 * value (XF_KIND_ERROR) is a failure too, and that error is the one
 * reported, so a binding can hand over the foreign exception. */
typedef int (*xf_closure_handler_fn)(void *data, xf_value_t *const *args, size_t nargs,
                                     xf_value_t **result);

/* Make a closure: a C function of the given signature (xf_closure_code) that
 * calls handler(data, ...). On XF_OK *out is a new reference the caller
 * owns, and free_data (if not NULL) is called with data once, when the last
 * reference is gone (on the owner loop's thread when that loop is still
 * open, see below). When this returns an error, handler is never called and
 * data is not freed.
 *
 * owner may be NULL. Where a call runs:
 * - no owner loop: inline, in the calling thread;
 * - called on the thread running the owner loop: inline, at once;
 * - called on any other thread: the arguments are copied (strings too) and
 *   the call is posted to the owner loop (as xf_loop_call_soon_threadsafe:
 *   calls from one thread run in the order they were made). For a void
 *   signature the caller returns at once; otherwise it sleeps until the
 *   owner loop has run the handler and receives its answer.
 *
 * Calls that cannot be made: the caller receives the default return value
 * (zero, 0.0, NULL) and the failure goes to the owner loop's exception
 * handler (with no owner loop there is nobody to tell). That happens when
 * the handler fails, when its result does not convert to the return type,
 * when memory runs out, when the owner loop is closed (XF_ECLOSED; posted
 * calls still pending when it closes are dropped and their copied arguments
 * freed; a caller waiting for one is released), and when waiting would
 * deadlock (XF_EDEADLK): a non-void call made on the owner loop's own thread
 * while that loop is not being run. The owner's thread is the thread that
 * made the closure, or the last one that ran the owner loop for it. A wait
 * that no check can see through, such as the owner thread blocked waiting
 * for the caller, still deadlocks: do not block the owner loop on a thread
 * that calls its closures with a non-void signature.
 *
 * A string return value is stored by the calling thread and stays valid
 * until that thread's next call of a closure returning a string, or its
 * exit. The closure holds a reference on the signature and on the owner
 * loop's memory; it does not keep the loop open. Any thread. */
XF_API int xf_closure_new(const char *signature, xf_closure_handler_fn handler,
                          void *data, xf_free_data_fn free_data, xf_loop_t *owner,
                          xf_closure_t **out);

/* As xf_closure_new, with a parsed signature (the closure takes its own
 * reference to it). */
XF_API int xf_closure_new_sig(xf_signature_t *sig, xf_closure_handler_fn handler,
                              void *data, xf_free_data_fn free_data, xf_loop_t *owner,
                              xf_closure_t **out);

/* The C function pointer: cast it to the function type of the signature.
 * It stays valid while the caller holds a reference; NULL for NULL. */
XF_API void *xf_closure_code(const xf_closure_t *c);

/* Reference counting; any thread. NULL is a no-op. Each call in progress
 * and each posted call holds its own reference, so dropping the last
 * reference of its owner while calls are in flight is safe: they finish
 * first. What the owner must ensure is that no call starts after that, as
 * with any function pointer it hands out. The executable memory is released
 * with the last reference. */
XF_API xf_closure_t *xf_closure_ref(xf_closure_t *c);
XF_API void xf_closure_unref(xf_closure_t *c);

/* Retire a closure whose owner is going away while C code may still hold
 * its function pointer (an interpreter closing while a C library's thread
 * calls its callback). From now on the handler is never called again:
 * every call, from any thread, returns the default value (zero, 0.0, NULL)
 * at once, without waiting for the owner loop, and the first such call is
 * reported, once, to the owner loop's exception handler while that loop is
 * open, else on stderr. Handler calls already running finish; free_data
 * runs when the last of them has returned (at once, in this call, when none
 * is running), on the thread that gets there last. Calls posted to the owner
 * loop and not yet run are answered with the default value when the loop
 * runs or closes.
 *
 * Retiring does not drop a reference. The code stays valid, and keeps
 * answering with the default value, for as long as references remain: an
 * owner that cannot know when C code stops calling keeps its reference for
 * the life of the process (the closure's memory, a few hundred bytes; its
 * data is freed as above). Retiring twice is a no-op. XF_EINVAL for NULL.
 * Any thread. */
XF_API int xf_closure_retire(xf_closure_t *c);

/* Whether c has been retired (false for NULL). Any thread. */
XF_API bool xf_closure_retired(const xf_closure_t *c);

/* The owner loop (borrowed; NULL if none) and the signature (borrowed). */
XF_API xf_loop_t *xf_closure_loop(const xf_closure_t *c);
XF_API xf_signature_t *xf_closure_signature(const xf_closure_t *c);

/* Register a closure as a done callback of f: this is how a binding hands a
 * foreign callable to a future. Its handler receives f as a single pointer
 * argument (borrowed for the call), so the closure's signature must be
 * "void(pointer)" (XF_ETYPE otherwise). The callback is posted to the
 * closure's owner loop, and run by the thread running it, whatever thread
 * finishes f; completions from many threads are delivered in batches, many
 * per wake-up of the loop, and cost no allocation. With no owner loop it
 * runs as a callback registered with loop NULL would (inline in the
 * finishing thread for a free-standing future, on f's loop for a loop
 * future). Callbacks of one future run in the order they were added,
 * whether closures or not, each once.
 *
 * The registration holds a reference on the closure until the callback ran,
 * was removed, or was dropped with f (freed while pending); the closure's
 * free_data runs with its last reference, on the owner loop's thread (see
 * xf_closure_new), so a binding's foreign function is never freed on a
 * worker thread. A handler failure goes to the owner loop's exception
 * handler. The same closure may be registered many times, on one future or
 * many. On error the handler will never be called for this registration and
 * no reference is kept. Any thread. */
XF_API int xf_future_add_done_closure(xf_future_t *f, xf_closure_t *c);

/* Remove every registration of c on f that has not run yet; the handler
 * will never be called for them, and their references on c are dropped
 * (which may free c, as above). Returns how many were removed (0 when none
 * was left, f done included), or XF_EINVAL for a NULL argument. A callback
 * already handed to the loop when this is called still runs. Any thread. */
XF_API int xf_future_remove_done_closure(xf_future_t *f, xf_closure_t *c);

/* ---- Native calls ----------------------------------------------------- */

/* Run the C function fn, of the given signature, on the executor with the
 * nargs arguments converted as described at the top of this file; the
 * function's return value becomes the future's value (void for a void
 * function). The arguments are checked and converted before anything is
 * submitted: a wrong count is XF_EINVAL, a wrong kind XF_ETYPE, a value out
 * of range XF_ERANGE, and nothing runs. String arguments are copied, so the
 * caller may drop its values at once; a pointer argument is passed as is and
 * must stay valid until the function has run. No lock is held while fn
 * runs. On XF_OK *out is a new reference to the future. Other errors as
 * xf_executor_submit. Any thread. */
XF_API int xf_executor_submit_native(xf_executor_t *ex, void *fn, const char *signature,
                                     xf_value_t *const *args, size_t nargs,
                                     xf_future_t **out);

/* As xf_executor_submit_native, with a parsed signature. */
XF_API int xf_executor_submit_native_sig(xf_executor_t *ex, void *fn, xf_signature_t *sig,
                                         xf_value_t *const *args, size_t nargs,
                                         xf_future_t **out);

#ifdef __cplusplus
}
#endif
#endif /* XF_CLOSURE_H */

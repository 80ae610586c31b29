/* xfutures — error codes, version, allocation and the export macro.
 *
 * Every public function of xfutures that can fail returns an int: XF_OK (0)
 * on success or one of the negative XF_E* codes below. No function aborts or
 * prints on bad input; a NULL handle, a wrong state or a wrong thread is an
 * error code. Out-parameters come last. Unreferencing NULL is a no-op.
 */
#ifndef XF_COMMON_H
#define XF_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SWIG)
#define XF_API
#elif defined(_WIN32)
#define XF_API __declspec(dllexport)
#else
#define XF_API __attribute__((visibility("default")))
#endif

#define XF_VERSION_MAJOR 0
#define XF_VERSION_MINOR 1
#define XF_VERSION_PATCH 0
/* The ABI version changes only when a published symbol changes incompatibly;
 * it is the major part of the shared library's SONAME. */
#define XF_ABI_VERSION   0

/* The error table: name, value, message, and the error type name that an
 * error made with the code carries when its creator names none (see
 * xf_error_default_type; the bindings raise their exception of that name).
 * A code is never reused: new codes take the next free number. */
#define XF_ERRNO_MAP(X)                                                                  \
  X(OK, 0, "success", "")                                                                \
  X(EINVAL, -1, "invalid argument", "ValueError")                                        \
  X(ENOMEM, -2, "out of memory", "MemoryError")                                          \
  X(ESTATE, -3, "invalid state for this operation", "InvalidStateError")                 \
  X(ETIMEDOUT, -4, "timed out", "TimeoutError")                                          \
  X(ECANCELLED, -5, "cancelled", "CancelledError")                                       \
  X(EFAILED, -6, "the operation finished with an error", "RuntimeError")                 \
  X(ESHUTDOWN, -7, "the executor has been shut down", "RuntimeError")                    \
  X(EWRONGTHREAD, -8, "called from the wrong thread", "RuntimeError")                    \
  X(EBROKEN, -9, "the executor is broken", "BrokenExecutor")                             \
  X(ETYPE, -10, "wrong type", "TypeError")                                               \
  X(EAGAIN, -11, "resource temporarily unavailable (queue full)", "QueueFull")           \
  X(ECLOSED, -12, "the object is closed", "RuntimeError")                                \
  X(EBUSY, -13, "busy (already running)", "RuntimeError")                                \
  X(ERANGE, -14, "value out of range", "OverflowError")                                  \
  X(EDEADLK, -15, "waiting would deadlock", "DeadlockError")                             \
  X(ESYS, -16, "a system call failed", "OSError")

typedef enum xf_errno {
#define XF__ERRNO_ENUM(name, value, text, type) XF_##name = value,
  XF_ERRNO_MAP(XF__ERRNO_ENUM)
#undef XF__ERRNO_ENUM
} xf_errno_t;

/* A static English sentence for an error code; "unknown error" for a code
 * that is not in the table. Never NULL; the caller does not free it. */
XF_API const char *xf_strerror(int code);

/* The symbolic name of an error code ("XF_EINVAL"); "XF_UNKNOWN" for a code
 * that is not in the table. Never NULL; the caller does not free it. */
XF_API const char *xf_err_name(int code);

/* The library's version as "major.minor.patch" (static storage). */
XF_API const char *xf_version(void);

/* The ABI version of the library actually loaded (XF_ABI_VERSION it was built
 * with). A program can compare it with the XF_ABI_VERSION it was compiled
 * against. */
XF_API int xf_abi_version(void);

/* Monotonic time in nanoseconds (CLOCK_MONOTONIC). Every timeout and deadline
 * in xfutures is measured on this clock. */
XF_API int64_t xf_now(void);

/* Allocation hook. Every allocation xfutures makes goes through these three
 * functions, so a test can count allocations or inject failures. Passing all
 * three as NULL restores the C library's malloc, realloc and free. Passing
 * some but not all is XF_EINVAL. Install the hook before creating any object,
 * or make sure the new free can release memory from the old malloc: memory is
 * always freed by whatever hook is installed at that moment. Not thread-safe
 * against concurrent allocation. */
typedef void *(*xf_malloc_fn)(size_t size);
typedef void *(*xf_realloc_fn)(void *ptr, size_t size);
typedef void (*xf_free_fn)(void *ptr);
XF_API int xf_set_allocator(xf_malloc_fn malloc_fn, xf_realloc_fn realloc_fn,
                            xf_free_fn free_fn);

/* A destructor for user data handed to xfutures together with a pointer. */
typedef void (*xf_free_data_fn)(void *data);

#ifdef __cplusplus
}
#endif
#endif /* XF_COMMON_H */

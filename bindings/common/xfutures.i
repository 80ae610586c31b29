/* The part of the SWIG interface that every language shares: the C headers,
 * the export macro defined away, the xf_/XF_ prefixes stripped, and the
 * constants of the core (error codes, future states, value kinds, wait
 * modes, run modes), taken from the headers' own enums so they cannot
 * drift. Each language's interface file (bindings/<lang>/xfutures.i)
 * includes this one and adds its typemaps, its error translation and the
 * small C glue that turns its callables and objects into xfutures tasks,
 * closures and values; the idiomatic module on top is hand-written.
 */
%{
#include <xf/xf.h>
%}

#define XF_API
%include <stdint.i>

/* xf_strerror -> strerror, XF_EINVAL -> EINVAL. */
%rename("%(strip:[xf_])s") "";
%rename("%(strip:[XF_])s", %$isconstant) "";
%rename("%(strip:[XF_])s", %$isenumitem) "";

/* Only the constants and the few plain functions of common.h are wrapped
 * here; each language wraps the handle functions it needs with its own
 * typemaps. */
%ignore xf_set_allocator;
%ignore XF_ABI_VERSION;
%include "xf/common.h"

/* The enums of the other headers, as constants with their C names
 * (XF_PENDING -> PENDING, XF_KIND_INT -> KIND_INT, ...). */
%constant int PENDING = XF_PENDING;
%constant int RUNNING = XF_RUNNING;
%constant int FINISHED = XF_FINISHED;
%constant int CANCELLED = XF_CANCELLED;
%constant int KIND_VOID = XF_KIND_VOID;
%constant int KIND_BOOL = XF_KIND_BOOL;
%constant int KIND_INT = XF_KIND_INT;
%constant int KIND_DOUBLE = XF_KIND_DOUBLE;
%constant int KIND_STRING = XF_KIND_STRING;
%constant int KIND_BYTES = XF_KIND_BYTES;
%constant int KIND_LIST = XF_KIND_LIST;
%constant int KIND_POINTER = XF_KIND_POINTER;
%constant int KIND_OBJECT = XF_KIND_OBJECT;
%constant int KIND_ERROR = XF_KIND_ERROR;
%constant int ALL_COMPLETED = XF_ALL_COMPLETED;
%constant int FIRST_COMPLETED = XF_FIRST_COMPLETED;
%constant int FIRST_EXCEPTION = XF_FIRST_EXCEPTION;
%constant int ALL_COLLECT = XF_ALL_COLLECT;
%constant int QUEUE_BLOCK = XF_QUEUE_BLOCK;
%constant int QUEUE_REJECT = XF_QUEUE_REJECT;
%constant int RUN_DEFAULT = XF_RUN_DEFAULT;
%constant int RUN_ONCE = XF_RUN_ONCE;
%constant int RUN_NOWAIT = XF_RUN_NOWAIT;
%constant int TASK_AWAIT = XF_TASK_AWAIT;
%constant int TASK_YIELD = XF_TASK_YIELD;

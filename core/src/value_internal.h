/* Internal helpers around values for the rest of the core (the static
 * MemoryError, xf__error_oom, is declared in internal.h).
 * Nothing here is published. */
#ifndef XF_VALUE_INTERNAL_H
#define XF_VALUE_INTERNAL_H

#include "internal.h"

/* True when v is a reference-counted allocation, false for NULL, for values
 * encoded in the handle (small integers, most doubles) and for the static
 * singletons (void, true, false). _ref and _unref do nothing for the latter. */
XF__HIDDEN bool xf__value_is_heap(const xf_value_t *v);

#endif /* XF_VALUE_INTERNAL_H */

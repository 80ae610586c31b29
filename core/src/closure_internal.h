/* What signature.c, closure.c and native.c share: the parsed signature with
 * its prepared libffi call interface, and the conversions between C values
 * and xf_value_t described at the top of xf/closure.h. */
#ifndef XF_CLOSURE_INTERNAL_H
#define XF_CLOSURE_INTERNAL_H

#include <ffi.h>

#include "internal.h"
#include "xf/closure.h"

struct xf_signature {
  _Atomic uint32_t refs;
  uint8_t ret;       /* xf_ctype_t */
  uint8_t nargs;     /* at most XF_SIGNATURE_MAX_ARGS */
  uint8_t *args;     /* nargs xf_ctype_t, inside this allocation */
  ffi_type **ffargs; /* nargs libffi types, inside this allocation */
  char *text;        /* the canonical text, inside this allocation */
  ffi_cif cif;       /* prepared once; read-only afterwards, so shared freely */
};

/* One C value of any supported type, as libffi reads and writes arguments. */
typedef union xf__cslot {
  int8_t i8;
  int16_t i16;
  int32_t i32;
  int64_t i64;
  uint8_t u8;
  uint16_t u16;
  uint32_t u32;
  uint64_t u64;
  size_t sz;
  float f;
  double d;
  void *p;
  const char *s;
} xf__cslot_t;

/* A buffer for a return value: libffi widens integral returns narrower than
 * a register to ffi_arg. */
typedef union xf__cret {
  ffi_arg a;
  ffi_sarg sa;
  xf__cslot_t slot;
} xf__cret_t;

/* Whether a type returns a value (anything but void). */
static inline bool xf__ctype_is_void(int type) {
  return type == XF_C_VOID;
}

/* Convert v to a C value of type into *slot. A string slot borrows the
 * value's bytes: keep v alive while the slot is used. XF_ETYPE, XF_ERANGE or
 * XF_EINVAL (a NUL inside a string) as described in xf/closure.h. */
XF__HIDDEN int xf__cvalue_from(int type, const xf_value_t *v, xf__cslot_t *slot);

/* Convert the C value of type at raw (the argument's storage as libffi gives
 * it) into a new value in *out. XF_ENOMEM. */
XF__HIDDEN int xf__cvalue_to(int type, const void *raw, xf_value_t **out);

/* Read a return value of type from a libffi return buffer. */
XF__HIDDEN void xf__cret_load(int type, const xf__cret_t *ret, xf__cslot_t *slot);

/* Write slot as a return value of type into a libffi return buffer (zero
 * slot for the default value). */
XF__HIDDEN void xf__cret_store(int type, const xf__cslot_t *slot, void *ret);

#endif /* XF_CLOSURE_INTERNAL_H */

/* Signatures: the text form of a C function type, parsed once into the types
 * and a prepared libffi call interface; and the conversions between C values
 * and xf_value_t that closures and native calls share.
 *
 * A parsed signature is one allocation: the struct, the libffi argument
 * types, the xf_ctype_t of each argument and the canonical text. The
 * prepared ffi_cif is only read after parsing, so one signature serves any
 * number of closures and calls on any threads.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>

#include "closure_internal.h"

/* ---- Types ---------------------------------------------------------------- */

static const char *const xf__ctype_names[] = {
    [XF_C_VOID] = "void",       [XF_C_INT8] = "int8",     [XF_C_INT16] = "int16",
    [XF_C_INT32] = "int32",     [XF_C_INT64] = "int64",   [XF_C_UINT8] = "uint8",
    [XF_C_UINT16] = "uint16",   [XF_C_UINT32] = "uint32", [XF_C_UINT64] = "uint64",
    [XF_C_SIZE] = "size_t",     [XF_C_FLOAT] = "float",   [XF_C_DOUBLE] = "double",
    [XF_C_POINTER] = "pointer", [XF_C_STRING] = "string",
};

#define XF__NTYPES ((int) (sizeof xf__ctype_names / sizeof xf__ctype_names[0]))

/* Names a type may also be written with. */
static const struct {
  const char *name;
  uint8_t type;
} xf__ctype_aliases[] = {
    {"int8_t", XF_C_INT8},     {"int16_t", XF_C_INT16},   {"int32_t", XF_C_INT32},
    {"int64_t", XF_C_INT64},   {"uint8_t", XF_C_UINT8},   {"uint16_t", XF_C_UINT16},
    {"uint32_t", XF_C_UINT32}, {"uint64_t", XF_C_UINT64}, {"int", XF_C_INT32},
    {"unsigned", XF_C_UINT32},
};

const char *xf_ctype_name(int type) {
  return type >= 0 && type < XF__NTYPES ? xf__ctype_names[type] : NULL;
}

static ffi_type *xf__ffi_type(int type) {
  switch (type) {
  case XF_C_INT8:
    return &ffi_type_sint8;
  case XF_C_INT16:
    return &ffi_type_sint16;
  case XF_C_INT32:
    return &ffi_type_sint32;
  case XF_C_INT64:
    return &ffi_type_sint64;
  case XF_C_UINT8:
    return &ffi_type_uint8;
  case XF_C_UINT16:
    return &ffi_type_uint16;
  case XF_C_UINT32:
    return &ffi_type_uint32;
  case XF_C_UINT64:
    return &ffi_type_uint64;
  case XF_C_SIZE:
    return sizeof(size_t) == 8 ? &ffi_type_uint64 : &ffi_type_uint32;
  case XF_C_FLOAT:
    return &ffi_type_float;
  case XF_C_DOUBLE:
    return &ffi_type_double;
  case XF_C_POINTER:
  case XF_C_STRING:
    return &ffi_type_pointer;
  default:
    return &ffi_type_void;
  }
}

/* ---- The parser ----------------------------------------------------------- */

/* The longest canonical text: every argument "pointer, " long and more. */
#define XF__TEXT_MAX (16 + XF_SIGNATURE_MAX_ARGS * 10)

typedef struct xf__parser {
  const char *text;
  const char *p;
  char *errbuf;
  size_t errlen;
} xf__parser_t;

static void xf__skip_space(xf__parser_t *ps) {
  while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
    ps->p++;
}

static bool xf__is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool xf__is_ident(char c) {
  return xf__is_ident_start(c) || (c >= '0' && c <= '9');
}

/* The length of the token at p, for messages: an identifier, or one
 * character. */
static size_t xf__token_len(const char *p) {
  if (!xf__is_ident(*p))
    return *p ? 1 : 0;
  size_t n = 0;
  while (xf__is_ident(p[n]))
    n++;
  return n;
}

/* Every sentence the parser gives about a text goes through here, into the
 * caller's errbuf (truncated to errlen, NUL included; nothing without a
 * buffer): "<what>", or with a position "<what> at offset N: "<token>"" (or
 * ": end of text"), the token cut to 40 bytes. xf_signature_error_new puts
 * the same sentence into an error. */
static void xf__explain(char *errbuf, size_t errlen, const char *what, const char *text,
                        const char *at) {
  if (!errbuf || errlen == 0)
    return;
  if (!at) {
    snprintf(errbuf, errlen, "%s", what);
    return;
  }
  size_t n = xf__token_len(at), offset = (size_t) (at - text);
  if (n == 0)
    snprintf(errbuf, errlen, "%s at offset %zu: end of text", what, offset);
  else
    snprintf(errbuf, errlen, "%s at offset %zu: \"%.*s\"", what, offset,
             (int) (n > 40 ? 40 : n), at);
}

/* Fail the parse with a sentence about the text at `at`. */
static int xf__fail_at(xf__parser_t *ps, const char *at, const char *what) {
  xf__explain(ps->errbuf, ps->errlen, what, ps->text, at);
  return XF_EINVAL;
}

/* Whether the identifier at p of length n is word. */
static bool xf__word_is(const char *p, size_t n, const char *word) {
  return strlen(word) == n && memcmp(p, word, n) == 0;
}

/* Parse one type: [const] name {"*"}. *type receives its xf_ctype_t. */
static int xf__parse_type(xf__parser_t *ps, int *type) {
  xf__skip_space(ps);
  size_t n = xf__is_ident_start(*ps->p) ? xf__token_len(ps->p) : 0;
  if (n == 5 && xf__word_is(ps->p, n, "const")) {
    ps->p += n;
    xf__skip_space(ps);
    n = xf__is_ident_start(*ps->p) ? xf__token_len(ps->p) : 0;
  }
  if (n == 0)
    return xf__fail_at(ps, ps->p, "expected a type");
  const char *name = ps->p;
  int t = -1;
  bool is_char = xf__word_is(name, n, "char");
  for (int i = 0; i < XF__NTYPES && t < 0; i++)
    if (xf__word_is(name, n, xf__ctype_names[i]))
      t = i;
  for (size_t i = 0; i < sizeof xf__ctype_aliases / sizeof xf__ctype_aliases[0] && t < 0;
       i++)
    if (xf__word_is(name, n, xf__ctype_aliases[i].name))
      t = xf__ctype_aliases[i].type;
  if (t < 0 && !is_char)
    return xf__fail_at(ps, name, "expected a type");
  ps->p += n;
  int stars = 0;
  for (;;) {
    xf__skip_space(ps);
    if (*ps->p != '*')
      break;
    stars++;
    ps->p++;
  }
  if (is_char && stars == 0)
    return xf__fail_at(ps, name,
                       "expected a type (char alone is not supported; "
                       "char* is a string)");
  if (stars > 0)
    t = is_char && stars == 1 ? XF_C_STRING : XF_C_POINTER;
  *type = t;
  return XF_OK;
}

static int xf__parse(xf__parser_t *ps, int *ret, uint8_t *args, int *nargs) {
  int rc = xf__parse_type(ps, ret);
  if (rc != XF_OK)
    return rc;
  xf__skip_space(ps);
  if (*ps->p != '(')
    return xf__fail_at(ps, ps->p, "expected \"(\"");
  ps->p++;
  *nargs = 0;
  xf__skip_space(ps);
  if (*ps->p == ')') {
    ps->p++;
  } else {
    for (;;) {
      xf__skip_space(ps);
      const char *at = ps->p;
      int t;
      if ((rc = xf__parse_type(ps, &t)) != XF_OK)
        return rc;
      xf__skip_space(ps);
      if (t == XF_C_VOID) {
        /* "(void)" means no arguments; void anywhere else is an error. */
        if (*nargs == 0 && *ps->p == ')') {
          ps->p++;
          break;
        }
        return xf__fail_at(ps, at, "void is not an argument type");
      }
      if (*nargs == XF_SIGNATURE_MAX_ARGS)
        return xf__fail_at(ps, at, "too many arguments (at most 32)");
      args[(*nargs)++] = (uint8_t) t;
      if (*ps->p == ',') {
        ps->p++;
        continue;
      }
      if (*ps->p == ')') {
        ps->p++;
        break;
      }
      return xf__fail_at(ps, ps->p, "expected \",\" or \")\"");
    }
  }
  xf__skip_space(ps);
  if (*ps->p)
    return xf__fail_at(ps, ps->p, "unexpected text after \")\"");
  return XF_OK;
}

int xf_signature_parse(const char *text, char *errbuf, size_t errlen,
                       xf_signature_t **out) {
  if (errbuf && errlen > 0)
    errbuf[0] = '\0';
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!text) {
    xf__explain(errbuf, errlen, "no signature text", NULL, NULL);
    return XF_EINVAL;
  }
  xf__parser_t ps = {text, text, errbuf, errlen};
  int ret = XF_C_VOID, nargs = 0;
  uint8_t args[XF_SIGNATURE_MAX_ARGS];
  int rc = xf__parse(&ps, &ret, args, &nargs);
  if (rc != XF_OK)
    return rc;

  /* The canonical text: "ret(a, b)". */
  size_t textlen = strlen(xf__ctype_names[ret]) + 2;
  for (int i = 0; i < nargs; i++)
    textlen += strlen(xf__ctype_names[args[i]]) + (i ? 2 : 0);
  size_t size = sizeof(xf_signature_t) + (size_t) nargs * sizeof(ffi_type *) +
                (size_t) nargs + textlen + 1;
  xf_signature_t *sig = xf__malloc(size);
  if (!sig)
    return XF_ENOMEM;
  atomic_init(&sig->refs, 1);
  sig->ret = (uint8_t) ret;
  sig->nargs = (uint8_t) nargs;
  sig->ffargs = (ffi_type **) (void *) (sig + 1);
  sig->args = (uint8_t *) (sig->ffargs + nargs);
  sig->text = (char *) (sig->args + nargs);
  char *w = sig->text;
  w += sprintf(w, "%s(", xf__ctype_names[ret]);
  for (int i = 0; i < nargs; i++) {
    sig->args[i] = args[i];
    sig->ffargs[i] = xf__ffi_type(args[i]);
    w += sprintf(w, "%s%s", i ? ", " : "", xf__ctype_names[args[i]]);
  }
  strcpy(w, ")");
  if (ffi_prep_cif(&sig->cif, FFI_DEFAULT_ABI, (unsigned) nargs, xf__ffi_type(ret),
                   nargs ? sig->ffargs : NULL) != FFI_OK) {
    char what[32 + XF__TEXT_MAX];
    snprintf(what, sizeof what, "libffi cannot call \"%s\"", sig->text);
    xf__explain(errbuf, errlen, what, NULL, NULL);
    xf__free(sig);
    return XF_EINVAL;
  }
  *out = sig;
  return XF_OK;
}

int xf_signature_error_new(const char *context, const char *text, int code,
                           xf_error_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (code >= 0)
    return XF_EINVAL;
  /* The parser says what is wrong; a text that parses after all has only
   * the code to show. */
  char why[64 + XF__TEXT_MAX];
  const char *sentence = xf_strerror(code);
  if (code == XF_EINVAL) {
    xf_signature_t *sig = NULL;
    if (xf_signature_parse(text, why, sizeof why, &sig) == XF_EINVAL)
      sentence = why;
    xf_signature_unref(sig);
  }
  const char *prefix = context ? context : "";
  const char *sep = *prefix ? ": " : "";
  const char *bad = code == XF_EINVAL ? "bad signature: " : "";
  size_t size = strlen(prefix) + strlen(sep) + strlen(bad) + strlen(sentence) + 1;
  char *message = xf__malloc(size);
  int rc = XF_ENOMEM;
  if (message) {
    snprintf(message, size, "%s%s%s%s", prefix, sep, bad, sentence);
    rc = xf_error_new(code, NULL, message, out);
    xf__free(message);
  }
  if (rc != XF_OK) {
    /* Still an error to raise: the preallocated MemoryError. */
    *out = xf__error_oom();
    return XF_ENOMEM;
  }
  return XF_OK;
}

xf_signature_t *xf_signature_ref(xf_signature_t *sig) {
  if (sig)
    atomic_fetch_add_explicit(&sig->refs, 1, memory_order_relaxed);
  return sig;
}

void xf_signature_unref(xf_signature_t *sig) {
  if (sig && atomic_fetch_sub_explicit(&sig->refs, 1, memory_order_acq_rel) == 1)
    xf__free(sig);
}

int xf_signature_arity(const xf_signature_t *sig) {
  return sig ? sig->nargs : XF_EINVAL;
}

int xf_signature_arg_type(const xf_signature_t *sig, size_t i) {
  if (!sig)
    return XF_EINVAL;
  return i < sig->nargs ? sig->args[i] : XF_ERANGE;
}

int xf_signature_return_type(const xf_signature_t *sig) {
  return sig ? sig->ret : XF_EINVAL;
}

const char *xf_signature_text(const xf_signature_t *sig) {
  return sig ? sig->text : "";
}

/* ---- Conversions ---------------------------------------------------------- */

/* An integer argument from an int or bool value. */
static int xf__int_of(const xf_value_t *v, int64_t *out) {
  switch (xf_value_kind(v)) {
  case XF_KIND_INT:
    return xf_value_get_int(v, out);
  case XF_KIND_BOOL: {
    bool b;
    xf_value_get_bool(v, &b);
    *out = b;
    return XF_OK;
  }
  default:
    return XF_ETYPE;
  }
}

static int xf__range(int64_t i, int64_t lo, int64_t hi) {
  return i < lo || i > hi ? XF_ERANGE : XF_OK;
}

int xf__cvalue_from(int type, const xf_value_t *v, xf__cslot_t *slot) {
  memset(slot, 0, sizeof *slot);
  if (!v)
    return XF_EINVAL;
  int kind = xf_value_kind(v);
  int64_t i = 0;
  int rc;
  switch (type) {
  case XF_C_VOID:
    return XF_OK;
  case XF_C_INT8:
  case XF_C_INT16:
  case XF_C_INT32:
  case XF_C_INT64:
  case XF_C_UINT8:
  case XF_C_UINT16:
  case XF_C_UINT32:
  case XF_C_UINT64:
  case XF_C_SIZE:
    if ((rc = xf__int_of(v, &i)) != XF_OK)
      return rc;
    switch (type) {
    case XF_C_INT8:
      rc = xf__range(i, INT8_MIN, INT8_MAX);
      slot->i8 = (int8_t) i;
      break;
    case XF_C_INT16:
      rc = xf__range(i, INT16_MIN, INT16_MAX);
      slot->i16 = (int16_t) i;
      break;
    case XF_C_INT32:
      rc = xf__range(i, INT32_MIN, INT32_MAX);
      slot->i32 = (int32_t) i;
      break;
    case XF_C_UINT8:
      rc = xf__range(i, 0, UINT8_MAX);
      slot->u8 = (uint8_t) i;
      break;
    case XF_C_UINT16:
      rc = xf__range(i, 0, UINT16_MAX);
      slot->u16 = (uint16_t) i;
      break;
    case XF_C_UINT32:
      rc = xf__range(i, 0, UINT32_MAX);
      slot->u32 = (uint32_t) i;
      break;
    case XF_C_SIZE:
      /* The 64-bit unsigned types take the int64's bits (see closure.h). */
      if (sizeof(size_t) < 8)
        rc = xf__range(i, 0, (int64_t) SIZE_MAX);
      slot->sz = (size_t) (uint64_t) i;
      break;
    case XF_C_UINT64:
      slot->u64 = (uint64_t) i;
      break;
    default:
      slot->i64 = i;
      break;
    }
    if (rc != XF_OK)
      memset(slot, 0, sizeof *slot);
    return rc;
  case XF_C_FLOAT:
  case XF_C_DOUBLE: {
    double d;
    if (kind == XF_KIND_DOUBLE)
      xf_value_get_double(v, &d);
    else if (kind == XF_KIND_INT && xf_value_get_int(v, &i) == XF_OK)
      d = (double) i;
    else
      return XF_ETYPE;
    if (type == XF_C_DOUBLE) {
      slot->d = d;
      return XF_OK;
    }
    if (isfinite(d) && fabs(d) > FLT_MAX)
      return XF_ERANGE;
    slot->f = (float) d;
    return XF_OK;
  }
  case XF_C_POINTER:
    if (kind == XF_KIND_POINTER)
      return xf_value_get_pointer(v, &slot->p);
    if (kind == XF_KIND_VOID)
      return XF_OK;
    if (kind == XF_KIND_INT && xf_value_get_int(v, &i) == XF_OK && i == 0)
      return XF_OK;
    return XF_ETYPE;
  case XF_C_STRING: {
    if (kind == XF_KIND_VOID)
      return XF_OK;
    const char *s;
    size_t len;
    if (kind == XF_KIND_STRING)
      xf_value_get_string(v, &s, &len);
    else if (kind == XF_KIND_BYTES)
      xf_value_get_bytes(v, (const void **) &s, &len);
    else
      return XF_ETYPE;
    if (memchr(s, '\0', len))
      return XF_EINVAL;
    slot->s = s;
    return XF_OK;
  }
  default:
    return XF_EINVAL;
  }
}

int xf__cvalue_to(int type, const void *raw, xf_value_t **out) {
  *out = NULL;
  switch (type) {
  case XF_C_INT8:
    return xf_value_new_int(*(const int8_t *) raw, out);
  case XF_C_INT16:
    return xf_value_new_int(*(const int16_t *) raw, out);
  case XF_C_INT32:
    return xf_value_new_int(*(const int32_t *) raw, out);
  case XF_C_INT64:
    return xf_value_new_int(*(const int64_t *) raw, out);
  case XF_C_UINT8:
    return xf_value_new_int(*(const uint8_t *) raw, out);
  case XF_C_UINT16:
    return xf_value_new_int(*(const uint16_t *) raw, out);
  case XF_C_UINT32:
    return xf_value_new_int(*(const uint32_t *) raw, out);
  case XF_C_UINT64:
    return xf_value_new_int((int64_t) * (const uint64_t *) raw, out);
  case XF_C_SIZE:
    return xf_value_new_int((int64_t) (uint64_t) * (const size_t *) raw, out);
  case XF_C_FLOAT:
    return xf_value_new_double((double) *(const float *) raw, out);
  case XF_C_DOUBLE:
    return xf_value_new_double(*(const double *) raw, out);
  case XF_C_POINTER: {
    void *p = *(void *const *) raw;
    if (!p) {
      *out = xf_value_void();
      return XF_OK;
    }
    return xf_value_new_pointer(p, NULL, out);
  }
  case XF_C_STRING: {
    const char *s = *(const char *const *) raw;
    if (!s) {
      *out = xf_value_void();
      return XF_OK;
    }
    size_t len = strlen(s);
    int rc = xf_value_new_string(s, len, out);
    if (rc == XF_EINVAL) /* not UTF-8: hand over the bytes as they are */
      rc = xf_value_new_bytes(s, len, out);
    return rc;
  }
  default:
    *out = xf_value_void();
    return XF_OK;
  }
}

void xf__cret_load(int type, const xf__cret_t *ret, xf__cslot_t *slot) {
  memset(slot, 0, sizeof *slot);
  switch (type) {
  case XF_C_INT8:
    slot->i8 = (int8_t) ret->sa;
    break;
  case XF_C_INT16:
    slot->i16 = (int16_t) ret->sa;
    break;
  case XF_C_INT32:
    slot->i32 = (int32_t) ret->sa;
    break;
  case XF_C_UINT8:
    slot->u8 = (uint8_t) ret->a;
    break;
  case XF_C_UINT16:
    slot->u16 = (uint16_t) ret->a;
    break;
  case XF_C_UINT32:
    slot->u32 = (uint32_t) ret->a;
    break;
  case XF_C_VOID:
    break;
  default:
    *slot = ret->slot;
    break;
  }
}

void xf__cret_store(int type, const xf__cslot_t *slot, void *ret) {
  switch (type) {
  case XF_C_INT8:
    *(ffi_sarg *) ret = slot->i8;
    break;
  case XF_C_INT16:
    *(ffi_sarg *) ret = slot->i16;
    break;
  case XF_C_INT32:
    *(ffi_sarg *) ret = slot->i32;
    break;
  case XF_C_UINT8:
    *(ffi_arg *) ret = slot->u8;
    break;
  case XF_C_UINT16:
    *(ffi_arg *) ret = slot->u16;
    break;
  case XF_C_UINT32:
    *(ffi_arg *) ret = slot->u32;
    break;
  case XF_C_INT64:
  case XF_C_UINT64:
    *(uint64_t *) ret = slot->u64;
    break;
  case XF_C_SIZE:
    *(size_t *) ret = slot->sz;
    break;
  case XF_C_FLOAT:
    *(float *) ret = slot->f;
    break;
  case XF_C_DOUBLE:
    *(double *) ret = slot->d;
    break;
  case XF_C_POINTER:
  case XF_C_STRING:
    *(void **) ret = slot->p;
    break;
  default:
    break;
  }
}

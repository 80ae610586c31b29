/* Immutable, reference-counted errors.
 *
 * An error is one allocation: the struct followed by its type, message and
 * traceback strings, each NUL-terminated. Nothing in it changes after
 * xf_error_new_full returns, so readers need no lock; the count follows the
 * same rules as a value's (relaxed increment, acq_rel decrement).
 */
#include "value_internal.h"

struct xf_error {
  _Atomic size_t refs;
  bool immortal; /* the static MemoryError: never counted, never freed */
  int code;
  const char *type;
  const char *message;
  const char *traceback; /* NULL when there is none */
  xf_value_t *payload;   /* owned; NULL when there is none */
  char strings[];
};

static const struct xf_error xf__oom_error = {
    .refs = 1,
    .immortal = true,
    .code = XF_ENOMEM,
    .type = "MemoryError",
    .message = "out of memory",
    .traceback = NULL,
    .payload = NULL,
};

xf_error_t *xf__error_oom(void) {
  return (xf_error_t *) &xf__oom_error;
}

const char *xf_error_default_type(int code) {
  switch (code) {
#define XF__ERRNO_TYPE(name, value, text, type)                                          \
  case value:                                                                            \
    return type;
    XF_ERRNO_MAP(XF__ERRNO_TYPE)
#undef XF__ERRNO_TYPE
  }
  return "RuntimeError";
}

int xf_error_code_of_type(const char *type) {
  if (!type || !*type)
    return XF_EINVAL;
  /* The table's first row of a type wins: "RuntimeError" is first met at
   * XF_EFAILED, the generic failure. */
  static const struct {
    const char *type;
    int code;
  } rows[] = {
#define XF__ERRNO_ROW(name, value, text, type) {type, value},
      XF_ERRNO_MAP(XF__ERRNO_ROW)
#undef XF__ERRNO_ROW
  };
  for (size_t i = 1; i < sizeof rows / sizeof rows[0]; i++)
    if (strcmp(rows[i].type, type) == 0)
      return rows[i].code;
  return XF_EFAILED;
}

/* Adds the size of s and its NUL to *total; false on overflow. */
static bool xf__add_string_size(size_t *total, const char *s) {
  if (!s)
    return true;
  size_t n = strlen(s) + 1;
  if (n > SIZE_MAX - *total)
    return false;
  *total += n;
  return true;
}

/* Copies s to *dst, advances *dst past it and returns the copy. */
static const char *xf__put_string(char **dst, const char *s) {
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *copy = memcpy(*dst, s, n);
  *dst += n;
  return copy;
}

int xf_error_new_full(int code, const char *type, const char *message,
                      const char *traceback, xf_value_t *payload, xf_error_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (code >= 0 || (payload && xf_value_kind(payload) < 0))
    return XF_EINVAL;
  if (!type)
    type = xf_error_default_type(code);
  if (!message)
    message = xf_strerror(code);
  size_t size = sizeof(struct xf_error);
  if (!xf__add_string_size(&size, type) || !xf__add_string_size(&size, message) ||
      !xf__add_string_size(&size, traceback))
    return XF_ENOMEM;
  struct xf_error *e = xf__malloc(size);
  if (!e)
    return XF_ENOMEM;
  atomic_init(&e->refs, 1);
  e->immortal = false;
  e->code = code;
  char *p = e->strings;
  e->type = xf__put_string(&p, type);
  e->message = xf__put_string(&p, message);
  e->traceback = xf__put_string(&p, traceback);
  e->payload = xf_value_ref(payload);
  *out = e;
  return XF_OK;
}

int xf_error_new(int code, const char *type, const char *message, xf_error_t **out) {
  return xf_error_new_full(code, type, message, NULL, NULL, out);
}

xf_error_t *xf_error_ref(xf_error_t *e) {
  if (e && !e->immortal)
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
  return e;
}

void xf_error_unref(xf_error_t *e) {
  if (!e || e->immortal)
    return;
  if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
    return;
  xf_value_unref(e->payload);
  xf__free(e);
}

int xf_error_code(const xf_error_t *e) {
  return e ? e->code : XF_EINVAL;
}

const char *xf_error_type(const xf_error_t *e) {
  return e ? e->type : "";
}

const char *xf_error_message(const xf_error_t *e) {
  return e ? e->message : "";
}

const char *xf_error_traceback(const xf_error_t *e) {
  return e ? e->traceback : NULL;
}

xf_value_t *xf_error_payload(const xf_error_t *e) {
  return e ? e->payload : NULL;
}

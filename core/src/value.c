/* Immutable, reference-counted values.
 *
 * Design notes
 * ------------
 * A handle (xf_value_t *) is either a real pointer or a small value encoded
 * in the pointer bits, told apart by its low bits:
 *
 *   ...xx1  an integer in [-2^62, 2^62): the handle is (uintptr_t) i << 1 | 1.
 *   ...x10  a "flonum": a double whose biased exponent lies in [0x300, 0x4ff]
 *           (magnitudes from about 2^-255 to 2^257). Its bit pattern is
 *           rotated left by three, which brings the sign and the two top
 *           exponent bits to bits 2..0. For those exponents the two top
 *           exponent bits are always 01 or 10, so they can be dropped and
 *           rebuilt from the exponent bit that lands in bit 63; bits 1..0 then
 *           take the tag 10. Positive zero, whose exponent is out of range,
 *           borrows the code of 0x3000000000000000 (about 1.7e-77), which in
 *           turn is stored on the heap. This is the encoding Ruby uses.
 *   ...000  a pointer to a struct xf_value (malloc and the static singletons
 *           are at least 8-byte aligned).
 *
 * Every other double (zeros of negative sign, denormals, infinities, NaNs,
 * very large or small magnitudes) and every other integer is a heap value.
 * The encoding is canonical: a number that fits in the handle is never put
 * on the heap, so comparing numbers never needs to look at where they live.
 *
 * A heap value starts with a header: an atomic reference count, the kind and
 * an "immortal" flag. The singletons void, true and false are static,
 * immortal structs: _ref and _unref leave them alone and they are never
 * written, which is why they can live in read-only storage.
 *
 * The count is incremented with relaxed ordering (a new reference can only
 * be made from an existing one) and decremented with acq_rel, so that the
 * thread freeing the value sees every write made through other references.
 *
 * A map is stored as a list of 2n items, key then value, so freeing and
 * walking it is the list's code.
 *
 * An object value whose hooks name an owner loop keeps a reference to that
 * loop's memory (xf__loop_ref: it does not keep the loop open, but it keeps
 * the loop's address valid to post to). When its count reaches zero on a
 * thread that is not running the owner loop, the value itself becomes the
 * data of a call posted with xf_loop_call_soon_threadsafe, whose free
 * function does the release, drops the loop reference and frees the value.
 * The loop calls a posted item's free function exactly once, after running
 * it or when it drops it at close, so the release happens exactly once on
 * either path. A post the loop refuses (closed, forked, out of memory)
 * leaves the value to the dropping thread, which releases it at once: there
 * is no other thread left to do it. A hooks struct without a release has
 * nothing to run on the owner thread and is never posted.
 *
 * Freeing a list does not recurse: once a count reaches zero nobody else can
 * see the value, so its count field is reused as the link of a stack of
 * values waiting to be freed. A list nested a million levels deep is freed in
 * constant stack space. An error value frees its error, whose payload is
 * freed by a nested call; chains of errors recurse once per link.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "future_internal.h"
#include "value_internal.h"

/* The sizes of xf_object_hooks_t: as version 0.1 had it (up to hook_data),
 * and from 0.2 with the owner loop. */
#define XF__HOOKS_SIZE_0_1   offsetof(xf_object_hooks_t, owner)
#define XF__HOOKS_SIZE_OWNER (offsetof(xf_object_hooks_t, owner) + sizeof(xf_loop_t *))

static_assert(sizeof(void *) == 8, "xfutures assumes 64-bit pointers");
static_assert(sizeof(uintptr_t) == sizeof(uint64_t), "handles hold 64 bits");
static_assert(sizeof(double) == sizeof(uint64_t), "doubles are IEEE 754 binary64");

struct xf_value {
  union {
    _Atomic size_t refs;         /* while alive */
    struct xf_value *next_freed; /* once the count has reached zero */
  } u;
  uint8_t kind;  /* an xf_kind_t */
  bool immortal; /* static: never counted, never freed */
  bool boolean;  /* the value of the two static booleans */
};

static_assert(_Alignof(struct xf_value) >= 8, "heap values leave three tag bits");

typedef struct xf__int_value {
  struct xf_value h;
  int64_t i;
} xf__int_value_t;

typedef struct xf__double_value {
  struct xf_value h;
  uint64_t bits; /* kept as bits so that NaN payloads survive untouched */
} xf__double_value_t;

/* Strings and bytes: len bytes followed by a NUL that is not part of them. */
typedef struct xf__bytes_value {
  struct xf_value h;
  size_t len;
  char data[];
} xf__bytes_value_t;

typedef struct xf__list_value {
  struct xf_value h;
  size_t n;
  xf_value_t *items[]; /* each an owned reference */
} xf__list_value_t;

/* A map is a list of 2n items: key, value, key, value... */
typedef xf__list_value_t xf__map_value_t;

typedef struct xf__pointer_value {
  struct xf_value h;
  void *p;
  xf_free_data_fn dtor;
} xf__pointer_value_t;

typedef struct xf__object_value {
  struct xf_value h;
  void *object;
  const xf_object_hooks_t *hooks;
  xf_loop_t *owner; /* a reference to the owner loop's memory, or NULL */
} xf__object_value_t;

typedef struct xf__error_value {
  struct xf_value h;
  xf_error_t *err; /* owned */
} xf__error_value_t;

#define XF__STATIC_VALUE(kind_, b)                                                       \
  { .u = {.refs = 1}, .kind = (kind_), .immortal = true, .boolean = (b) }

static const struct xf_value xf__void_value = XF__STATIC_VALUE(XF_KIND_VOID, false);
static const struct xf_value xf__true_value = XF__STATIC_VALUE(XF_KIND_BOOL, true);
static const struct xf_value xf__false_value = XF__STATIC_VALUE(XF_KIND_BOOL, false);

/* ---- Handle encoding ------------------------------------------------------ */

#define XF__FIXNUM_MIN       (-((int64_t) 1 << 62))
#define XF__FIXNUM_MAX       (((int64_t) 1 << 62) - 1)
#define XF__FLONUM_ZERO      ((uint64_t) 0x8000000000000002u)
/* The double whose natural code positive zero takes over. */
#define XF__FLONUM_DISPLACED ((uint64_t) 0x3000000000000000u)

static inline uintptr_t xf__bits(const xf_value_t *v) {
  return (uintptr_t) v;
}

static inline bool xf__is_fixnum(const xf_value_t *v) {
  return (xf__bits(v) & 1) != 0;
}

static inline bool xf__is_flonum(const xf_value_t *v) {
  return (xf__bits(v) & 3) == 2;
}

/* A pointer to a struct xf_value (heap or static); false for NULL. */
static inline bool xf__is_pointer(const xf_value_t *v) {
  return v && (xf__bits(v) & 7) == 0;
}

static inline xf_value_t *xf__from_bits(uintptr_t bits) {
  return (xf_value_t *) bits;
}

static inline xf_value_t *xf__fixnum_encode(int64_t i) {
  return xf__from_bits((uintptr_t) i << 1 | 1);
}

static inline int64_t xf__fixnum_decode(const xf_value_t *v) {
  /* Shift the 63-bit two's complement payload down and sign-extend it
   * without relying on the implementation-defined right shift of negative
   * numbers. */
  const uint64_t sign = (uint64_t) 1 << 62;
  uint64_t u = (uint64_t) xf__bits(v) >> 1;
  return (int64_t) ((u ^ sign) - sign);
}

static inline uint64_t xf__double_bits(double d) {
  uint64_t b;
  memcpy(&b, &d, sizeof b);
  return b;
}

static inline double xf__bits_double(uint64_t b) {
  double d;
  memcpy(&d, &b, sizeof d);
  return d;
}

static inline uint64_t xf__rotl3(uint64_t x) {
  return x << 3 | x >> 61;
}

static inline uint64_t xf__rotr3(uint64_t x) {
  return x >> 3 | x << 61;
}

/* The flonum handle for the double with these bits, or NULL if it does not
 * fit in a handle. */
static xf_value_t *xf__flonum_encode(uint64_t b) {
  unsigned top = (unsigned) (b >> 60) & 7; /* the three top exponent bits */
  if ((top == 3 || top == 4) && b != XF__FLONUM_DISPLACED)
    return xf__from_bits((uintptr_t) ((xf__rotl3(b) & ~(uint64_t) 1) | 2));
  if (b == 0)
    return xf__from_bits((uintptr_t) XF__FLONUM_ZERO);
  return NULL;
}

static uint64_t xf__flonum_decode(const xf_value_t *v) {
  uint64_t x = (uint64_t) xf__bits(v);
  if (x == XF__FLONUM_ZERO)
    return 0;
  /* Bit 63 holds the lowest of the three top exponent bits: 1 means the two
   * above it were 01, 0 means 10. */
  return xf__rotr3((2 - (x >> 63)) | (x & ~(uint64_t) 3));
}

/* The kind of a valid handle, or -1 for NULL and for handles that no
 * constructor makes (low bits 100). */
static int xf__kind(const xf_value_t *v) {
  if (!v)
    return -1;
  if (xf__is_fixnum(v))
    return XF_KIND_INT;
  if (xf__is_flonum(v))
    return XF_KIND_DOUBLE;
  if (!xf__is_pointer(v))
    return -1;
  return v->kind;
}

/* The accessors' common check: XF_EINVAL for a NULL or invalid handle,
 * XF_ETYPE for another kind, XF_OK otherwise. */
static int xf__check(const xf_value_t *v, int kind) {
  int k = xf__kind(v);
  if (k < 0)
    return XF_EINVAL;
  return k == kind ? XF_OK : XF_ETYPE;
}

bool xf__value_is_heap(const xf_value_t *v) {
  return xf__is_pointer(v) && !v->immortal;
}

/* ---- Allocation and freeing ----------------------------------------------- */

static void *xf__value_alloc(size_t size, xf_kind_t kind) {
  struct xf_value *h = xf__malloc(size);
  if (!h)
    return NULL;
  atomic_init(&h->u.refs, 1);
  h->kind = (uint8_t) kind;
  h->immortal = false;
  h->boolean = false;
  return h;
}

/* Drop one reference to a heap value; true when it was the last one. */
static inline bool xf__value_release(struct xf_value *h) {
  return atomic_fetch_sub_explicit(&h->u.refs, 1, memory_order_acq_rel) == 1;
}

/* ---- Owner-thread release of objects ------------------------------------- */

/* Release the object, drop the value's reference to its owner loop and free
 * the value. */
static void xf__object_finish(xf__object_value_t *o) {
  if (o->hooks->release)
    o->hooks->release(o->object, o->hooks->hook_data);
  xf__loop_unref(o->owner);
  xf__free(o);
}

static void xf__object_posted_run(void *data) {
  (void) data; /* the work is done by the free function, see below */
}

static void xf__object_posted_free(void *data) {
  xf__object_finish(data);
}

/* An object value whose count reached zero: release it here, or hand it to
 * its owner loop (see the design notes). */
static void xf__object_drop(xf__object_value_t *o) {
  xf_loop_t *owner = o->owner;
  if (owner && o->hooks->release && xf_loop_current() != owner &&
      xf_loop_call_soon_threadsafe(owner, xf__object_posted_run, o,
                                   xf__object_posted_free) == XF_OK)
    return;
  xf__object_finish(o);
}

/* Frees a value whose count has reached zero, together with every list item
 * whose count reaches zero on the way (see the design notes). */
static void xf__value_free(struct xf_value *v) {
  struct xf_value *pending = NULL;
  for (;;) {
    switch (v->kind) {
    case XF_KIND_LIST:
    case XF_KIND_MAP: {
      xf__list_value_t *l = (xf__list_value_t *) v;
      for (size_t i = 0; i < l->n; i++) {
        struct xf_value *item = l->items[i];
        if (xf__value_is_heap(item) && xf__value_release(item)) {
          item->u.next_freed = pending;
          pending = item;
        }
      }
      break;
    }
    case XF_KIND_POINTER: {
      xf__pointer_value_t *p = (xf__pointer_value_t *) v;
      if (p->dtor)
        p->dtor(p->p);
      break;
    }
    case XF_KIND_OBJECT:
      xf__object_drop((xf__object_value_t *) v); /* frees v, now or later */
      v = NULL;
      break;
    case XF_KIND_ERROR:
      xf_error_unref(((xf__error_value_t *) v)->err);
      break;
    default:
      break;
    }
    xf__free(v);
    if (!pending)
      return;
    v = pending;
    pending = v->u.next_freed;
  }
}

xf_value_t *xf_value_ref(xf_value_t *v) {
  if (xf__value_is_heap(v))
    atomic_fetch_add_explicit(&v->u.refs, 1, memory_order_relaxed);
  return v;
}

void xf_value_unref(xf_value_t *v) {
  if (xf__value_is_heap(v) && xf__value_release(v))
    xf__value_free(v);
}

/* ---- Constructors --------------------------------------------------------- */

xf_value_t *xf_value_void(void) {
  return (xf_value_t *) &xf__void_value;
}

xf_value_t *xf_value_bool(bool b) {
  return (xf_value_t *) (b ? &xf__true_value : &xf__false_value);
}

int xf_value_new_int(int64_t i, xf_value_t **out) {
  if (!out)
    return XF_EINVAL;
  if (i >= XF__FIXNUM_MIN && i <= XF__FIXNUM_MAX) {
    *out = xf__fixnum_encode(i);
    return XF_OK;
  }
  xf__int_value_t *v = xf__value_alloc(sizeof *v, XF_KIND_INT);
  if (!v) {
    *out = NULL;
    return XF_ENOMEM;
  }
  v->i = i;
  *out = &v->h;
  return XF_OK;
}

int xf_value_new_double(double d, xf_value_t **out) {
  if (!out)
    return XF_EINVAL;
  uint64_t b = xf__double_bits(d);
  xf_value_t *flonum = xf__flonum_encode(b);
  if (flonum) {
    *out = flonum;
    return XF_OK;
  }
  xf__double_value_t *v = xf__value_alloc(sizeof *v, XF_KIND_DOUBLE);
  if (!v) {
    *out = NULL;
    return XF_ENOMEM;
  }
  v->bits = b;
  *out = &v->h;
  return XF_OK;
}

/* Whether s[0..len) is well-formed UTF-8 (the Unicode Standard, table 3-7): no
 * overlong forms, no surrogates, nothing above U+10FFFF. */
static bool xf__utf8_valid(const unsigned char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t need;
    unsigned lo = 0x80, hi = 0xbf; /* the allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c == 0xe0)
        lo = 0xa0; /* overlong below U+0800 */
      else if (c == 0xed)
        hi = 0x9f; /* surrogates U+D800..U+DFFF */
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c == 0xf0)
        lo = 0x90; /* overlong below U+10000 */
      else if (c == 0xf4)
        hi = 0x8f; /* above U+10FFFF */
    } else {
      return false; /* a continuation byte, C0, C1 or F5..FF */
    }
    if (len - i - 1 < need)
      return false;
    if (s[i + 1] < lo || s[i + 1] > hi)
      return false;
    for (size_t k = 2; k <= need; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return false;
    }
    i += need + 1;
  }
  return true;
}

static int xf__new_bytes(xf_kind_t kind, const void *p, size_t len, xf_value_t **out) {
  if (len > SIZE_MAX - sizeof(xf__bytes_value_t) - 1) {
    *out = NULL;
    return XF_ENOMEM;
  }
  xf__bytes_value_t *v = xf__value_alloc(sizeof *v + len + 1, kind);
  if (!v) {
    *out = NULL;
    return XF_ENOMEM;
  }
  v->len = len;
  if (len)
    memcpy(v->data, p, len);
  v->data[len] = '\0';
  *out = &v->h;
  return XF_OK;
}

int xf_value_new_string(const char *s, size_t len, xf_value_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!s && len)
    return XF_EINVAL;
  if (!xf__utf8_valid((const unsigned char *) s, len))
    return XF_EINVAL;
  return xf__new_bytes(XF_KIND_STRING, s, len, out);
}

int xf_value_new_cstring(const char *s, xf_value_t **out) {
  if (!out)
    return XF_EINVAL;
  if (!s) {
    *out = NULL;
    return XF_EINVAL;
  }
  return xf_value_new_string(s, strlen(s), out);
}

int xf_value_new_bytes(const void *p, size_t len, xf_value_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!p && len)
    return XF_EINVAL;
  return xf__new_bytes(XF_KIND_BYTES, p, len, out);
}

int xf_value_new_list(xf_value_t *const *items, size_t n, xf_value_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!items && n)
    return XF_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (xf__kind(items[i]) < 0)
      return XF_EINVAL;
  }
  if (n > (SIZE_MAX - sizeof(xf__list_value_t)) / sizeof(xf_value_t *))
    return XF_ENOMEM;
  xf__list_value_t *v =
      xf__value_alloc(sizeof *v + n * sizeof(xf_value_t *), XF_KIND_LIST);
  if (!v)
    return XF_ENOMEM;
  v->n = n;
  for (size_t i = 0; i < n; i++)
    v->items[i] = xf_value_ref(items[i]);
  *out = &v->h;
  return XF_OK;
}

int xf_value_new_map(xf_value_t *const *keys, xf_value_t *const *values, size_t n,
                     xf_value_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if ((!keys || !values) && n)
    return XF_EINVAL;
  if (n > (SIZE_MAX - sizeof(xf__map_value_t)) / (2 * sizeof(xf_value_t *)))
    return XF_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (xf__kind(keys[i]) < 0 || xf__kind(values[i]) < 0)
      return XF_EINVAL;
  }
  xf__map_value_t *v =
      xf__value_alloc(sizeof *v + 2 * n * sizeof(xf_value_t *), XF_KIND_MAP);
  if (!v)
    return XF_ENOMEM;
  v->n = 2 * n;
  for (size_t i = 0; i < n; i++) {
    v->items[2 * i] = xf_value_ref(keys[i]);
    v->items[2 * i + 1] = xf_value_ref(values[i]);
  }
  *out = &v->h;
  return XF_OK;
}

int xf_value_new_pointer(void *p, xf_free_data_fn dtor, xf_value_t **out) {
  if (!out)
    return XF_EINVAL;
  xf__pointer_value_t *v = xf__value_alloc(sizeof *v, XF_KIND_POINTER);
  if (!v) {
    *out = NULL;
    return XF_ENOMEM;
  }
  v->p = p;
  v->dtor = dtor;
  *out = &v->h;
  return XF_OK;
}

int xf_value_new_object(void *object, const xf_object_hooks_t *hooks, xf_value_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  /* A hooks struct smaller than version 0.1's is one whose sz was never
   * filled in. One of 0.1's size has no owner field: reading past it would
   * read the caller's other data. */
  if (!object || !hooks || hooks->sz < XF__HOOKS_SIZE_0_1 || !hooks->name)
    return XF_EINVAL;
  xf__object_value_t *v = xf__value_alloc(sizeof *v, XF_KIND_OBJECT);
  if (!v)
    return XF_ENOMEM;
  v->object = object;
  v->hooks = hooks;
  v->owner = hooks->sz >= XF__HOOKS_SIZE_OWNER ? xf__loop_ref(hooks->owner) : NULL;
  if (hooks->retain)
    hooks->retain(object, hooks->hook_data);
  *out = &v->h;
  return XF_OK;
}

int xf_value_new_error(xf_error_t *err, xf_value_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!err)
    return XF_EINVAL;
  xf__error_value_t *v = xf__value_alloc(sizeof *v, XF_KIND_ERROR);
  if (!v)
    return XF_ENOMEM;
  v->err = xf_error_ref(err);
  *out = &v->h;
  return XF_OK;
}

/* ---- Accessors ------------------------------------------------------------ */

int xf_value_kind(const xf_value_t *v) {
  int k = xf__kind(v);
  return k < 0 ? XF_EINVAL : k;
}

int xf_value_get_bool(const xf_value_t *v, bool *out) {
  int rc = xf__check(v, XF_KIND_BOOL);
  if (rc == XF_OK && !out)
    rc = XF_EINVAL;
  if (rc == XF_OK)
    *out = v->boolean;
  return rc;
}

static int64_t xf__int_of(const xf_value_t *v) {
  return xf__is_fixnum(v) ? xf__fixnum_decode(v) : ((const xf__int_value_t *) v)->i;
}

int xf_value_get_int(const xf_value_t *v, int64_t *out) {
  int rc = xf__check(v, XF_KIND_INT);
  if (rc == XF_OK && !out)
    rc = XF_EINVAL;
  if (rc == XF_OK)
    *out = xf__int_of(v);
  return rc;
}

static uint64_t xf__double_bits_of(const xf_value_t *v) {
  return xf__is_flonum(v) ? xf__flonum_decode(v) : ((const xf__double_value_t *) v)->bits;
}

int xf_value_get_double(const xf_value_t *v, double *out) {
  int rc = xf__check(v, XF_KIND_DOUBLE);
  if (rc == XF_OK && !out)
    rc = XF_EINVAL;
  if (rc == XF_OK) {
    /* Copy the bits straight into the caller's double, so that not even a
     * signalling NaN goes through a floating-point register. */
    uint64_t b = xf__double_bits_of(v);
    memcpy(out, &b, sizeof b);
  }
  return rc;
}

static int xf__get_bytes(const xf_value_t *v, int kind, const void **out, size_t *len) {
  int rc = xf__check(v, kind);
  if (rc == XF_OK && (!out || !len))
    rc = XF_EINVAL;
  if (rc == XF_OK) {
    const xf__bytes_value_t *b = (const xf__bytes_value_t *) v;
    *out = b->data;
    *len = b->len;
  }
  return rc;
}

int xf_value_get_string(const xf_value_t *v, const char **out, size_t *len) {
  const void *p;
  int rc = xf__get_bytes(v, XF_KIND_STRING, out ? &p : NULL, len);
  if (rc == XF_OK)
    *out = p;
  return rc;
}

int xf_value_get_bytes(const xf_value_t *v, const void **out, size_t *len) {
  return xf__get_bytes(v, XF_KIND_BYTES, out, len);
}

int xf_value_list_len(const xf_value_t *v, size_t *out) {
  int rc = xf__check(v, XF_KIND_LIST);
  if (rc == XF_OK && !out)
    rc = XF_EINVAL;
  if (rc == XF_OK)
    *out = ((const xf__list_value_t *) v)->n;
  return rc;
}

int xf_value_list_get(const xf_value_t *v, size_t i, xf_value_t **borrowed) {
  int rc = xf__check(v, XF_KIND_LIST);
  if (rc == XF_OK && !borrowed)
    rc = XF_EINVAL;
  if (rc != XF_OK)
    return rc;
  const xf__list_value_t *l = (const xf__list_value_t *) v;
  if (i >= l->n)
    return XF_ERANGE;
  *borrowed = l->items[i];
  return XF_OK;
}

int xf_value_map_len(const xf_value_t *v, size_t *out) {
  int rc = xf__check(v, XF_KIND_MAP);
  if (rc == XF_OK && !out)
    rc = XF_EINVAL;
  if (rc == XF_OK)
    *out = ((const xf__map_value_t *) v)->n / 2;
  return rc;
}

int xf_value_map_get(const xf_value_t *v, size_t i, xf_value_t **key,
                     xf_value_t **value) {
  int rc = xf__check(v, XF_KIND_MAP);
  if (rc == XF_OK && (!key || !value))
    rc = XF_EINVAL;
  if (rc != XF_OK)
    return rc;
  const xf__map_value_t *m = (const xf__map_value_t *) v;
  if (i >= m->n / 2)
    return XF_ERANGE;
  *key = m->items[2 * i];
  *value = m->items[2 * i + 1];
  return XF_OK;
}

int xf_value_map_find(const xf_value_t *v, const xf_value_t *key, xf_value_t **value) {
  int rc = xf__check(v, XF_KIND_MAP);
  if (rc == XF_OK && (xf__kind(key) < 0 || !value))
    rc = XF_EINVAL;
  if (rc != XF_OK)
    return rc;
  const xf__map_value_t *m = (const xf__map_value_t *) v;
  for (size_t i = 0; i < m->n; i += 2) {
    if (xf_value_equal(m->items[i], key)) {
      *value = m->items[i + 1];
      return XF_OK;
    }
  }
  return XF_ERANGE;
}

int xf_value_get_pointer(const xf_value_t *v, void **out) {
  int rc = xf__check(v, XF_KIND_POINTER);
  if (rc == XF_OK && !out)
    rc = XF_EINVAL;
  if (rc == XF_OK)
    *out = ((const xf__pointer_value_t *) v)->p;
  return rc;
}

int xf_value_get_object(const xf_value_t *v, void **object,
                        const xf_object_hooks_t **hooks) {
  int rc = xf__check(v, XF_KIND_OBJECT);
  if (rc == XF_OK && (!object || !hooks))
    rc = XF_EINVAL;
  if (rc == XF_OK) {
    const xf__object_value_t *o = (const xf__object_value_t *) v;
    *object = o->object;
    *hooks = o->hooks;
  }
  return rc;
}

int xf_value_get_error(const xf_value_t *v, xf_error_t **borrowed) {
  int rc = xf__check(v, XF_KIND_ERROR);
  if (rc == XF_OK && !borrowed)
    rc = XF_EINVAL;
  if (rc == XF_OK)
    *borrowed = ((const xf__error_value_t *) v)->err;
  return rc;
}

/* ---- Equality ------------------------------------------------------------- */

/* Doubles are equal when they are equal as numbers (so 0.0 equals -0.0) or
 * both NaN, which keeps equality reflexive. */
static bool xf__double_equal(uint64_t a, uint64_t b) {
  double x = xf__bits_double(a), y = xf__bits_double(b);
  return x == y || (isnan(x) && isnan(y));
}

static bool xf__error_equal(const xf_error_t *a, const xf_error_t *b) {
  return a == b || (xf_error_code(a) == xf_error_code(b) &&
                    strcmp(xf_error_type(a), xf_error_type(b)) == 0 &&
                    strcmp(xf_error_message(a), xf_error_message(b)) == 0);
}

/* Comparisons remember what they found, because values share their items
 * (a list or map holding the same value twice, n deep, compared with a
 * copy built alike, would take 2^n steps or more; remembered, about n).
 * Two tables, both small and direct-mapped on the stack, where a miss only
 * costs a comparison made again:
 * - A scope is one comparison whose every inequality makes its whole
 *   answer false: a top-level xf_value_equal, and each comparison a map
 *   makes while it searches its pairs (where an unequal candidate does not
 *   end the search). Within a scope a pair of lists is remembered when its
 *   comparison starts. That is sound because values cannot contain
 *   themselves: by the time a remembered pair is met again in the same
 *   scope, it was found equal, or the scope already answered false. A
 *   scope of two lists has this table; a scope of two maps needs none (its
 *   comparisons are scopes of their own).
 * - The answers of finished scopes (equal or not) are remembered for the
 *   whole of the outermost call, so a map meeting the same pair again, at
 *   any depth, answers at once. */
#define XF__EQ_MEMO 256

typedef struct xf__eq_memo {
  const xf_value_t *a, *b;
} xf__eq_memo_t;

typedef struct xf__eq_answer {
  const xf_value_t *a, *b;
  bool equal;
} xf__eq_answer_t;

static size_t xf__eq_hash(const xf_value_t *a, const xf_value_t *b) {
  uint64_t h =
      ((uint64_t) (uintptr_t) a * 0x9e3779b97f4a7c15u) ^ (uint64_t) (uintptr_t) b;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9u;
  return (size_t) ((h >> 40) % XF__EQ_MEMO);
}

static bool xf__equal(const xf_value_t *a, const xf_value_t *b, xf__eq_memo_t *memo,
                      xf__eq_answer_t *answers);

/* One scope (see above): answered from the table of answers when it can. */
static bool xf__scope_equal(const xf_value_t *a, const xf_value_t *b,
                            xf__eq_answer_t *answers) {
  if (a == b)
    return true;
  int ka = xf__kind(a);
  if (ka != xf__kind(b) || (ka != XF_KIND_LIST && ka != XF_KIND_MAP))
    return xf__equal(a, b, NULL, answers);
  xf__eq_answer_t *slot = &answers[xf__eq_hash(a, b)];
  if (slot->a == a && slot->b == b)
    return slot->equal;
  bool equal;
  if (ka == XF_KIND_LIST) {
    xf__eq_memo_t lists[XF__EQ_MEMO] = {{NULL, NULL}}; /* the scope's table */
    equal = xf__equal(a, b, lists, answers);
  } else {
    equal = xf__equal(a, b, NULL, answers);
  }
  slot = &answers[xf__eq_hash(a, b)];
  slot->a = a;
  slot->b = b;
  slot->equal = equal;
  return equal;
}

/* Whether every pair of x has an equal pair (key and value) in y. */
static bool xf__map_within(const xf__map_value_t *x, const xf__map_value_t *y,
                           xf__eq_answer_t *answers) {
  for (size_t i = 0; i < x->n; i += 2) {
    bool found = false;
    for (size_t j = 0; j < y->n && !found; j += 2)
      found = xf__scope_equal(x->items[i], y->items[j], answers) &&
              xf__scope_equal(x->items[i + 1], y->items[j + 1], answers);
    if (!found)
      return false;
  }
  return true;
}

/* Two maps are equal when they hold the same pairs, whatever their order:
 * dicts compare so. Maps built from the same pairs in the same order (the
 * common case) are equal at once; otherwise each map's pairs must all be in
 * the other, which also keeps equality reflexive and symmetric for maps
 * with repeated keys. */
static bool xf__map_equal(const xf__map_value_t *x, const xf__map_value_t *y,
                          xf__eq_answer_t *answers) {
  if (x->n == y->n) {
    size_t i = 0;
    while (i < x->n && xf__scope_equal(x->items[i], y->items[i], answers))
      i++;
    if (i == x->n)
      return true;
  }
  return xf__map_within(x, y, answers) && xf__map_within(y, x, answers);
}

bool xf_value_equal(const xf_value_t *a, const xf_value_t *b) {
  /* Scalars compare without tables (and clearing them costs). */
  int ka = xf__kind(a);
  if (a == b || (ka != XF_KIND_LIST && ka != XF_KIND_MAP) || ka != xf__kind(b))
    return xf__equal(a, b, NULL, NULL);
  xf__eq_answer_t answers[XF__EQ_MEMO] = {{NULL, NULL, false}};
  return xf__scope_equal(a, b, answers);
}

static bool xf__equal(const xf_value_t *a, const xf_value_t *b, xf__eq_memo_t *memo,
                      xf__eq_answer_t *answers) {
  /* Lists recurse on every item but the last, which the loop takes, so a
   * list nested through its last item compares in constant stack space. */
  for (;;) {
    int ka = xf__kind(a), kb = xf__kind(b);
    if (ka < 0 || kb < 0 || ka != kb)
      return false;
    if (a == b)
      return true;
    switch (ka) {
    case XF_KIND_VOID:
      return true;
    case XF_KIND_BOOL:
      return a->boolean == b->boolean;
    case XF_KIND_INT:
      return xf__int_of(a) == xf__int_of(b);
    case XF_KIND_DOUBLE:
      return xf__double_equal(xf__double_bits_of(a), xf__double_bits_of(b));
    case XF_KIND_STRING:
    case XF_KIND_BYTES: {
      const xf__bytes_value_t *x = (const xf__bytes_value_t *) a;
      const xf__bytes_value_t *y = (const xf__bytes_value_t *) b;
      return x->len == y->len && memcmp(x->data, y->data, x->len) == 0;
    }
    case XF_KIND_LIST: {
      const xf__list_value_t *x = (const xf__list_value_t *) a;
      const xf__list_value_t *y = (const xf__list_value_t *) b;
      if (x->n != y->n)
        return false;
      if (x->n == 0)
        return true;
      xf__eq_memo_t *seen = &memo[xf__eq_hash(a, b)];
      if (seen->a == a && seen->b == b)
        return true;
      seen->a = a;
      seen->b = b;
      for (size_t i = 0; i + 1 < x->n; i++) {
        if (!xf__equal(x->items[i], y->items[i], memo, answers))
          return false;
      }
      a = x->items[x->n - 1];
      b = y->items[y->n - 1];
      continue;
    }
    case XF_KIND_MAP:
      return xf__map_equal((const xf__map_value_t *) a, (const xf__map_value_t *) b,
                           answers);
    case XF_KIND_POINTER:
      return ((const xf__pointer_value_t *) a)->p == ((const xf__pointer_value_t *) b)->p;
    case XF_KIND_OBJECT: {
      const xf__object_value_t *x = (const xf__object_value_t *) a;
      const xf__object_value_t *y = (const xf__object_value_t *) b;
      return x->object == y->object && x->hooks == y->hooks;
    }
    case XF_KIND_ERROR:
      return xf__error_equal(((const xf__error_value_t *) a)->err,
                             ((const xf__error_value_t *) b)->err);
    default:
      return false;
    }
  }
}

/* ---- Canonical text ------------------------------------------------------- */

/* An output cursor with snprintf's contract: it counts every byte and
 * stores those that fit, leaving room for the NUL. */
typedef struct xf__text {
  char *buf;
  size_t size;
  size_t len;
  bool cut; /* the text reached XF__REPR_MAX and stops there */
} xf__text_t;

/* A value can share its items (a list holding the same list twice, nested
 * n deep, has 2^n items to show): the text stops at this length, which also
 * bounds the work, and ends with "...". */
#define XF__REPR_MAX ((size_t) 1 << 20)

/* Stores what fits of s and counts all of it. */
static void xf__text_store(xf__text_t *t, const char *s, size_t n) {
  if (t->len < t->size) {
    size_t room = t->size - 1 - t->len;
    memcpy(t->buf + t->len, s, n < room ? n : room);
  }
  t->len += n;
}

/* Appends s, up to XF__REPR_MAX less the room kept for the final "...". */
static void xf__text_put(xf__text_t *t, const char *s, size_t n) {
  if (t->cut)
    return;
  if (n > XF__REPR_MAX - 4 - t->len) {
    n = XF__REPR_MAX - 4 - t->len;
    t->cut = true;
  }
  xf__text_store(t, s, n);
}

static void xf__text_puts(xf__text_t *t, const char *s) {
  xf__text_put(t, s, strlen(s));
}

static void xf__text_double(xf__text_t *t, double d) {
  if (isnan(d)) {
    xf__text_puts(t, "nan");
    return;
  }
  if (isinf(d)) {
    xf__text_puts(t, d < 0 ? "-inf" : "inf");
    return;
  }
  /* The shortest precision that reads back as the same double. */
  char tmp[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, d);
    if (strtod(tmp, NULL) == d && (d != 0 || signbit(d) == (tmp[0] == '-')))
      break;
  }
  xf__text_puts(t, tmp);
  if (!strpbrk(tmp, ".en"))
    xf__text_puts(t, ".0");
}

static void xf__text_string(xf__text_t *t, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  xf__text_put(t, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char) s[i];
    char esc[7] = {'\\', 0};
    switch (c) {
    case '"':
    case '\\':
      esc[1] = (char) c;
      xf__text_put(t, esc, 2);
      break;
    case '\n':
      xf__text_put(t, "\\n", 2);
      break;
    case '\t':
      xf__text_put(t, "\\t", 2);
      break;
    case '\r':
      xf__text_put(t, "\\r", 2);
      break;
    default:
      if (c < 0x20 || c == 0x7f) {
        memcpy(esc, "\\u00", 4);
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        xf__text_put(t, esc, 6);
      } else {
        xf__text_put(t, (const char *) &s[i], 1);
      }
    }
  }
  xf__text_put(t, "\"", 1);
}

static void xf__text_value(xf__text_t *t, const xf_value_t *v, int depth) {
  char tmp[32];
  if (t->cut)
    return;
  switch (xf__kind(v)) {
  case XF_KIND_VOID:
    xf__text_puts(t, "none");
    return;
  case XF_KIND_BOOL:
    xf__text_puts(t, v->boolean ? "true" : "false");
    return;
  case XF_KIND_INT:
    snprintf(tmp, sizeof tmp, "%lld", (long long) xf__int_of(v));
    xf__text_puts(t, tmp);
    return;
  case XF_KIND_DOUBLE:
    xf__text_double(t, xf__bits_double(xf__double_bits_of(v)));
    return;
  case XF_KIND_STRING: {
    const xf__bytes_value_t *b = (const xf__bytes_value_t *) v;
    xf__text_string(t, b->data, b->len);
    return;
  }
  case XF_KIND_BYTES: {
    static const char hex[] = "0123456789abcdef";
    const xf__bytes_value_t *b = (const xf__bytes_value_t *) v;
    xf__text_puts(t, "b\"");
    for (size_t i = 0; i < b->len; i++) {
      unsigned char c = (unsigned char) b->data[i];
      char pair[2] = {hex[c >> 4], hex[c & 15]};
      xf__text_put(t, pair, 2);
    }
    xf__text_puts(t, "\"");
    return;
  }
  case XF_KIND_LIST:
  case XF_KIND_MAP: {
    const xf__list_value_t *l = (const xf__list_value_t *) v;
    bool map = xf__kind(v) == XF_KIND_MAP;
    if (depth >= 256) {
      xf__text_puts(t, map ? "{...}" : "[...]");
      return;
    }
    xf__text_puts(t, map ? "{" : "[");
    for (size_t i = 0; i < l->n; i++) {
      if (i)
        xf__text_puts(t, map && i % 2 ? ": " : ", ");
      xf__text_value(t, l->items[i], depth + 1);
    }
    xf__text_puts(t, map ? "}" : "]");
    return;
  }
  case XF_KIND_POINTER:
    xf__text_puts(t, "pointer");
    return;
  case XF_KIND_OBJECT:
    xf__text_puts(t, "object(");
    xf__text_puts(t, ((const xf__object_value_t *) v)->hooks->name);
    xf__text_puts(t, ")");
    return;
  case XF_KIND_ERROR: {
    const xf_error_t *e = ((const xf__error_value_t *) v)->err;
    xf__text_puts(t, "error(");
    xf__text_puts(t, xf_error_type(e));
    xf__text_puts(t, ": ");
    xf__text_puts(t, xf_error_message(e));
    xf__text_puts(t, ")");
    return;
  }
  default:
    xf__text_puts(t, "invalid");
  }
}

size_t xf_value_repr(const xf_value_t *v, char *buf, size_t size) {
  xf__text_t t = {buf, buf ? size : 0, 0, false};
  xf__text_value(&t, v, 0);
  if (t.cut)
    xf__text_store(&t, "...", 3);
  if (t.size)
    t.buf[t.len < t.size ? t.len : t.size - 1] = '\0';
  return t.len;
}

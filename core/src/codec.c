/* The standard encoding of values and errors: CBOR through libcbor.
 *
 * Design notes
 * ------------
 * Why CBOR rather than MessagePack: CBOR is an IETF standard (RFC 8949)
 * with a registry of tags, and tags are exactly what an error and a
 * runtime's opaque payload need (MessagePack's "ext" types are a single
 * byte of application-defined space with no registry). It distinguishes
 * text from bytes, has maps with keys of any kind, and Debian ships a C
 * library for it (libcbor) and a Python one (cbor2) that checks our bytes
 * independently; Lua and Node have mature CBOR libraries too.
 *
 * libcbor's item API allocates through its own global hooks
 * (cbor_set_allocs), which would bypass xfutures' allocation hook and
 * change every other libcbor user in the process. So only its streaming
 * halves are used: the encoder writes heads into buffers we own, and the
 * streaming decoder (cbor_stream_decode) parses one head at a time and
 * reports it through callbacks, from which we build values with our own
 * stack. Neither allocates.
 *
 * Decoding builds bottom-up. The stack holds the containers being filled
 * (a list, a map's keys and values, a tag waiting for its one item); an
 * item that completes is handed to the frame on top, and a frame that is
 * full turns into its value and is handed down in turn. A container's
 * slots are allocated when its head arrives, at most one per remaining
 * input byte (every item takes at least one), so hostile lengths cannot
 * make us allocate more than the input justifies. The callbacks cannot
 * return an error: they record the first one in the context and the driver
 * stops. Any failure unwinds the stack and releases every partial value.
 *
 * The encoder writes definite lengths only, a double as float64 (so NaN
 * payloads survive) and integers in their shortest head (preferred
 * serialization, RFC 8949 section 4.1). It recurses once per level, bounded
 * by XF_CODEC_MAX_DEPTH.
 */
#include <cbor.h>

#include "codec_internal.h"

/* ---- The output buffer ---------------------------------------------------- */

int xf__cbuf_reserve(xf__cbuf_t *b, size_t n) {
  if (n <= b->cap - b->len)
    return XF_OK;
  if (n > SIZE_MAX / 2 - b->len)
    return XF_ENOMEM;
  size_t cap = b->cap ? b->cap : 64;
  while (cap - b->len < n)
    cap *= 2;
  uint8_t *p = xf__realloc(b->p, cap);
  if (!p)
    return XF_ENOMEM;
  b->p = p;
  b->cap = cap;
  return XF_OK;
}

void xf__cbuf_free(xf__cbuf_t *b) {
  xf__free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* A CBOR head is at most nine bytes. */
#define XF__HEAD_MAX 9

#define XF__PUT_HEAD(b, call)                                                            \
  do {                                                                                   \
    int rc_ = xf__cbuf_reserve((b), XF__HEAD_MAX);                                       \
    if (rc_ != XF_OK)                                                                    \
      return rc_;                                                                        \
    unsigned char *at_ = (b)->p + (b)->len;                                              \
    size_t room_ = (b)->cap - (b)->len;                                                  \
    (b)->len += (call);                                                                  \
    (void) at_;                                                                          \
    (void) room_;                                                                        \
  } while (0)

int xf__cbor_put_array(xf__cbuf_t *b, size_t n) {
  XF__PUT_HEAD(b, cbor_encode_array_start(n, at_, room_));
  return XF_OK;
}

int xf__cbor_put_int(xf__cbuf_t *b, int64_t i) {
  if (i >= 0)
    XF__PUT_HEAD(b, cbor_encode_uint((uint64_t) i, at_, room_));
  else /* -1 - i without overflow for INT64_MIN */
    XF__PUT_HEAD(b, cbor_encode_negint((uint64_t) (-(i + 1)), at_, room_));
  return XF_OK;
}

static int xf__put_string(xf__cbuf_t *b, bool text, const void *s, size_t len) {
  int rc = xf__cbuf_reserve(b, XF__HEAD_MAX);
  if (rc != XF_OK)
    return rc;
  size_t save = b->len;
  unsigned char *at = b->p + b->len;
  size_t room = b->cap - b->len;
  b->len += text ? cbor_encode_string_start(len, at, room)
                 : cbor_encode_bytestring_start(len, at, room);
  rc = xf__cbuf_reserve(b, len);
  if (rc != XF_OK) {
    b->len = save;
    return rc;
  }
  if (len)
    memcpy(b->p + b->len, s, len);
  b->len += len;
  return XF_OK;
}

int xf__cbor_put_text(xf__cbuf_t *b, const char *s, size_t len) {
  return xf__put_string(b, true, s, len);
}

int xf__cbor_put_null(xf__cbuf_t *b) {
  XF__PUT_HEAD(b, cbor_encode_null(at_, room_));
  return XF_OK;
}

/* ---- Opaque payloads -------------------------------------------------------- */

/* One allocation: the count, the length, the bytes and then the runtime's
 * name with its NUL. */
typedef struct xf__opaque {
  _Atomic uint32_t refs;
  size_t len;
  const char *runtime; /* inside this allocation, after data */
  uint8_t data[];
} xf__opaque_t;

static void xf__opaque_retain(void *object, void *hook_data) {
  (void) hook_data;
  xf__opaque_t *o = object;
  atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
}

static void xf__opaque_release(void *object, void *hook_data) {
  (void) hook_data;
  xf__opaque_t *o = object;
  if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1)
    xf__free(o);
}

static const xf_object_hooks_t xf__opaque_hooks = {
    .sz = sizeof(xf_object_hooks_t),
    .name = "xf.opaque",
    .retain = xf__opaque_retain,
    .release = xf__opaque_release,
    .hook_data = NULL,
};

int xf_value_new_opaque(const char *runtime, const void *data, size_t len,
                        xf_value_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!runtime || !*runtime || (!data && len > 0))
    return XF_EINVAL;
  size_t rlen = strlen(runtime) + 1;
  if (len > SIZE_MAX - sizeof(xf__opaque_t) - rlen)
    return XF_ENOMEM;
  xf__opaque_t *o = xf__malloc(sizeof *o + len + rlen);
  if (!o)
    return XF_ENOMEM;
  atomic_init(&o->refs, 0);
  o->len = len;
  if (len)
    memcpy(o->data, data, len);
  memcpy(o->data + len, runtime, rlen);
  o->runtime = (const char *) o->data + len;
  int rc = xf_value_new_object(o, &xf__opaque_hooks, out);
  if (rc != XF_OK)
    xf__free(o); /* the hooks' retain was not called */
  return rc;
}

int xf_value_get_opaque(const xf_value_t *v, const char **runtime, const void **data,
                        size_t *len) {
  if (!v || !runtime || !data || !len)
    return XF_EINVAL;
  void *object;
  const xf_object_hooks_t *hooks;
  int rc = xf_value_get_object(v, &object, &hooks);
  if (rc != XF_OK)
    return rc;
  if (hooks != &xf__opaque_hooks)
    return XF_ETYPE;
  const xf__opaque_t *o = object;
  *runtime = o->runtime;
  *data = o->data;
  *len = o->len;
  return XF_OK;
}

/* ---- Encoding ---------------------------------------------------------------- */

static int xf__put(xf__cbuf_t *b, const xf_value_t *v, size_t depth);

/* depth counts the levels already open, as the decoder counts them: a list
 * or map is one level, an error or opaque payload two (its tag and its
 * array), so that whatever encodes also decodes. */
static int xf__put_error_at(xf__cbuf_t *b, const xf_error_t *err, size_t depth) {
  if (depth + 2 > XF_CODEC_MAX_DEPTH)
    return XF_ERANGE;
  int rc;
  XF__PUT_HEAD(b, cbor_encode_tag(XF_CBOR_TAG_ERROR, at_, room_));
  size_t head = b->len;
  xf_value_t *payload = xf_error_payload(err);
  if ((rc = xf__cbor_put_array(b, payload ? 5 : 4)) != XF_OK)
    return rc;
  const char *type = xf_error_type(err), *msg = xf_error_message(err);
  const char *tb = xf_error_traceback(err);
  if ((rc = xf__cbor_put_int(b, xf_error_code(err))) != XF_OK ||
      (rc = xf__cbor_put_text(b, type, strlen(type))) != XF_OK ||
      (rc = xf__cbor_put_text(b, msg, strlen(msg))) != XF_OK ||
      (rc = tb ? xf__cbor_put_text(b, tb, strlen(tb)) : xf__cbor_put_null(b)) != XF_OK)
    return rc;
  if (payload) {
    size_t before = b->len;
    rc = xf__put(b, payload, depth + 2);
    if (rc == XF_ETYPE || rc == XF_ERANGE) {
      /* A payload with no encoding stays behind: the array has four items.
       * Both heads are one byte long. */
      b->len = before;
      b->p[head] = 0x84;
      rc = XF_OK;
    }
  }
  return rc;
}

static int xf__put(xf__cbuf_t *b, const xf_value_t *v, size_t depth) {
  int rc;
  switch (xf_value_kind(v)) {
  case XF_KIND_VOID:
    return xf__cbor_put_null(b);
  case XF_KIND_BOOL: {
    bool x = false;
    xf_value_get_bool(v, &x);
    XF__PUT_HEAD(b, cbor_encode_bool(x, at_, room_));
    return XF_OK;
  }
  case XF_KIND_INT: {
    int64_t i = 0;
    xf_value_get_int(v, &i);
    return xf__cbor_put_int(b, i);
  }
  case XF_KIND_DOUBLE: {
    double d = 0;
    xf_value_get_double(v, &d);
    XF__PUT_HEAD(b, cbor_encode_double(d, at_, room_));
    return XF_OK;
  }
  case XF_KIND_STRING: {
    const char *s = NULL;
    size_t len = 0;
    xf_value_get_string(v, &s, &len);
    return xf__put_string(b, true, s, len);
  }
  case XF_KIND_BYTES: {
    const void *p = NULL;
    size_t len = 0;
    xf_value_get_bytes(v, &p, &len);
    return xf__put_string(b, false, p, len);
  }
  case XF_KIND_LIST: {
    if (depth >= XF_CODEC_MAX_DEPTH)
      return XF_ERANGE;
    size_t n = 0;
    xf_value_list_len(v, &n);
    if ((rc = xf__cbor_put_array(b, n)) != XF_OK)
      return rc;
    for (size_t i = 0; i < n; i++) {
      xf_value_t *item = NULL;
      xf_value_list_get(v, i, &item);
      if ((rc = xf__put(b, item, depth + 1)) != XF_OK)
        return rc;
    }
    return XF_OK;
  }
  case XF_KIND_MAP: {
    if (depth >= XF_CODEC_MAX_DEPTH)
      return XF_ERANGE;
    size_t n = 0;
    xf_value_map_len(v, &n);
    XF__PUT_HEAD(b, cbor_encode_map_start(n, at_, room_));
    for (size_t i = 0; i < n; i++) {
      xf_value_t *key = NULL, *val = NULL;
      xf_value_map_get(v, i, &key, &val);
      if ((rc = xf__put(b, key, depth + 1)) != XF_OK ||
          (rc = xf__put(b, val, depth + 1)) != XF_OK)
        return rc;
    }
    return XF_OK;
  }
  case XF_KIND_ERROR: {
    xf_error_t *err = NULL;
    xf_value_get_error(v, &err);
    return xf__put_error_at(b, err, depth);
  }
  case XF_KIND_OBJECT: {
    const char *runtime;
    const void *data;
    size_t len;
    if (xf_value_get_opaque(v, &runtime, &data, &len) != XF_OK)
      return XF_ETYPE; /* a live foreign object cannot leave its process */
    if (depth + 2 > XF_CODEC_MAX_DEPTH)
      return XF_ERANGE;
    XF__PUT_HEAD(b, cbor_encode_tag(XF_CBOR_TAG_OPAQUE, at_, room_));
    if ((rc = xf__cbor_put_array(b, 2)) != XF_OK ||
        (rc = xf__put_string(b, true, runtime, strlen(runtime))) != XF_OK)
      return rc;
    return xf__put_string(b, false, data, len);
  }
  /* A new kind gets its encoding here and its decoding in xf__emit. */
  default: /* XF_KIND_POINTER: an address means nothing in another process */
    return XF_ETYPE;
  }
}

int xf__cbor_put_value(xf__cbuf_t *b, const xf_value_t *v) {
  size_t save = b->len;
  int rc = v ? xf__put(b, v, 0) : XF_EINVAL;
  if (rc != XF_OK)
    b->len = save;
  return rc;
}

int xf__cbor_put_error(xf__cbuf_t *b, const xf_error_t *err) {
  size_t save = b->len;
  int rc = err ? xf__put_error_at(b, err, 0) : XF_EINVAL;
  if (rc != XF_OK)
    b->len = save;
  return rc;
}

static int xf__encode_done(xf__cbuf_t *b, int rc, uint8_t **buf, size_t *len) {
  if (rc != XF_OK) {
    xf__cbuf_free(b);
    return rc;
  }
  *buf = b->p;
  *len = b->len;
  return XF_OK;
}

int xf_value_encode(const xf_value_t *v, uint8_t **buf, size_t *len) {
  if (!buf || !len)
    return XF_EINVAL;
  *buf = NULL;
  *len = 0;
  xf__cbuf_t b = {NULL, 0, 0};
  return xf__encode_done(&b, xf__cbor_put_value(&b, v), buf, len);
}

int xf_error_encode(const xf_error_t *err, uint8_t **buf, size_t *len) {
  if (!buf || !len)
    return XF_EINVAL;
  *buf = NULL;
  *len = 0;
  xf__cbuf_t b = {NULL, 0, 0};
  return xf__encode_done(&b, xf__cbor_put_error(&b, err), buf, len);
}

void xf_codec_free(void *buf) {
  xf__free(buf);
}

/* ---- Decoding ---------------------------------------------------------------- */

enum { XF__F_LIST, XF__F_MAP, XF__F_TAG };

typedef struct xf__frame {
  uint8_t kind;
  uint64_t tag;       /* XF__F_TAG */
  size_t want, have;  /* items (a map counts keys and values) */
  xf_value_t **items; /* want slots; NULL for a tag */
  xf_value_t *item;   /* a tag's one item */
} xf__frame_t;

typedef struct xf__dec {
  int rc;
  size_t remaining; /* input bytes from the current head on */
  size_t pending;   /* slots of open frames still to fill */
  size_t depth, max_depth;
  xf__frame_t *stack; /* max_depth frames */
  xf_value_t *root;
  bool have_root;
} xf__dec_t;

static void xf__fail(xf__dec_t *d, int rc) {
  if (d->rc == XF_OK)
    d->rc = rc;
}

/* Where the i-th item of a frame goes: a map keeps its keys in the first
 * half of its slots and its values in the second, as xf_value_new_map takes
 * them. */
static size_t xf__slot(const xf__frame_t *f, size_t i) {
  return f->kind == XF__F_MAP ? (i % 2) * (f->want / 2) + i / 2 : i;
}

static void xf__frame_clear(xf__frame_t *f) {
  for (size_t i = 0; f->items && i < f->have; i++)
    xf_value_unref(f->items[xf__slot(f, i)]);
  xf__free(f->items);
  xf_value_unref(f->item);
  f->items = NULL;
  f->item = NULL;
  f->have = 0;
}

/* The text of v, which must be a string; NULL otherwise. */
static const char *xf__text_of(const xf_value_t *v) {
  const char *s;
  size_t len;
  if (xf_value_get_string(v, &s, &len) != XF_OK || strlen(s) != len)
    return NULL; /* not a string, or one with a NUL that C text cannot hold */
  return s;
}

/* Turn a tag's content into the value it stands for. */
static int xf__untag(uint64_t tag, xf_value_t *content, xf_value_t **out) {
  size_t n;
  xf_value_t *items[5];
  if (tag != XF_CBOR_TAG_ERROR && tag != XF_CBOR_TAG_OPAQUE)
    return tag == 2 || tag == 3 ? XF_ERANGE : XF_ETYPE; /* bignums; other tags */
  if (xf_value_list_len(content, &n) != XF_OK)
    return XF_EINVAL;
  if (tag == XF_CBOR_TAG_OPAQUE) {
    const char *runtime;
    const void *data;
    size_t len;
    if (n != 2)
      return XF_EINVAL;
    xf_value_list_get(content, 0, &items[0]);
    xf_value_list_get(content, 1, &items[1]);
    if (!(runtime = xf__text_of(items[0])) || !*runtime ||
        xf_value_get_bytes(items[1], &data, &len) != XF_OK)
      return XF_EINVAL;
    return xf_value_new_opaque(runtime, data, len, out);
  }
  /* [code, type, message, traceback | null (, payload)]; later versions may
   * append items, which are ignored. */
  if (n < 4)
    return XF_EINVAL;
  for (size_t i = 0; i < 5; i++)
    items[i] = NULL;
  for (size_t i = 0; i < n && i < 5; i++)
    xf_value_list_get(content, i, &items[i]);
  int64_t code;
  const char *type, *msg, *tb = NULL;
  if (xf_value_get_int(items[0], &code) != XF_OK || code >= 0 || code < INT32_MIN ||
      !(type = xf__text_of(items[1])) || !(msg = xf__text_of(items[2])))
    return XF_EINVAL;
  if (xf_value_kind(items[3]) != XF_KIND_VOID && !(tb = xf__text_of(items[3])))
    return XF_EINVAL;
  xf_value_t *payload = items[4];
  if (payload && xf_value_kind(payload) == XF_KIND_VOID)
    payload = NULL;
  xf_error_t *err;
  int rc = xf_error_new_full((int) code, *type ? type : NULL, msg, tb, payload, &err);
  if (rc != XF_OK)
    return rc == XF_ENOMEM ? rc : XF_EINVAL;
  rc = xf_value_new_error(err, out);
  xf_error_unref(err);
  return rc;
}

/* Hand a finished item to the frame on top, or make it the root; takes over
 * v. Frames that fill up become values and are handed down in turn. */
static void xf__emit(xf__dec_t *d, xf_value_t *v) {
  while (d->rc == XF_OK) {
    if (d->depth == 0) {
      if (d->have_root) {
        xf__fail(d, XF_EINVAL);
        break;
      }
      d->root = v;
      d->have_root = true;
      return;
    }
    xf__frame_t *f = &d->stack[d->depth - 1];
    if (f->kind == XF__F_TAG)
      f->item = v;
    else
      f->items[xf__slot(f, f->have)] = v;
    f->have++;
    d->pending--;
    if (f->have < f->want)
      return;
    int rc;
    v = NULL;
    if (f->kind == XF__F_LIST)
      rc = xf_value_new_list(f->items, f->want, &v);
    else if (f->kind == XF__F_MAP)
      rc = xf_value_new_map(f->items, f->items + f->want / 2, f->want / 2, &v);
    else
      rc = xf__untag(f->tag, f->item, &v);
    xf__frame_clear(f);
    d->depth--;
    if (rc != XF_OK) {
      xf__fail(d, rc);
      return;
    }
  }
  xf_value_unref(v);
}

/* rc is what made *pv; *pv is read only now, after the call that set it
 * (arguments are evaluated in no fixed order). */
static void xf__emit_new(xf__dec_t *d, int rc, xf_value_t **pv) {
  if (rc != XF_OK) {
    xf__fail(d, rc);
    return;
  }
  xf__emit(d, *pv);
}

static void xf__push(xf__dec_t *d, int kind, uint64_t tag, size_t want) {
  if (d->rc != XF_OK)
    return;
  if (d->depth >= d->max_depth) {
    xf__fail(d, XF_EINVAL);
    return;
  }
  if (kind != XF__F_TAG && want == 0) {
    xf_value_t *v;
    if (kind == XF__F_LIST)
      xf__emit_new(d, xf_value_new_list(NULL, 0, &v), &v);
    else
      xf__emit_new(d, xf_value_new_map(NULL, NULL, 0, &v), &v);
    return;
  }
  xf__frame_t *f = &d->stack[d->depth];
  memset(f, 0, sizeof *f);
  f->kind = (uint8_t) kind;
  f->tag = tag;
  f->want = want;
  if (kind != XF__F_TAG) {
    f->items = xf__malloc(want * sizeof *f->items);
    if (!f->items) {
      xf__fail(d, XF_ENOMEM);
      return;
    }
  }
  d->pending += want;
  d->depth++;
}

/* How many items the rest of the input can still hold for a new container.
 * Each open frame has one slot being filled (by the frame above it, or for
 * the top one by the new container); each of its other open slots needs at
 * least one byte of its own. So all the slots allocated at any time add up
 * to no more than the input's length. */
static size_t xf__room(const xf__dec_t *d) {
  size_t outstanding = d->pending - d->depth;
  return d->remaining > outstanding ? d->remaining - outstanding : 0;
}

static void xf__on_uint(xf__dec_t *d, uint64_t u) {
  xf_value_t *v;
  if (u > INT64_MAX)
    xf__fail(d, XF_ERANGE);
  else
    xf__emit_new(d, xf_value_new_int((int64_t) u, &v), &v);
}

static void xf__on_negint(xf__dec_t *d, uint64_t u) {
  xf_value_t *v;
  if (u > INT64_MAX) /* -1 - u below INT64_MIN */
    xf__fail(d, XF_ERANGE);
  else
    xf__emit_new(d, xf_value_new_int(-1 - (int64_t) u, &v), &v);
}

static void xf__cb_u8(void *c, uint8_t u) {
  xf__on_uint(c, u);
}
static void xf__cb_u16(void *c, uint16_t u) {
  xf__on_uint(c, u);
}
static void xf__cb_u32(void *c, uint32_t u) {
  xf__on_uint(c, u);
}
static void xf__cb_u64(void *c, uint64_t u) {
  xf__on_uint(c, u);
}
static void xf__cb_n8(void *c, uint8_t u) {
  xf__on_negint(c, u);
}
static void xf__cb_n16(void *c, uint16_t u) {
  xf__on_negint(c, u);
}
static void xf__cb_n32(void *c, uint32_t u) {
  xf__on_negint(c, u);
}
static void xf__cb_n64(void *c, uint64_t u) {
  xf__on_negint(c, u);
}

static void xf__cb_bytes(void *c, cbor_data p, size_t len) {
  xf_value_t *v;
  xf__emit_new(c, xf_value_new_bytes(p, len, &v), &v);
}

static void xf__cb_text(void *c, cbor_data p, size_t len) {
  xf_value_t *v;
  /* Invalid UTF-8 is XF_EINVAL from the constructor: malformed input. */
  xf__emit_new(c, xf_value_new_string((const char *) p, len, &v), &v);
}

static void xf__cb_array(void *c, size_t n) {
  xf__dec_t *d = c;
  if (n > xf__room(d))
    xf__fail(d, XF_EINVAL); /* more items than bytes left: truncated */
  else
    xf__push(d, XF__F_LIST, 0, n);
}

static void xf__cb_map(void *c, size_t n) {
  xf__dec_t *d = c;
  if (n > xf__room(d) / 2)
    xf__fail(d, XF_EINVAL);
  else
    xf__push(d, XF__F_MAP, 0, 2 * n);
}

static void xf__cb_tag(void *c, uint64_t tag) {
  /* Tag 55799 only says "this is CBOR" (RFC 8949 section 3.4.6). */
  if (tag != 55799)
    xf__push(c, XF__F_TAG, tag, 1);
}

static void xf__on_double(xf__dec_t *d, double x) {
  xf_value_t *v;
  xf__emit_new(d, xf_value_new_double(x, &v), &v);
}
static void xf__cb_float(void *c, float x) {
  xf__on_double(c, x);
}
static void xf__cb_double(void *c, double x) {
  xf__on_double(c, x);
}
static void xf__cb_null(void *c) {
  xf__emit(c, xf_value_void());
}
static void xf__cb_bool(void *c, bool b) {
  xf__emit(c, xf_value_bool(b));
}

/* Indefinite lengths and a stray break: the protocol requires definite
 * lengths (which also bounds every allocation by its head). */
static void xf__cb_malformed(void *c) {
  xf__fail(c, XF_EINVAL);
}

static const struct cbor_callbacks xf__callbacks = {
    .uint8 = xf__cb_u8,
    .uint16 = xf__cb_u16,
    .uint32 = xf__cb_u32,
    .uint64 = xf__cb_u64,
    .negint8 = xf__cb_n8,
    .negint16 = xf__cb_n16,
    .negint32 = xf__cb_n32,
    .negint64 = xf__cb_n64,
    .byte_string_start = xf__cb_malformed,
    .byte_string = xf__cb_bytes,
    .string = xf__cb_text,
    .string_start = xf__cb_malformed,
    .indef_array_start = xf__cb_malformed,
    .array_start = xf__cb_array,
    .indef_map_start = xf__cb_malformed,
    .map_start = xf__cb_map,
    .tag = xf__cb_tag,
    .float2 = xf__cb_float,
    .float4 = xf__cb_float,
    .float8 = xf__cb_double,
    .undefined = xf__cb_null,
    .null = xf__cb_null,
    .boolean = xf__cb_bool,
    .indef_break = xf__cb_malformed,
};

int xf__cbor_decode(const uint8_t *buf, size_t len, size_t max_depth, xf_value_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!buf || len == 0)
    return XF_EINVAL;
  xf__dec_t d = {.rc = XF_OK, .max_depth = max_depth};
  d.stack = xf__malloc(max_depth * sizeof *d.stack);
  if (!d.stack)
    return XF_ENOMEM;
  size_t pos = 0;
  while (d.rc == XF_OK && !d.have_root) {
    if (pos >= len) {
      d.rc = XF_EINVAL; /* truncated */
      break;
    }
    d.remaining = len - pos;
    struct cbor_decoder_result r =
        cbor_stream_decode(buf + pos, len - pos, &xf__callbacks, &d);
    if (r.status != CBOR_DECODER_FINISHED) {
      xf__fail(&d, XF_EINVAL);
      break;
    }
    pos += r.read;
  }
  if (d.rc == XF_OK && pos != len)
    d.rc = XF_EINVAL; /* trailing bytes */
  while (d.depth > 0)
    xf__frame_clear(&d.stack[--d.depth]);
  xf__free(d.stack);
  if (d.rc != XF_OK) {
    xf_value_unref(d.root);
    return d.rc;
  }
  *out = d.root;
  return XF_OK;
}

int xf_value_decode(const uint8_t *buf, size_t len, xf_value_t **out) {
  return xf__cbor_decode(buf, len, XF_CODEC_MAX_DEPTH, out);
}

int xf_error_decode(const uint8_t *buf, size_t len, xf_error_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  xf_value_t *v;
  int rc = xf_value_decode(buf, len, &v);
  if (rc != XF_OK)
    return rc;
  xf_error_t *err;
  rc = xf_value_get_error(v, &err);
  if (rc == XF_OK)
    *out = xf_error_ref(err);
  xf_value_unref(v);
  return rc;
}

/* ---- Frames ------------------------------------------------------------------ */

int xf__frame_begin(xf__cbuf_t *b, size_t *at) {
  int rc = xf__cbuf_reserve(b, 4);
  if (rc != XF_OK)
    return rc;
  *at = b->len;
  memset(b->p + b->len, 0, 4);
  b->len += 4;
  return XF_OK;
}

int xf__frame_end(xf__cbuf_t *b, size_t at) {
  size_t n = b->len - at - 4;
  if (n > XF__FRAME_MAX)
    return XF_ERANGE;
  b->p[at] = (uint8_t) (n >> 24);
  b->p[at + 1] = (uint8_t) (n >> 16);
  b->p[at + 2] = (uint8_t) (n >> 8);
  b->p[at + 3] = (uint8_t) n;
  return XF_OK;
}

int xf__cbor_put_c_call(xf__cbuf_t *b, const char *library, const char *symbol,
                        const char *signature, xf_value_t *const *args, size_t nargs) {
  if (!library || !symbol || !signature || (nargs && !args))
    return XF_EINVAL;
  xf_signature_t *sig;
  int rc = xf_signature_parse(signature, NULL, 0, &sig);
  if (rc != XF_OK)
    return rc;
  int arity = xf_signature_arity(sig);
  xf_signature_unref(sig);
  if (arity < 0 || (size_t) arity != nargs)
    return XF_EINVAL;
  size_t save = b->len;
  if ((rc = xf__cbor_put_array(b, 4)) != XF_OK ||
      (rc = xf__cbor_put_text(b, library, strlen(library))) != XF_OK ||
      (rc = xf__cbor_put_text(b, symbol, strlen(symbol))) != XF_OK ||
      (rc = xf__cbor_put_text(b, signature, strlen(signature))) != XF_OK ||
      (rc = xf__cbor_put_array(b, nargs)) != XF_OK)
    goto fail;
  for (size_t i = 0; i < nargs; i++)
    if ((rc = xf__cbor_put_value(b, args[i])) != XF_OK)
      goto fail;
  return XF_OK;
fail:
  b->len = save;
  return rc;
}

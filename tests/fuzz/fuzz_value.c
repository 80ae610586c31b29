/* A fuzzer of value construction (xf/value.h and the error values of
 * xf/error.h).
 *
 * The input is a program for a stack machine: after one control byte, each
 * operation is an opcode byte and its arguments. Operations push values of
 * every kind (void, bool, ints including the edges of the in-handle
 * encoding, doubles including NaN, -0, infinities, denormals and the
 * boundaries of the in-handle exponents, strings with NULs and invalid
 * UTF-8, bytes, nested lists and maps, pointers with a destructor, foreign
 * objects with retain/release hooks, error values with payloads), duplicate
 * and pop them, and compare the top two.
 *
 * Beside each value the fuzzer keeps a model (what it was built from), and
 * checks on every push: the kind; that each accessor gives back what went in
 * (a double keeps its bits, NaNs stay NaN) and that the accessors of the
 * other kinds answer XF_ETYPE; list and map items, map lookups (the first
 * equal key wins); xf_value_equal reflexive, symmetric and true for a copy
 * built again from the model; xf_value_repr the same text for both, as
 * snprintf (its length for size 0, truncation with a NUL). Strings are
 * accepted exactly when they are well-formed UTF-8 (checked here by a
 * decoder of its own).
 *
 * With the control byte's top bit, the n-th allocation fails (n from the
 * next two bytes): every constructor then answers XF_OK or XF_ENOMEM, and a
 * failed pointer or object constructor calls neither destructor nor hooks.
 * In every case, once the stack is dropped every block is freed, every
 * pointer destructor ran once and every object retain has its release.
 */
#include <float.h>
#include <math.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STACK  16
#define MAX_MODELS 256
#define MAX_ITEMS  6
#define MAX_TOKENS 64

typedef struct model {
  int kind;
  bool b;
  int64_t i;
  double d;
  const uint8_t *s; /* string and bytes contents, borrowed from the input */
  size_t len;
  int items[2 * MAX_ITEMS]; /* lists: items; maps: keys then values */
  int n;
  void *ptr; /* pointers and objects */
  int code;  /* errors */
  char type[16], msg[16];
  bool default_type;
  int payload; /* a model, or -1 */
} model_t;

static struct {
  model_t models[MAX_MODELS];
  int nmodels;
  xf_value_t *stack[MAX_STACK];
  int smodel[MAX_STACK];
  int depth;
  bool failing; /* an allocation may fail */
  int dtor_calls[MAX_TOKENS];
  bool dtor_armed[MAX_TOKENS];
  int retains[MAX_TOKENS], releases[MAX_TOKENS];
  int ntokens;
} V;

static char tokens[MAX_TOKENS];

static void ptr_dtor(void *p) {
  int t = (int) ((char *) p - tokens);
  FUZZ_CHECK(t >= 0 && t < MAX_TOKENS);
  FUZZ_CHECK(V.dtor_armed[t]);
  FUZZ_CHECKF(++V.dtor_calls[t] == 1, "pointer destructor called twice");
}

static void obj_retain(void *object, void *hook_data) {
  FUZZ_CHECK(hook_data == &V);
  V.retains[(char *) object - tokens]++;
}

static void obj_release(void *object, void *hook_data) {
  FUZZ_CHECK(hook_data == &V);
  int t = (int) ((char *) object - tokens);
  FUZZ_CHECKF(++V.releases[t] <= V.retains[t], "object released more than retained");
}

static const xf_object_hooks_t hooks = {
    sizeof(xf_object_hooks_t), "fuzz", obj_retain, obj_release, &V, NULL};

/* Well-formed UTF-8 as the Unicode Standard's table 3-7 defines it, written
 * as a decoder (not as the library's range table) so the two can disagree. */
static bool utf8_ok(const uint8_t *s, size_t len) {
  for (size_t i = 0; i < len;) {
    uint32_t c = s[i];
    size_t k;
    uint32_t cp, min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      k = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      k = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      k = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (len - i - 1 < k)
      return false;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80)
        return false;
      cp = cp << 6 | (s[i + j] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += k + 1;
  }
  return true;
}

static bool ok_or_oom(int rc) {
  return rc == XF_OK || (V.failing && rc == XF_ENOMEM);
}

static int model_new(int kind) {
  if (V.nmodels == MAX_MODELS)
    return -1;
  model_t *m = &V.models[V.nmodels];
  memset(m, 0, sizeof *m);
  m->kind = kind;
  m->payload = -1;
  return V.nmodels++;
}

/* A value built again from a model, for comparisons. Pointers come back
 * without a destructor (equality is by the pointer), objects with the same
 * hooks. */
static int build_item(int id, xf_value_t **out);

static int build_node(int id, xf_value_t **out) {
  const model_t *m = &V.models[id];
  *out = NULL;
  switch (m->kind) {
  case XF_KIND_VOID:
    *out = xf_value_void();
    return XF_OK;
  case XF_KIND_BOOL:
    *out = xf_value_bool(m->b);
    return XF_OK;
  case XF_KIND_INT:
    return xf_value_new_int(m->i, out);
  case XF_KIND_DOUBLE:
    return xf_value_new_double(m->d, out);
  case XF_KIND_STRING:
    return xf_value_new_string((const char *) m->s, m->len, out);
  case XF_KIND_BYTES:
    return xf_value_new_bytes(m->s, m->len, out);
  case XF_KIND_POINTER:
    return xf_value_new_pointer(m->ptr, NULL, out);
  case XF_KIND_OBJECT:
    return xf_value_new_object(m->ptr, &hooks, out);
  case XF_KIND_ERROR: {
    xf_value_t *payload = NULL;
    int rc = m->payload >= 0 ? build_item(m->payload, &payload) : XF_OK;
    xf_error_t *e = NULL;
    if (rc == XF_OK)
      rc = xf_error_new_full(m->code, m->default_type ? NULL : m->type, m->msg, NULL,
                             payload, &e);
    xf_value_unref(payload);
    if (rc == XF_OK)
      rc = xf_value_new_error(e, out);
    xf_error_unref(e);
    return rc;
  }
  default: { /* lists and maps */
    xf_value_t *items[2 * MAX_ITEMS] = {0};
    int count = m->kind == XF_KIND_MAP ? 2 * m->n : m->n;
    int rc = XF_OK;
    for (int k = 0; k < count && rc == XF_OK; k++)
      rc = build_item(m->items[k], &items[k]);
    if (rc == XF_OK)
      rc = m->kind == XF_KIND_LIST
               ? xf_value_new_list(items, (size_t) m->n, out)
               : xf_value_new_map(items, items + m->n, (size_t) m->n, out);
    for (int k = 0; k < count; k++)
      xf_value_unref(items[k]);
    return rc;
  }
  }
}

/* A model shared by several items is built once and shared in the copy
 * too, as in the value: a copy that repeated it would be exponentially
 * larger than the value it copies, and so would comparing the two. */
static xf_value_t *built[MAX_MODELS];

static int build_item(int id, xf_value_t **out) {
  if (built[id]) {
    *out = xf_value_ref(built[id]);
    return XF_OK;
  }
  int rc = build_node(id, out);
  if (rc == XF_OK)
    built[id] = xf_value_ref(*out);
  return rc;
}

/* The value of model id built again (a new reference in *out). */
static int build(int id, xf_value_t **out) {
  int rc = build_item(id, out);
  for (int k = 0; k < MAX_MODELS; k++) {
    xf_value_unref(built[k]);
    built[k] = NULL;
  }
  return rc;
}

/* xf_value_repr as snprintf, into buffers of exactly the given sizes. */
static void check_repr(const xf_value_t *v, const xf_value_t *copy) {
  size_t len = xf_value_repr(v, NULL, 0);
  FUZZ_CHECK(len < (1u << 20));
  /* A text this long comes from items shared many times over: the bound
   * above is what matters, and writing it three times more would take the
   * fuzzer's time from everything else. */
  if (len > (1u << 16))
    return;
  char *full = malloc(len + 1);
  FUZZ_CHECK(xf_value_repr(v, full, len + 1) == len);
  FUZZ_CHECK(full[len] == '\0' && memchr(full, '\0', len) == NULL);
  size_t cut = len / 2 + 1;
  char *part = malloc(cut);
  FUZZ_CHECK(xf_value_repr(v, part, cut) == len);
  FUZZ_CHECK(part[cut - 1] == '\0' && memcmp(part, full, cut - 1) == 0);
  free(part);
  if (copy) {
    char *other = malloc(len + 1);
    FUZZ_CHECK(xf_value_repr(copy, other, len + 1) == len);
    FUZZ_CHECKF(strcmp(full, other) == 0, "repr %s of a copy of %s", other, full);
    free(other);
  }
  free(full);
}

static void check_value(const xf_value_t *v, int id);

/* The accessors of every kind but the value's own answer XF_ETYPE. */
static void check_other_accessors(const xf_value_t *v, int kind) {
  bool b;
  int64_t i;
  double d;
  const char *s;
  const void *p;
  size_t n;
  xf_value_t *x, *y;
  void *o;
  const xf_object_hooks_t *h;
  xf_error_t *e;
  if (kind != XF_KIND_BOOL)
    FUZZ_CHECK(xf_value_get_bool(v, &b) == XF_ETYPE);
  if (kind != XF_KIND_INT)
    FUZZ_CHECK(xf_value_get_int(v, &i) == XF_ETYPE);
  if (kind != XF_KIND_DOUBLE)
    FUZZ_CHECK(xf_value_get_double(v, &d) == XF_ETYPE);
  if (kind != XF_KIND_STRING)
    FUZZ_CHECK(xf_value_get_string(v, &s, &n) == XF_ETYPE);
  if (kind != XF_KIND_BYTES)
    FUZZ_CHECK(xf_value_get_bytes(v, &p, &n) == XF_ETYPE);
  if (kind != XF_KIND_LIST) {
    FUZZ_CHECK(xf_value_list_len(v, &n) == XF_ETYPE);
    FUZZ_CHECK(xf_value_list_get(v, 0, &x) == XF_ETYPE);
  }
  if (kind != XF_KIND_MAP) {
    FUZZ_CHECK(xf_value_map_len(v, &n) == XF_ETYPE);
    FUZZ_CHECK(xf_value_map_get(v, 0, &x, &y) == XF_ETYPE);
    FUZZ_CHECK(xf_value_map_find(v, xf_value_void(), &x) == XF_ETYPE);
  }
  if (kind != XF_KIND_POINTER)
    FUZZ_CHECK(xf_value_get_pointer(v, &o) == XF_ETYPE);
  if (kind != XF_KIND_OBJECT)
    FUZZ_CHECK(xf_value_get_object(v, &o, &h) == XF_ETYPE);
  if (kind != XF_KIND_ERROR)
    FUZZ_CHECK(xf_value_get_error(v, &e) == XF_ETYPE);
}

static void check_contents(const xf_value_t *v, const model_t *m) {
  switch (m->kind) {
  case XF_KIND_BOOL: {
    bool b;
    FUZZ_CHECK(xf_value_get_bool(v, &b) == XF_OK && b == m->b);
    break;
  }
  case XF_KIND_INT: {
    int64_t i;
    FUZZ_CHECK(xf_value_get_int(v, &i) == XF_OK);
    FUZZ_CHECKF(i == m->i, "int %lld came back as %lld", (long long) m->i, (long long) i);
    break;
  }
  case XF_KIND_DOUBLE: {
    double d;
    FUZZ_CHECK(xf_value_get_double(v, &d) == XF_OK);
    uint64_t a, b;
    memcpy(&a, &m->d, sizeof a);
    memcpy(&b, &d, sizeof b);
    FUZZ_CHECKF(a == b || (isnan(m->d) && isnan(d)),
                "double %016llx came back as %016llx", (unsigned long long) a,
                (unsigned long long) b);
    break;
  }
  case XF_KIND_STRING:
  case XF_KIND_BYTES: {
    const void *p;
    size_t n;
    if (m->kind == XF_KIND_STRING)
      FUZZ_CHECK(xf_value_get_string(v, (const char **) &p, &n) == XF_OK);
    else
      FUZZ_CHECK(xf_value_get_bytes(v, &p, &n) == XF_OK);
    FUZZ_CHECK(n == m->len && (n == 0 || memcmp(p, m->s, n) == 0));
    FUZZ_CHECK(((const char *) p)[n] == '\0'); /* the promised terminator */
    break;
  }
  case XF_KIND_LIST: {
    size_t n;
    xf_value_t *item = (xf_value_t *) &n;
    FUZZ_CHECK(xf_value_list_len(v, &n) == XF_OK && n == (size_t) m->n);
    for (int k = 0; k < m->n; k++) {
      FUZZ_CHECK(xf_value_list_get(v, (size_t) k, &item) == XF_OK);
      check_value(item, m->items[k]);
    }
    FUZZ_CHECK(xf_value_list_get(v, n, &item) == XF_ERANGE);
    break;
  }
  case XF_KIND_MAP: {
    size_t n;
    xf_value_t *key, *val;
    FUZZ_CHECK(xf_value_map_len(v, &n) == XF_OK && n == (size_t) m->n);
    for (int k = 0; k < m->n; k++) {
      FUZZ_CHECK(xf_value_map_get(v, (size_t) k, &key, &val) == XF_OK);
      check_value(key, m->items[k]);
      check_value(val, m->items[m->n + k]);
    }
    FUZZ_CHECK(xf_value_map_get(v, n, &key, &val) == XF_ERANGE);
    /* A lookup finds the value of the first equal key. */
    for (int k = 0; k < m->n; k++) {
      xf_value_t *found = NULL, *first_key, *first_val = NULL;
      FUZZ_CHECK(xf_value_map_get(v, (size_t) k, &key, &val) == XF_OK);
      FUZZ_CHECK(xf_value_map_find(v, key, &found) == XF_OK);
      for (size_t j = 0; j <= (size_t) k; j++) {
        FUZZ_CHECK(xf_value_map_get(v, j, &first_key, &val) == XF_OK);
        if (xf_value_equal(first_key, key)) {
          first_val = val;
          break;
        }
      }
      FUZZ_CHECK(first_val != NULL && found == first_val);
    }
    break;
  }
  case XF_KIND_POINTER: {
    void *p;
    FUZZ_CHECK(xf_value_get_pointer(v, &p) == XF_OK && p == m->ptr);
    break;
  }
  case XF_KIND_OBJECT: {
    void *o;
    const xf_object_hooks_t *h;
    FUZZ_CHECK(xf_value_get_object(v, &o, &h) == XF_OK && o == m->ptr && h == &hooks);
    break;
  }
  case XF_KIND_ERROR: {
    xf_error_t *e;
    FUZZ_CHECK(xf_value_get_error(v, &e) == XF_OK && e);
    FUZZ_CHECK(xf_error_code(e) == m->code);
    FUZZ_CHECK(strcmp(xf_error_type(e),
                      m->default_type ? xf_error_default_type(m->code) : m->type) == 0);
    FUZZ_CHECK(strcmp(xf_error_message(e), m->msg) == 0);
    if (m->payload >= 0)
      check_value(xf_error_payload(e), m->payload);
    else
      FUZZ_CHECK(xf_error_payload(e) == NULL);
    break;
  }
  default:
    break;
  }
}

/* The (value, model) pairs checked since the last check_pushed: values are
 * immutable, so a shared item checked once is checked for good, and a list
 * holding the same list twice, many levels deep, costs linear time to
 * check rather than exponential. A full table only stops remembering. */
enum { SEEN_SLOTS = 4096 };
static struct {
  const xf_value_t *v;
  int id;
  unsigned gen;
} seen[SEEN_SLOTS];
static unsigned seen_gen = 1;

static bool seen_before(const xf_value_t *v, int id) {
  size_t h = ((uintptr_t) v * 0x9e3779b97f4a7c15u ^ (size_t) id) % SEEN_SLOTS;
  for (int probe = 0; probe < 8; probe++, h = (h + 1) % SEEN_SLOTS) {
    if (seen[h].gen != seen_gen) {
      seen[h].v = v;
      seen[h].id = id;
      seen[h].gen = seen_gen;
      return false;
    }
    if (seen[h].v == v && seen[h].id == id)
      return true;
  }
  return false;
}

static void check_value(const xf_value_t *v, int id) {
  if (seen_before(v, id))
    return;
  const model_t *m = &V.models[id];
  FUZZ_CHECKF(xf_value_kind(v) == m->kind, "kind %d, built as %d", xf_value_kind(v),
              m->kind);
  check_other_accessors(v, m->kind);
  check_contents(v, m);
  FUZZ_CHECK(xf_value_equal(v, v));
  FUZZ_CHECK(!xf_value_equal(v, NULL) && !xf_value_equal(NULL, v));
}

/* The full checks of a value just pushed: its contents, and a copy built
 * again from its model that equals it and reads the same. */
static void check_pushed(xf_value_t *v, int id) {
  seen_gen++;
  check_value(v, id);
  xf_value_t *copy = NULL;
  int rc = build(id, &copy);
  FUZZ_CHECKF(ok_or_oom(rc), "rebuilding: %s", xf_err_name(rc));
  if (rc != XF_OK)
    return;
  FUZZ_CHECK(xf_value_equal(v, copy) && xf_value_equal(copy, v));
  if (!V.failing)
    check_repr(v, copy);
  xf_value_unref(copy);
}

static void push(xf_value_t *v, int id) {
  if (V.depth == MAX_STACK) {
    xf_value_unref(V.stack[0]);
    memmove(V.stack, V.stack + 1, (MAX_STACK - 1) * sizeof *V.stack);
    memmove(V.smodel, V.smodel + 1, (MAX_STACK - 1) * sizeof *V.smodel);
    V.depth--;
  }
  check_pushed(v, id);
  V.stack[V.depth] = v;
  V.smodel[V.depth++] = id;
}

static const int64_t int_edges[] = {
    0,
    1,
    -1,
    INT64_MAX,
    INT64_MIN,
    (INT64_C(1) << 62) - 1,
    INT64_C(1) << 62,
    -(INT64_C(1) << 62),
    -(INT64_C(1) << 62) - 1,
    INT64_C(1) << 61,
    INT32_MAX,
    (int64_t) INT32_MIN - 1,
};

/* Doubles at the edges of the in-handle encoding (biased exponents 0x300 to
 * 0x4ff) and of IEEE 754. */
static const uint64_t double_edges[] = {
    0x0000000000000000, /* 0.0 */
    0x8000000000000000, /* -0.0 */
    0x7ff8000000000000, /* NaN */
    0xfff8000000000001, /* a negative NaN with a payload */
    0x7ff0000000000001, /* a signalling NaN */
    0x7ff0000000000000, /* inf */
    0xfff0000000000000, /* -inf */
    0x0000000000000001, /* the smallest denormal */
    0x0010000000000000, /* DBL_MIN */
    0x7fefffffffffffff, /* DBL_MAX */
    0x3ff0000000000000, /* 1.0 */
    0x3000000000000000, /* whose code positive zero borrows */
    0x2fffffffffffffff, /* just below the in-handle range */
    0x4fffffffffffffff, /* the top of the in-handle range */
    0x5000000000000000, /* just above it */
    0xb000000000000000, /* negative, at the bottom of the range */
};

static void op_push_number(fuzz_in_t *in, int op) {
  uint8_t how = fuzz_u8(in);
  int id = model_new(op == 2 ? XF_KIND_INT : XF_KIND_DOUBLE);
  if (id < 0)
    return;
  model_t *m = &V.models[id];
  uint64_t bits;
  if (op == 2) {
    m->i = how & 1 ? (int64_t) fuzz_u64(in)
                   : int_edges[(how >> 1) % (sizeof int_edges / sizeof *int_edges)];
  } else {
    bits = how & 1
               ? fuzz_u64(in)
               : double_edges[(how >> 1) % (sizeof double_edges / sizeof *double_edges)];
    memcpy(&m->d, &bits, sizeof bits);
  }
  xf_value_t *v = NULL;
  int rc = build(id, &v);
  FUZZ_CHECKF(ok_or_oom(rc), "number: %s", xf_err_name(rc));
  if (rc == XF_OK)
    push(v, id);
}

static void op_push_text(fuzz_in_t *in, int op) {
  size_t want = fuzz_u8(in) % 24, len;
  const uint8_t *p = fuzz_bytes(in, want, &len);
  int kind = op == 6 ? XF_KIND_BYTES : XF_KIND_STRING;
  int id = model_new(kind);
  if (id < 0)
    return;
  model_t *m = &V.models[id];
  m->s = p;
  m->len = len;
  xf_value_t *v = NULL;
  int rc;
  if (op == 5) {
    /* A C string ends at its first NUL. */
    char buf[32];
    memcpy(buf, p, len);
    buf[len] = '\0';
    m->len = strlen(buf);
    rc = xf_value_new_cstring(buf, &v);
  } else if (kind == XF_KIND_STRING) {
    rc = xf_value_new_string((const char *) p, len, &v);
  } else {
    rc = xf_value_new_bytes(p, len, &v);
  }
  if (kind == XF_KIND_STRING && !utf8_ok(m->s, m->len)) {
    FUZZ_CHECKF(rc == XF_EINVAL && v == NULL, "ill-formed UTF-8 accepted: %s",
                xf_err_name(rc));
    V.nmodels--;
    return;
  }
  FUZZ_CHECKF(ok_or_oom(rc), "string/bytes: %s", xf_err_name(rc));
  if (rc == XF_OK)
    push(v, id);
  else
    V.nmodels--;
}

static void op_push_container(fuzz_in_t *in, bool map) {
  int n = fuzz_u8(in) % (MAX_ITEMS + 1);
  int need = map ? 2 * n : n;
  if (need > V.depth)
    return;
  int id = model_new(map ? XF_KIND_MAP : XF_KIND_LIST);
  if (id < 0)
    return;
  model_t *m = &V.models[id];
  m->n = n;
  xf_value_t **items = V.stack + V.depth - need;
  for (int k = 0; k < need; k++)
    m->items[k] = V.smodel[V.depth - need + k];
  xf_value_t *v = NULL;
  int rc = map ? xf_value_new_map(items, items + n, (size_t) n, &v)
               : xf_value_new_list(items, (size_t) n, &v);
  FUZZ_CHECKF(ok_or_oom(rc), "list/map: %s", xf_err_name(rc));
  /* The container holds its own references; the stack lets go of its. */
  for (int k = 0; k < need; k++)
    xf_value_unref(items[k]);
  V.depth -= need;
  if (rc == XF_OK)
    push(v, id);
}

static void op_push_handle(fuzz_in_t *in, bool object) {
  (void) in;
  if (V.ntokens == MAX_TOKENS)
    return;
  int t = V.ntokens++;
  int id = model_new(object ? XF_KIND_OBJECT : XF_KIND_POINTER);
  if (id < 0)
    return;
  V.models[id].ptr = &tokens[t];
  xf_value_t *v = NULL;
  int rc;
  if (object) {
    rc = xf_value_new_object(&tokens[t], &hooks, &v);
    FUZZ_CHECK(V.retains[t] == (rc == XF_OK));
  } else {
    V.dtor_armed[t] = true;
    rc = xf_value_new_pointer(&tokens[t], ptr_dtor, &v);
    if (rc != XF_OK)
      V.dtor_armed[t] = false; /* the caller keeps the pointer */
  }
  FUZZ_CHECKF(ok_or_oom(rc), "pointer/object: %s", xf_err_name(rc));
  FUZZ_CHECK(V.dtor_calls[t] == 0 && V.releases[t] == 0);
  if (rc == XF_OK)
    push(v, id);
}

static const int error_codes[] = {XF_EINVAL,  XF_ENOMEM, XF_ECANCELLED, XF_ETIMEDOUT,
                                  XF_EFAILED, XF_ESTATE, XF_EBROKEN,    XF_ETYPE,
                                  XF_ESYS,    XF_ERANGE};

static void op_push_error(fuzz_in_t *in) {
  uint8_t how = fuzz_u8(in);
  int id = model_new(XF_KIND_ERROR);
  if (id < 0)
    return;
  model_t *m = &V.models[id];
  m->code = error_codes[how % (sizeof error_codes / sizeof *error_codes)];
  m->default_type = how & 0x10;
  size_t len;
  const uint8_t *p = fuzz_bytes(in, fuzz_u8(in) % sizeof m->type, &len);
  memcpy(m->type, p, len);
  m->type[len < sizeof m->type ? len : sizeof m->type - 1] = '\0';
  p = fuzz_bytes(in, fuzz_u8(in) % sizeof m->msg, &len);
  memcpy(m->msg, p, len);
  m->msg[len < sizeof m->msg ? len : sizeof m->msg - 1] = '\0';
  xf_value_t *payload = NULL;
  if ((how & 0x20) && V.depth > 0) {
    m->payload = V.smodel[V.depth - 1];
    payload = V.stack[--V.depth];
  }
  xf_error_t *e = NULL;
  int rc = xf_error_new_full(m->code, m->default_type ? NULL : m->type, m->msg, NULL,
                             payload, &e);
  FUZZ_CHECKF(ok_or_oom(rc), "error_new: %s", xf_err_name(rc));
  xf_value_unref(payload);
  xf_value_t *v = NULL;
  if (rc == XF_OK) {
    rc = xf_value_new_error(e, &v);
    FUZZ_CHECKF(ok_or_oom(rc), "value_new_error: %s", xf_err_name(rc));
    xf_error_unref(e);
  }
  if (rc == XF_OK)
    push(v, id);
}

static void op_compare(void) {
  if (V.depth < 2)
    return;
  xf_value_t *a = V.stack[V.depth - 1], *b = V.stack[V.depth - 2];
  bool ab = xf_value_equal(a, b);
  FUZZ_CHECK(ab == xf_value_equal(b, a));
  if (ab)
    FUZZ_CHECK(xf_value_kind(a) == xf_value_kind(b));
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void) argc;
  (void) argv;
  fuzz_install_allocator();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  memset(&V, 0, sizeof V);
  fuzz_in_t in = {data, size};
  uint8_t control = fuzz_u8(&in);
  unsigned long fail_nth = 0;
  if (control & 0x80)
    fail_nth = 1 + fuzz_u16(&in) % 512;
  long live = fuzz_live();
  V.failing = fail_nth != 0;
  fuzz_fail_nth(fail_nth);

  for (int steps = 0; steps < 256 && fuzz_more(&in); steps++) {
    int op = fuzz_u8(&in) % 16;
    switch (op) {
    case 0: {
      int id = model_new(XF_KIND_VOID);
      if (id >= 0)
        push(xf_value_void(), id);
      break;
    }
    case 1: {
      int id = model_new(XF_KIND_BOOL);
      if (id >= 0) {
        V.models[id].b = fuzz_u8(&in) & 1;
        push(xf_value_bool(V.models[id].b), id);
      }
      break;
    }
    case 2:
    case 3:
      op_push_number(&in, op);
      break;
    case 4:
    case 5:
    case 6:
      op_push_text(&in, op);
      break;
    case 7:
    case 8:
      op_push_container(&in, op == 8);
      break;
    case 9:
    case 10:
      op_push_handle(&in, op == 10);
      break;
    case 11:
      op_push_error(&in);
      break;
    case 12: /* dup */
      if (V.depth > 0) {
        xf_value_t *v = V.stack[V.depth - 1];
        FUZZ_CHECK(xf_value_ref(v) == v);
        push(v, V.smodel[V.depth - 1]);
      }
      break;
    case 13:
      op_compare();
      break;
    case 14: /* pop */
      if (V.depth > 0)
        xf_value_unref(V.stack[--V.depth]);
      break;
    default: /* check the top again: nothing changed under it */
      if (V.depth > 0) {
        seen_gen++;
        check_value(V.stack[V.depth - 1], V.smodel[V.depth - 1]);
      }
      break;
    }
  }
  while (V.depth > 0)
    xf_value_unref(V.stack[--V.depth]);
  fuzz_fail_nth(0);

  fuzz_check_leaks(live);
  for (int t = 0; t < V.ntokens; t++) {
    FUZZ_CHECK(V.dtor_calls[t] == (V.dtor_armed[t] ? 1 : 0));
    FUZZ_CHECK(V.releases[t] == V.retains[t]);
  }
  return 0;
}

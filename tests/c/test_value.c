/* Tests for xf/value.h. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "xf/xf.h"

/* ---- Helpers -------------------------------------------------------------- */

static uint64_t bits_of(double d) {
  uint64_t b;
  memcpy(&b, &d, sizeof b);
  return b;
}

static double double_of(uint64_t b) {
  double d;
  memcpy(&d, &b, sizeof d);
  return d;
}

/* A pointer destructor that counts its calls in the int it is given. */
static void count_dtor(void *p) {
  atomic_fetch_add((atomic_int *) p, 1);
}

/* What the object hooks saw. */
typedef struct hook_log {
  atomic_int retains;
  atomic_int releases;
  void *last_object;
  void *last_data;
} hook_log_t;

static void log_retain(void *object, void *hook_data) {
  hook_log_t *log = hook_data;
  atomic_fetch_add(&log->retains, 1);
  log->last_object = object;
  log->last_data = hook_data;
}

static void log_release(void *object, void *hook_data) {
  hook_log_t *log = hook_data;
  atomic_fetch_add(&log->releases, 1);
  log->last_object = object;
  log->last_data = hook_data;
}

static xf_object_hooks_t logging_hooks(hook_log_t *log) {
  xf_object_hooks_t h = {.sz = sizeof h,
                         .name = "test",
                         .retain = log_retain,
                         .release = log_release,
                         .hook_data = log};
  return h;
}

static xf_value_t *new_int(int64_t i) {
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_int(i, &v), XF_OK);
  return v;
}

static xf_value_t *new_double(double d) {
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_double(d, &v), XF_OK);
  return v;
}

static xf_value_t *new_str(const char *s) {
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_cstring(s, &v), XF_OK);
  return v;
}

static xf_value_t *new_bytes(const void *p, size_t n) {
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_bytes(p, n, &v), XF_OK);
  return v;
}

static xf_value_t *new_list(xf_value_t *const *items, size_t n) {
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_list(items, n, &v), XF_OK);
  return v;
}

static xf_value_t *new_pointer(void *p, xf_free_data_fn dtor) {
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_pointer(p, dtor, &v), XF_OK);
  return v;
}

static xf_value_t *new_error_value(int code, const char *type, const char *msg) {
  xf_error_t *e = NULL;
  ck_assert_int_eq(xf_error_new(code, type, msg, &e), XF_OK);
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_error(e, &v), XF_OK);
  xf_error_unref(e);
  return v;
}

static int64_t get_int(const xf_value_t *v) {
  int64_t i = 0;
  ck_assert_int_eq(xf_value_get_int(v, &i), XF_OK);
  return i;
}

static uint64_t get_double_bits(const xf_value_t *v) {
  double d = 0;
  ck_assert_int_eq(xf_value_get_double(v, &d), XF_OK);
  return bits_of(d);
}

/* ---- Static values -------------------------------------------------------- */

START_TEST(test_void_and_bool) {
  xf_value_t *v = xf_value_void();
  ck_assert_ptr_nonnull(v);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_VOID);
  ck_assert_ptr_eq(xf_value_void(), v);

  bool b = false;
  ck_assert_int_eq(xf_value_kind(xf_value_bool(true)), XF_KIND_BOOL);
  ck_assert_int_eq(xf_value_kind(xf_value_bool(false)), XF_KIND_BOOL);
  ck_assert_int_eq(xf_value_get_bool(xf_value_bool(true), &b), XF_OK);
  ck_assert(b);
  ck_assert_int_eq(xf_value_get_bool(xf_value_bool(false), &b), XF_OK);
  ck_assert(!b);
  ck_assert_ptr_ne(xf_value_bool(true), xf_value_bool(false));
  ck_assert_int_eq(xf_value_get_bool(v, &b), XF_ETYPE);
}
END_TEST

START_TEST(test_static_ref_unref) {
  /* Static values survive any number of unrefs. */
  xf_value_t *statics[] = {xf_value_void(), xf_value_bool(true), xf_value_bool(false)};
  for (size_t i = 0; i < 3; i++) {
    ck_assert_ptr_eq(xf_value_ref(statics[i]), statics[i]);
    for (int k = 0; k < 10; k++)
      xf_value_unref(statics[i]);
  }
  bool b = false;
  ck_assert_int_eq(xf_value_get_bool(xf_value_bool(true), &b), XF_OK);
  ck_assert(b);
  ck_assert_int_eq(xf_value_kind(xf_value_void()), XF_KIND_VOID);
}
END_TEST

START_TEST(test_small_kinds_do_not_allocate) {
  long before = xft_alloc_count();
  xf_value_t *v;
  v = xf_value_void();
  xf_value_unref(xf_value_ref(v));
  v = xf_value_bool(true);
  xf_value_unref(xf_value_ref(v));
  v = xf_value_bool(false);
  xf_value_unref(xf_value_ref(v));
  const int64_t ints[] = {0,
                          1,
                          -1,
                          42,
                          -42,
                          INT32_MAX,
                          INT32_MIN,
                          ((int64_t) 1 << 62) - 1,
                          -((int64_t) 1 << 62)};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    ck_assert_int_eq(xf_value_new_int(ints[i], &v), XF_OK);
    ck_assert_int_eq(get_int(v), ints[i]);
    xf_value_unref(xf_value_ref(v));
    xf_value_unref(v);
  }
  const double doubles[] = {0.0,   0.5,   1.0,  3.14,  -2.5,  1e10,
                            -1e10, 1e-10, 1e75, 1e-75, 100.0, 0.1};
  for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++) {
    ck_assert_int_eq(xf_value_new_double(doubles[i], &v), XF_OK);
    ck_assert(get_double_bits(v) == bits_of(doubles[i]));
    xf_value_unref(xf_value_ref(v));
    xf_value_unref(v);
  }
  ck_assert_int_eq(xft_alloc_count(), before);
}
END_TEST

/* ---- Integers ------------------------------------------------------------- */

static void check_int_round_trip(int64_t i) {
  long live = xft_alloc_live();
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_int(i, &v), XF_OK);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_INT);
  ck_assert_int_eq(get_int(v), i);
  ck_assert_ptr_eq(xf_value_ref(v), v);
  xf_value_unref(v);
  ck_assert_int_eq(get_int(v), i);
  xf_value_t *w = new_int(i);
  ck_assert(xf_value_equal(v, w));
  xf_value_unref(w);
  xf_value_unref(v);
  ck_assert_int_eq(xft_alloc_live(), live);
}

START_TEST(test_int_boundaries) {
  const int64_t edge = (int64_t) 1 << 62;
  const int64_t cases[] = {0,         1,         -1,        edge - 2,      edge - 1,
                           edge,      edge + 1,  -edge + 1, -edge,         -edge - 1,
                           -edge - 2, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check_int_round_trip(cases[i]);
}
END_TEST

START_TEST(test_int_powers_of_two) {
  for (int shift = 0; shift < 63; shift++) {
    int64_t p = (int64_t) 1 << shift;
    check_int_round_trip(p);
    check_int_round_trip(p - 1);
    check_int_round_trip(p + 1);
    check_int_round_trip(-p);
    check_int_round_trip(-p - 1);
    check_int_round_trip(-p + 1);
  }
}
END_TEST

START_TEST(test_int_is_not_double) {
  xf_value_t *big = new_int(INT64_MAX);
  double d;
  ck_assert_int_eq(xf_value_get_double(new_int(7), &d), XF_ETYPE);
  ck_assert_int_eq(xf_value_get_double(big, &d), XF_ETYPE);
  ck_assert(!xf_value_equal(new_int(1), new_double(1.0)));
  xf_value_unref(big);
}
END_TEST

/* ---- Doubles -------------------------------------------------------------- */

/* Hot loops check with plain conditions: every passing Check assertion
 * reports its location to the runner, which would dominate the run time. */
static void check_double_round_trip(uint64_t b) {
  long live = xft_alloc_live();
  xf_value_t *v = NULL;
  double d = 0;
  int rc = xf_value_new_double(double_of(b), &v);
  int kind = xf_value_kind(v);
  int get_rc = xf_value_get_double(v, &d);
  xf_value_unref(v);
  if (rc != XF_OK || kind != XF_KIND_DOUBLE || get_rc != XF_OK || bits_of(d) != b ||
      xft_alloc_live() != live)
    ck_abort_msg("%016llx came back as %016llx (rc %d, kind %d, get %d, live %ld/%ld)",
                 (unsigned long long) b, (unsigned long long) bits_of(d), rc, kind,
                 get_rc, xft_alloc_live(), live);
}

START_TEST(test_double_special_values) {
  const double cases[] = {0.0,     -0.0,     0.5,          1.0,           -1.0,
                          3.14,    -2.5,     1e10,         DBL_MAX,       -DBL_MAX,
                          DBL_MIN, -DBL_MIN, DBL_EPSILON,  INFINITY,      -INFINITY,
                          NAN,     -NAN,     DBL_TRUE_MIN, -DBL_TRUE_MIN, 1e300,
                          1e-300,  1e77,     1e-77};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    check_double_round_trip(bits_of(cases[i]));
  const uint64_t patterns[] = {
      0x0000000000000001u, /* smallest denormal */
      0x000fffffffffffffu, /* largest denormal */
      0x800fffffffffffffu, /* its negative */
      0x7ff0000000000001u, /* signalling NaN */
      0x7ff4000000000000u, /* signalling NaN, another payload */
      0xfff0000000000001u, /* negative signalling NaN */
      0x7ff8000000000001u, /* quiet NaN with a payload */
      0xfffdeadbeefcafe5u, /* negative quiet NaN with a payload */
      0x7fffffffffffffffu, /* the NaN with every bit set */
      0x3000000000000000u, /* 1.7272337110188889e-77 */
      0xb000000000000000u, /* its negative */
      0x3000000000000001u, /* its neighbour */
      0x4000000000001000u, 0x2fffffffffffffffu, 0x3fffffffffffffffu,
      0x4fffffffffffffffu, 0x5000000000000000u, 0x8000000000000000u, /* -0.0 */
  };
  for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
    check_double_round_trip(patterns[i]);
}
END_TEST

START_TEST(test_double_every_exponent) {
  const uint64_t mantissas[] = {0, 1, 0x8000000000000u, 0xfffffffffffffu,
                                0x123456789abcdu};
  for (uint64_t sign = 0; sign < 2; sign++) {
    for (uint64_t e = 0; e < 2048; e++) {
      for (size_t m = 0; m < sizeof mantissas / sizeof mantissas[0]; m++)
        check_double_round_trip(sign << 63 | e << 52 | mantissas[m]);
    }
  }
}
END_TEST

START_TEST(test_double_random_patterns) {
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (int i = 0; i < 100000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    check_double_round_trip(x);
  }
}
END_TEST

START_TEST(test_double_is_not_int) {
  int64_t i;
  xf_value_t *inf = new_double(INFINITY);
  ck_assert_int_eq(xf_value_get_int(new_double(2.0), &i), XF_ETYPE);
  ck_assert_int_eq(xf_value_get_int(inf, &i), XF_ETYPE);
  xf_value_unref(inf);
}
END_TEST

/* ---- Strings and bytes ---------------------------------------------------- */

static void check_string(const char *s, size_t len) {
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_string(s, len, &v), XF_OK);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_STRING);
  const char *got = NULL;
  size_t got_len = 99;
  ck_assert_int_eq(xf_value_get_string(v, &got, &got_len), XF_OK);
  ck_assert_uint_eq(got_len, len);
  if (len)
    ck_assert_mem_eq(got, s, len);
  ck_assert_int_eq(got[len], '\0');
  xf_value_unref(v);
}

START_TEST(test_string_basic) {
  check_string("hello", 5);
  check_string("", 0);
  check_string(NULL, 0);
  check_string("a\0b\0", 4);
  check_string("\0", 1);
  check_string("hello", 3); /* a prefix */

  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_cstring("caf\xc3\xa9", &v), XF_OK);
  const char *s;
  size_t n;
  ck_assert_int_eq(xf_value_get_string(v, &s, &n), XF_OK);
  ck_assert_uint_eq(n, 5);
  ck_assert_str_eq(s, "caf\xc3\xa9");
  xf_value_unref(v);

  ck_assert_int_eq(xf_value_new_cstring("", &v), XF_OK);
  ck_assert_int_eq(xf_value_get_string(v, &s, &n), XF_OK);
  ck_assert_uint_eq(n, 0);
  ck_assert_str_eq(s, "");
  xf_value_unref(v);
}
END_TEST

START_TEST(test_string_is_copied) {
  char buf[] = "mutable";
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_string(buf, 7, &v), XF_OK);
  memset(buf, 'x', 7);
  const char *s;
  size_t n;
  ck_assert_int_eq(xf_value_get_string(v, &s, &n), XF_OK);
  ck_assert_ptr_ne(s, buf);
  ck_assert_str_eq(s, "mutable");
  xf_value_unref(v);
}
END_TEST

START_TEST(test_string_bad_args) {
  xf_value_t *v = (xf_value_t *) 0x1;
  ck_assert_int_eq(xf_value_new_string(NULL, 1, &v), XF_EINVAL);
  ck_assert_ptr_null(v);
  ck_assert_int_eq(xf_value_new_string("x", 1, NULL), XF_EINVAL);
  v = (xf_value_t *) 0x1;
  ck_assert_int_eq(xf_value_new_cstring(NULL, &v), XF_EINVAL);
  ck_assert_ptr_null(v);
  ck_assert_int_eq(xf_value_new_cstring("x", NULL), XF_EINVAL);
}
END_TEST

static int new_string_rc(const char *s, size_t len) {
  long live = xft_alloc_live();
  xf_value_t *v = NULL;
  int rc = xf_value_new_string(s, len, &v);
  if (rc == XF_OK)
    xf_value_unref(v);
  else
    ck_assert_ptr_null(v);
  ck_assert_int_eq(xft_alloc_live(), live);
  return rc;
}

#define VALID(lit)   ck_assert_int_eq(new_string_rc(lit, sizeof(lit) - 1), XF_OK)
#define INVALID(lit) ck_assert_int_eq(new_string_rc(lit, sizeof(lit) - 1), XF_EINVAL)

START_TEST(test_utf8_cases) {
  VALID("\x7f");
  VALID("\xc2\x80");            /* U+0080 */
  VALID("\xdf\xbf");            /* U+07FF */
  VALID("\xe0\xa0\x80");        /* U+0800 */
  VALID("\xed\x9f\xbf");        /* U+D7FF */
  VALID("\xee\x80\x80");        /* U+E000 */
  VALID("\xef\xbf\xbf");        /* U+FFFF */
  VALID("\xef\xbb\xbf");        /* a byte-order mark is a character */
  VALID("\xf0\x90\x80\x80");    /* U+10000 */
  VALID("\xf4\x8f\xbf\xbf");    /* U+10FFFF */
  VALID("\xf0\x9f\x98\x80 ok"); /* an emoji and ASCII */
  VALID("\xe4\xb8\xad\xe6\x96\x87");

  INVALID("\x80"); /* a lone continuation byte */
  INVALID("\xbf");
  INVALID("\xc0\x80");                 /* overlong NUL */
  INVALID("\xc1\xbf");                 /* overlong U+007F */
  INVALID("\xe0\x80\x80");             /* overlong */
  INVALID("\xe0\x9f\xbf");             /* overlong U+07FF */
  INVALID("\xf0\x80\x80\x80");         /* overlong */
  INVALID("\xf0\x8f\xbf\xbf");         /* overlong U+FFFF */
  INVALID("\xed\xa0\x80");             /* U+D800 */
  INVALID("\xed\xbf\xbf");             /* U+DFFF */
  INVALID("\xed\xa0\xbd\xed\xb8\x80"); /* a surrogate pair (CESU-8) */
  INVALID("\xf4\x90\x80\x80");         /* U+110000 */
  INVALID("\xf5\x80\x80\x80");
  INVALID("\xf8\x88\x80\x80\x80"); /* five bytes */
  INVALID("\xfe");
  INVALID("\xff");
  INVALID("\xc3"); /* truncated */
  INVALID("\xe2\x82");
  INVALID("\xf0\x9f\x98");
  INVALID("ok\xc3");   /* truncated at the end */
  INVALID("\xc3\x28"); /* bad continuation */
  INVALID("\xe2\x28\xa1");
  INVALID("\xe2\x82\x28");
  INVALID("\xf0\x28\x8c\xbc");
  INVALID("\xf0\x90\x28\xbc");
  INVALID("\xf0\x90\x8c\x28");
  INVALID("\xc3\xa9\xc3");

  /* The length decides, not a NUL: the invalid byte past len is not read. */
  ck_assert_int_eq(new_string_rc("ab\xff", 2), XF_OK);
  ck_assert_int_eq(new_string_rc("\xc3\xa9", 1), XF_EINVAL);
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_cstring("bad \xff", &v), XF_EINVAL);
  ck_assert_ptr_null(v);
}
END_TEST

/* An independent reading of UTF-8: decode by the bit patterns, then reject
 * what the standard forbids. Returns whether buf[0..n) is valid. */
static bool reference_utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t len;
    uint32_t cp;
    if ((c & 0x80) == 0) {
      len = 1;
      cp = c;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n)
      return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return false;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    static const uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

static void check_against_reference(const unsigned char *s, size_t n) {
  int expected = reference_utf8_valid(s, n) ? XF_OK : XF_EINVAL;
  xf_value_t *v = NULL;
  int rc = xf_value_new_string((const char *) s, n, &v);
  if (rc != expected)
    ck_abort_msg("%02x %02x %02x %02x (%zu bytes): got %d, expected %d", s[0],
                 n > 1 ? s[1] : 0, n > 2 ? s[2] : 0, n > 3 ? s[3] : 0, n, rc, expected);
  xf_value_unref(v);
}

START_TEST(test_utf8_against_reference) {
  unsigned char s[4];
  /* Every sequence of one and two bytes. */
  for (unsigned a = 0; a < 256; a++) {
    s[0] = (unsigned char) a;
    check_against_reference(s, 1);
    for (unsigned b = 0; b < 256; b++) {
      s[1] = (unsigned char) b;
      check_against_reference(s, 2);
    }
  }
  /* Every lead byte from C0 up with every second byte, and third and fourth
   * bytes at the edges of the continuation range. */
  static const unsigned char tails[] = {0x00, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
  for (unsigned a = 0xc0; a < 256; a++) {
    for (unsigned b = 0; b < 256; b++) {
      for (size_t c = 0; c < sizeof tails; c++) {
        s[0] = (unsigned char) a;
        s[1] = (unsigned char) b;
        s[2] = tails[c];
        check_against_reference(s, 3);
        for (size_t d = 0; d < sizeof tails; d++) {
          s[3] = tails[d];
          check_against_reference(s, 4);
        }
      }
    }
  }
}
END_TEST

START_TEST(test_bytes) {
  const unsigned char raw[] = {0x00, 0xff, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0x00};
  xf_value_t *v = new_bytes(raw, sizeof raw);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_BYTES);
  const void *p = NULL;
  size_t n = 0;
  ck_assert_int_eq(xf_value_get_bytes(v, &p, &n), XF_OK);
  ck_assert_uint_eq(n, sizeof raw);
  ck_assert_ptr_ne(p, raw);
  ck_assert_mem_eq(p, raw, sizeof raw);
  const char *s;
  ck_assert_int_eq(xf_value_get_string(v, &s, &n), XF_ETYPE);
  xf_value_unref(v);

  v = new_bytes(NULL, 0);
  ck_assert_int_eq(xf_value_get_bytes(v, &p, &n), XF_OK);
  ck_assert_uint_eq(n, 0);
  xf_value_unref(v);

  v = (xf_value_t *) 0x1;
  ck_assert_int_eq(xf_value_new_bytes(NULL, 3, &v), XF_EINVAL);
  ck_assert_ptr_null(v);
  ck_assert_int_eq(xf_value_new_bytes(raw, 1, NULL), XF_EINVAL);

  v = new_str("abc");
  ck_assert_int_eq(xf_value_get_bytes(v, &p, &n), XF_ETYPE);
  xf_value_unref(v);
}
END_TEST

/* ---- Lists ---------------------------------------------------------------- */

START_TEST(test_list_basic) {
  xf_value_t *s = new_str("two");
  xf_value_t *big = new_int(INT64_MIN);
  xf_value_t *items[] = {new_int(1), s, xf_value_void(), big, new_double(0.25)};
  xf_value_t *l = new_list(items, 5);
  ck_assert_int_eq(xf_value_kind(l), XF_KIND_LIST);
  size_t n = 0;
  ck_assert_int_eq(xf_value_list_len(l, &n), XF_OK);
  ck_assert_uint_eq(n, 5);
  for (size_t i = 0; i < 5; i++) {
    xf_value_t *item = NULL;
    ck_assert_int_eq(xf_value_list_get(l, i, &item), XF_OK);
    ck_assert(xf_value_equal(item, items[i]));
  }
  xf_value_t *item = NULL;
  ck_assert_int_eq(xf_value_list_get(l, 1, &item), XF_OK);
  ck_assert_ptr_eq(item, s); /* the very same string, not a copy */
  ck_assert_int_eq(xf_value_list_get(l, 5, &item), XF_ERANGE);
  ck_assert_int_eq(xf_value_list_get(l, SIZE_MAX, &item), XF_ERANGE);
  xf_value_unref(s);
  xf_value_unref(big);
  xf_value_unref(l);
}
END_TEST

START_TEST(test_list_empty) {
  xf_value_t *a = new_list(NULL, 0);
  xf_value_t *dummy[1] = {NULL};
  xf_value_t *b = new_list(dummy, 0);
  size_t n = 9;
  ck_assert_int_eq(xf_value_list_len(a, &n), XF_OK);
  ck_assert_uint_eq(n, 0);
  xf_value_t *item;
  ck_assert_int_eq(xf_value_list_get(a, 0, &item), XF_ERANGE);
  ck_assert(xf_value_equal(a, b));
  xf_value_unref(a);
  xf_value_unref(b);
}
END_TEST

START_TEST(test_list_holds_references) {
  atomic_int dtor_calls = 0;
  xf_value_t *p = new_pointer(&dtor_calls, count_dtor);
  xf_value_t *l1 = new_list(&p, 1);
  xf_value_t *items[] = {p, p, l1};
  xf_value_t *l2 = new_list(items, 3);
  xf_value_unref(p); /* the lists keep it alive */
  xf_value_unref(l1);
  ck_assert_int_eq(dtor_calls, 0);
  xf_value_t *got = NULL;
  ck_assert_int_eq(xf_value_list_get(l2, 2, &got), XF_OK);
  ck_assert_int_eq(xf_value_list_get(got, 0, &got), XF_OK);
  void *ptr = NULL;
  ck_assert_int_eq(xf_value_get_pointer(got, &ptr), XF_OK);
  ck_assert_ptr_eq(ptr, &dtor_calls);
  xf_value_unref(l2);
  ck_assert_int_eq(dtor_calls, 1);
}
END_TEST

START_TEST(test_list_bad_args) {
  atomic_int dtor_calls = 0;
  long live = xft_alloc_live();
  xf_value_t *p = new_pointer(&dtor_calls, count_dtor);
  xf_value_t *items[] = {p, NULL};
  xf_value_t *l = (xf_value_t *) 0x1;
  ck_assert_int_eq(xf_value_new_list(items, 2, &l), XF_EINVAL);
  ck_assert_ptr_null(l);
  ck_assert_int_eq(xf_value_new_list(NULL, 1, &l), XF_EINVAL);
  ck_assert_int_eq(xf_value_new_list(items, 1, NULL), XF_EINVAL);
  /* The failed calls took no reference: one unref frees the pointer. */
  xf_value_unref(p);
  ck_assert_int_eq(dtor_calls, 1);
  ck_assert_int_eq(xft_alloc_live(), live);
}
END_TEST

#define DEEP 1000000

/* Nests DEEP lists, each holding leaf and the list before it, last. */
static xf_value_t *deep_list(xf_value_t *leaf) {
  xf_value_t *l = new_list(&leaf, 1);
  for (int i = 1; i < DEEP; i++) {
    xf_value_t *pair[] = {leaf, l};
    xf_value_t *next = NULL;
    if (xf_value_new_list(pair, 2, &next) != XF_OK)
      ck_abort_msg("xf_value_new_list failed at depth %d", i);
    xf_value_unref(l);
    l = next;
  }
  return l;
}

START_TEST(test_list_deep) {
  long live = xft_alloc_live();
  atomic_int dtor_calls = 0;
  xf_value_t *leaf = new_pointer(&dtor_calls, count_dtor);
  xf_value_t *a = deep_list(leaf);
  xf_value_t *b = deep_list(leaf);
  xf_value_unref(leaf);
  ck_assert(xf_value_equal(a, b));
  /* Freeing a million levels must not need a million stack frames. */
  xf_value_unref(a);
  ck_assert_int_eq(dtor_calls, 0);
  xf_value_unref(b);
  ck_assert_int_eq(dtor_calls, 1);
  ck_assert_int_eq(xft_alloc_live(), live);
}
END_TEST

/* ---- Pointers ------------------------------------------------------------- */

START_TEST(test_pointer) {
  atomic_int dtor_calls = 0;
  xf_value_t *v = new_pointer(&dtor_calls, count_dtor);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_POINTER);
  void *p = NULL;
  ck_assert_int_eq(xf_value_get_pointer(v, &p), XF_OK);
  ck_assert_ptr_eq(p, &dtor_calls);
  ck_assert_ptr_eq(xf_value_ref(v), v);
  ck_assert_ptr_eq(xf_value_ref(v), v);
  xf_value_unref(v);
  xf_value_unref(v);
  ck_assert_int_eq(dtor_calls, 0);
  xf_value_unref(v);
  ck_assert_int_eq(dtor_calls, 1);
}
END_TEST

START_TEST(test_pointer_without_dtor) {
  int x = 5;
  long live = xft_alloc_live();
  xf_value_t *v = new_pointer(&x, NULL);
  void *p = NULL;
  ck_assert_int_eq(xf_value_get_pointer(v, &p), XF_OK);
  ck_assert_ptr_eq(p, &x);
  xf_value_unref(v);
  ck_assert_int_eq(xft_alloc_live(), live);

  v = new_pointer(NULL, NULL);
  p = &x;
  ck_assert_int_eq(xf_value_get_pointer(v, &p), XF_OK);
  ck_assert_ptr_null(p);
  xf_value_unref(v);
  ck_assert_int_eq(xf_value_new_pointer(&x, NULL, NULL), XF_EINVAL);
}
END_TEST

/* ---- Objects -------------------------------------------------------------- */

START_TEST(test_object) {
  hook_log_t log = {0};
  xf_object_hooks_t hooks = logging_hooks(&log);
  int obj;
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_object(&obj, &hooks, &v), XF_OK);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_OBJECT);
  ck_assert_int_eq(log.retains, 1);
  ck_assert_ptr_eq(log.last_object, &obj);
  ck_assert_ptr_eq(log.last_data, &log);
  ck_assert_int_eq(log.releases, 0);

  void *got = NULL;
  const xf_object_hooks_t *got_hooks = NULL;
  ck_assert_int_eq(xf_value_get_object(v, &got, &got_hooks), XF_OK);
  ck_assert_ptr_eq(got, &obj);
  ck_assert_ptr_eq(got_hooks, &hooks);
  ck_assert_str_eq(got_hooks->name, "test");

  /* References to the value are not references to the object. */
  xf_value_ref(v);
  xf_value_unref(v);
  ck_assert_int_eq(log.retains, 1);
  ck_assert_int_eq(log.releases, 0);

  log.last_object = NULL;
  xf_value_unref(v);
  ck_assert_int_eq(log.retains, 1);
  ck_assert_int_eq(log.releases, 1);
  ck_assert_ptr_eq(log.last_object, &obj);
}
END_TEST

START_TEST(test_object_without_hooks_functions) {
  int obj;
  xf_object_hooks_t hooks = {.sz = sizeof hooks, .name = "bare"};
  long live = xft_alloc_live();
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_object(&obj, &hooks, &v), XF_OK);
  void *got;
  const xf_object_hooks_t *got_hooks;
  ck_assert_int_eq(xf_value_get_object(v, &got, &got_hooks), XF_OK);
  ck_assert_ptr_eq(got, &obj);
  xf_value_unref(v);
  ck_assert_int_eq(xft_alloc_live(), live);
}
END_TEST

START_TEST(test_object_bad_args) {
  hook_log_t log = {0};
  xf_object_hooks_t hooks = logging_hooks(&log);
  int obj;
  xf_value_t *v = (xf_value_t *) 0x1;
  ck_assert_int_eq(xf_value_new_object(&obj, NULL, &v), XF_EINVAL);
  ck_assert_ptr_null(v);
  ck_assert_int_eq(xf_value_new_object(NULL, &hooks, &v), XF_EINVAL);
  ck_assert_int_eq(xf_value_new_object(&obj, &hooks, NULL), XF_EINVAL);
  xf_object_hooks_t unsized = hooks;
  unsized.sz = 0;
  ck_assert_int_eq(xf_value_new_object(&obj, &unsized, &v), XF_EINVAL);
  xf_object_hooks_t nameless = hooks;
  nameless.name = NULL;
  ck_assert_int_eq(xf_value_new_object(&obj, &nameless, &v), XF_EINVAL);
  ck_assert_int_eq(log.retains, 0);
  ck_assert_int_eq(log.releases, 0);
}
END_TEST

/* ---- Error values --------------------------------------------------------- */

START_TEST(test_error_value) {
  xf_error_t *e = NULL;
  ck_assert_int_eq(xf_error_new(XF_ETIMEDOUT, NULL, "late", &e), XF_OK);
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_error(e, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_value_new_error(e, &v), XF_OK);
  xf_error_unref(e); /* the value holds its own reference */
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_ERROR);
  xf_error_t *got = NULL;
  ck_assert_int_eq(xf_value_get_error(v, &got), XF_OK);
  ck_assert_ptr_eq(got, e);
  ck_assert_int_eq(xf_error_code(got), XF_ETIMEDOUT);
  ck_assert_str_eq(xf_error_message(got), "late");
  ck_assert_str_eq(xf_error_type(got), "TimeoutError");
  xf_value_unref(v);

  v = (xf_value_t *) 0x1;
  ck_assert_int_eq(xf_value_new_error(NULL, &v), XF_EINVAL);
  ck_assert_ptr_null(v);
}
END_TEST

START_TEST(test_error_value_frees_payload) {
  atomic_int dtor_calls = 0;
  xf_value_t *payload = new_pointer(&dtor_calls, count_dtor);
  xf_error_t *e = NULL;
  ck_assert_int_eq(xf_error_new_full(XF_EFAILED, "E", "m", NULL, payload, &e), XF_OK);
  xf_value_unref(payload);
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_error(e, &v), XF_OK);
  xf_error_unref(e);
  xf_value_t *l = new_list(&v, 1);
  xf_value_unref(v);
  ck_assert_int_eq(dtor_calls, 0);
  xf_value_unref(l);
  ck_assert_int_eq(dtor_calls, 1);
}
END_TEST

/* ---- Kinds and accessors -------------------------------------------------- */

/* One value of each kind, indexed by kind. */
static void make_one_of_each(xf_value_t *v[10], xf_object_hooks_t *hooks, int *obj) {
  v[XF_KIND_VOID] = xf_value_void();
  v[XF_KIND_BOOL] = xf_value_bool(true);
  v[XF_KIND_INT] = new_int(3);
  v[XF_KIND_DOUBLE] = new_double(3.0);
  v[XF_KIND_STRING] = new_str("3");
  v[XF_KIND_BYTES] = new_bytes("3", 1);
  v[XF_KIND_LIST] = new_list(&v[XF_KIND_INT], 1);
  v[XF_KIND_POINTER] = new_pointer(obj, NULL);
  ck_assert_int_eq(xf_value_new_object(obj, hooks, &v[XF_KIND_OBJECT]), XF_OK);
  v[XF_KIND_ERROR] = new_error_value(XF_EINVAL, NULL, NULL);
}

static void unref_all(xf_value_t *v[10]) {
  for (int k = 0; k < 10; k++)
    xf_value_unref(v[k]);
}

/* Calls the accessor of the given kind on v with valid out-parameters. */
static int access_as(int kind, const xf_value_t *v) {
  bool b;
  int64_t i;
  double d;
  const char *s;
  const void *p;
  size_t n;
  xf_value_t *item;
  void *ptr;
  const xf_object_hooks_t *hooks;
  xf_error_t *e;
  switch (kind) {
  case XF_KIND_BOOL:
    return xf_value_get_bool(v, &b);
  case XF_KIND_INT:
    return xf_value_get_int(v, &i);
  case XF_KIND_DOUBLE:
    return xf_value_get_double(v, &d);
  case XF_KIND_STRING:
    return xf_value_get_string(v, &s, &n);
  case XF_KIND_BYTES:
    return xf_value_get_bytes(v, &p, &n);
  case XF_KIND_LIST: {
    int rc = xf_value_list_len(v, &n);
    int rc2 = xf_value_list_get(v, 0, &item);
    ck_assert_int_eq(rc, rc2);
    return rc;
  }
  case XF_KIND_POINTER:
    return xf_value_get_pointer(v, &ptr);
  case XF_KIND_OBJECT:
    return xf_value_get_object(v, &ptr, &hooks);
  case XF_KIND_ERROR:
    return xf_value_get_error(v, &e);
  default:
    ck_abort_msg("no accessor for kind %d", kind);
    return XF_EINVAL;
  }
}

START_TEST(test_accessor_kinds) {
  int obj;
  xf_object_hooks_t hooks = {.sz = sizeof hooks, .name = "test"};
  xf_value_t *v[10];
  make_one_of_each(v, &hooks, &obj);
  for (int k = 0; k < 10; k++) {
    ck_assert_int_eq(xf_value_kind(v[k]), k);
    for (int a = XF_KIND_BOOL; a < 10; a++) {
      int expected = a == k ? XF_OK : XF_ETYPE;
      ck_assert_msg(access_as(a, v[k]) == expected, "accessor %d on kind %d", a, k);
    }
  }
  /* Big integers and heap doubles answer like small ones. */
  xf_value_t *big = new_int(INT64_MAX), *inf = new_double(INFINITY);
  for (int a = XF_KIND_BOOL; a < 10; a++) {
    ck_assert_int_eq(access_as(a, big), a == XF_KIND_INT ? XF_OK : XF_ETYPE);
    ck_assert_int_eq(access_as(a, inf), a == XF_KIND_DOUBLE ? XF_OK : XF_ETYPE);
  }
  xf_value_unref(big);
  xf_value_unref(inf);
  unref_all(v);
}
END_TEST

START_TEST(test_accessor_null_args) {
  int obj;
  xf_object_hooks_t hooks = {.sz = sizeof hooks, .name = "test"};
  xf_value_t *v[10];
  make_one_of_each(v, &hooks, &obj);
  ck_assert_int_eq(xf_value_kind(NULL), XF_EINVAL);
  for (int a = XF_KIND_BOOL; a < 10; a++)
    ck_assert_int_eq(access_as(a, NULL), XF_EINVAL);

  const char *s;
  const void *p;
  size_t n;
  void *ptr;
  const xf_object_hooks_t *h;
  ck_assert_int_eq(xf_value_get_bool(v[XF_KIND_BOOL], NULL), XF_EINVAL);
  ck_assert_int_eq(xf_value_get_int(v[XF_KIND_INT], NULL), XF_EINVAL);
  ck_assert_int_eq(xf_value_get_double(v[XF_KIND_DOUBLE], NULL), XF_EINVAL);
  ck_assert_int_eq(xf_value_get_string(v[XF_KIND_STRING], NULL, &n), XF_EINVAL);
  ck_assert_int_eq(xf_value_get_string(v[XF_KIND_STRING], &s, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_value_get_bytes(v[XF_KIND_BYTES], NULL, &n), XF_EINVAL);
  ck_assert_int_eq(xf_value_get_bytes(v[XF_KIND_BYTES], &p, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_value_list_len(v[XF_KIND_LIST], NULL), XF_EINVAL);
  ck_assert_int_eq(xf_value_list_get(v[XF_KIND_LIST], 0, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_value_get_pointer(v[XF_KIND_POINTER], NULL), XF_EINVAL);
  ck_assert_int_eq(xf_value_get_object(v[XF_KIND_OBJECT], NULL, &h), XF_EINVAL);
  ck_assert_int_eq(xf_value_get_object(v[XF_KIND_OBJECT], &ptr, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_value_get_error(v[XF_KIND_ERROR], NULL), XF_EINVAL);
  ck_assert_int_eq(xf_value_new_int(1, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_value_new_int(INT64_MAX, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_value_new_double(1.0, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_value_new_double(NAN, NULL), XF_EINVAL);

  /* NULL is a no-op for ref and unref. */
  ck_assert_ptr_null(xf_value_ref(NULL));
  xf_value_unref(NULL);
  unref_all(v);
}
END_TEST

/* ---- Equality ------------------------------------------------------------- */

START_TEST(test_equal_across_kinds) {
  int obj;
  xf_object_hooks_t hooks = {.sz = sizeof hooks, .name = "test"};
  xf_value_t *v[10], *w[10];
  make_one_of_each(v, &hooks, &obj);
  make_one_of_each(w, &hooks, &obj);
  for (int a = 0; a < 10; a++) {
    ck_assert(!xf_value_equal(v[a], NULL));
    ck_assert(!xf_value_equal(NULL, v[a]));
    for (int b = 0; b < 10; b++) {
      ck_assert_msg(xf_value_equal(v[a], w[b]) == (a == b), "kinds %d and %d", a, b);
      ck_assert_msg(xf_value_equal(v[a], v[b]) == (a == b), "kinds %d and %d", a, b);
    }
  }
  ck_assert(!xf_value_equal(NULL, NULL));
  unref_all(v);
  unref_all(w);
}
END_TEST

START_TEST(test_equal_scalars) {
  ck_assert(xf_value_equal(xf_value_bool(true), xf_value_bool(true)));
  ck_assert(!xf_value_equal(xf_value_bool(true), xf_value_bool(false)));
  ck_assert(xf_value_equal(xf_value_void(), xf_value_void()));

  xf_value_t *big1 = new_int(INT64_MAX), *big2 = new_int(INT64_MAX);
  xf_value_t *big3 = new_int(INT64_MIN);
  ck_assert(xf_value_equal(big1, big2));
  ck_assert(!xf_value_equal(big1, big3));
  ck_assert(!xf_value_equal(big1, new_int(1)));
  ck_assert(!xf_value_equal(new_int(2), new_int(1)));
  ck_assert(xf_value_equal(new_int(-5), new_int(-5)));

  xf_value_t *nan1 = new_double(NAN), *nan2 = new_double(-NAN);
  xf_value_t *nz = new_double(-0.0), *inf = new_double(INFINITY);
  ck_assert(xf_value_equal(nan1, nan1));
  ck_assert(xf_value_equal(nan1, nan2));
  ck_assert(!xf_value_equal(nan1, new_double(1.0)));
  ck_assert(xf_value_equal(nz, new_double(0.0)));
  ck_assert(!xf_value_equal(inf, nz));
  ck_assert(xf_value_equal(new_double(0.5), new_double(0.5)));
  ck_assert(!xf_value_equal(new_double(0.5), new_double(0.25)));
  xf_value_t *values[] = {big1, big2, big3, nan1, nan2, nz, inf};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
    xf_value_unref(values[i]);
}
END_TEST

START_TEST(test_equal_strings_and_bytes) {
  xf_value_t *a = new_str("abc"), *b = new_str("abc"), *c = new_str("abd");
  xf_value_t *d = new_str("ab"), *e = new_bytes("abc", 3), *f = new_bytes("abc", 3);
  xf_value_t *nul1 = NULL, *nul2 = NULL;
  ck_assert_int_eq(xf_value_new_string("a\0b", 3, &nul1), XF_OK);
  ck_assert_int_eq(xf_value_new_string("a\0c", 3, &nul2), XF_OK);
  ck_assert(xf_value_equal(a, b));
  ck_assert(!xf_value_equal(a, c));
  ck_assert(!xf_value_equal(a, d));
  ck_assert(!xf_value_equal(d, a));
  ck_assert(!xf_value_equal(a, e)); /* a string is not bytes */
  ck_assert(xf_value_equal(e, f));
  ck_assert(!xf_value_equal(nul1, nul2)); /* compared past the NUL */
  xf_value_t *values[] = {a, b, c, d, e, f, nul1, nul2};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
    xf_value_unref(values[i]);
}
END_TEST

START_TEST(test_equal_lists) {
  xf_value_t *s1 = new_str("x"), *s2 = new_str("x"), *s3 = new_str("y");
  xf_value_t *a_items[] = {new_int(1), s1}, *b_items[] = {new_int(1), s2};
  xf_value_t *c_items[] = {new_int(1), s3};
  xf_value_t *a = new_list(a_items, 2), *b = new_list(b_items, 2),
             *c = new_list(c_items, 2);
  xf_value_t *shorter = new_list(a_items, 1);
  ck_assert(xf_value_equal(a, b));
  ck_assert(!xf_value_equal(a, c));
  ck_assert(!xf_value_equal(a, shorter));
  ck_assert(!xf_value_equal(shorter, a));
  xf_value_t *na = new_list(&a, 1), *nb = new_list(&b, 1), *nc = new_list(&c, 1);
  ck_assert(xf_value_equal(na, nb));
  ck_assert(!xf_value_equal(na, nc));
  /* A difference before the last item counts too. */
  xf_value_t *x_items[] = {c, a}, *y_items[] = {a, a};
  xf_value_t *x = new_list(x_items, 2), *y = new_list(y_items, 2);
  ck_assert(!xf_value_equal(x, y));
  xf_value_t *values[] = {s1, s2, s3, a, b, c, shorter, na, nb, nc, x, y};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
    xf_value_unref(values[i]);
}
END_TEST

START_TEST(test_equal_identity_kinds) {
  int x, y;
  xf_value_t *p1 = new_pointer(&x, NULL), *p2 = new_pointer(&x, NULL);
  xf_value_t *p3 = new_pointer(&y, NULL);
  ck_assert(xf_value_equal(p1, p2));
  ck_assert(!xf_value_equal(p1, p3));

  xf_object_hooks_t h1 = {.sz = sizeof h1, .name = "one"};
  xf_object_hooks_t h2 = {.sz = sizeof h2, .name = "two"};
  xf_value_t *o1, *o2, *o3, *o4;
  ck_assert_int_eq(xf_value_new_object(&x, &h1, &o1), XF_OK);
  ck_assert_int_eq(xf_value_new_object(&x, &h1, &o2), XF_OK);
  ck_assert_int_eq(xf_value_new_object(&y, &h1, &o3), XF_OK);
  ck_assert_int_eq(xf_value_new_object(&x, &h2, &o4), XF_OK);
  ck_assert(xf_value_equal(o1, o2));
  ck_assert(!xf_value_equal(o1, o3));
  ck_assert(!xf_value_equal(o1, o4));
  ck_assert(!xf_value_equal(o1, p1));

  xf_value_t *e1 = new_error_value(XF_EFAILED, "KeyError", "k");
  xf_value_t *e2 = new_error_value(XF_EFAILED, "KeyError", "k");
  xf_value_t *e3 = new_error_value(XF_EFAILED, "KeyError", "j");
  xf_value_t *e4 = new_error_value(XF_EFAILED, "IndexError", "k");
  xf_value_t *e5 = new_error_value(XF_ETIMEDOUT, "KeyError", "k");
  ck_assert(xf_value_equal(e1, e2));
  ck_assert(!xf_value_equal(e1, e3));
  ck_assert(!xf_value_equal(e1, e4));
  ck_assert(!xf_value_equal(e1, e5));
  xf_value_t *values[] = {p1, p2, p3, o1, o2, o3, o4, e1, e2, e3, e4, e5};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
    xf_value_unref(values[i]);
}
END_TEST

/* ---- Maps ---------------------------------------------------------------- */

START_TEST(test_map_basics) {
  xf_value_t *keys[] = {new_str("a"), new_int(2), xf_value_bool(true)};
  xf_value_t *vals[] = {new_int(1), new_str("two"), xf_value_void()};
  xf_value_t *m = NULL;
  ck_assert_int_eq(xf_value_new_map(keys, vals, 3, &m), XF_OK);
  ck_assert_int_eq(xf_value_kind(m), XF_KIND_MAP);
  size_t n = 0;
  ck_assert_int_eq(xf_value_map_len(m, &n), XF_OK);
  ck_assert_uint_eq(n, 3);
  /* Pairs come back in the order given, as the same values. */
  for (size_t i = 0; i < 3; i++) {
    xf_value_t *k = NULL, *v = NULL;
    ck_assert_int_eq(xf_value_map_get(m, i, &k, &v), XF_OK);
    ck_assert(xf_value_equal(k, keys[i]));
    ck_assert(xf_value_equal(v, vals[i]));
  }
  xf_value_t *k = NULL, *v = NULL;
  ck_assert_int_eq(xf_value_map_get(m, 3, &k, &v), XF_ERANGE);
  ck_assert_int_eq(xf_value_map_get(m, 0, NULL, &v), XF_EINVAL);
  /* Lookup by an equal key, not only the same handle. */
  xf_value_t *probe = new_str("a");
  ck_assert_int_eq(xf_value_map_find(m, probe, &v), XF_OK);
  ck_assert(xf_value_equal(v, vals[0]));
  xf_value_unref(probe);
  ck_assert_int_eq(xf_value_map_find(m, xf_value_bool(false), &v), XF_ERANGE);
  ck_assert_int_eq(xf_value_map_find(m, NULL, &v), XF_EINVAL);
  /* The map holds its own references. */
  for (size_t i = 0; i < 3; i++) {
    xf_value_unref(keys[i]);
    xf_value_unref(vals[i]);
  }
  ck_assert_int_eq(xf_value_map_get(m, 1, &k, &v), XF_OK);
  const char *str = NULL;
  size_t len = 0;
  ck_assert_int_eq(xf_value_get_string(v, &str, &len), XF_OK);
  ck_assert_str_eq(str, "two");
  /* A map is not a list, and a list is not a map. */
  ck_assert_int_eq(xf_value_list_len(m, &n), XF_ETYPE);
  xf_value_t *empty = NULL;
  ck_assert_int_eq(xf_value_new_map(NULL, NULL, 0, &empty), XF_OK);
  ck_assert_int_eq(xf_value_map_len(empty, &n), XF_OK);
  ck_assert_uint_eq(n, 0);
  xf_value_t *list = NULL;
  ck_assert_int_eq(xf_value_new_list(NULL, 0, &list), XF_OK);
  ck_assert_int_eq(xf_value_map_len(list, &n), XF_ETYPE);
  ck_assert(!xf_value_equal(list, empty));
  xf_value_unref(list);
  xf_value_unref(empty);
  xf_value_unref(m);
}
END_TEST

START_TEST(test_map_bad_input) {
  xf_value_t *one = new_int(1);
  xf_value_t *keys[] = {one, NULL};
  xf_value_t *vals[] = {one, one};
  xf_value_t *m = (xf_value_t *) 0x1;
  ck_assert_int_eq(xf_value_new_map(keys, vals, 2, &m), XF_EINVAL);
  ck_assert_ptr_null(m);
  ck_assert_int_eq(xf_value_new_map(NULL, vals, 1, &m), XF_EINVAL);
  ck_assert_int_eq(xf_value_new_map(keys, NULL, 1, &m), XF_EINVAL);
  ck_assert_int_eq(xf_value_new_map(keys, vals, 1, NULL), XF_EINVAL);
  /* A count whose pairs cannot be sized fails before any key is read. */
  ck_assert_int_eq(xf_value_new_map(keys, vals, SIZE_MAX / 2, &m), XF_ENOMEM);
  xf_value_unref(one);
}
END_TEST

START_TEST(test_map_equal_any_order) {
  xf_value_t *a = new_str("a"), *b = new_str("b"), *one = new_int(1), *two = new_int(2);
  xf_value_t *k1[] = {a, b}, *v1[] = {one, two};
  xf_value_t *k2[] = {b, a}, *v2[] = {two, one};
  xf_value_t *v3[] = {two, two};
  xf_value_t *m1 = NULL, *m2 = NULL, *m3 = NULL, *m4 = NULL;
  ck_assert_int_eq(xf_value_new_map(k1, v1, 2, &m1), XF_OK);
  ck_assert_int_eq(xf_value_new_map(k2, v2, 2, &m2), XF_OK);
  ck_assert_int_eq(xf_value_new_map(k1, v3, 2, &m3), XF_OK);
  ck_assert_int_eq(xf_value_new_map(k1, v1, 1, &m4), XF_OK);
  ck_assert(xf_value_equal(m1, m2));
  ck_assert(xf_value_equal(m2, m1));
  ck_assert(!xf_value_equal(m1, m3));
  ck_assert(!xf_value_equal(m1, m4));
  xf_value_t *items[] = {m1};
  xf_value_t *nested1 = NULL, *nested2 = NULL;
  ck_assert_int_eq(xf_value_new_list(items, 1, &nested1), XF_OK);
  items[0] = m2;
  ck_assert_int_eq(xf_value_new_list(items, 1, &nested2), XF_OK);
  ck_assert(xf_value_equal(nested1, nested2));
  xf_value_t *all[] = {a, b, one, two, m1, m2, m3, m4, nested1, nested2};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    xf_value_unref(all[i]);
}
END_TEST

/* A map with a repeated key equals itself and a copy of it. */
START_TEST(test_map_equal_repeated_keys) {
  int token = 0;
  xf_value_t *p = NULL;
  ck_assert_int_eq(xf_value_new_pointer(&token, NULL, &p), XF_OK);
  xf_value_t *keys[] = {xf_value_void(), xf_value_void()};
  xf_value_t *vals[] = {xf_value_void(), p};
  xf_value_t *m1 = NULL, *m2 = NULL;
  ck_assert_int_eq(xf_value_new_map(keys, vals, 2, &m1), XF_OK);
  ck_assert_int_eq(xf_value_new_map(keys, vals, 2, &m2), XF_OK);
  ck_assert(xf_value_equal(m1, m1));
  ck_assert(xf_value_equal(m1, m2));
  ck_assert(xf_value_equal(m2, m1));
  xf_value_unref(m1);
  xf_value_unref(m2);
  xf_value_unref(p);
}
END_TEST

/* ---- Canonical text ------------------------------------------------------- */

static void assert_repr(xf_value_t *v, const char *want) {
  char buf[256];
  size_t n = xf_value_repr(v, buf, sizeof buf);
  ck_assert_str_eq(buf, want);
  ck_assert_uint_eq(n, strlen(want));
}

START_TEST(test_repr_scalars) {
  assert_repr(xf_value_void(), "none");
  assert_repr(xf_value_bool(true), "true");
  assert_repr(xf_value_bool(false), "false");
  const struct {
    int64_t i;
    const char *text;
  } ints[] = {{0, "0"},
              {-5, "-5"},
              {INT64_MAX, "9223372036854775807"},
              {INT64_MIN, "-9223372036854775808"},
              {((int64_t) 1 << 53) + 1, "9007199254740993"}};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    xf_value_t *v = new_int(ints[i].i);
    assert_repr(v, ints[i].text);
    xf_value_unref(v);
  }
  const struct {
    double d;
    const char *text;
  } doubles[] = {{1.0, "1.0"},      {0.1, "0.1"},
                 {-0.0, "-0.0"},    {0.0, "0.0"},
                 {1e300, "1e+300"}, {NAN, "nan"},
                 {INFINITY, "inf"}, {-INFINITY, "-inf"},
                 {2.5, "2.5"},      {1.0 / 3, "0.3333333333333333"}};
  for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++) {
    xf_value_t *v = NULL;
    ck_assert_int_eq(xf_value_new_double(doubles[i].d, &v), XF_OK);
    assert_repr(v, doubles[i].text);
    xf_value_unref(v);
  }
  xf_value_t *s = NULL;
  ck_assert_int_eq(xf_value_new_string("a\0\"\\\n\x01\xc3\xa9", 8, &s), XF_OK);
  assert_repr(s, "\"a\\u0000\\\"\\\\\\n\\u0001\xc3\xa9\"");
  xf_value_unref(s);
  xf_value_t *b = NULL;
  ck_assert_int_eq(xf_value_new_bytes("\x00\xff\x10", 3, &b), XF_OK);
  assert_repr(b, "b\"00ff10\"");
  xf_value_unref(b);
  ck_assert_int_eq(xf_value_new_bytes(NULL, 0, &b), XF_OK);
  assert_repr(b, "b\"\"");
  xf_value_unref(b);
  assert_repr(NULL, "invalid");
}
END_TEST

START_TEST(test_repr_containers) {
  xf_value_t *one = new_int(1), *s = new_str("k"), *err_v = NULL, *list = NULL,
             *map = NULL;
  xf_error_t *err = NULL;
  ck_assert_int_eq(xf_error_new(XF_ETIMEDOUT, NULL, "too slow", &err), XF_OK);
  ck_assert_int_eq(xf_value_new_error(err, &err_v), XF_OK);
  xf_value_t *items[] = {one, s, err_v};
  ck_assert_int_eq(xf_value_new_list(items, 3, &list), XF_OK);
  xf_value_t *keys[] = {s, one};
  xf_value_t *vals[] = {list, xf_value_void()};
  ck_assert_int_eq(xf_value_new_map(keys, vals, 2, &map), XF_OK);
  assert_repr(map, "{\"k\": [1, \"k\", error(TimeoutError: too slow)], 1: none}");
  /* snprintf's contract: a short buffer gets a truncated, terminated text
   * and the return value is the length of the whole. */
  char small[5];
  ck_assert_uint_eq(xf_value_repr(map, small, sizeof small), 55);
  ck_assert_str_eq(small, "{\"k\"");
  ck_assert_uint_eq(xf_value_repr(map, NULL, 0), 55);
  xf_value_t *all[] = {one, s, err_v, list, map};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    xf_value_unref(all[i]);
  xf_error_unref(err);
}
END_TEST

/* Two values built alike, each sharing its items (2^64 leaves), compare in
 * about as many steps as they have lists; a difference at the bottom is
 * still seen. */
START_TEST(test_equal_shared_items) {
  xf_value_t *x = xf_value_void(), *y = xf_value_void(), *z = xf_value_bool(true);
  for (int i = 0; i < 64; i++) {
    xf_value_t *next[3];
    xf_value_t *xs[] = {x, x}, *ys[] = {y, y}, *zs[] = {z, z};
    ck_assert_int_eq(xf_value_new_list(xs, 2, &next[0]), XF_OK);
    ck_assert_int_eq(xf_value_new_list(ys, 2, &next[1]), XF_OK);
    ck_assert_int_eq(xf_value_new_list(zs, 2, &next[2]), XF_OK);
    xf_value_unref(x);
    xf_value_unref(y);
    xf_value_unref(z);
    x = next[0];
    y = next[1];
    z = next[2];
  }
  ck_assert(xf_value_equal(x, y));
  ck_assert(!xf_value_equal(x, z));
  xf_value_unref(x);
  xf_value_unref(y);
  xf_value_unref(z);
}
END_TEST

/* The same for maps, which search among their pairs when the orders
 * differ: each level holds the one below twice, once inside a list, with
 * the keys in the other order on one side, and the comparison still takes
 * about as many steps as there are levels. */
static xf_value_t *shared_map_level(xf_value_t *below, bool swapped) {
  xf_value_t *pair[] = {below, below}, *list, *map;
  ck_assert_int_eq(xf_value_new_list(pair, 2, &list), XF_OK);
  xf_value_t *ka, *kb;
  ck_assert_int_eq(xf_value_new_cstring("a", &ka), XF_OK);
  ck_assert_int_eq(xf_value_new_cstring("b", &kb), XF_OK);
  xf_value_t *keys[] = {swapped ? kb : ka, swapped ? ka : kb};
  xf_value_t *vals[] = {swapped ? below : list, swapped ? list : below};
  ck_assert_int_eq(xf_value_new_map(keys, vals, 2, &map), XF_OK);
  xf_value_unref(ka);
  xf_value_unref(kb);
  xf_value_unref(list);
  return map;
}

START_TEST(test_equal_shared_maps) {
  xf_value_t *x, *y, *z;
  ck_assert_int_eq(xf_value_new_int(1, &x), XF_OK);
  ck_assert_int_eq(xf_value_new_int(1, &y), XF_OK);
  ck_assert_int_eq(xf_value_new_int(2, &z), XF_OK);
  for (int i = 0; i < 48; i++) {
    xf_value_t *nx = shared_map_level(x, false), *ny = shared_map_level(y, true),
               *nz = shared_map_level(z, i % 2 == 0);
    xf_value_unref(x);
    xf_value_unref(y);
    xf_value_unref(z);
    x = nx;
    y = ny;
    z = nz;
  }
  ck_assert(xf_value_equal(x, y));
  ck_assert(xf_value_equal(y, x));
  ck_assert(!xf_value_equal(x, z));
  ck_assert(!xf_value_equal(z, y));
  xf_value_unref(x);
  xf_value_unref(y);
  xf_value_unref(z);
}
END_TEST

/* A value that shares its items has a text far larger than itself: the
 * text stops below 1 MiB, quickly, and says it was cut. */
START_TEST(test_repr_shared_items) {
  xf_value_t *v = xf_value_void();
  for (int i = 0; i < 64; i++) {
    xf_value_t *items[] = {v, v};
    xf_value_t *next = NULL;
    ck_assert_int_eq(xf_value_new_list(items, 2, &next), XF_OK);
    xf_value_unref(v);
    v = next;
  }
  size_t len = xf_value_repr(v, NULL, 0);
  ck_assert_uint_lt(len, (size_t) 1 << 20);
  char *text = malloc(len + 1);
  ck_assert_ptr_nonnull(text);
  ck_assert_uint_eq(xf_value_repr(v, text, len + 1), len);
  ck_assert_uint_eq(strlen(text), len);
  ck_assert_str_eq(text + len - 3, "...");
  ck_assert(strncmp(text, "[[[[", 4) == 0);
  free(text);
  xf_value_unref(v);
}
END_TEST

START_TEST(test_repr_deep) {
  xf_value_t *v = xf_value_void();
  for (int i = 0; i < 300; i++) {
    xf_value_t *next = NULL;
    ck_assert_int_eq(xf_value_new_list(&v, 1, &next), XF_OK);
    xf_value_unref(v);
    v = next;
  }
  char buf[1024];
  size_t n = xf_value_repr(v, buf, sizeof buf);
  ck_assert_uint_eq(n, 256 * 2 + 5);
  ck_assert(strstr(buf, "[...]") != NULL);
  xf_value_unref(v);
}
END_TEST

/* ---- Allocation failures -------------------------------------------------- */

START_TEST(test_enomem_numbers) {
  const int64_t ints[] = {INT64_MAX, INT64_MIN, (int64_t) 1 << 62,
                          -((int64_t) 1 << 62) - 1};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    XFT_FOR_EACH_ALLOC_FAILURE(n) {
      xf_value_t *v = (xf_value_t *) 0x1;
      int rc = xf_value_new_int(ints[i], &v);
      if (rc == XF_ENOMEM) {
        ck_assert_ptr_null(v);
        continue;
      }
      ck_assert_int_eq(rc, XF_OK);
      ck_assert_int_eq(get_int(v), ints[i]);
      xf_value_unref(v);
    }
  }
  const double doubles[] = {INFINITY, NAN, -0.0, DBL_MAX, DBL_MIN, DBL_TRUE_MIN};
  for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++) {
    XFT_FOR_EACH_ALLOC_FAILURE(n) {
      xf_value_t *v = (xf_value_t *) 0x1;
      int rc = xf_value_new_double(doubles[i], &v);
      if (rc == XF_ENOMEM) {
        ck_assert_ptr_null(v);
        continue;
      }
      ck_assert_int_eq(rc, XF_OK);
      ck_assert(get_double_bits(v) == bits_of(doubles[i]));
      xf_value_unref(v);
    }
  }
}
END_TEST

START_TEST(test_enomem_strings) {
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_value_t *v = (xf_value_t *) 0x1;
    int rc = xf_value_new_string("a\0b", 3, &v);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(v);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    xf_value_unref(v);
  }
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_value_t *v = (xf_value_t *) 0x1;
    int rc = xf_value_new_cstring("", &v);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(v);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    xf_value_unref(v);
  }
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_value_t *v = (xf_value_t *) 0x1;
    int rc = xf_value_new_bytes("\xff\x00", 2, &v);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(v);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    xf_value_unref(v);
  }
}
END_TEST

START_TEST(test_enomem_list) {
  atomic_int dtor_calls = 0;
  xf_value_t *p = new_pointer(&dtor_calls, count_dtor);
  xf_value_t *s = new_str("s");
  xf_value_t *items[] = {p, s, new_int(INT64_MAX), xf_value_bool(false)};
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_value_t *v = (xf_value_t *) 0x1;
    int rc = xf_value_new_list(items, 4, &v);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(v);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    xf_value_unref(v);
  }
  ck_assert_int_eq(dtor_calls, 0);
  for (size_t i = 0; i < 4; i++)
    xf_value_unref(items[i]);
  ck_assert_int_eq(dtor_calls, 1);
}
END_TEST

START_TEST(test_enomem_map) {
  xf_value_t *k = new_str("key");
  xf_value_t *keys[] = {k, new_int(7)};
  xf_value_t *vals[] = {new_str("v"), xf_value_void()};
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_value_t *v = (xf_value_t *) 0x1;
    int rc = xf_value_new_map(keys, vals, 2, &v);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(v);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    xf_value_unref(v);
  }
  for (size_t i = 0; i < 2; i++) {
    xf_value_unref(keys[i]);
    xf_value_unref(vals[i]);
  }
}
END_TEST

START_TEST(test_enomem_pointer) {
  atomic_int dtor_calls = 0;
  int successes = 0;
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_value_t *v = (xf_value_t *) 0x1;
    int rc = xf_value_new_pointer(&dtor_calls, count_dtor, &v);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(v);
      ck_assert_int_eq(dtor_calls, successes); /* the caller still owns it */
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    xf_value_unref(v);
    successes++;
  }
  ck_assert_int_eq(dtor_calls, successes);
}
END_TEST

START_TEST(test_enomem_object) {
  hook_log_t log = {0};
  xf_object_hooks_t hooks = logging_hooks(&log);
  int obj;
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_value_t *v = (xf_value_t *) 0x1;
    int rc = xf_value_new_object(&obj, &hooks, &v);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(v);
      ck_assert_int_eq(log.retains, log.releases);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    ck_assert_int_eq(log.retains, log.releases + 1);
    xf_value_unref(v);
  }
  ck_assert_int_eq(log.retains, log.releases);
}
END_TEST

START_TEST(test_enomem_error_value) {
  atomic_int dtor_calls = 0;
  xf_value_t *payload = new_pointer(&dtor_calls, count_dtor);
  xf_error_t *e = NULL;
  ck_assert_int_eq(xf_error_new_full(XF_EFAILED, NULL, NULL, NULL, payload, &e), XF_OK);
  xf_value_unref(payload);
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_value_t *v = (xf_value_t *) 0x1;
    int rc = xf_value_new_error(e, &v);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(v);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    xf_value_unref(v);
  }
  /* No pass left a reference behind: dropping the caller's frees the error
   * and with it the payload. */
  ck_assert_int_eq(dtor_calls, 0);
  xf_error_unref(e);
  ck_assert_int_eq(dtor_calls, 1);
}
END_TEST

/* ---- Threads -------------------------------------------------------------- */

#define THREADS 8
#define ROUNDS  20000

/* Each thread owns one reference to the shared value on entry and drops it
 * on exit; in between it takes and drops references and builds lists around
 * the value. Whichever thread ends last frees it. */
static void *hammer(void *arg) {
  xf_value_t *v = arg;
  for (int i = 0; i < ROUNDS; i++) {
    xf_value_unref(xf_value_ref(v));
    if (i % 16 == 0) {
      xf_value_t *l = NULL;
      ck_assert_int_eq(xf_value_new_list(&v, 1, &l), XF_OK);
      xf_value_t *item = NULL;
      ck_assert_int_eq(xf_value_list_get(l, 0, &item), XF_OK);
      ck_assert_ptr_eq(item, v);
      xf_value_unref(l);
    }
  }
  xf_value_unref(v);
  return NULL;
}

START_TEST(test_threads_share_values) {
  atomic_int dtor_calls = 0;
  xf_value_t *p = new_pointer(&dtor_calls, count_dtor);
  xf_value_t *s = new_str("shared");
  xf_value_t *items[] = {p, s};
  xf_value_t *l = new_list(items, 2);
  xf_value_unref(p);
  xf_value_unref(s);
  xf_value_t *shared[] = {l, p, s};
  pthread_t threads[THREADS];
  for (int t = 0; t < THREADS; t++) {
    xf_value_t *v = xf_value_ref(shared[t % 3]);
    ck_assert_int_eq(pthread_create(&threads[t], NULL, hammer, v), 0);
  }
  xf_value_unref(l); /* the threads now hold the only references */
  for (int t = 0; t < THREADS; t++)
    ck_assert_int_eq(pthread_join(threads[t], NULL), 0);
  ck_assert_int_eq(dtor_calls, 1);
}
END_TEST

/* ---- Suite ---------------------------------------------------------------- */

/* ---- Owner-thread release --------------------------------------------- */

/* What an owned object's release saw: how often it ran, and whether it ran
 * where it had to (the thread `expect`, seeing xf_loop_current() equal to
 * `expect_loop`). */
typedef struct owner_log {
  atomic_int releases;
  atomic_int misplaced;
  pthread_t expect;
  xf_loop_t *expect_loop;
} owner_log_t;

static void owner_release(void *object, void *hook_data) {
  (void) object;
  owner_log_t *log = hook_data;
  if (!pthread_equal(pthread_self(), log->expect) ||
      xf_loop_current() != log->expect_loop)
    atomic_fetch_add(&log->misplaced, 1);
  atomic_fetch_add(&log->releases, 1);
}

static void owner_log_init(owner_log_t *log, xf_loop_t *expect_loop) {
  atomic_init(&log->releases, 0);
  atomic_init(&log->misplaced, 0);
  log->expect = pthread_self();
  log->expect_loop = expect_loop;
}

static xf_object_hooks_t owner_hooks(owner_log_t *log, xf_loop_t *owner) {
  xf_object_hooks_t h = {.sz = sizeof h,
                         .name = "owned",
                         .release = owner_release,
                         .hook_data = log,
                         .owner = owner};
  return h;
}

static xf_value_t *new_object(void *object, const xf_object_hooks_t *hooks) {
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_object(object, hooks, &v), XF_OK);
  return v;
}

/* A thread that drops the values it is given; with `expect_self` it first
 * names itself as the thread the release must run on. */
typedef struct dropper {
  xf_value_t **values;
  int n;
  owner_log_t *log;
  bool expect_self;
} dropper_t;

static void *dropper_main(void *arg) {
  dropper_t *d = arg;
  if (d->expect_self)
    d->log->expect = pthread_self();
  for (int i = 0; i < d->n; i++)
    xf_value_unref(d->values[i]);
  return NULL;
}

static void drop_on_another_thread(dropper_t *d) {
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, dropper_main, d), 0);
  ck_assert_int_eq(pthread_join(t, NULL), 0);
}

/* The last reference dropped on another thread: the release is posted to the
 * owner loop and runs on the thread running it, also for objects inside a
 * list or carried by an error as its payload. */
START_TEST(test_owner_release_posted) {
  xf_loop_t *loop = xft_loop();
  owner_log_t log;
  owner_log_init(&log, loop);
  xf_object_hooks_t hooks = owner_hooks(&log, loop);
  int objs[3];
  xf_value_t *a = new_object(&objs[0], &hooks);
  xf_value_t *list;
  ck_assert_int_eq(xf_value_new_list(&a, 1, &list), XF_OK);
  xf_value_unref(a);
  xf_value_t *payload = new_object(&objs[1], &hooks);
  xf_error_t *err;
  ck_assert_int_eq(xf_error_new_full(XF_EFAILED, "E", "m", NULL, payload, &err), XF_OK);
  xf_value_unref(payload);
  xf_value_t *err_value;
  ck_assert_int_eq(xf_value_new_error(err, &err_value), XF_OK);
  xf_error_unref(err);
  xf_value_t *values[3] = {list, err_value, new_object(&objs[2], &hooks)};
  dropper_t d = {values, 3, &log, false};
  drop_on_another_thread(&d);
  ck_assert_int_eq(atomic_load(&log.releases), 0);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(atomic_load(&log.releases), 3);
  ck_assert_int_eq(atomic_load(&log.misplaced), 0);
  xf_loop_unref(loop);
}
END_TEST

/* Dropped on the thread running the owner loop: released at once. Dropped
 * on the owner's thread outside a run of the loop: posted like any other,
 * and released by the next run. */
typedef struct inline_drop {
  xf_value_t *v;
  owner_log_t *log;
  int releases_after_unref;
} inline_drop_t;

static void drop_in_callback(void *data) {
  inline_drop_t *d = data;
  xf_value_unref(d->v);
  d->releases_after_unref = atomic_load(&d->log->releases);
}

START_TEST(test_owner_release_inline_on_owner) {
  xf_loop_t *loop = xft_loop();
  owner_log_t log;
  owner_log_init(&log, loop);
  xf_object_hooks_t hooks = owner_hooks(&log, loop);
  int obj;
  inline_drop_t d = {new_object(&obj, &hooks), &log, -1};
  ck_assert_int_eq(xf_loop_call_soon(loop, drop_in_callback, &d, NULL, NULL), XF_OK);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(d.releases_after_unref, 1);

  xf_value_unref(new_object(&obj, &hooks));
  ck_assert_int_eq(atomic_load(&log.releases), 1);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(atomic_load(&log.releases), 2);
  ck_assert_int_eq(atomic_load(&log.misplaced), 0);
  xf_loop_unref(loop);
}
END_TEST

/* A release posted to a loop that closes before running it runs once, as the
 * loop closes, on the closing thread (which is not running the loop). The
 * same when the last handle to the loop is dropped. */
START_TEST(test_owner_release_at_close) {
  for (int by_unref = 0; by_unref < 2; by_unref++) {
    long before = xft_alloc_live();
    xf_loop_t *loop = xft_loop();
    owner_log_t log;
    owner_log_init(&log, NULL);
    xf_object_hooks_t hooks = owner_hooks(&log, loop);
    int obj;
    xf_value_t *v = new_object(&obj, &hooks);
    dropper_t d = {&v, 1, &log, false};
    drop_on_another_thread(&d);
    ck_assert_int_eq(atomic_load(&log.releases), 0);
    if (by_unref) {
      xf_loop_unref(loop);
    } else {
      ck_assert_int_eq(xf_loop_close(loop), XF_OK);
      ck_assert_int_eq(atomic_load(&log.releases), 1);
      xf_loop_unref(loop);
    }
    ck_assert_int_eq(atomic_load(&log.releases), 1);
    ck_assert_int_eq(atomic_load(&log.misplaced), 0);
    ck_assert_int_eq(xft_alloc_live(), before);
  }
}
END_TEST

/* An object outliving its owner loop: the value keeps the loop's memory, and
 * once the loop is closed the release runs on the thread that drops the
 * last reference, exactly once. The loop's memory goes with the value. */
START_TEST(test_owner_release_after_loop_closed) {
  long before = xft_alloc_live();
  xf_loop_t *loop = xft_loop();
  owner_log_t log;
  owner_log_init(&log, NULL);
  xf_object_hooks_t hooks = owner_hooks(&log, loop);
  int obj;
  xf_value_t *v = new_object(&obj, &hooks);
  xf_value_t *w = new_object(&obj, &hooks);
  xf_loop_unref(loop); /* closes it; the values hold its memory */
  dropper_t d = {&v, 1, &log, true};
  drop_on_another_thread(&d);
  ck_assert_int_eq(atomic_load(&log.releases), 1);
  log.expect = pthread_self();
  xf_value_unref(w);
  ck_assert_int_eq(atomic_load(&log.releases), 2);
  ck_assert_int_eq(atomic_load(&log.misplaced), 0);
  ck_assert_int_eq(xft_alloc_live(), before);
}
END_TEST

/* A caller built against the hooks of 0.1, without the owner field, still
 * works: its sz is the old size and whatever follows is not read. */
START_TEST(test_owner_hooks_old_size) {
  owner_log_t log;
  owner_log_init(&log, NULL);
  xf_object_hooks_t hooks = owner_hooks(&log, (xf_loop_t *) (uintptr_t) 0x10);
  hooks.sz = offsetof(xf_object_hooks_t, owner);
  int obj;
  xf_value_t *v = new_object(&obj, &hooks);
  dropper_t d = {&v, 1, &log, true};
  drop_on_another_thread(&d);
  ck_assert_int_eq(atomic_load(&log.releases), 1);
  ck_assert_int_eq(atomic_load(&log.misplaced), 0);
  hooks.sz = offsetof(xf_object_hooks_t, owner) - 1;
  v = (xf_value_t *) 1;
  ck_assert_int_eq(xf_value_new_object(&obj, &hooks, &v), XF_EINVAL);
  ck_assert_ptr_null(v);
}
END_TEST

/* Many threads dropping owned objects while the owner loop runs: every
 * release runs once, on the loop's thread. */
#define OWNER_THREADS 4
#define OWNER_VALUES  500

typedef struct maker {
  const xf_object_hooks_t *hooks;
  xf_loop_t *loop;
  atomic_int *finished;
  int obj;
} maker_t;

static void count_finished(void *data) {
  atomic_fetch_add((atomic_int *) data, 1);
}

/* Makes and drops its values, then tells the loop (which also wakes it, so
 * the loop's thread never waits for a post that will not come). */
static void *make_and_drop(void *arg) {
  maker_t *m = arg;
  for (int i = 0; i < OWNER_VALUES; i++) {
    xf_value_t *v;
    if (xf_value_new_object(&m->obj, m->hooks, &v) == XF_OK)
      xf_value_unref(v);
  }
  if (xf_loop_call_soon_threadsafe(m->loop, count_finished, m->finished, NULL) != XF_OK)
    atomic_fetch_add(m->finished, 1);
  return NULL;
}

START_TEST(test_owner_release_many_threads) {
  xf_loop_t *loop = xft_loop();
  owner_log_t log;
  owner_log_init(&log, loop);
  xf_object_hooks_t hooks = owner_hooks(&log, loop);
  maker_t makers[OWNER_THREADS];
  pthread_t ts[OWNER_THREADS];
  atomic_int finished = 0;
  for (int i = 0; i < OWNER_THREADS; i++) {
    makers[i] = (maker_t){&hooks, loop, &finished, 0};
    ck_assert_int_eq(pthread_create(&ts[i], NULL, make_and_drop, &makers[i]), 0);
  }
  while (atomic_load(&finished) < OWNER_THREADS)
    ck_assert_int_eq(xf_loop_run(loop, XF_RUN_ONCE), XF_OK);
  for (int i = 0; i < OWNER_THREADS; i++)
    pthread_join(ts[i], NULL);
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(atomic_load(&log.releases), OWNER_THREADS * OWNER_VALUES);
  ck_assert_int_eq(atomic_load(&log.misplaced), 0);
  xf_loop_unref(loop);
}
END_TEST

/* Out of memory to post the release: it runs on the dropping thread
 * instead, still exactly once, and nothing leaks. */
START_TEST(test_owner_release_enomem) {
  xf_loop_t *loop = xft_loop();
  owner_log_t log;
  owner_log_init(&log, loop);
  xf_object_hooks_t hooks = owner_hooks(&log, loop);
  int obj, made = 0, inline_releases = 0;
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_value_t *v;
    if (xf_value_new_object(&obj, &hooks, &v) != XF_OK)
      continue;
    made++;
    int before = atomic_load(&log.releases);
    dropper_t d = {&v, 1, &log, false};
    drop_on_another_thread(&d);
    xft_alloc_fail_at(-1);
    if (atomic_load(&log.releases) == before + 1) {
      inline_releases++; /* the post failed: released by the dropper */
      atomic_fetch_sub(&log.misplaced, 1);
    }
    ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
    ck_assert_int_eq(atomic_load(&log.releases), before + 1);
  }
  ck_assert_int_ge(inline_releases, 1);
  ck_assert_int_eq(atomic_load(&log.releases), made);
  ck_assert_int_eq(atomic_load(&log.misplaced), 0);
  xf_loop_unref(loop);
}
END_TEST

static Suite *value_suite(void) {
  Suite *s = suite_create("value");
  TCase *tc;

  tc = tcase_create("static");
  tcase_add_test(tc, test_void_and_bool);
  tcase_add_test(tc, test_static_ref_unref);
  tcase_add_test(tc, test_small_kinds_do_not_allocate);
  suite_add_tcase(s, tc);

  tc = tcase_create("int");
  tcase_add_test(tc, test_int_boundaries);
  tcase_add_test(tc, test_int_powers_of_two);
  tcase_add_test(tc, test_int_is_not_double);
  suite_add_tcase(s, tc);

  tc = tcase_create("double");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_double_special_values);
  tcase_add_test(tc, test_double_every_exponent);
  tcase_add_test(tc, test_double_random_patterns);
  tcase_add_test(tc, test_double_is_not_int);
  suite_add_tcase(s, tc);

  tc = tcase_create("string");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_string_basic);
  tcase_add_test(tc, test_string_is_copied);
  tcase_add_test(tc, test_string_bad_args);
  tcase_add_test(tc, test_utf8_cases);
  tcase_add_test(tc, test_utf8_against_reference);
  suite_add_tcase(s, tc);

  tc = tcase_create("bytes");
  tcase_add_test(tc, test_bytes);
  suite_add_tcase(s, tc);

  tc = tcase_create("list");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_list_basic);
  tcase_add_test(tc, test_list_empty);
  tcase_add_test(tc, test_list_holds_references);
  tcase_add_test(tc, test_list_bad_args);
  tcase_add_test(tc, test_list_deep);
  suite_add_tcase(s, tc);

  tc = tcase_create("pointer");
  tcase_add_test(tc, test_pointer);
  tcase_add_test(tc, test_pointer_without_dtor);
  suite_add_tcase(s, tc);

  tc = tcase_create("object");
  tcase_add_test(tc, test_object);
  tcase_add_test(tc, test_object_without_hooks_functions);
  tcase_add_test(tc, test_object_bad_args);
  suite_add_tcase(s, tc);

  tc = tcase_create("owner_release");
  tcase_add_test(tc, test_owner_release_posted);
  tcase_add_test(tc, test_owner_release_inline_on_owner);
  tcase_add_test(tc, test_owner_release_at_close);
  tcase_add_test(tc, test_owner_release_after_loop_closed);
  tcase_add_test(tc, test_owner_hooks_old_size);
  tcase_add_test(tc, test_owner_release_many_threads);
  tcase_add_test(tc, test_owner_release_enomem);
  suite_add_tcase(s, tc);

  tc = tcase_create("error_value");
  tcase_add_test(tc, test_error_value);
  tcase_add_test(tc, test_error_value_frees_payload);
  suite_add_tcase(s, tc);

  tc = tcase_create("accessors");
  tcase_add_test(tc, test_accessor_kinds);
  tcase_add_test(tc, test_accessor_null_args);
  suite_add_tcase(s, tc);

  tc = tcase_create("equal");
  tcase_add_test(tc, test_equal_across_kinds);
  tcase_add_test(tc, test_equal_scalars);
  tcase_add_test(tc, test_equal_strings_and_bytes);
  tcase_add_test(tc, test_equal_lists);
  tcase_add_test(tc, test_equal_shared_items);
  tcase_add_test(tc, test_equal_shared_maps);
  tcase_add_test(tc, test_equal_identity_kinds);
  suite_add_tcase(s, tc);

  tc = tcase_create("map");
  tcase_add_test(tc, test_map_basics);
  tcase_add_test(tc, test_map_bad_input);
  tcase_add_test(tc, test_map_equal_any_order);
  tcase_add_test(tc, test_map_equal_repeated_keys);
  suite_add_tcase(s, tc);

  tc = tcase_create("repr");
  tcase_add_test(tc, test_repr_scalars);
  tcase_add_test(tc, test_repr_containers);
  tcase_add_test(tc, test_repr_deep);
  tcase_add_test(tc, test_repr_shared_items);
  suite_add_tcase(s, tc);

  tc = tcase_create("enomem");
  tcase_add_test(tc, test_enomem_numbers);
  tcase_add_test(tc, test_enomem_strings);
  tcase_add_test(tc, test_enomem_list);
  tcase_add_test(tc, test_enomem_map);
  tcase_add_test(tc, test_enomem_pointer);
  tcase_add_test(tc, test_enomem_object);
  tcase_add_test(tc, test_enomem_error_value);
  suite_add_tcase(s, tc);

  tc = tcase_create("threads");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_threads_share_values);
  suite_add_tcase(s, tc);

  return s;
}

int main(void) {
  return xft_main(value_suite());
}

/* The codec: every kind round-trips, the bytes are the ones RFC 8949
 * prescribes, values with no encoding are refused, hostile input is
 * rejected without a crash or a leak, and every failed allocation is
 * XF_ENOMEM with nothing kept. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include <xf/xf.h>

static xf_value_t *str(const char *s, size_t len) {
  xf_value_t *v;
  ck_assert_int_eq(xf_value_new_string(s, len, &v), XF_OK);
  return v;
}

static xf_value_t *dbl(double d) {
  xf_value_t *v;
  ck_assert_int_eq(xf_value_new_double(d, &v), XF_OK);
  return v;
}

static xf_value_t *list_of(xf_value_t **items, size_t n) {
  xf_value_t *v;
  ck_assert_int_eq(xf_value_new_list(items, n, &v), XF_OK);
  for (size_t i = 0; i < n; i++)
    xf_value_unref(items[i]);
  return v;
}

/* Whether a and b have the same encoding (opaque payloads, which compare by
 * identity as objects, compare by contents here). */
static bool same_bytes(const xf_value_t *a, const xf_value_t *b) {
  uint8_t *x, *y;
  size_t nx, ny;
  ck_assert_int_eq(xf_value_encode(a, &x, &nx), XF_OK);
  ck_assert_int_eq(xf_value_encode(b, &y, &ny), XF_OK);
  bool same = nx == ny && memcmp(x, y, nx) == 0;
  xf_codec_free(x);
  xf_codec_free(y);
  return same;
}

/* Encode v, decode the bytes and check that the same value comes back:
 * equal (unless it holds opaque payloads) and with the same encoding. */
static void roundtrip_as(xf_value_t *v, bool opaque) {
  uint8_t *buf;
  size_t len;
  ck_assert_int_eq(xf_value_encode(v, &buf, &len), XF_OK);
  xf_value_t *back;
  ck_assert_int_eq(xf_value_decode(buf, len, &back), XF_OK);
  char a[256], b[256];
  xf_value_repr(v, a, sizeof a);
  xf_value_repr(back, b, sizeof b);
  ck_assert_msg(opaque || xf_value_equal(v, back), "%s came back as %s", a, b);
  ck_assert_msg(same_bytes(v, back), "%s came back as %s", a, b);
  xf_value_unref(back);
  xf_codec_free(buf);
}

static void roundtrip(xf_value_t *v) {
  roundtrip_as(v, false);
}

/* Check that v encodes to exactly the hex bytes. */
static void encodes_to(xf_value_t *v, const char *hex) {
  uint8_t *buf;
  size_t len;
  ck_assert_int_eq(xf_value_encode(v, &buf, &len), XF_OK);
  char got[512] = "";
  for (size_t i = 0; i < len && 2 * i + 2 < sizeof got; i++)
    snprintf(got + 2 * i, 3, "%02x", buf[i]);
  ck_assert_str_eq(got, hex);
  xf_codec_free(buf);
  xf_value_unref(v);
}

static size_t unhex(const char *hex, uint8_t *out) {
  size_t n = strlen(hex) / 2;
  for (size_t i = 0; i < n; i++) {
    unsigned x;
    sscanf(hex + 2 * i, "%2x", &x);
    out[i] = (uint8_t) x;
  }
  return n;
}

/* Decode hex and return the code; *out (if not NULL) gets the value. */
static int decode_hex(const char *hex, xf_value_t **out) {
  uint8_t buf[256];
  size_t n = unhex(hex, buf);
  xf_value_t *v = (xf_value_t *) 1;
  int rc = xf_value_decode(buf, n, &v);
  if (rc != XF_OK)
    ck_assert_ptr_null(v);
  if (out)
    *out = v;
  else
    xf_value_unref(v);
  return rc;
}

/* A value with every kind that has an encoding, nested. */
static xf_value_t *sample(void) {
  xf_error_t *inner;
  ck_assert_int_eq(
      xf_error_new_full(XF_EINVAL, "ValueError", "bad", "Traceback: here", NULL, &inner),
      XF_OK);
  xf_value_t *ev;
  ck_assert_int_eq(xf_value_new_error(inner, &ev), XF_OK);
  xf_error_unref(inner);
  xf_value_t *op;
  ck_assert_int_eq(xf_value_new_opaque("python", "\x80\x04N.", 4, &op), XF_OK);
  xf_value_t *bytes;
  ck_assert_int_eq(xf_value_new_bytes("\0\1\2", 3, &bytes), XF_OK);
  xf_value_t *keys[2] = {str("k", 1), xft_int(7)};
  xf_value_t *vals[2] = {dbl(2.5), xf_value_bool(true)};
  xf_value_t *map;
  ck_assert_int_eq(xf_value_new_map(keys, vals, 2, &map), XF_OK);
  for (int i = 0; i < 2; i++) {
    xf_value_unref(keys[i]);
    xf_value_unref(vals[i]);
  }
  xf_value_t *items[] = {xf_value_void(),
                         xft_int(-1000),
                         xft_int(INT64_MIN),
                         str("a\0b", 3),
                         bytes,
                         map,
                         ev,
                         op,
                         list_of(NULL, 0)};
  return list_of(items, sizeof items / sizeof items[0]);
}

/* ---- Round trips and exact bytes ------------------------------------------ */

START_TEST(test_roundtrip_kinds) {
  roundtrip(xf_value_void());
  roundtrip(xf_value_bool(true));
  roundtrip(xf_value_bool(false));
  int64_t ints[] = {0,     1,     23,           24,           255,       256,
                    65535, 65536, 4294967295LL, 4294967296LL, INT64_MAX, -1,
                    -24,   -25,   -256,         -257,         INT64_MIN, INT64_MIN + 1};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    xf_value_t *v = xft_int(ints[i]);
    roundtrip(v);
    xf_value_unref(v);
  }
  double ds[] = {0.0, -0.0, 1.5, -2.75, 1e300, -1e-300, 5e-324, INFINITY, -INFINITY, NAN};
  for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
    xf_value_t *v = dbl(ds[i]);
    roundtrip(v);
    xf_value_unref(v);
  }
  xf_value_t *v = str("", 0);
  roundtrip(v);
  xf_value_unref(v);
  v = str("h\xc3\xa9llo\0w\xe2\x82\xac", 11);
  roundtrip(v);
  xf_value_unref(v);
  ck_assert_int_eq(xf_value_new_bytes(NULL, 0, &v), XF_OK);
  roundtrip(v);
  xf_value_unref(v);
  v = sample();
  roundtrip_as(v, true);
  xf_value_unref(v);
}
END_TEST

START_TEST(test_negative_zero_and_nan_bits) {
  /* -0.0 keeps its sign and NaN stays NaN through the bytes. */
  uint8_t *buf;
  size_t len;
  xf_value_t *v = dbl(-0.0), *back;
  ck_assert_int_eq(xf_value_encode(v, &buf, &len), XF_OK);
  ck_assert_int_eq(xf_value_decode(buf, len, &back), XF_OK);
  double d;
  ck_assert_int_eq(xf_value_get_double(back, &d), XF_OK);
  ck_assert(d == 0.0 && signbit(d));
  xf_value_unref(v);
  xf_value_unref(back);
  xf_codec_free(buf);
}
END_TEST

START_TEST(test_rfc8949_bytes) {
  /* Appendix A of RFC 8949, with doubles always as float64. */
  encodes_to(xft_int(0), "00");
  encodes_to(xft_int(23), "17");
  encodes_to(xft_int(24), "1818");
  encodes_to(xft_int(100), "1864");
  encodes_to(xft_int(1000), "1903e8");
  encodes_to(xft_int(1000000), "1a000f4240");
  encodes_to(xft_int(1000000000000LL), "1b000000e8d4a51000");
  encodes_to(xft_int(-1), "20");
  encodes_to(xft_int(-1000), "3903e7");
  encodes_to(xft_int(INT64_MIN), "3b7fffffffffffffff");
  encodes_to(dbl(1.5), "fb3ff8000000000000");
  encodes_to(xf_value_bool(false), "f4");
  encodes_to(xf_value_bool(true), "f5");
  encodes_to(xf_value_void(), "f6");
  encodes_to(str("", 0), "60");
  encodes_to(str("IETF", 4), "6449455446");
  encodes_to(str("\xc3\xbc", 2), "62c3bc");
  xf_value_t *b;
  ck_assert_int_eq(xf_value_new_bytes("\1\2\3\4", 4, &b), XF_OK);
  encodes_to(b, "4401020304");
  xf_value_t *in1[] = {xft_int(2), xft_int(3)};
  xf_value_t *in2[] = {xft_int(4), xft_int(5)};
  xf_value_t *outer[] = {xft_int(1), list_of(in1, 2), list_of(in2, 2)};
  encodes_to(list_of(outer, 3), "8301820203820405");
  xf_value_t *keys[] = {xft_int(1), xft_int(3)}, *vals[] = {xft_int(2), xft_int(4)}, *m;
  ck_assert_int_eq(xf_value_new_map(keys, vals, 2, &m), XF_OK);
  encodes_to(m, "a201020304");
}
END_TEST

START_TEST(test_rfc8949_decoding) {
  xf_value_t *v;
  double d;
  /* Half and single floats, and undefined as void. */
  ck_assert_int_eq(decode_hex("f93c00", &v), XF_OK);
  ck_assert_int_eq(xf_value_get_double(v, &d), XF_OK);
  ck_assert(d == 1.0);
  xf_value_unref(v);
  ck_assert_int_eq(decode_hex("fa47c35000", &v), XF_OK);
  ck_assert_int_eq(xf_value_get_double(v, &d), XF_OK);
  ck_assert(d == 100000.0);
  xf_value_unref(v);
  ck_assert_int_eq(decode_hex("f97c00", &v), XF_OK);
  ck_assert_int_eq(xf_value_get_double(v, &d), XF_OK);
  ck_assert(isinf(d) && d > 0);
  xf_value_unref(v);
  ck_assert_int_eq(decode_hex("f7", &v), XF_OK);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_VOID);
  /* The self-described CBOR tag is transparent. */
  ck_assert_int_eq(decode_hex("d9d9f71864", &v), XF_OK);
  int64_t i;
  ck_assert_int_eq(xf_value_get_int(v, &i), XF_OK);
  ck_assert_int_eq(i, 100);
  /* A map keeps its pairs in order. */
  ck_assert_int_eq(decode_hex("a2616101616202", &v), XF_OK);
  size_t n;
  ck_assert_int_eq(xf_value_map_len(v, &n), XF_OK);
  ck_assert_uint_eq(n, 2);
  xf_value_t *key, *val;
  ck_assert_int_eq(xf_value_map_get(v, 1, &key, &val), XF_OK);
  const char *s;
  ck_assert_int_eq(xf_value_get_string(key, &s, &n), XF_OK);
  ck_assert_str_eq(s, "b");
  ck_assert_int_eq(xf_value_get_int(val, &i), XF_OK);
  ck_assert_int_eq(i, 2);
  xf_value_unref(v);
}
END_TEST

/* ---- Errors and opaque payloads -------------------------------------------- */

START_TEST(test_error_roundtrip) {
  xf_value_t *op;
  ck_assert_int_eq(xf_value_new_opaque("python", "pickled", 7, &op), XF_OK);
  xf_error_t *err;
  ck_assert_int_eq(
      xf_error_new_full(XF_ETIMEDOUT, "TimeoutError", "too slow", "tb\nline", op, &err),
      XF_OK);
  xf_value_unref(op);
  uint8_t *buf;
  size_t len;
  ck_assert_int_eq(xf_error_encode(err, &buf, &len), XF_OK);
  xf_error_t *back;
  ck_assert_int_eq(xf_error_decode(buf, len, &back), XF_OK);
  ck_assert_int_eq(xf_error_code(back), XF_ETIMEDOUT);
  ck_assert_str_eq(xf_error_type(back), "TimeoutError");
  ck_assert_str_eq(xf_error_message(back), "too slow");
  ck_assert_str_eq(xf_error_traceback(back), "tb\nline");
  const char *runtime;
  const void *data;
  size_t n;
  ck_assert_int_eq(xf_value_get_opaque(xf_error_payload(back), &runtime, &data, &n),
                   XF_OK);
  ck_assert_str_eq(runtime, "python");
  ck_assert_uint_eq(n, 7);
  ck_assert(memcmp(data, "pickled", 7) == 0);
  xf_error_unref(back);
  xf_codec_free(buf);
  xf_error_unref(err);

  /* Not an error: XF_ETYPE. */
  ck_assert_int_eq(xf_error_decode((const uint8_t *) "\x01", 1, &back), XF_ETYPE);
  ck_assert_ptr_null(back);
}
END_TEST

static void obj_hook(void *o, void *d) {
  (void) o;
  (void) d;
}

START_TEST(test_foreign_payload_stays_behind) {
  static const xf_object_hooks_t hooks = {sizeof hooks, "python", obj_hook,
                                          obj_hook,     NULL,     NULL};
  static int thing;
  xf_value_t *obj;
  ck_assert_int_eq(xf_value_new_object(&thing, &hooks, &obj), XF_OK);
  xf_error_t *err;
  ck_assert_int_eq(xf_error_new_full(XF_EFAILED, "KeyError", "k", NULL, obj, &err),
                   XF_OK);
  uint8_t *buf;
  size_t len;
  ck_assert_int_eq(xf_error_encode(err, &buf, &len), XF_OK);
  xf_error_t *back;
  ck_assert_int_eq(xf_error_decode(buf, len, &back), XF_OK);
  ck_assert_str_eq(xf_error_type(back), "KeyError");
  ck_assert_ptr_null(xf_error_traceback(back));
  ck_assert_ptr_null(xf_error_payload(back));
  xf_error_unref(back);
  xf_codec_free(buf);
  xf_error_unref(err);
  /* The object itself has no encoding. */
  ck_assert_int_eq(xf_value_encode(obj, &buf, &len), XF_ETYPE);
  ck_assert_ptr_null(buf);
  ck_assert_uint_eq(len, 0);
  const char *rt;
  const void *d;
  ck_assert_int_eq(xf_value_get_opaque(obj, &rt, &d, &len), XF_ETYPE);
  xf_value_unref(obj);
}
END_TEST

START_TEST(test_opaque_arguments) {
  xf_value_t *v;
  ck_assert_int_eq(xf_value_new_opaque(NULL, "", 0, &v), XF_EINVAL);
  ck_assert_int_eq(xf_value_new_opaque("", "", 0, &v), XF_EINVAL);
  ck_assert_int_eq(xf_value_new_opaque("lua", NULL, 1, &v), XF_EINVAL);
  ck_assert_int_eq(xf_value_new_opaque("lua", NULL, 0, &v), XF_OK);
  const char *rt;
  const void *d;
  size_t n;
  ck_assert_int_eq(xf_value_get_opaque(v, &rt, &d, &n), XF_OK);
  ck_assert_str_eq(rt, "lua");
  ck_assert_uint_eq(n, 0);
  const xf_object_hooks_t *hooks;
  void *o;
  ck_assert_int_eq(xf_value_get_object(v, &o, &hooks), XF_OK);
  ck_assert_str_eq(hooks->name, "xf.opaque");
  roundtrip_as(v, true);
  xf_value_unref(v);
  xf_value_t *i = xft_int(1);
  ck_assert_int_eq(xf_value_get_opaque(i, &rt, &d, &n), XF_ETYPE);
  ck_assert_int_eq(xf_value_get_opaque(NULL, &rt, &d, &n), XF_EINVAL);
}
END_TEST

/* ---- Values with no encoding ---------------------------------------------- */

START_TEST(test_unencodable) {
  uint8_t *buf = (uint8_t *) 1;
  size_t len = 1;
  static int x;
  xf_value_t *p;
  ck_assert_int_eq(xf_value_new_pointer(&x, NULL, &p), XF_OK);
  ck_assert_int_eq(xf_value_encode(p, &buf, &len), XF_ETYPE);
  ck_assert_ptr_null(buf);
  xf_value_t *items[] = {xft_int(1), p};
  xf_value_t *l = list_of(items, 2);
  ck_assert_int_eq(xf_value_encode(l, &buf, &len), XF_ETYPE);
  ck_assert_ptr_null(buf);
  xf_value_unref(l);
  ck_assert_int_eq(xf_value_encode(NULL, &buf, &len), XF_EINVAL);
  ck_assert_int_eq(xf_value_encode(xf_value_void(), NULL, &len), XF_EINVAL);
  ck_assert_int_eq(xf_value_encode(xf_value_void(), &buf, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_value_decode(NULL, 1, &l), XF_EINVAL);
  ck_assert_int_eq(xf_value_decode((const uint8_t *) "", 0, &l), XF_EINVAL);
  ck_assert_int_eq(xf_value_decode((const uint8_t *) "\x01", 1, NULL), XF_EINVAL);
  xf_codec_free(NULL);
}
END_TEST

/* A list nested depth levels deep around an int. */
static xf_value_t *nested(size_t depth) {
  xf_value_t *v = xft_int(1);
  for (size_t i = 0; i < depth; i++) {
    xf_value_t *items[] = {v};
    v = list_of(items, 1);
  }
  return v;
}

START_TEST(test_depth_bound) {
  uint8_t *buf;
  size_t len;
  xf_value_t *v = nested(XF_CODEC_MAX_DEPTH);
  roundtrip(v);
  xf_value_unref(v);
  v = nested(XF_CODEC_MAX_DEPTH + 1);
  ck_assert_int_eq(xf_value_encode(v, &buf, &len), XF_ERANGE);
  xf_value_unref(v);
  /* Far deeper than any stack would take by recursion. */
  v = nested(200000);
  ck_assert_int_eq(xf_value_encode(v, &buf, &len), XF_ERANGE);
  xf_value_unref(v);
  /* Input nested one level too deep. */
  uint8_t in[XF_CODEC_MAX_DEPTH + 2];
  memset(in, 0x81, XF_CODEC_MAX_DEPTH + 1);
  in[XF_CODEC_MAX_DEPTH + 1] = 0x01;
  ck_assert_int_eq(xf_value_decode(in, sizeof in, &v), XF_EINVAL);
  ck_assert_int_eq(xf_value_decode(in + 1, sizeof in - 1, &v), XF_OK);
  xf_value_unref(v);
}
END_TEST

/* ---- Hostile input ---------------------------------------------------------- */

START_TEST(test_malformed_input) {
  struct {
    const char *hex;
    int rc;
  } cases[] = {
      {"18", XF_EINVAL},                   /* truncated head */
      {"1903", XF_EINVAL},                 /* truncated head */
      {"6261", XF_EINVAL},                 /* truncated string */
      {"8201", XF_EINVAL},                 /* truncated array */
      {"a10102", XF_OK},                   /* a complete map */
      {"a101", XF_EINVAL},                 /* a key with no value */
      {"0101", XF_EINVAL},                 /* trailing bytes */
      {"1c", XF_EINVAL},                   /* reserved additional info */
      {"5f4101ff", XF_EINVAL},             /* indefinite byte string */
      {"7f6161ff", XF_EINVAL},             /* indefinite text */
      {"9f01ff", XF_EINVAL},               /* indefinite array */
      {"bf0102ff", XF_EINVAL},             /* indefinite map */
      {"ff", XF_EINVAL},                   /* a stray break */
      {"f0", XF_EINVAL},                   /* unassigned simple value */
      {"f820", XF_EINVAL},                 /* one-byte simple value */
      {"62c328", XF_EINVAL},               /* invalid UTF-8 */
      {"1bffffffffffffffff", XF_ERANGE},   /* above INT64_MAX */
      {"1b8000000000000000", XF_ERANGE},   /* INT64_MAX + 1 */
      {"3b8000000000000000", XF_ERANGE},   /* below INT64_MIN */
      {"c24101", XF_ERANGE},               /* a bignum */
      {"d8206161", XF_ETYPE},              /* tag 32 (a URI): no kind for it */
      {"9bffffffffffffffff", XF_EINVAL},   /* 2^64-1 items announced */
      {"9a7fffffff00", XF_EINVAL},         /* 2^31-1 items announced */
      {"bbffffffffffffffff", XF_EINVAL},   /* a huge map announced */
      {"5bffffffffffffffff", XF_EINVAL},   /* a huge byte string */
      {"7b7fffffffffffffff61", XF_EINVAL}, /* a huge text string */
      {"c1", XF_EINVAL},                   /* a tag with nothing to tag */
      /* A malformed error: too few items, a positive code, a non-text type, a
       * non-text message. */
      {"da7866000183202020", XF_EINVAL},
      {"da786600018401616161616162", XF_EINVAL},
      {"da7866000184200161616161", XF_EINVAL},
      {"da786600018420616101f6", XF_EINVAL},
      /* A malformed opaque payload: wrong count, empty runtime, text data. */
      {"da786600028161", XF_EINVAL},
      {"da78660002826040", XF_EINVAL},
      {"da78660002826161616c", XF_EINVAL},
      /* And well-formed ones. */
      {"da7866000184206161616df6", XF_OK},
      {"da78660002826161420102", XF_OK},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc = decode_hex(cases[i].hex, NULL);
    ck_assert_msg(rc == cases[i].rc, "%s: %s, expected %s", cases[i].hex, xf_err_name(rc),
                  xf_err_name(cases[i].rc));
  }
}
END_TEST

START_TEST(test_every_prefix_and_mutation) {
  xf_value_t *v = sample();
  uint8_t *buf;
  size_t len;
  ck_assert_int_eq(xf_value_encode(v, &buf, &len), XF_OK);
  long live = xft_alloc_live();
  /* Every proper prefix is truncated input. */
  for (size_t n = 0; n < len; n++) {
    xf_value_t *out;
    int rc = xf_value_decode(buf, n, &out);
    ck_assert_msg(rc == XF_EINVAL, "prefix %zu: %s", n, xf_err_name(rc));
  }
  /* Every byte replaced by a handful of values decodes or fails cleanly. */
  static const uint8_t subst[] = {0x00, 0x17, 0x1b, 0x5b, 0x7b, 0x9b, 0xbb,
                                  0xda, 0xdb, 0xf6, 0xfb, 0xff, 0x80, 0xa0};
  uint8_t *copy = malloc(len);
  for (size_t i = 0; i < len; i++) {
    for (size_t k = 0; k < sizeof subst; k++) {
      memcpy(copy, buf, len);
      copy[i] = subst[k];
      xf_value_t *out = NULL;
      int rc = xf_value_decode(copy, len, &out);
      ck_assert(rc == XF_OK || rc == XF_EINVAL || rc == XF_ERANGE || rc == XF_ETYPE);
      ck_assert(rc == XF_OK || out == NULL);
      xf_value_unref(out);
    }
  }
  free(copy);
  ck_assert_int_eq(xft_alloc_live(), live);
  xf_codec_free(buf);
  xf_value_unref(v);
}
END_TEST

/* ---- Allocation failures ----------------------------------------------------- */

START_TEST(test_encode_alloc_failures) {
  xf_value_t *v = sample();
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    uint8_t *buf;
    size_t len;
    int rc = xf_value_encode(v, &buf, &len);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(buf);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    xf_codec_free(buf);
  }
  xf_value_unref(v);
}
END_TEST

START_TEST(test_decode_alloc_failures) {
  xf_value_t *v = sample();
  uint8_t *buf;
  size_t len;
  ck_assert_int_eq(xf_value_encode(v, &buf, &len), XF_OK);
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_value_t *out;
    int rc = xf_value_decode(buf, len, &out);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(out);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    xft_alloc_fail_at(-1);
    ck_assert(same_bytes(v, out));
    xf_value_unref(out);
  }
  xf_codec_free(buf);
  xf_value_unref(v);
}
END_TEST

START_TEST(test_opaque_alloc_failures) {
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_value_t *v;
    int rc = xf_value_new_opaque("python", "abc", 3, &v);
    if (rc == XF_ENOMEM)
      continue;
    ck_assert_int_eq(rc, XF_OK);
    xf_value_unref(v);
  }
}
END_TEST

static Suite *codec_suite(void) {
  Suite *s = suite_create("codec");
  TCase *tc = tcase_create("roundtrip");
  tcase_add_test(tc, test_roundtrip_kinds);
  tcase_add_test(tc, test_negative_zero_and_nan_bits);
  tcase_add_test(tc, test_rfc8949_bytes);
  tcase_add_test(tc, test_rfc8949_decoding);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors_and_opaque");
  tcase_add_test(tc, test_error_roundtrip);
  tcase_add_test(tc, test_foreign_payload_stays_behind);
  tcase_add_test(tc, test_opaque_arguments);
  tcase_add_test(tc, test_unencodable);
  tcase_add_test(tc, test_depth_bound);
  suite_add_tcase(s, tc);
  tc = tcase_create("hostile_input");
  tcase_add_test(tc, test_malformed_input);
  tcase_add_test(tc, test_every_prefix_and_mutation);
  suite_add_tcase(s, tc);
  tc = tcase_create("allocation");
  tcase_add_test(tc, test_encode_alloc_failures);
  tcase_add_test(tc, test_decode_alloc_failures);
  tcase_add_test(tc, test_opaque_alloc_failures);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return xft_main(codec_suite());
}

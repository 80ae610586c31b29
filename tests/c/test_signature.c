/* Signatures: the type language, canonical text, accessors, rejected texts
 * with their messages, bad input and failed allocations. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include <xf/xf.h>

static xf_signature_t *parse_ok(const char *text) {
  xf_signature_t *sig = NULL;
  char err[128];
  int rc = xf_signature_parse(text, err, sizeof err, &sig);
  ck_assert_msg(rc == XF_OK, "%s: %s (%s)", text, xf_err_name(rc), err);
  ck_assert_str_eq(err, "");
  return sig;
}

/* The canonical text a signature parses to. */
static void check_canonical(const char *text, const char *canonical) {
  xf_signature_t *sig = parse_ok(text);
  ck_assert_str_eq(xf_signature_text(sig), canonical);
  /* The canonical text parses to itself. */
  xf_signature_t *again = parse_ok(xf_signature_text(sig));
  ck_assert_str_eq(xf_signature_text(again), canonical);
  xf_signature_unref(again);
  xf_signature_unref(sig);
}

/* A text that must be rejected, with a message containing want. */
static void check_rejected(const char *text, const char *want) {
  xf_signature_t *sig = (xf_signature_t *) 1;
  char err[128];
  ck_assert_int_eq(xf_signature_parse(text, err, sizeof err, &sig), XF_EINVAL);
  ck_assert_ptr_null(sig);
  ck_assert_msg(strstr(err, want) != NULL, "\"%s\": message \"%s\" lacks \"%s\"", text,
                err, want);
}

START_TEST(test_every_type) {
  xf_signature_t *sig =
      parse_ok("double(int8, int16, int32, int64, uint8, uint16, uint32, uint64, size_t, "
               "float, double, pointer, string)");
  static const int want[] = {XF_C_INT8,  XF_C_INT16,  XF_C_INT32,  XF_C_INT64,
                             XF_C_UINT8, XF_C_UINT16, XF_C_UINT32, XF_C_UINT64,
                             XF_C_SIZE,  XF_C_FLOAT,  XF_C_DOUBLE, XF_C_POINTER,
                             XF_C_STRING};
  ck_assert_int_eq(xf_signature_arity(sig), 13);
  ck_assert_int_eq(xf_signature_return_type(sig), XF_C_DOUBLE);
  for (size_t i = 0; i < 13; i++)
    ck_assert_int_eq(xf_signature_arg_type(sig, i), want[i]);
  ck_assert_int_eq(xf_signature_arg_type(sig, 13), XF_ERANGE);
  xf_signature_unref(sig);

  for (int t = XF_C_VOID; t <= XF_C_STRING; t++) {
    char text[64];
    snprintf(text, sizeof text, "%s()", xf_ctype_name(t));
    sig = parse_ok(text);
    ck_assert_int_eq(xf_signature_return_type(sig), t);
    ck_assert_int_eq(xf_signature_arity(sig), 0);
    ck_assert_str_eq(xf_signature_text(sig), text);
    xf_signature_unref(sig);
  }
  ck_assert_ptr_null(xf_ctype_name(-1));
  ck_assert_ptr_null(xf_ctype_name(XF_C_STRING + 1));
}
END_TEST

START_TEST(test_canonical_and_aliases) {
  check_canonical("double(int32, pointer)", "double(int32, pointer)");
  check_canonical("  double ( int32 ,pointer )  ", "double(int32, pointer)");
  check_canonical("void()", "void()");
  check_canonical("void(void)", "void()");
  check_canonical("void ( void )", "void()");
  check_canonical("int(int, unsigned)", "int32(int32, uint32)");
  check_canonical("int8_t(int16_t, int32_t, int64_t)", "int8(int16, int32, int64)");
  check_canonical("uint8_t(uint16_t, uint32_t, uint64_t)",
                  "uint8(uint16, uint32, uint64)");
  check_canonical("char*(const char *)", "string(string)");
  check_canonical("void*(void *, int *, char **)", "pointer(pointer, pointer, pointer)");
  check_canonical("const char*(size_t)", "string(size_t)");
  check_canonical("\tfloat\n(\tdouble\n)", "float(double)");
}
END_TEST

START_TEST(test_rejected_with_messages) {
  check_rejected("double(int33, pointer)", "expected a type at offset 7: \"int33\"");
  check_rejected("", "expected a type at offset 0: end of text");
  check_rejected("   ", "expected a type at offset 3");
  check_rejected("(int32)", "expected a type at offset 0: \"(\"");
  check_rejected("int32", "expected \"(\" at offset 5: end of text");
  check_rejected("int32 int32()", "expected \"(\" at offset 6: \"int32\"");
  check_rejected("int32(int32", "expected \",\" or \")\" at offset 11");
  check_rejected("int32(int32;)", "expected \",\" or \")\" at offset 11: \";\"");
  check_rejected("int32(int32,)", "expected a type at offset 12: \")\"");
  check_rejected("int32(,int32)", "expected a type at offset 6: \",\"");
  check_rejected("int32(int32) x", "unexpected text after \")\" at offset 13: \"x\"");
  check_rejected("void(int32, void)", "void is not an argument type at offset 12");
  check_rejected("void(void, int32)", "void is not an argument type at offset 5");
  check_rejected("char(int32)", "char alone is not supported");
  check_rejected("long(int32)", "expected a type at offset 0: \"long\"");
  check_rejected("int32(9)", "expected a type at offset 6: \"9\"");
  check_rejected("const (int32)", "expected a type at offset 6");

  /* At most XF_SIGNATURE_MAX_ARGS arguments. */
  char text[1024] = "void(";
  for (int i = 0; i < XF_SIGNATURE_MAX_ARGS; i++)
    strcat(text, i ? ",int8" : "int8");
  strcat(text, ")");
  xf_signature_t *sig = parse_ok(text);
  ck_assert_int_eq(xf_signature_arity(sig), XF_SIGNATURE_MAX_ARGS);
  xf_signature_unref(sig);
  text[strlen(text) - 1] = '\0';
  strcat(text, ",int8)");
  check_rejected(text, "too many arguments");

  /* A long bad token is cut short in the message, which is cut to the buffer. */
  char small[16];
  ck_assert_int_eq(
      xf_signature_parse("void(aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa)", small,
                         sizeof small, &sig),
      XF_EINVAL);
  ck_assert_uint_eq(strlen(small), sizeof small - 1);
  /* No buffer is fine. */
  ck_assert_int_eq(xf_signature_parse("nope", NULL, 0, &sig), XF_EINVAL);
  ck_assert_int_eq(xf_signature_parse("nope", small, 0, &sig), XF_EINVAL);
}
END_TEST

START_TEST(test_bad_input) {
  xf_signature_t *sig = (xf_signature_t *) 1;
  char err[64];
  ck_assert_int_eq(xf_signature_parse(NULL, err, sizeof err, &sig), XF_EINVAL);
  ck_assert_ptr_null(sig);
  ck_assert_str_ne(err, "");
  ck_assert_int_eq(xf_signature_parse("void()", err, sizeof err, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_signature_arity(NULL), XF_EINVAL);
  ck_assert_int_eq(xf_signature_arg_type(NULL, 0), XF_EINVAL);
  ck_assert_int_eq(xf_signature_return_type(NULL), XF_EINVAL);
  ck_assert_str_eq(xf_signature_text(NULL), "");
  ck_assert_ptr_null(xf_signature_ref(NULL));
  xf_signature_unref(NULL);

  /* References. */
  sig = parse_ok("int64(int64)");
  ck_assert_ptr_eq(xf_signature_ref(sig), sig);
  xf_signature_unref(sig);
  ck_assert_str_eq(xf_signature_text(sig), "int64(int64)");
  xf_signature_unref(sig);
}
END_TEST

START_TEST(test_enomem) {
  long before = xft_alloc_live();
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_signature_t *sig;
    int rc = xf_signature_parse("double(int32, pointer, string)", NULL, 0, &sig);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(sig);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    ck_assert_str_eq(xf_signature_text(sig), "double(int32, pointer, string)");
    xf_signature_unref(sig);
  }
  ck_assert_int_eq(xft_alloc_live(), before);
}
END_TEST

/* ---- The error a binding raises for a bad signature --------------------- */

/* The error's message is the context, "bad signature" and the parser's own
 * sentence, so every binding words it alike. */
static void check_error(const char *context, const char *text, const char *want) {
  xf_error_t *e = (xf_error_t *) 1;
  ck_assert_int_eq(xf_signature_error_new(context, text, XF_EINVAL, &e), XF_OK);
  ck_assert_int_eq(xf_error_code(e), XF_EINVAL);
  ck_assert_str_eq(xf_error_type(e), "ValueError");
  ck_assert_str_eq(xf_error_message(e), want);
  xf_error_unref(e);
}

START_TEST(test_error_messages) {
  check_error("callback", "int(uint33)",
              "callback: bad signature: expected a type at offset 4: \"uint33\"");
  check_error("submit_native", "int(",
              "submit_native: bad signature: expected a type "
              "at offset 4: end of text");
  check_error(NULL, "void(void, int32)",
              "bad signature: void is not an argument type at offset 5: \"void\"");
  check_error("", "x", "bad signature: expected a type at offset 0: \"x\"");
  check_error("callback", NULL, "callback: bad signature: no signature text");
  /* A text that parses has nothing to explain: the code's sentence. */
  check_error("callback", "void()", "callback: bad signature: invalid argument");

  /* The sentence is the parser's, whatever the text. */
  const char *texts[] = {"",        "(int32)",     "int32 int32()", "int32(int32;)",
                         "char()",  "int32(9)",    "long(int32)",   "int32(int32) x",
                         "void(,)", "const (int)", "double(float"};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    char why[128], want[256];
    xf_signature_t *sig;
    ck_assert_int_eq(xf_signature_parse(texts[i], why, sizeof why, &sig), XF_EINVAL);
    snprintf(want, sizeof want, "ctx: bad signature: %s", why);
    check_error("ctx", texts[i], want);
  }

  /* A long context is kept whole. */
  char context[600];
  memset(context, 'c', sizeof context - 1);
  context[sizeof context - 1] = '\0';
  xf_error_t *e;
  ck_assert_int_eq(xf_signature_error_new(context, "int(", XF_EINVAL, &e), XF_OK);
  const char *m = xf_error_message(e);
  ck_assert_uint_eq(strspn(m, "c"), sizeof context - 1);
  ck_assert_str_eq(m + sizeof context - 1,
                   ": bad signature: expected a type at offset 4: end of text");
  xf_error_unref(e);
}
END_TEST

/* Another failure of the parse (out of memory) is told as that code's error,
 * with the context. */
START_TEST(test_error_other_codes) {
  xf_error_t *e;
  ck_assert_int_eq(xf_signature_error_new("callback", "void()", XF_ENOMEM, &e), XF_OK);
  ck_assert_int_eq(xf_error_code(e), XF_ENOMEM);
  ck_assert_str_eq(xf_error_type(e), "MemoryError");
  ck_assert_str_eq(xf_error_message(e), "callback: out of memory");
  xf_error_unref(e);
  ck_assert_int_eq(xf_signature_error_new(NULL, "void()", XF_ERANGE, &e), XF_OK);
  ck_assert_str_eq(xf_error_type(e), "OverflowError");
  ck_assert_str_eq(xf_error_message(e), "value out of range");
  xf_error_unref(e);

  e = (xf_error_t *) 1;
  ck_assert_int_eq(xf_signature_error_new("x", "int(", XF_OK, &e), XF_EINVAL);
  ck_assert_ptr_null(e);
  e = (xf_error_t *) 1;
  ck_assert_int_eq(xf_signature_error_new("x", "int(", 3, &e), XF_EINVAL);
  ck_assert_ptr_null(e);
  ck_assert_int_eq(xf_signature_error_new("x", "int(", XF_EINVAL, NULL), XF_EINVAL);
}
END_TEST

/* Without memory the caller still gets an error to raise: the MemoryError. */
START_TEST(test_error_enomem) {
  long before = xft_alloc_live();
  int failures = 0;
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_error_t *e = NULL;
    int rc = xf_signature_error_new("callback", "int(uint33)", XF_EINVAL, &e);
    ck_assert_ptr_nonnull(e);
    if (rc == XF_ENOMEM) {
      ck_assert_int_eq(xf_error_code(e), XF_ENOMEM);
      xf_error_unref(e);
      failures++;
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    ck_assert_int_eq(xf_error_code(e), XF_EINVAL);
    xf_error_unref(e);
  }
  ck_assert_int_ge(failures, 1);
  ck_assert_int_eq(xft_alloc_live(), before);
}
END_TEST

static Suite *signature_suite(void) {
  Suite *s = suite_create("signature");
  TCase *tc = tcase_create("parse");
  tcase_add_test(tc, test_every_type);
  tcase_add_test(tc, test_canonical_and_aliases);
  tcase_add_test(tc, test_rejected_with_messages);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_test(tc, test_error_messages);
  tcase_add_test(tc, test_error_other_codes);
  tcase_add_test(tc, test_error_enomem);
  suite_add_tcase(s, tc);
  tc = tcase_create("bad_input");
  tcase_add_test(tc, test_bad_input);
  suite_add_tcase(s, tc);
  tc = tcase_create("enomem");
  tcase_add_test(tc, test_enomem);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return xft_main(signature_suite());
}

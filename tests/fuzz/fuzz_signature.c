/* A fuzzer of the signature parser (xf_signature_parse, xf/closure.h).
 *
 * Input: one control byte, then the text. The control byte chooses the size
 * of the error buffer (0 to 63 bytes, allocated to exactly that size so that
 * ASan sees a write past its end) and, with its top bit, a second parse in
 * which one allocation fails (the n-th, n from the next byte).
 *
 * Invariants: every text parses (XF_OK) or is refused with XF_EINVAL (or
 * XF_ENOMEM when an allocation was made to fail), never anything else; a
 * refusal writes a NUL-terminated sentence into a non-empty error buffer; a
 * parsed signature has at most XF_SIGNATURE_MAX_ARGS arguments of valid,
 * non-void types, its canonical text is what the header says it is (built
 * here from xf_ctype_name) and parses again to the same signature with the
 * same text; and every block allocated is freed.
 */
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void) argc;
  (void) argv;
  fuzz_install_allocator();
  return 0;
}

static bool valid_type(int t) {
  return t >= XF_C_VOID && t <= XF_C_STRING && xf_ctype_name(t) != NULL;
}

/* The canonical text, rebuilt from the parsed types as closure.h defines
 * it: the first name of each type, ", " between arguments, "()" for none. */
static void canonical(const xf_signature_t *sig, char *buf, size_t len) {
  size_t at = 0;
  int arity = xf_signature_arity(sig);
  at += (size_t) snprintf(buf + at, len - at, "%s(",
                          xf_ctype_name(xf_signature_return_type(sig)));
  for (int i = 0; i < arity; i++)
    at += (size_t) snprintf(buf + at, len - at, "%s%s", i ? ", " : "",
                            xf_ctype_name(xf_signature_arg_type(sig, (size_t) i)));
  snprintf(buf + at, len - at, ")");
}

static void check_parsed(const xf_signature_t *sig) {
  int arity = xf_signature_arity(sig);
  FUZZ_CHECK(arity >= 0 && arity <= XF_SIGNATURE_MAX_ARGS);
  int ret = xf_signature_return_type(sig);
  FUZZ_CHECK(valid_type(ret));
  for (int i = 0; i < arity; i++) {
    int t = xf_signature_arg_type(sig, (size_t) i);
    FUZZ_CHECK(valid_type(t) && t != XF_C_VOID);
  }
  FUZZ_CHECK(xf_signature_arg_type(sig, (size_t) arity) == XF_ERANGE);
  const char *text = xf_signature_text(sig);
  FUZZ_CHECK(text != NULL);
  /* 32 arguments of at most 7 characters and a separator each. */
  char expect[512];
  canonical(sig, expect, sizeof expect);
  FUZZ_CHECKF(strcmp(text, expect) == 0, "text \"%s\", expected \"%s\"", text, expect);

  xf_signature_t *again = NULL;
  int rc = xf_signature_parse(text, NULL, 0, &again);
  FUZZ_CHECKF(rc == XF_OK, "canonical text \"%s\" does not parse: %s", text,
              xf_err_name(rc));
  FUZZ_CHECK(xf_signature_arity(again) == arity);
  FUZZ_CHECK(xf_signature_return_type(again) == ret);
  for (int i = 0; i < arity; i++)
    FUZZ_CHECK(xf_signature_arg_type(again, (size_t) i) ==
               xf_signature_arg_type(sig, (size_t) i));
  FUZZ_CHECK(strcmp(xf_signature_text(again), text) == 0);
  FUZZ_CHECK(xf_signature_ref(again) == again);
  xf_signature_unref(again);
  xf_signature_unref(again);
}

/* One parse; fail_nth 0 lets every allocation succeed. */
static void parse_once(const char *text, size_t errlen, unsigned long fail_nth) {
  char *errbuf = errlen ? malloc(errlen) : NULL;
  if (errbuf)
    memset(errbuf, 'X', errlen);
  xf_signature_t *sig = NULL;
  fuzz_fail_nth(fail_nth);
  int rc = xf_signature_parse(text, errbuf, errlen, &sig);
  fuzz_fail_nth(0);
  if (rc == XF_OK) {
    FUZZ_CHECK(sig != NULL);
    check_parsed(sig);
    xf_signature_unref(sig);
  } else {
    FUZZ_CHECKF(rc == XF_EINVAL || (fail_nth && rc == XF_ENOMEM), "parse returned %s",
                xf_err_name(rc));
    if (rc == XF_EINVAL && errbuf) {
      FUZZ_CHECK(memchr(errbuf, '\0', errlen) != NULL);
      FUZZ_CHECK(errlen == 1 || errbuf[0] != '\0');
    }
  }
  free(errbuf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in_t in = {data, size};
  uint8_t control = fuzz_u8(&in);
  unsigned long fail_nth = control & 0x80 ? 1 + fuzz_u8(&in) % 8 : 0;
  size_t len;
  const uint8_t *p = fuzz_bytes(&in, in.n, &len);
  /* The parser takes a C string: everything after an embedded NUL is
   * simply not part of the text. */
  char *text = malloc(len + 1);
  memcpy(text, p, len);
  text[len] = '\0';

  long live = fuzz_live();
  parse_once(text, control & 0x3f, 0);
  if (fail_nth)
    parse_once(text, control & 0x3f, fail_nth);
  fuzz_check_leaks(live);
  free(text);
  return 0;
}

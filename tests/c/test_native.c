/* Native calls: C functions of any signature run on an executor through
 * ffi_call — cos from libm found with dlsym, a six-argument function of
 * mixed types, every type round-tripping, argument checks before anything
 * runs, copied strings, true parallelism, and failed allocations. */
#include <check.h>
#include <dlfcn.h>
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include <xf/xf.h>

static xf_value_t *double_value(double d) {
  xf_value_t *v;
  ck_assert_int_eq(xf_value_new_double(d, &v), XF_OK);
  return v;
}

static xf_value_t *string_value(const char *s) {
  xf_value_t *v;
  ck_assert_int_eq(xf_value_new_cstring(s, &v), XF_OK);
  return v;
}

static xf_value_t *pointer_value(void *p) {
  xf_value_t *v;
  ck_assert_int_eq(xf_value_new_pointer(p, NULL, &v), XF_OK);
  return v;
}

static void unref_all(xf_value_t **vs, size_t n) {
  for (size_t i = 0; i < n; i++)
    xf_value_unref(vs[i]);
}

/* Submit, wait, and give back the value (the caller unrefs it). */
static xf_value_t *call(xf_executor_t *ex, void *fn, const char *sig, xf_value_t **args,
                        size_t n) {
  xf_future_t *f;
  int rc = xf_executor_submit_native(ex, fn, sig, args, n, &f);
  ck_assert_msg(rc == XF_OK, "%s: %s", sig, xf_err_name(rc));
  xf_value_t *v;
  ck_assert_int_eq(xf_future_result(f, -1, &v), XF_OK);
  xf_future_unref(f);
  return v;
}

static double get_double(xf_value_t *v) {
  double d = -1;
  ck_assert_int_eq(xf_value_get_double(v, &d), XF_OK);
  return d;
}

/* ---- libm and a six-argument function ----------------------------------- */

START_TEST(test_cos_from_libm) {
  xf_executor_t *ex = xft_pool(2);
  void *fn = dlsym(RTLD_DEFAULT, "cos");
  ck_assert_ptr_nonnull(fn);
  volatile double x = 0.5;
  xf_value_t *arg = double_value(x);
  xf_value_t *v = call(ex, fn, "double(double)", &arg, 1);
  ck_assert_double_eq(get_double(v), cos(x));
  xf_value_unref(v);
  /* An int argument is accepted for a double parameter. */
  xf_value_unref(arg);
  arg = xft_int(0);
  v = call(ex, fn, "double(double)", &arg, 1);
  ck_assert_double_eq(get_double(v), 1.0);
  xf_value_unref(v);
  xf_value_unref(arg);
  xf_executor_unref(ex);
}
END_TEST

static double six(int8_t a, uint16_t b, int64_t c, float d, const char *s, double e) {
  return (double) a + (double) b + (double) c + (double) d + (double) strlen(s) + e;
}

START_TEST(test_six_mixed_arguments) {
  xf_executor_t *ex = xft_pool(2);
  xf_value_t *args[6] = {xft_int(-3),       xft_int(60000),       xft_int(1ll << 40),
                         double_value(0.5), string_value("four"), double_value(0.25)};
  xf_value_t *v = call(ex, (void *) six,
                       "double(int8, uint16, int64, float, string, double)", args, 6);
  ck_assert_double_eq(get_double(v), six(-3, 60000, 1ll << 40, 0.5f, "four", 0.25));
  xf_value_unref(v);
  unref_all(args, 6);
  xf_executor_unref(ex);
}
END_TEST

/* ---- Every type round-trips ---------------------------------------------- */

static int8_t id_int8(int8_t x) {
  return x;
}
static int16_t id_int16(int16_t x) {
  return x;
}
static int32_t id_int32(int32_t x) {
  return x;
}
static int64_t id_int64(int64_t x) {
  return x;
}
static uint8_t id_uint8(uint8_t x) {
  return x;
}
static uint16_t id_uint16(uint16_t x) {
  return x;
}
static uint32_t id_uint32(uint32_t x) {
  return x;
}
static uint64_t id_uint64(uint64_t x) {
  return x;
}
static size_t id_size(size_t x) {
  return x;
}
static float id_float(float x) {
  return x;
}
static double id_double(double x) {
  return x;
}
static void *id_pointer(void *x) {
  return x;
}
static const char *id_string(const char *x) {
  return x;
}

/* Calls fn (of signature "T(T)") with v and checks the same value comes back. */
static void round_trip(xf_executor_t *ex, void *fn, const char *sig, xf_value_t *v) {
  xf_value_t *got = call(ex, fn, sig, &v, 1);
  ck_assert_msg(xf_value_equal(got, v), "%s did not round-trip (kind %d -> %d)", sig,
                xf_value_kind(v), xf_value_kind(got));
  xf_value_unref(got);
  xf_value_unref(v);
}

START_TEST(test_every_type_round_trips) {
  xf_executor_t *ex = xft_pool(2);
  static const int64_t i8[] = {INT8_MIN, -1, 0, INT8_MAX};
  static const int64_t i16[] = {INT16_MIN, -1, 0, INT16_MAX};
  static const int64_t i32[] = {INT32_MIN, -1, 0, INT32_MAX};
  static const int64_t i64[] = {INT64_MIN, -1, 0, INT64_MAX};
  static const int64_t u8[] = {0, 0x80, UINT8_MAX};
  static const int64_t u16[] = {0, 0x8000, UINT16_MAX};
  static const int64_t u32[] = {0, 0x80000000ll, UINT32_MAX};
  /* uint64 and size_t carry the int64's bits: -1 is UINT64_MAX. */
  static const int64_t u64[] = {0, INT64_MAX, INT64_MIN, -1};
  for (size_t i = 0; i < 4; i++) {
    round_trip(ex, (void *) id_int8, "int8(int8)", xft_int(i8[i]));
    round_trip(ex, (void *) id_int16, "int16(int16)", xft_int(i16[i]));
    round_trip(ex, (void *) id_int32, "int32(int32)", xft_int(i32[i]));
    round_trip(ex, (void *) id_int64, "int64(int64)", xft_int(i64[i]));
    round_trip(ex, (void *) id_uint64, "uint64(uint64)", xft_int(u64[i]));
    round_trip(ex, (void *) id_size, "size_t(size_t)", xft_int(u64[i]));
  }
  for (size_t i = 0; i < 3; i++) {
    round_trip(ex, (void *) id_uint8, "uint8(uint8)", xft_int(u8[i]));
    round_trip(ex, (void *) id_uint16, "uint16(uint16)", xft_int(u16[i]));
    round_trip(ex, (void *) id_uint32, "uint32(uint32)", xft_int(u32[i]));
  }
  static const double floats[] = {0.0, -1.5, 0.25, FLT_MAX, -FLT_MAX, INFINITY, NAN};
  for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
    round_trip(ex, (void *) id_float, "float(float)", double_value(floats[i]));
  static const double doubles[] = {0.0, -2.5, 0.1, DBL_MAX, DBL_MIN, -INFINITY, NAN};
  for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++)
    round_trip(ex, (void *) id_double, "double(double)", double_value(doubles[i]));
  int anchor;
  round_trip(ex, (void *) id_pointer, "pointer(pointer)", pointer_value(&anchor));
  round_trip(ex, (void *) id_pointer, "pointer(pointer)", xf_value_void());
  round_trip(ex, (void *) id_string, "string(string)", string_value("h\xc3\xa9llo"));
  round_trip(ex, (void *) id_string, "string(string)", string_value(""));
  round_trip(ex, (void *) id_string, "string(string)", xf_value_void());
  /* Bytes that are not UTF-8 go in as a char* and come back as bytes. */
  xf_value_t *bytes;
  ck_assert_int_eq(xf_value_new_bytes("\xff\xfe", 2, &bytes), XF_OK);
  round_trip(ex, (void *) id_string, "string(string)", bytes);
  /* NULL pointers: void, or the integer 0, in; void out. */
  xf_value_t *zero = xft_int(0);
  xf_value_t *v = call(ex, (void *) id_pointer, "pointer(pointer)", &zero, 1);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_VOID);
  xf_value_unref(v);
  xf_value_unref(zero);
  /* A float argument takes the nearest float. */
  xf_value_t *third = double_value(1.0 / 3.0);
  v = call(ex, (void *) id_float, "float(float)", &third, 1);
  ck_assert_double_eq(get_double(v), (double) (float) (1.0 / 3.0));
  xf_value_unref(v);
  xf_value_unref(third);
  xf_executor_unref(ex);
}
END_TEST

static _Atomic int void_calls;

static void bump(void) {
  atomic_fetch_add(&void_calls, 1);
}

START_TEST(test_void_function) {
  xf_executor_t *ex = xft_pool(1);
  atomic_store(&void_calls, 0);
  xf_value_t *v = call(ex, (void *) bump, "void()", NULL, 0);
  ck_assert_int_eq(xf_value_kind(v), XF_KIND_VOID);
  ck_assert_int_eq(atomic_load(&void_calls), 1);
  xf_value_unref(v);
  v = call(ex, (void *) bump, "void(void)", NULL, 0);
  ck_assert_int_eq(atomic_load(&void_calls), 2);
  xf_value_unref(v);
  xf_executor_unref(ex);
}
END_TEST

/* ---- Checks before anything runs ----------------------------------------- */

static _Atomic int checked_calls;

static int64_t counted(int8_t a, uint8_t b, float c, const char *d, void *e) {
  (void) e;
  atomic_fetch_add(&checked_calls, 1);
  return a + b + (int64_t) c + (int64_t) strlen(d);
}

static int submit_counted(xf_executor_t *ex, xf_value_t **args, size_t n) {
  xf_future_t *f = (xf_future_t *) 1;
  int rc = xf_executor_submit_native(
      ex, (void *) counted, "int64(int8, uint8, float, string, pointer)", args, n, &f);
  if (rc == XF_OK) {
    xf_future_wait(f, -1);
    xf_future_unref(f);
  } else {
    ck_assert_ptr_null(f);
  }
  return rc;
}

START_TEST(test_arguments_checked_first) {
  xf_executor_t *ex = xft_pool(1);
  atomic_store(&checked_calls, 0);
  xf_value_t *good[5] = {xft_int(1), xft_int(2), double_value(3.0), string_value("four"),
                         xf_value_void()};
  ck_assert_int_eq(submit_counted(ex, good, 5), XF_OK);
  ck_assert_int_eq(atomic_load(&checked_calls), 1);

  /* Counts. */
  ck_assert_int_eq(submit_counted(ex, good, 4), XF_EINVAL);
  ck_assert_int_eq(submit_counted(ex, good, 0), XF_EINVAL);
  ck_assert_int_eq(submit_counted(ex, NULL, 5), XF_EINVAL);

  /* Kinds, ranges and bad strings, one argument at a time. */
  xf_value_t *nul;
  ck_assert_int_eq(xf_value_new_string("a\0b", 3, &nul), XF_OK);
  struct {
    int index;
    xf_value_t *v;
    int code;
  } bad[] = {
      {0, string_value("1"), XF_ETYPE}, {0, double_value(1.0), XF_ETYPE},
      {0, xft_int(128), XF_ERANGE},     {0, xft_int(-129), XF_ERANGE},
      {1, xft_int(-1), XF_ERANGE},      {1, xft_int(256), XF_ERANGE},
      {2, string_value("3"), XF_ETYPE}, {2, double_value(1e39), XF_ERANGE},
      {3, xft_int(4), XF_ETYPE},        {3, nul, XF_EINVAL},
      {4, xft_int(5), XF_ETYPE},        {4, string_value("p"), XF_ETYPE},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    xf_value_t *args[5];
    memcpy(args, good, sizeof args);
    args[bad[i].index] = bad[i].v;
    ck_assert_msg(submit_counted(ex, args, 5) == bad[i].code, "case %zu", i);
    args[bad[i].index] = NULL;
    ck_assert_int_eq(submit_counted(ex, args, 5), XF_EINVAL);
    xf_value_unref(bad[i].v);
  }
  ck_assert_int_eq(atomic_load(&checked_calls), 1);

  /* Bad signatures, handles and functions. */
  xf_future_t *f = (xf_future_t *) 1;
  ck_assert_int_eq(
      xf_executor_submit_native(ex, (void *) counted, "int64(int9)", good, 1, &f),
      XF_EINVAL);
  ck_assert_ptr_null(f);
  ck_assert_int_eq(xf_executor_submit_native(ex, (void *) counted, NULL, good, 1, &f),
                   XF_EINVAL);
  ck_assert_int_eq(xf_executor_submit_native(ex, NULL, "void()", NULL, 0, &f), XF_EINVAL);
  ck_assert_int_eq(xf_executor_submit_native(NULL, (void *) bump, "void()", NULL, 0, &f),
                   XF_EINVAL);
  ck_assert_int_eq(xf_executor_submit_native(ex, (void *) bump, "void()", NULL, 0, NULL),
                   XF_EINVAL);
  ck_assert_int_eq(xf_executor_submit_native_sig(ex, (void *) bump, NULL, NULL, 0, &f),
                   XF_EINVAL);
  ck_assert_int_eq(atomic_load(&checked_calls), 1);

  /* After shutdown. */
  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  ck_assert_int_eq(submit_counted(ex, good, 5), XF_ESHUTDOWN);
  unref_all(good, 5);
  xf_executor_unref(ex);
}
END_TEST

/* ---- Strings are copied; no lock is held --------------------------------- */

static _Atomic int gate;

static int wait_gate(void *data, xf_future_t *f) {
  (void) data;
  (void) f;
  while (!atomic_load(&gate)) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return XF_OK;
}

static int64_t length(const char *s) {
  return (int64_t) strlen(s);
}

START_TEST(test_string_arguments_copied) {
  xf_executor_t *ex = xft_pool(1);
  atomic_store(&gate, 0);
  xf_future_t *blocker, *f;
  ck_assert_int_eq(xf_executor_submit(ex, wait_gate, NULL, NULL, &blocker), XF_OK);
  char text[] = "twelve chars";
  xf_value_t *arg = string_value(text);
  ck_assert_int_eq(
      xf_executor_submit_native(ex, (void *) length, "int64(string)", &arg, 1, &f),
      XF_OK);
  /* The caller's value and buffer may go before the function runs. */
  xf_value_unref(arg);
  memset(text, 0, sizeof text);
  atomic_store(&gate, 1);
  xf_value_t *v;
  ck_assert_int_eq(xf_future_result(f, -1, &v), XF_OK);
  int64_t n = -1;
  ck_assert_int_eq(xf_value_get_int(v, &n), XF_OK);
  ck_assert_int_eq(n, 12);
  xf_value_unref(v);
  xf_future_unref(f);
  xf_future_unref(blocker);
  xf_executor_unref(ex);
}
END_TEST

/* Two native calls that can only both return if they run at the same time. */
static _Atomic int arrived;

static int32_t rendezvous(int32_t timeout_ms) {
  atomic_fetch_add(&arrived, 1);
  for (int32_t i = 0; i < timeout_ms; i++) {
    if (atomic_load(&arrived) >= 2)
      return 1;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

START_TEST(test_runs_in_parallel) {
  xf_executor_t *ex = xft_pool(2);
  atomic_store(&arrived, 0);
  xf_value_t *arg = xft_int(30000);
  xf_future_t *fs[2];
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(xf_executor_submit_native(ex, (void *) rendezvous, "int32(int32)",
                                               &arg, 1, &fs[i]),
                     XF_OK);
  for (int i = 0; i < 2; i++) {
    xf_value_t *v;
    int64_t met = -1;
    ck_assert_int_eq(xf_future_result(fs[i], -1, &v), XF_OK);
    ck_assert_int_eq(xf_value_get_int(v, &met), XF_OK);
    ck_assert_int_eq(met, 1);
    xf_value_unref(v);
    xf_future_unref(fs[i]);
  }
  xf_value_unref(arg);
  xf_executor_unref(ex);
}
END_TEST

/* ---- Failed allocations ---------------------------------------------------- */

static void wait_completed(xf_executor_t *ex, uint64_t n) {
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  for (;;) {
    ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
    if (st.completed >= n)
      return;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
}

START_TEST(test_enomem) {
  xf_executor_t *ex = xft_pool(1);
  xf_value_t *args[2] = {string_value("a string argument"), xft_int(3)};
  /* Start the worker first: its start-up allocations are not counted. */
  xf_value_t *v = call(ex, (void *) bump, "void()", NULL, 0);
  xf_value_unref(v);
  uint64_t ran = 1;
  wait_completed(ex, ran);
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_future_t *f;
    int rc = xf_executor_submit_native(ex, (void *) strnlen, "size_t(string, size_t)",
                                       args, 2, &f);
    xft_alloc_fail_at(-1);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(f);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    ck_assert_int_eq(xf_future_result(f, -1, &v), XF_OK);
    int64_t len = -1;
    ck_assert_int_eq(xf_value_get_int(v, &len), XF_OK);
    ck_assert_int_eq(len, 3);
    xf_value_unref(v);
    xf_future_unref(f);
    wait_completed(ex, ++ran);
  }
  unref_all(args, 2);
  xf_executor_unref(ex);
}
END_TEST

static Suite *native_suite(void) {
  Suite *s = suite_create("native");
  TCase *tc = tcase_create("calls");
  tcase_add_test(tc, test_cos_from_libm);
  tcase_add_test(tc, test_six_mixed_arguments);
  tcase_add_test(tc, test_every_type_round_trips);
  tcase_add_test(tc, test_void_function);
  suite_add_tcase(s, tc);
  tc = tcase_create("checks");
  tcase_add_test(tc, test_arguments_checked_first);
  suite_add_tcase(s, tc);
  tc = tcase_create("threads");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_string_arguments_copied);
  tcase_add_test(tc, test_runs_in_parallel);
  suite_add_tcase(s, tc);
  tc = tcase_create("enomem");
  tcase_add_test(tc, test_enomem);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return xft_main(native_suite());
}

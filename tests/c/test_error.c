/* Tests for xf/error.h. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "xf/xf.h"

/* A pointer destructor that counts its calls in the int it is given. */
static void count_dtor(void *p) {
  atomic_fetch_add((atomic_int *) p, 1);
}

static xf_value_t *counted_pointer(atomic_int *calls) {
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_value_new_pointer(calls, count_dtor, &v), XF_OK);
  return v;
}

/* ---- Creation ------------------------------------------------------------- */

START_TEST(test_new) {
  xf_error_t *e = NULL;
  ck_assert_int_eq(xf_error_new(XF_EFAILED, "KeyError", "'missing'", &e), XF_OK);
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(xf_error_code(e), XF_EFAILED);
  ck_assert_str_eq(xf_error_type(e), "KeyError");
  ck_assert_str_eq(xf_error_message(e), "'missing'");
  ck_assert_ptr_null(xf_error_traceback(e));
  ck_assert_ptr_null(xf_error_payload(e));
  xf_error_unref(e);
}
END_TEST

START_TEST(test_new_defaults) {
  xf_error_t *e = NULL;
  ck_assert_int_eq(xf_error_new(XF_ETIMEDOUT, NULL, NULL, &e), XF_OK);
  ck_assert_str_eq(xf_error_type(e), "TimeoutError");
  ck_assert_str_eq(xf_error_message(e), xf_strerror(XF_ETIMEDOUT));
  xf_error_unref(e);

  ck_assert_int_eq(xf_error_new(XF_ECANCELLED, NULL, "stop", &e), XF_OK);
  ck_assert_str_eq(xf_error_type(e), "CancelledError");
  ck_assert_str_eq(xf_error_message(e), "stop");
  xf_error_unref(e);

  ck_assert_int_eq(xf_error_new(XF_EFAILED, "OSError", NULL, &e), XF_OK);
  ck_assert_str_eq(xf_error_type(e), "OSError");
  ck_assert_str_eq(xf_error_message(e), xf_strerror(XF_EFAILED));
  xf_error_unref(e);

  /* Empty strings are kept, not replaced by the defaults. */
  ck_assert_int_eq(xf_error_new(XF_EINVAL, "", "", &e), XF_OK);
  ck_assert_str_eq(xf_error_type(e), "");
  ck_assert_str_eq(xf_error_message(e), "");
  xf_error_unref(e);
}
END_TEST

START_TEST(test_strings_are_copied) {
  char type[] = "ValueError", message[] = "bad value", tb[] = "line 1\nline 2";
  xf_error_t *e = NULL;
  ck_assert_int_eq(xf_error_new_full(XF_EINVAL, type, message, tb, NULL, &e), XF_OK);
  memset(type, 'x', sizeof type - 1);
  memset(message, 'x', sizeof message - 1);
  memset(tb, 'x', sizeof tb - 1);
  ck_assert_str_eq(xf_error_type(e), "ValueError");
  ck_assert_str_eq(xf_error_message(e), "bad value");
  ck_assert_str_eq(xf_error_traceback(e), "line 1\nline 2");
  xf_error_unref(e);
}
END_TEST

START_TEST(test_long_strings) {
  size_t n = 100000;
  char *big = malloc(n + 1);
  ck_assert_ptr_nonnull(big);
  memset(big, 'a', n);
  big[n] = '\0';
  xf_error_t *e = NULL;
  ck_assert_int_eq(xf_error_new_full(XF_EFAILED, big, big, big, NULL, &e), XF_OK);
  ck_assert_str_eq(xf_error_type(e), big);
  ck_assert_str_eq(xf_error_message(e), big);
  ck_assert_str_eq(xf_error_traceback(e), big);
  xf_error_unref(e);
  free(big);
}
END_TEST

START_TEST(test_codes) {
  xf_error_t *e = (xf_error_t *) 0x1;
  ck_assert_int_eq(xf_error_new(XF_OK, NULL, NULL, &e), XF_EINVAL);
  ck_assert_ptr_null(e);
  e = (xf_error_t *) 0x1;
  ck_assert_int_eq(xf_error_new(1, "T", "m", &e), XF_EINVAL);
  ck_assert_ptr_null(e);
  ck_assert_int_eq(xf_error_new_full(42, "T", "m", "tb", NULL, &e), XF_EINVAL);
  ck_assert_ptr_null(e);

  /* Every code of the table, and a negative code outside it. */
  const int codes[] = {
      XF_EINVAL,    XF_ENOMEM,       XF_ESTATE,  XF_ETIMEDOUT, XF_ECANCELLED, XF_EFAILED,
      XF_ESHUTDOWN, XF_EWRONGTHREAD, XF_EBROKEN, XF_ETYPE,     XF_EAGAIN,     XF_ECLOSED,
      XF_EBUSY,     XF_ERANGE,       XF_EDEADLK, XF_ESYS,      -1000};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    ck_assert_int_eq(xf_error_new(codes[i], NULL, NULL, &e), XF_OK);
    ck_assert_int_eq(xf_error_code(e), codes[i]);
    ck_assert_str_eq(xf_error_type(e), xf_error_default_type(codes[i]));
    ck_assert_str_eq(xf_error_message(e), xf_strerror(codes[i]));
    xf_error_unref(e);
  }
  ck_assert_int_eq(xf_error_new(XF_EINVAL, NULL, NULL, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_error_new_full(XF_EINVAL, NULL, NULL, NULL, NULL, NULL), XF_EINVAL);
}
END_TEST

START_TEST(test_default_type) {
  ck_assert_str_eq(xf_error_default_type(XF_ECANCELLED), "CancelledError");
  ck_assert_str_eq(xf_error_default_type(XF_ETIMEDOUT), "TimeoutError");
  ck_assert_str_eq(xf_error_default_type(XF_ESTATE), "InvalidStateError");
  ck_assert_str_eq(xf_error_default_type(XF_EBROKEN), "BrokenExecutor");
  ck_assert_str_eq(xf_error_default_type(XF_ENOMEM), "MemoryError");
  ck_assert_str_eq(xf_error_default_type(XF_ETYPE), "TypeError");
  ck_assert_str_eq(xf_error_default_type(XF_EINVAL), "ValueError");
  ck_assert_str_eq(xf_error_default_type(XF_EAGAIN), "QueueFull");
  ck_assert_str_eq(xf_error_default_type(XF_ERANGE), "OverflowError");
  ck_assert_str_eq(xf_error_default_type(XF_EDEADLK), "DeadlockError");
  ck_assert_str_eq(xf_error_default_type(XF_ESYS), "OSError");
  ck_assert_str_eq(xf_error_default_type(XF_OK), "");
  const int others[] = {XF_EFAILED, XF_ESHUTDOWN, XF_EWRONGTHREAD, XF_ECLOSED, XF_EBUSY,
                        1,          -1000};
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
    ck_assert_str_eq(xf_error_default_type(others[i]), "RuntimeError");
}
END_TEST

/* The reverse lookup names, for each type of the table, the first code that
 * carries it, so a type name survives a trip through a code and back. */
START_TEST(test_code_of_type) {
  ck_assert_int_eq(xf_error_code_of_type("CancelledError"), XF_ECANCELLED);
  ck_assert_int_eq(xf_error_code_of_type("TimeoutError"), XF_ETIMEDOUT);
  ck_assert_int_eq(xf_error_code_of_type("InvalidStateError"), XF_ESTATE);
  ck_assert_int_eq(xf_error_code_of_type("DeadlockError"), XF_EDEADLK);
  ck_assert_int_eq(xf_error_code_of_type("QueueFull"), XF_EAGAIN);
  ck_assert_int_eq(xf_error_code_of_type("RuntimeError"), XF_EFAILED);
  ck_assert_int_eq(xf_error_code_of_type("MyOwnError"), XF_EFAILED);
  ck_assert_int_eq(xf_error_code_of_type(""), XF_EINVAL);
  ck_assert_int_eq(xf_error_code_of_type(NULL), XF_EINVAL);
  const int codes[] = {XF_EINVAL,     XF_ENOMEM,  XF_ESTATE,  XF_ETIMEDOUT,
                       XF_ECANCELLED, XF_EFAILED, XF_EBROKEN, XF_ETYPE,
                       XF_EAGAIN,     XF_ERANGE,  XF_EDEADLK, XF_ESYS};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    ck_assert_int_eq(xf_error_code_of_type(xf_error_default_type(codes[i])), codes[i]);
}
END_TEST

/* The error table is the one source of type names: every row but XF_OK names
 * a type, xf_error_default_type gives the row's type for each code, and
 * xf_error_code_of_type gives back the first row that carries a type. */
START_TEST(test_table_types_complete) {
  static const struct {
    int code;
    const char *type;
  } rows[] = {
#define XFT_ROW(name, value, text, type) {value, type},
      XF_ERRNO_MAP(XFT_ROW)
#undef XFT_ROW
  };
  size_t n = sizeof rows / sizeof rows[0];
  ck_assert_uint_ge(n, 2);
  for (size_t i = 0; i < n; i++) {
    ck_assert_str_eq(xf_error_default_type(rows[i].code), rows[i].type);
    if (rows[i].code == XF_OK) {
      ck_assert_str_eq(rows[i].type, "");
      continue;
    }
    ck_assert_msg(rows[i].type[0] != '\0', "%s has no type", xf_err_name(rows[i].code));
    size_t first = 0;
    while (strcmp(rows[first].type, rows[i].type) != 0)
      first++;
    ck_assert_int_eq(xf_error_code_of_type(rows[i].type), rows[first].code);
  }
}
END_TEST

/* ---- Traceback and payload ------------------------------------------------ */

START_TEST(test_full) {
  xf_value_t *payload = NULL;
  ck_assert_int_eq(xf_value_new_cstring("original", &payload), XF_OK);
  xf_error_t *e = NULL;
  ck_assert_int_eq(xf_error_new_full(XF_EFAILED, "ZeroDivisionError", "division by zero",
                                     "Traceback (most recent call last):\n", payload, &e),
                   XF_OK);
  ck_assert_int_eq(xf_error_code(e), XF_EFAILED);
  ck_assert_str_eq(xf_error_type(e), "ZeroDivisionError");
  ck_assert_str_eq(xf_error_message(e), "division by zero");
  ck_assert_str_eq(xf_error_traceback(e), "Traceback (most recent call last):\n");
  ck_assert_ptr_eq(xf_error_payload(e), payload); /* the same value, not a copy */
  xf_error_unref(e);
  xf_value_unref(payload);

  ck_assert_int_eq(xf_error_new_full(XF_EFAILED, NULL, NULL, "", NULL, &e), XF_OK);
  ck_assert_str_eq(xf_error_traceback(e), "");
  ck_assert_ptr_null(xf_error_payload(e));
  xf_error_unref(e);
}
END_TEST

START_TEST(test_payload_reference) {
  atomic_int dtor_calls = 0;
  xf_value_t *payload = counted_pointer(&dtor_calls);
  xf_error_t *e = NULL;
  ck_assert_int_eq(xf_error_new_full(XF_EFAILED, NULL, NULL, NULL, payload, &e), XF_OK);
  xf_value_unref(payload); /* the error keeps it alive */
  ck_assert_int_eq(dtor_calls, 0);
  void *p = NULL;
  ck_assert_int_eq(xf_value_get_pointer(xf_error_payload(e), &p), XF_OK);
  ck_assert_ptr_eq(p, &dtor_calls);
  xf_error_unref(e);
  ck_assert_int_eq(dtor_calls, 1);
}
END_TEST

/* What the object hooks saw. */
typedef struct hook_log {
  atomic_int retains;
  atomic_int releases;
} hook_log_t;

static void log_retain(void *object, void *hook_data) {
  (void) object;
  atomic_fetch_add(&((hook_log_t *) hook_data)->retains, 1);
}

static void log_release(void *object, void *hook_data) {
  (void) object;
  atomic_fetch_add(&((hook_log_t *) hook_data)->releases, 1);
}

START_TEST(test_object_payload) {
  /* The original exception travels as an object value and is released once,
   * with the last reference to the error. */
  hook_log_t log = {0};
  xf_object_hooks_t hooks = {.sz = sizeof hooks,
                             .name = "test",
                             .retain = log_retain,
                             .release = log_release,
                             .hook_data = &log};
  int exception;
  xf_value_t *payload = NULL;
  ck_assert_int_eq(xf_value_new_object(&exception, &hooks, &payload), XF_OK);
  xf_error_t *e = NULL;
  ck_assert_int_eq(xf_error_new_full(XF_EFAILED, "ValueError", "v", NULL, payload, &e),
                   XF_OK);
  xf_value_unref(payload);
  xf_error_t *e2 = xf_error_ref(e);
  xf_error_unref(e);
  ck_assert_int_eq(log.releases, 0);
  void *obj = NULL;
  const xf_object_hooks_t *got_hooks = NULL;
  ck_assert_int_eq(xf_value_get_object(xf_error_payload(e2), &obj, &got_hooks), XF_OK);
  ck_assert_ptr_eq(obj, &exception);
  ck_assert_ptr_eq(got_hooks, &hooks);
  xf_error_unref(e2);
  ck_assert_int_eq(log.retains, 1);
  ck_assert_int_eq(log.releases, 1);
}
END_TEST

START_TEST(test_error_payload_chain) {
  /* An error whose payload is an error value: the cause of the cause. */
  atomic_int dtor_calls = 0;
  xf_value_t *root = counted_pointer(&dtor_calls);
  xf_error_t *cause = NULL;
  ck_assert_int_eq(xf_error_new_full(XF_EFAILED, "KeyError", "k", NULL, root, &cause),
                   XF_OK);
  xf_value_unref(root);
  for (int i = 0; i < 100; i++) {
    xf_value_t *v = NULL;
    ck_assert_int_eq(xf_value_new_error(cause, &v), XF_OK);
    xf_error_unref(cause);
    ck_assert_int_eq(
        xf_error_new_full(XF_EFAILED, "RuntimeError", "wrapped", NULL, v, &cause), XF_OK);
    xf_value_unref(v);
  }
  ck_assert_int_eq(dtor_calls, 0);
  xf_error_unref(cause);
  ck_assert_int_eq(dtor_calls, 1);
}
END_TEST

/* ---- Reference counting and NULL ------------------------------------------ */

START_TEST(test_refcount) {
  atomic_int dtor_calls = 0;
  xf_value_t *payload = counted_pointer(&dtor_calls);
  xf_error_t *e = NULL;
  ck_assert_int_eq(xf_error_new_full(XF_EFAILED, NULL, NULL, NULL, payload, &e), XF_OK);
  xf_value_unref(payload);
  ck_assert_ptr_eq(xf_error_ref(e), e);
  ck_assert_ptr_eq(xf_error_ref(e), e);
  xf_error_unref(e);
  xf_error_unref(e);
  ck_assert_int_eq(dtor_calls, 0);
  ck_assert_str_eq(xf_error_message(e), xf_strerror(XF_EFAILED));
  xf_error_unref(e);
  ck_assert_int_eq(dtor_calls, 1);
}
END_TEST

START_TEST(test_null) {
  ck_assert_ptr_null(xf_error_ref(NULL));
  xf_error_unref(NULL);
  ck_assert_int_eq(xf_error_code(NULL), XF_EINVAL);
  ck_assert_str_eq(xf_error_type(NULL), "");
  ck_assert_str_eq(xf_error_message(NULL), "");
  ck_assert_ptr_null(xf_error_traceback(NULL));
  ck_assert_ptr_null(xf_error_payload(NULL));
}
END_TEST

/* ---- Allocation failures -------------------------------------------------- */

START_TEST(test_enomem_new) {
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_error_t *e = (xf_error_t *) 0x1;
    int rc = xf_error_new(XF_ETIMEDOUT, NULL, "late", &e);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(e);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    ck_assert_str_eq(xf_error_type(e), "TimeoutError");
    ck_assert_str_eq(xf_error_message(e), "late");
    xf_error_unref(e);
  }
}
END_TEST

START_TEST(test_enomem_new_full) {
  atomic_int dtor_calls = 0;
  xf_value_t *payload = counted_pointer(&dtor_calls);
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_error_t *e = (xf_error_t *) 0x1;
    int rc = xf_error_new_full(XF_EFAILED, "E", "m", "tb", payload, &e);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(e);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    ck_assert_str_eq(xf_error_traceback(e), "tb");
    ck_assert_ptr_eq(xf_error_payload(e), payload);
    xf_error_unref(e);
  }
  /* No pass kept or dropped a reference to the payload. */
  ck_assert_int_eq(dtor_calls, 0);
  xf_value_unref(payload);
  ck_assert_int_eq(dtor_calls, 1);
}
END_TEST

/* ---- Threads -------------------------------------------------------------- */

#define THREADS 8
#define ROUNDS  20000

/* Each thread owns one reference on entry and drops it on exit. */
static void *hammer(void *arg) {
  xf_error_t *e = arg;
  for (int i = 0; i < ROUNDS; i++) {
    xf_error_unref(xf_error_ref(e));
    if (xf_error_code(e) != XF_EFAILED || strcmp(xf_error_type(e), "E") != 0)
      ck_abort_msg("the error changed under a reader");
  }
  xf_error_unref(e);
  return NULL;
}

START_TEST(test_threads) {
  atomic_int dtor_calls = 0;
  xf_value_t *payload = counted_pointer(&dtor_calls);
  xf_error_t *e = NULL;
  ck_assert_int_eq(xf_error_new_full(XF_EFAILED, "E", "m", NULL, payload, &e), XF_OK);
  xf_value_unref(payload);
  pthread_t threads[THREADS];
  for (int t = 0; t < THREADS; t++)
    ck_assert_int_eq(pthread_create(&threads[t], NULL, hammer, xf_error_ref(e)), 0);
  xf_error_unref(e); /* the threads now hold the only references */
  for (int t = 0; t < THREADS; t++)
    ck_assert_int_eq(pthread_join(threads[t], NULL), 0);
  ck_assert_int_eq(dtor_calls, 1);
}
END_TEST

/* ---- Suite ---------------------------------------------------------------- */

static Suite *error_suite(void) {
  Suite *s = suite_create("error");
  TCase *tc;

  tc = tcase_create("create");
  tcase_add_test(tc, test_new);
  tcase_add_test(tc, test_new_defaults);
  tcase_add_test(tc, test_strings_are_copied);
  tcase_add_test(tc, test_long_strings);
  tcase_add_test(tc, test_codes);
  tcase_add_test(tc, test_default_type);
  tcase_add_test(tc, test_code_of_type);
  tcase_add_test(tc, test_table_types_complete);
  suite_add_tcase(s, tc);

  tc = tcase_create("payload");
  tcase_add_test(tc, test_full);
  tcase_add_test(tc, test_payload_reference);
  tcase_add_test(tc, test_object_payload);
  tcase_add_test(tc, test_error_payload_chain);
  suite_add_tcase(s, tc);

  tc = tcase_create("refcount");
  tcase_add_test(tc, test_refcount);
  tcase_add_test(tc, test_null);
  suite_add_tcase(s, tc);

  tc = tcase_create("enomem");
  tcase_add_test(tc, test_enomem_new);
  tcase_add_test(tc, test_enomem_new_full);
  suite_add_tcase(s, tc);

  tc = tcase_create("threads");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_threads);
  suite_add_tcase(s, tc);

  return s;
}

int main(void) {
  return xft_main(error_suite());
}

/* Closures: every type through a closure (inline, on the owner's thread and
 * from another thread), a third-party library calling back from its own
 * threads, calls that would deadlock, failing handlers, lifetimes, done
 * callbacks through closures, bad input and failed allocations. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include <xf/xf.h>

/* The thread that runs the owner loop in these tests. */
static pthread_t main_thread;

static bool on_main(void) {
  return pthread_equal(pthread_self(), main_thread);
}

static void run_until(xf_loop_t *loop, _Atomic int *counter, int target) {
  while (atomic_load(counter) < target)
    ck_assert_int_eq(xf_loop_run(loop, XF_RUN_ONCE), XF_OK);
}

static void set_flag(void *data) {
  atomic_store((_Atomic int *) data, 1);
}

static pthread_t spawn(void *(*fn)(void *), void *arg) {
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, fn, arg), 0);
  return t;
}

/* A thread that runs fn(arg), then wakes the loop to say it is done, so the
 * main thread can run the loop (XF_RUN_ONCE, sleeping) until then. */
typedef struct worker {
  void *(*fn)(void *);
  void *arg;
  xf_loop_t *loop;
  _Atomic int done;
  pthread_t thread;
} worker_t;

static void *worker_main(void *p) {
  worker_t *w = p;
  w->fn(w->arg);
  if (xf_loop_call_soon_threadsafe(w->loop, set_flag, (void *) &w->done, NULL) != XF_OK)
    atomic_store(&w->done, 1);
  return NULL;
}

static void worker_start(worker_t *w, xf_loop_t *loop, void *(*fn)(void *), void *arg) {
  w->fn = fn;
  w->arg = arg;
  w->loop = loop;
  atomic_store(&w->done, 0);
  w->thread = spawn(worker_main, w);
}

static void worker_finish(worker_t *w) {
  run_until(w->loop, &w->done, 1);
  pthread_join(w->thread, NULL);
}

/* Run fn(arg) on another thread while this one runs the loop. */
static void run_worker(xf_loop_t *loop, void *(*fn)(void *), void *arg) {
  worker_t w;
  worker_start(&w, loop, fn, arg);
  worker_finish(&w);
}

/* ---- The exception handler's record ----------------------------------- */

typedef struct report {
  pthread_mutex_t mu;
  int count;
  int last_code;
  char last_message[256];
  char last_type[64];
} report_t;

static void on_exception(xf_loop_t *loop, const char *message, xf_error_t *err,
                         void *data) {
  (void) loop;
  report_t *r = data;
  pthread_mutex_lock(&r->mu);
  r->count++;
  r->last_code = xf_error_code(err);
  snprintf(r->last_message, sizeof r->last_message, "%s", message);
  snprintf(r->last_type, sizeof r->last_type, "%s", xf_error_type(err));
  pthread_mutex_unlock(&r->mu);
}

static void report_init(report_t *r, xf_loop_t *loop) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  ck_assert_int_eq(xf_loop_set_exception_handler(loop, on_exception, r, NULL), XF_OK);
}

static int report_count(report_t *r) {
  pthread_mutex_lock(&r->mu);
  int n = r->count;
  pthread_mutex_unlock(&r->mu);
  return n;
}

/* ---- Every type round-trips -------------------------------------------- */

/* When set, handlers must run on main_thread. */
static _Atomic bool expect_main;

/* Returns its argument after checking that it arrived with the kind its C
 * type maps to. */
static int identity(void *data, xf_value_t *const *args, size_t nargs,
                    xf_value_t **result) {
  int type = (int) (intptr_t) data;
  if (nargs != 1 || !result)
    return XF_EINVAL;
  if (atomic_load(&expect_main) && !on_main())
    return XF_EWRONGTHREAD;
  int kind = xf_value_kind(args[0]);
  bool ok;
  switch (type) {
  case XF_C_FLOAT:
  case XF_C_DOUBLE:
    ok = kind == XF_KIND_DOUBLE;
    break;
  case XF_C_POINTER:
    ok = kind == XF_KIND_POINTER || kind == XF_KIND_VOID;
    break;
  case XF_C_STRING:
    ok = kind == XF_KIND_STRING || kind == XF_KIND_BYTES || kind == XF_KIND_VOID;
    break;
  default:
    ok = kind == XF_KIND_INT;
    break;
  }
  if (!ok)
    return XF_ETYPE;
  *result = xf_value_ref(args[0]);
  return XF_OK;
}

typedef struct rt {
  xf_closure_t *c[XF_C_STRING + 1];
  _Atomic int failures;
  char first[160];
  _Atomic int done;
} rt_t;

static void rt_fail(rt_t *rt, const char *what, int line) {
  if (atomic_fetch_add(&rt->failures, 1) == 0)
    snprintf(rt->first, sizeof rt->first, "line %d: %s", line, what);
}

#define RT_CHECK(rt, cond)                                                               \
  do {                                                                                   \
    if (!(cond))                                                                         \
      rt_fail(rt, #cond, __LINE__);                                                      \
  } while (0)

#define RT_TYPE(rt, ctype, T, ...)                                                       \
  do {                                                                                   \
    T (*fn)(T) = (T(*)(T)) xf_closure_code((rt)->c[ctype]);                              \
    const T vals[] = {__VA_ARGS__};                                                      \
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)                            \
      RT_CHECK(rt, fn(vals[i]) == vals[i]);                                              \
  } while (0)

typedef void *voidp;

static void rt_make(rt_t *rt, xf_loop_t *owner) {
  memset(rt, 0, sizeof *rt);
  for (int t = XF_C_INT8; t <= XF_C_STRING; t++) {
    char sig[64];
    snprintf(sig, sizeof sig, "%s(%s)", xf_ctype_name(t), xf_ctype_name(t));
    ck_assert_int_eq(
        xf_closure_new(sig, identity, (void *) (intptr_t) t, NULL, owner, &rt->c[t]),
        XF_OK);
    ck_assert_ptr_eq(xf_closure_loop(rt->c[t]), owner);
    ck_assert_str_eq(xf_signature_text(xf_closure_signature(rt->c[t])), sig);
  }
}

static void rt_free(rt_t *rt) {
  for (int t = XF_C_INT8; t <= XF_C_STRING; t++)
    xf_closure_unref(rt->c[t]);
}

/* Calls every closure with the extremes of its type. */
static void rt_run(rt_t *rt) {
  RT_TYPE(rt, XF_C_INT8, int8_t, INT8_MIN, -1, 0, 1, INT8_MAX);
  RT_TYPE(rt, XF_C_INT16, int16_t, INT16_MIN, -1, 0, INT16_MAX);
  RT_TYPE(rt, XF_C_INT32, int32_t, INT32_MIN, -1, 0, INT32_MAX);
  RT_TYPE(rt, XF_C_INT64, int64_t, INT64_MIN, -1, 0, 1 << 30, INT64_MAX);
  RT_TYPE(rt, XF_C_UINT8, uint8_t, 0, 1, 0x80, UINT8_MAX);
  RT_TYPE(rt, XF_C_UINT16, uint16_t, 0, 0x8000, UINT16_MAX);
  RT_TYPE(rt, XF_C_UINT32, uint32_t, 0, 0x80000000u, UINT32_MAX);
  RT_TYPE(rt, XF_C_UINT64, uint64_t, 0, 1, (uint64_t) INT64_MAX, 1ull << 63, UINT64_MAX);
  RT_TYPE(rt, XF_C_SIZE, size_t, 0, 4096, SIZE_MAX);
  RT_TYPE(rt, XF_C_FLOAT, float, 0.0f, -1.5f, 0.1f, FLT_MIN, FLT_MAX, -FLT_MAX, INFINITY);
  RT_TYPE(rt, XF_C_DOUBLE, double, 0.0, -2.25, 0.1, DBL_MIN, DBL_MAX, -INFINITY);
  float (*ff)(float) = (float (*)(float)) xf_closure_code(rt->c[XF_C_FLOAT]);
  double (*fd)(double) = (double (*)(double)) xf_closure_code(rt->c[XF_C_DOUBLE]);
  RT_CHECK(rt, isnan(ff(NAN)));
  RT_CHECK(rt, isnan(fd(NAN)));
  int anchor = 0;
  RT_TYPE(rt, XF_C_POINTER, voidp, &anchor, NULL, (void *) rt, (void *) (uintptr_t) 1);
  const char *(*fs)(const char *) =
      (const char *(*) (const char *) ) xf_closure_code(rt->c[XF_C_STRING]);
  static const char *const strings[] = {"hello", "", "h\xc3\xa9llo w\xc3\xb6rld",
                                        "\xff\xfe not utf-8"};
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
    const char *s = fs(strings[i]);
    RT_CHECK(rt, s != NULL && strcmp(s, strings[i]) == 0);
    RT_CHECK(rt, s != strings[i]); /* a copy, kept by the calling thread */
  }
  RT_CHECK(rt, fs(NULL) == NULL);
}

static void rt_assert(rt_t *rt) {
  ck_assert_msg(atomic_load(&rt->failures) == 0, "%d failures, first %s",
                atomic_load(&rt->failures), rt->first);
}

START_TEST(test_types_inline_without_owner) {
  rt_t rt;
  rt_make(&rt, NULL);
  rt_run(&rt);
  rt_assert(&rt);
  rt_free(&rt);
}
END_TEST

static void rt_run_cb(void *data) {
  rt_t *rt = data;
  rt_run(rt);
  atomic_store(&rt->done, 1);
}

START_TEST(test_types_on_owner_thread) {
  xf_loop_t *loop = xft_loop();
  report_t rep;
  report_init(&rep, loop);
  rt_t rt;
  rt_make(&rt, loop);
  atomic_store(&expect_main, true);
  ck_assert_int_eq(xf_loop_call_soon(loop, rt_run_cb, &rt, NULL, NULL), XF_OK);
  run_until(loop, &rt.done, 1);
  atomic_store(&expect_main, false);
  rt_assert(&rt);
  ck_assert_int_eq(report_count(&rep), 0);
  rt_free(&rt);
  xf_loop_unref(loop);
}
END_TEST

static void *rt_worker(void *arg) {
  rt_run(arg);
  return NULL;
}

/* The worker's non-void calls wait for the main thread's loop. */
START_TEST(test_types_from_another_thread) {
  xf_loop_t *loop = xft_loop();
  report_t rep;
  report_init(&rep, loop);
  rt_t rt;
  rt_make(&rt, loop);
  atomic_store(&expect_main, true);
  run_worker(loop, rt_worker, &rt);
  atomic_store(&expect_main, false);
  rt_assert(&rt);
  ck_assert_int_eq(report_count(&rep), 0);
  rt_free(&rt);
  xf_loop_unref(loop);
}
END_TEST

/* ---- Six arguments of mixed types -------------------------------------- */

static int mix6(void *data, xf_value_t *const *args, size_t nargs, xf_value_t **result) {
  (void) data;
  if (nargs != 6 || !on_main())
    return XF_EINVAL;
  int64_t a, b, c;
  double f, d;
  const char *s;
  size_t len;
  if (xf_value_get_int(args[0], &a) || xf_value_get_int(args[1], &b) ||
      xf_value_get_int(args[2], &c) || xf_value_get_double(args[3], &f) ||
      xf_value_get_string(args[4], &s, &len) || xf_value_get_double(args[5], &d))
    return XF_ETYPE;
  return xf_value_new_double((double) (a + b + c) + f + (double) len + d, result);
}

typedef double (*mix6_fn)(int8_t, uint16_t, int64_t, float, const char *, double);

typedef struct mix_job {
  mix6_fn fn;
  double got;
} mix_job_t;

static void *mix_worker(void *arg) {
  mix_job_t *job = arg;
  job->got = job->fn(-3, 60000, 1ll << 40, 0.5f, "four", 0.25);
  return NULL;
}

START_TEST(test_six_mixed_arguments) {
  xf_loop_t *loop = xft_loop();
  xf_closure_t *c;
  ck_assert_int_eq(xf_closure_new("double(int8, uint16, int64, float, string, double)",
                                  mix6, NULL, NULL, loop, &c),
                   XF_OK);
  mix_job_t job = {(mix6_fn) xf_closure_code(c), 0};
  run_worker(loop, mix_worker, &job);
  ck_assert_double_eq(job.got, -3.0 + 60000.0 + (double) (1ll << 40) + 0.5 + 4.0 + 0.25);
  xf_closure_unref(c);
  xf_loop_unref(loop);
}
END_TEST

/* ---- A third-party library calling back from its own threads ------------ */

/* The test double: a C library with a callback API that calls the callback
 * from threads of its own. */
typedef void (*lib_event_cb)(int32_t producer, int32_t seq);

typedef struct lib_producer {
  lib_event_cb cb;
  int32_t id;
  int32_t calls;
  pthread_t thread;
} lib_producer_t;

static void *lib_producer_main(void *arg) {
  lib_producer_t *p = arg;
  for (int32_t i = 0; i < p->calls; i++)
    p->cb(p->id, i);
  return NULL;
}

static void lib_start(lib_producer_t *ps, int n, lib_event_cb cb, int32_t calls) {
  for (int i = 0; i < n; i++) {
    ps[i].cb = cb;
    ps[i].id = i;
    ps[i].calls = calls;
    ck_assert_int_eq(pthread_create(&ps[i].thread, NULL, lib_producer_main, &ps[i]), 0);
  }
}

static void lib_join(lib_producer_t *ps, int n) {
  for (int i = 0; i < n; i++)
    pthread_join(ps[i].thread, NULL);
}

#define PRODUCERS    4
#define PER_PRODUCER 25000

typedef struct events {
  _Atomic int received;
  int next[PRODUCERS]; /* main thread only */
  int out_of_order;
  int off_thread;
  _Atomic int freed;
} events_t;

static int on_event(void *data, xf_value_t *const *args, size_t nargs,
                    xf_value_t **result) {
  events_t *ev = data;
  int64_t producer, seq;
  if (nargs != 2 || result || xf_value_get_int(args[0], &producer) ||
      xf_value_get_int(args[1], &seq) || producer < 0 || producer >= PRODUCERS)
    return XF_EINVAL;
  if (!on_main())
    ev->off_thread++;
  if (seq != ev->next[producer])
    ev->out_of_order++;
  ev->next[producer] = (int) seq + 1;
  atomic_fetch_add(&ev->received, 1);
  return XF_OK;
}

static void events_free(void *data) {
  events_t *ev = data;
  atomic_fetch_add(&ev->freed, 1);
}

START_TEST(test_library_threads_call_back) {
  xf_loop_t *loop = xft_loop();
  report_t rep;
  report_init(&rep, loop);
  events_t ev;
  memset(&ev, 0, sizeof ev);
  xf_closure_t *c;
  ck_assert_int_eq(
      xf_closure_new("void(int32, int32)", on_event, &ev, events_free, loop, &c), XF_OK);
  lib_producer_t ps[PRODUCERS];
  lib_start(ps, PRODUCERS, (lib_event_cb) xf_closure_code(c), PER_PRODUCER);
  run_until(loop, &ev.received, PRODUCERS * PER_PRODUCER);
  lib_join(ps, PRODUCERS);
  /* Nothing more arrives. */
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(atomic_load(&ev.received), PRODUCERS * PER_PRODUCER);
  ck_assert_int_eq(ev.off_thread, 0);
  ck_assert_int_eq(ev.out_of_order, 0);
  for (int i = 0; i < PRODUCERS; i++)
    ck_assert_int_eq(ev.next[i], PER_PRODUCER);
  ck_assert_int_eq(report_count(&rep), 0);
  ck_assert_int_eq(atomic_load(&ev.freed), 0);
  xf_closure_unref(c);
  ck_assert_int_eq(atomic_load(&ev.freed), 1);
  xf_loop_unref(loop);
}
END_TEST

/* Non-void calls from several threads: each caller gets its own answer. */
static int answer(void *data, xf_value_t *const *args, size_t nargs,
                  xf_value_t **result) {
  (void) data;
  int64_t producer, seq;
  if (nargs != 2 || !on_main() || xf_value_get_int(args[0], &producer) ||
      xf_value_get_int(args[1], &seq))
    return XF_EINVAL;
  return xf_value_new_int(producer * 1000000 + seq, result);
}

typedef struct asker {
  int64_t (*fn)(int32_t, int32_t);
  int32_t id;
  int wrong;
  pthread_t thread;
} asker_t;

#define ASKS 2000

static void *asker_main(void *arg) {
  asker_t *a = arg;
  for (int32_t i = 0; i < ASKS; i++)
    if (a->fn(a->id, i) != (int64_t) a->id * 1000000 + i)
      a->wrong++;
  return NULL;
}

/* Three threads asking at once. */
static void *ask_all(void *arg) {
  asker_t *as = arg;
  for (int i = 0; i < 3; i++)
    pthread_create(&as[i].thread, NULL, asker_main, &as[i]);
  for (int i = 0; i < 3; i++)
    pthread_join(as[i].thread, NULL);
  return NULL;
}

START_TEST(test_callers_wait_for_answers) {
  xf_loop_t *loop = xft_loop();
  report_t rep;
  report_init(&rep, loop);
  xf_closure_t *c;
  ck_assert_int_eq(xf_closure_new("int64(int32, int32)", answer, NULL, NULL, loop, &c),
                   XF_OK);
  asker_t as[3];
  memset(as, 0, sizeof as);
  for (int i = 0; i < 3; i++) {
    as[i].fn = (int64_t(*)(int32_t, int32_t)) xf_closure_code(c);
    as[i].id = i + 1;
  }
  run_worker(loop, ask_all, as);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(as[i].wrong, 0);
  ck_assert_int_eq(report_count(&rep), 0);
  xf_closure_unref(c);
  xf_loop_unref(loop);
}
END_TEST

/* ---- Calls that cannot be made ------------------------------------------- */

static _Atomic int handler_runs;

static int count_and_answer(void *data, xf_value_t *const *args, size_t nargs,
                            xf_value_t **result) {
  (void) data;
  (void) args;
  (void) nargs;
  atomic_fetch_add(&handler_runs, 1);
  if (result)
    return xf_value_new_int(42, result);
  return XF_OK;
}

typedef struct call_job {
  int32_t (*fn)(int32_t);
  int32_t got;
} call_job_t;

static void *call_worker(void *arg) {
  call_job_t *job = arg;
  job->got = job->fn(1);
  return NULL;
}

START_TEST(test_deadlock_on_owner_thread) {
  xf_loop_t *loop = xft_loop();
  report_t rep;
  report_init(&rep, loop);
  xf_closure_t *c;
  atomic_store(&handler_runs, 0);
  ck_assert_int_eq(xf_closure_new("int32(int32)", count_and_answer, NULL, NULL, loop, &c),
                   XF_OK);
  int32_t (*fn)(int32_t) = (int32_t(*)(int32_t)) xf_closure_code(c);
  /* This thread owns the loop but is not running it: waiting would hang. */
  ck_assert_int_eq(fn(1), 0);
  ck_assert_int_eq(atomic_load(&handler_runs), 0);
  ck_assert_int_eq(report_count(&rep), 1);
  ck_assert_int_eq(rep.last_code, XF_EDEADLK);
  ck_assert_ptr_nonnull(strstr(rep.last_message, "int32(int32)"));
  ck_assert_ptr_nonnull(strstr(rep.last_message, "deadlock"));
  /* Run by the loop, the same call is inline and answers. */
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(report_count(&rep), 1);
  xf_closure_unref(c);
  xf_loop_unref(loop);
}
END_TEST

START_TEST(test_closed_owner_loop) {
  xf_loop_t *loop = xft_loop();
  report_t rep;
  report_init(&rep, loop);
  xf_closure_t *c, *v;
  atomic_store(&handler_runs, 0);
  ck_assert_int_eq(xf_closure_new("int32(int32)", count_and_answer, NULL, NULL, loop, &c),
                   XF_OK);
  ck_assert_int_eq(xf_closure_new("void(int32)", count_and_answer, NULL, NULL, loop, &v),
                   XF_OK);
  ck_assert_int_eq(xf_loop_close(loop), XF_OK);
  /* From this thread and from another one, at once, with the default. */
  ck_assert_int_eq(((int32_t(*)(int32_t)) xf_closure_code(c))(1), 0);
  ck_assert_int_eq(rep.last_code, XF_ECLOSED);
  call_job_t job = {(int32_t(*)(int32_t)) xf_closure_code(c), -1};
  pthread_t t = spawn(call_worker, &job);
  pthread_join(t, NULL);
  ck_assert_int_eq(job.got, 0);
  ((void (*)(int32_t)) xf_closure_code(v))(1);
  ck_assert_int_eq(report_count(&rep), 3);
  ck_assert_int_eq(rep.last_code, XF_ECLOSED);
  ck_assert_int_eq(atomic_load(&handler_runs), 0);
  /* A closed loop takes no new closures. */
  xf_closure_t *late = (xf_closure_t *) 1;
  ck_assert_int_eq(xf_closure_new("void()", count_and_answer, NULL, NULL, loop, &late),
                   XF_ECLOSED);
  ck_assert_ptr_null(late);
  xf_closure_unref(c);
  xf_closure_unref(v);
  xf_loop_unref(loop);
}
END_TEST

/* Wait until the loop has queued work (its backend fd turns readable). */
static void wait_queued(xf_loop_t *loop) {
  struct pollfd p = {xf_loop_backend_fd(loop), POLLIN, 0};
  ck_assert_int_eq(poll(&p, 1, 30000), 1);
}

/* A caller waiting on a loop that nobody runs is released when it closes. */
START_TEST(test_waiting_caller_released_by_close) {
  xf_loop_t *loop = xft_loop();
  report_t rep;
  report_init(&rep, loop);
  xf_closure_t *c;
  atomic_store(&handler_runs, 0);
  ck_assert_int_eq(xf_closure_new("int32(int32)", count_and_answer, NULL, NULL, loop, &c),
                   XF_OK);
  call_job_t job = {(int32_t(*)(int32_t)) xf_closure_code(c), -1};
  pthread_t t = spawn(call_worker, &job);
  wait_queued(loop);
  ck_assert_int_eq(xf_loop_close(loop), XF_OK);
  pthread_join(t, NULL);
  ck_assert_int_eq(job.got, 0);
  ck_assert_int_eq(atomic_load(&handler_runs), 0);
  ck_assert_int_eq(report_count(&rep), 1);
  ck_assert_int_eq(rep.last_code, XF_ECLOSED);
  xf_closure_unref(c);
  xf_loop_unref(loop);
}
END_TEST

/* A caller on another thread may wait for a loop that starts later. */
START_TEST(test_waiting_caller_answered_when_loop_runs) {
  xf_loop_t *loop = xft_loop();
  xf_closure_t *c;
  ck_assert_int_eq(xf_closure_new("int32(int32)", count_and_answer, NULL, NULL, loop, &c),
                   XF_OK);
  call_job_t job = {(int32_t(*)(int32_t)) xf_closure_code(c), -1};
  worker_t w;
  worker_start(&w, loop, call_worker, &job);
  wait_queued(loop);
  worker_finish(&w);
  ck_assert_int_eq(job.got, 42);
  xf_closure_unref(c);
  xf_loop_unref(loop);
}
END_TEST

/* ---- Failing handlers ----------------------------------------------------- */

static int failing(void *data, xf_value_t *const *args, size_t nargs,
                   xf_value_t **result) {
  (void) args;
  (void) nargs;
  switch ((int) (intptr_t) data) {
  case 0:
    return XF_ERANGE;
  case 1: { /* a foreign exception, handed over as an error value */
    xf_error_t *e;
    int rc = xf_error_new(XF_EFAILED, "ZeroDivisionError", "division by zero", &e);
    if (rc != XF_OK)
      return rc;
    rc = xf_value_new_error(e, result);
    xf_error_unref(e);
    return rc;
  }
  case 2: /* the wrong kind for the return type */
    return xf_value_new_cstring("not a number", result);
  default: /* out of range for the return type */
    return xf_value_new_int(1000, result);
  }
}

typedef struct fail_job {
  int8_t (*fns[4])(int8_t);
  int8_t got[4];
} fail_job_t;

static void *fail_worker(void *arg) {
  fail_job_t *job = arg;
  for (int i = 0; i < 4; i++)
    job->got[i] = job->fns[i](1);
  return NULL;
}

START_TEST(test_failing_handlers) {
  xf_loop_t *loop = xft_loop();
  report_t rep;
  report_init(&rep, loop);
  xf_closure_t *cs[4];
  fail_job_t job;
  memset(&job, 0, sizeof job);
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(
        xf_closure_new("int8(int8)", failing, (void *) (intptr_t) i, NULL, loop, &cs[i]),
        XF_OK);
    job.fns[i] = (int8_t(*)(int8_t)) xf_closure_code(cs[i]);
    job.got[i] = -1;
  }
  /* From another thread: the default comes back, the failure is reported. */
  run_worker(loop, fail_worker, &job);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(job.got[i], 0);
  ck_assert_int_eq(report_count(&rep), 4);
  for (int i = 0; i < 4; i++)
    xf_closure_unref(cs[i]);
  /* Inline with no owner loop: the default, and nobody to tell. */
  for (int i = 0; i < 4; i++) {
    xf_closure_t *c;
    ck_assert_int_eq(
        xf_closure_new("int8(int8)", failing, (void *) (intptr_t) i, NULL, NULL, &c),
        XF_OK);
    ck_assert_int_eq(((int8_t(*)(int8_t)) xf_closure_code(c))(1), 0);
    xf_closure_unref(c);
  }
  xf_loop_unref(loop);
}
END_TEST

static void *one_failing_call(void *arg) {
  ((int8_t(*)(int8_t)) arg)(1);
  return NULL;
}

START_TEST(test_failure_reports_carry_the_error) {
  static const int codes[] = {XF_ERANGE, XF_EFAILED, XF_ETYPE, XF_ERANGE};
  xf_loop_t *loop = xft_loop();
  report_t rep;
  report_init(&rep, loop);
  for (int i = 0; i < 4; i++) {
    xf_closure_t *c;
    ck_assert_int_eq(
        xf_closure_new("int8(int8)", failing, (void *) (intptr_t) i, NULL, loop, &c),
        XF_OK);
    run_worker(loop, one_failing_call, xf_closure_code(c));
    ck_assert_int_eq(report_count(&rep), i + 1);
    ck_assert_int_eq(rep.last_code, codes[i]);
    ck_assert_ptr_nonnull(strstr(rep.last_message, "int8(int8)"));
    if (i == 1)
      ck_assert_str_eq(rep.last_type, "ZeroDivisionError");
    xf_closure_unref(c);
  }
  xf_loop_unref(loop);
}
END_TEST

/* ---- Lifetimes ------------------------------------------------------------- */

typedef struct life {
  _Atomic int runs;
  _Atomic int freed;
  _Atomic bool freed_on_main;
} life_t;

static int life_handler(void *data, xf_value_t *const *args, size_t nargs,
                        xf_value_t **result) {
  (void) args;
  (void) nargs;
  (void) result;
  atomic_fetch_add(&((life_t *) data)->runs, 1);
  return XF_OK;
}

static void life_free(void *data) {
  life_t *l = data;
  atomic_store(&l->freed_on_main, on_main());
  atomic_fetch_add(&l->freed, 1);
}

typedef struct post_job {
  void (*fn)(const char *);
  int calls;
  xf_closure_t *drop; /* unref'd by the worker when done, if set */
} post_job_t;

static void *post_worker(void *arg) {
  post_job_t *job = arg;
  for (int i = 0; i < job->calls; i++)
    job->fn("a string copied with the call");
  xf_closure_unref(job->drop);
  return NULL;
}

/* A "void(string)" closure owned by loop, counting its runs and frees in l. */
static xf_closure_t *life_closure(xf_loop_t *loop, life_t *l) {
  memset(l, 0, sizeof *l);
  xf_closure_t *c;
  ck_assert_int_eq(xf_closure_new("void(string)", life_handler, l, life_free, loop, &c),
                   XF_OK);
  return c;
}

/* Call c `calls` times from a new thread, which then drops `drop` (may be
 * NULL); returns once that thread has finished. */
static void post_from_thread(xf_closure_t *c, int calls, xf_closure_t *drop) {
  post_job_t job = {(void (*)(const char *)) xf_closure_code(c), calls, drop};
  pthread_join(spawn(post_worker, &job), NULL);
}

/* Dropping the last reference while calls are queued: they still run. */
START_TEST(test_unref_with_calls_in_flight) {
  xf_loop_t *loop = xft_loop();
  life_t l;
  xf_closure_t *c = life_closure(loop, &l);
  post_from_thread(c, 1000, NULL);
  xf_closure_unref(c);
  ck_assert_int_eq(atomic_load(&l.freed), 0);
  run_until(loop, &l.freed, 1);
  ck_assert_int_eq(atomic_load(&l.runs), 1000);
  ck_assert(atomic_load(&l.freed_on_main));
  xf_loop_unref(loop);
}
END_TEST

/* Queued calls of a loop that closes are dropped with their data freed. */
START_TEST(test_close_drops_queued_calls) {
  long before = xft_alloc_live();
  xf_loop_t *loop = xft_loop();
  life_t l;
  xf_closure_t *c = life_closure(loop, &l);
  post_from_thread(c, 500, NULL);
  xf_closure_unref(c);
  ck_assert_int_eq(xf_loop_close(loop), XF_OK);
  ck_assert_int_eq(atomic_load(&l.runs), 0);
  ck_assert_int_eq(atomic_load(&l.freed), 1);
  xf_loop_unref(loop);
  ck_assert_int_eq(xft_alloc_live(), before);
}
END_TEST

/* The last reference dropped on another thread: the closure is destroyed on
 * the owner's thread, by its loop. */
START_TEST(test_last_unref_elsewhere_frees_on_owner) {
  xf_loop_t *loop = xft_loop();
  life_t l;
  xf_closure_t *c = life_closure(loop, &l);
  post_from_thread(c, 0, c);
  ck_assert_int_eq(atomic_load(&l.freed), 0);
  run_until(loop, &l.freed, 1);
  ck_assert_int_eq(atomic_load(&l.runs), 0);
  ck_assert(atomic_load(&l.freed_on_main));
  xf_loop_unref(loop);
}
END_TEST

/* A handler may drop the last reference to its own closure. */
static int one_shot(void *data, xf_value_t *const *args, size_t nargs,
                    xf_value_t **result) {
  (void) args;
  (void) nargs;
  xf_closure_unref(*(xf_closure_t **) data);
  return xf_value_new_int(7, result);
}

START_TEST(test_handler_drops_its_closure) {
  long before = xft_alloc_live();
  xf_closure_t *self;
  ck_assert_int_eq(xf_closure_new("int64()", one_shot, &self, NULL, NULL, &self), XF_OK);
  ck_assert_int_eq(((int64_t(*)(void)) xf_closure_code(self))(), 7);
  ck_assert_int_eq(xft_alloc_live(), before);
}
END_TEST

/* ---- Retirement ---------------------------------------------------------- */

/* A handler that holds its caller until released, to retire the closure
 * while a call is inside it. */
typedef struct held {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool entered, go;
  _Atomic int runs;
  _Atomic int freed;
} held_t;

static int held_handler(void *data, xf_value_t *const *args, size_t nargs,
                        xf_value_t **result) {
  (void) args;
  (void) nargs;
  held_t *h = data;
  atomic_fetch_add(&h->runs, 1);
  pthread_mutex_lock(&h->mu);
  h->entered = true;
  pthread_cond_broadcast(&h->cv);
  while (!h->go)
    pthread_cond_wait(&h->cv, &h->mu);
  pthread_mutex_unlock(&h->mu);
  return xf_value_new_int(42, result);
}

static void held_free(void *data) {
  atomic_fetch_add(&((held_t *) data)->freed, 1);
}

static void held_init(held_t *h) {
  memset(h, 0, sizeof *h);
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->cv, NULL);
}

static void held_destroy(held_t *h) {
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cv);
}

typedef struct many_calls {
  int32_t (*fn)(int32_t);
  int calls;
  int nonzero;
} many_calls_t;

static void *many_calls_main(void *arg) {
  many_calls_t *m = arg;
  for (int i = 0; i < m->calls; i++)
    if (m->fn(i) != 0)
      m->nonzero++;
  return NULL;
}

/* After retirement every call, from any thread, gets the default value at
 * once (no loop runs here), the handler never runs, the data is freed at
 * once, and the calls are reported once. */
START_TEST(test_retired_answers_the_default) {
  long before = xft_alloc_live();
  xf_loop_t *loop = xft_loop();
  report_t rep;
  report_init(&rep, loop);
  held_t h;
  held_init(&h);
  xf_closure_t *c;
  ck_assert_int_eq(xf_closure_new("int32(int32)", held_handler, &h, held_free, loop, &c),
                   XF_OK);
  ck_assert(!xf_closure_retired(c));
  ck_assert_int_eq(xf_closure_retire(c), XF_OK);
  ck_assert(xf_closure_retired(c));
  ck_assert_int_eq(atomic_load(&h.freed), 1);
  ck_assert_int_eq(xf_closure_retire(c), XF_OK);
  many_calls_t ms[2] = {{(int32_t(*)(int32_t)) xf_closure_code(c), 500, 0},
                        {(int32_t(*)(int32_t)) xf_closure_code(c), 500, 0}};
  pthread_t ts[2] = {spawn(many_calls_main, &ms[0]), spawn(many_calls_main, &ms[1])};
  many_calls_t mine = {ms[0].fn, 10, 0};
  many_calls_main(&mine);
  pthread_join(ts[0], NULL);
  pthread_join(ts[1], NULL);
  ck_assert_int_eq(ms[0].nonzero + ms[1].nonzero + mine.nonzero, 0);
  ck_assert_int_eq(atomic_load(&h.runs), 0);
  ck_assert_int_eq(report_count(&rep), 1);
  ck_assert_int_eq(rep.last_code, XF_ECLOSED);
  ck_assert_ptr_nonnull(strstr(rep.last_message, "called after its owner was released"));
  /* The loop closed: still the default, and no second report. */
  ck_assert_int_eq(xf_loop_close(loop), XF_OK);
  ck_assert_int_eq(mine.fn(1), 0);
  ck_assert_int_eq(report_count(&rep), 1);
  ck_assert_int_eq(atomic_load(&h.freed), 1);
  xf_closure_unref(c);
  xf_loop_unref(loop);
  held_destroy(&h);
  ck_assert_int_eq(xft_alloc_live(), before);
}
END_TEST

/* A call after retirement returns only once the report of the first one
 * has been made, so a process that exits right after such a call still
 * shows the report. The loop's handler holds the first report until the
 * second call has started. */
typedef struct slow_report {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool inside, go, done;
  int count;
} slow_report_t;

static void slow_handler(xf_loop_t *loop, const char *message, xf_error_t *err,
                         void *data) {
  (void) loop, (void) message, (void) err;
  slow_report_t *r = data;
  pthread_mutex_lock(&r->mu);
  r->count++;
  r->inside = true;
  pthread_cond_broadcast(&r->cv);
  while (!r->go)
    pthread_cond_wait(&r->cv, &r->mu);
  r->done = true;
  pthread_mutex_unlock(&r->mu);
}

typedef struct late_call {
  int32_t (*fn)(int32_t);
  slow_report_t *r;
  bool saw_done;
} late_call_t;

static void *late_call_main(void *arg) {
  late_call_t *lc = arg;
  ck_assert_int_eq(lc->fn(1), 0);
  pthread_mutex_lock(&lc->r->mu);
  lc->saw_done = lc->r->done;
  pthread_mutex_unlock(&lc->r->mu);
  return NULL;
}

START_TEST(test_retired_report_before_return) {
  xf_loop_t *loop = xft_loop();
  slow_report_t r = {
      PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false, 0};
  xf_loop_set_exception_handler(loop, slow_handler, &r, NULL);
  held_t h;
  held_init(&h);
  xf_closure_t *c;
  ck_assert_int_eq(xf_closure_new("int32(int32)", held_handler, &h, held_free, loop, &c),
                   XF_OK);
  ck_assert_int_eq(xf_closure_retire(c), XF_OK);
  int32_t (*fn)(int32_t) = (int32_t(*)(int32_t)) xf_closure_code(c);
  late_call_t first = {fn, &r, false}, second = {fn, &r, false};
  pthread_t t1 = spawn(late_call_main, &first);
  pthread_mutex_lock(&r.mu);
  while (!r.inside)
    pthread_cond_wait(&r.cv, &r.mu);
  pthread_mutex_unlock(&r.mu);
  pthread_t t2 = spawn(late_call_main, &second);
  /* The second call has returned (the old behaviour) or waits; either way
   * the report is let go only now. */
  for (int i = 0; i < 1000; i++)
    sched_yield();
  pthread_mutex_lock(&r.mu);
  r.go = true;
  pthread_cond_broadcast(&r.cv);
  pthread_mutex_unlock(&r.mu);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  ck_assert(first.saw_done);
  ck_assert(second.saw_done);
  ck_assert_int_eq(r.count, 1);
  xf_closure_unref(c);
  xf_loop_set_exception_handler(loop, NULL, NULL, NULL);
  xft_loop_free(loop);
  held_destroy(&h);
}
END_TEST

typedef struct held_call {
  int32_t (*fn)(int32_t);
  int32_t got;
} held_call_t;

static void *held_call_main(void *arg) {
  held_call_t *hc = arg;
  hc->got = hc->fn(1);
  return NULL;
}

/* Retired while a call is inside the handler: that call finishes with the
 * handler's answer, and the data outlives it; the call that leaves last
 * frees it. */
START_TEST(test_retired_with_a_call_inside) {
  long before = xft_alloc_live();
  held_t h;
  held_init(&h);
  xf_closure_t *c;
  ck_assert_int_eq(xf_closure_new("int32(int32)", held_handler, &h, held_free, NULL, &c),
                   XF_OK);
  held_call_t hc = {(int32_t(*)(int32_t)) xf_closure_code(c), -1};
  pthread_t t = spawn(held_call_main, &hc);
  pthread_mutex_lock(&h.mu);
  while (!h.entered)
    pthread_cond_wait(&h.cv, &h.mu);
  pthread_mutex_unlock(&h.mu);
  ck_assert_int_eq(xf_closure_retire(c), XF_OK);
  ck_assert_int_eq(atomic_load(&h.freed), 0);
  /* A call that starts now is answered at once, while the other waits. */
  ck_assert_int_eq(hc.fn(2), 0);
  pthread_mutex_lock(&h.mu);
  h.go = true;
  pthread_cond_broadcast(&h.cv);
  pthread_mutex_unlock(&h.mu);
  pthread_join(t, NULL);
  ck_assert_int_eq(hc.got, 42);
  ck_assert_int_eq(atomic_load(&h.runs), 1);
  ck_assert_int_eq(atomic_load(&h.freed), 1);
  xf_closure_unref(c);
  ck_assert_int_eq(atomic_load(&h.freed), 1);
  held_destroy(&h);
  ck_assert_int_eq(xft_alloc_live(), before);
}
END_TEST

/* A call posted to the owner loop and waiting when the closure is retired
 * is answered with the default value when the loop runs; the handler never
 * runs. */
START_TEST(test_retired_with_a_posted_call) {
  long before = xft_alloc_live();
  xf_loop_t *loop = xft_loop();
  report_t rep;
  report_init(&rep, loop);
  held_t h;
  held_init(&h);
  h.go = true;
  xf_closure_t *c;
  ck_assert_int_eq(xf_closure_new("int32(int32)", held_handler, &h, held_free, loop, &c),
                   XF_OK);
  held_call_t hc = {(int32_t(*)(int32_t)) xf_closure_code(c), -1};
  worker_t w;
  worker_start(&w, loop, held_call_main, &hc);
  wait_queued(loop);
  ck_assert_int_eq(xf_closure_retire(c), XF_OK);
  worker_finish(&w);
  ck_assert_int_eq(hc.got, 0);
  ck_assert_int_eq(atomic_load(&h.runs), 0);
  ck_assert_int_eq(atomic_load(&h.freed), 1);
  ck_assert_int_eq(report_count(&rep), 1);
  xf_closure_unref(c);
  xf_loop_unref(loop);
  held_destroy(&h);
  ck_assert_int_eq(xft_alloc_live(), before);
}
END_TEST

/* ---- Done callbacks through closures ------------------------------------- */

typedef struct deliveries {
  _Atomic int count;
  int off_thread;
  int bad_arg;
  xf_future_t **fs;
  int n;
} deliveries_t;

static int on_done(void *data, xf_value_t *const *args, size_t nargs,
                   xf_value_t **result) {
  deliveries_t *d = data;
  void *p = NULL;
  if (nargs != 1 || result || xf_value_get_pointer(args[0], &p) != XF_OK ||
      !xf_future_done(p))
    d->bad_arg++;
  if (!on_main())
    d->off_thread++;
  atomic_fetch_add(&d->count, 1);
  return XF_OK;
}

#define DONE_FUTURES 10000

typedef struct finisher {
  xf_future_t **fs;
  int from, to;
} finisher_t;

static void *finisher_main(void *arg) {
  finisher_t *w = arg;
  for (int i = w->from; i < w->to; i++)
    xf_future_set_result(w->fs[i], NULL);
  return NULL;
}

static void done_setup(deliveries_t *d, xf_loop_t *loop, xf_closure_t **c) {
  memset(d, 0, sizeof *d);
  d->n = DONE_FUTURES;
  d->fs = calloc(DONE_FUTURES, sizeof *d->fs);
  ck_assert_ptr_nonnull(d->fs);
  ck_assert_int_eq(xf_closure_new("void(pointer)", on_done, d, NULL, loop, c), XF_OK);
  for (int i = 0; i < DONE_FUTURES; i++) {
    ck_assert_int_eq(xf_future_new(&d->fs[i]), XF_OK);
    ck_assert_int_eq(xf_future_add_done_closure(d->fs[i], *c), XF_OK);
  }
}

static void done_finish(deliveries_t *d, pthread_t *ts, finisher_t *ws) {
  for (int k = 0; k < 2; k++) {
    ws[k] = (finisher_t){d->fs, k * DONE_FUTURES / 2, (k + 1) * DONE_FUTURES / 2};
    ck_assert_int_eq(pthread_create(&ts[k], NULL, finisher_main, &ws[k]), 0);
  }
}

static void done_teardown(deliveries_t *d, xf_closure_t *c) {
  ck_assert_int_eq(atomic_load(&d->count), DONE_FUTURES);
  ck_assert_int_eq(d->off_thread, 0);
  ck_assert_int_eq(d->bad_arg, 0);
  for (int i = 0; i < DONE_FUTURES; i++)
    xf_future_unref(d->fs[i]);
  free(d->fs);
  xf_closure_unref(c);
}

/* Completions that arrive while the loop is busy are delivered together:
 * one iteration takes all of them. */
START_TEST(test_done_closures_batched) {
  xf_loop_t *loop = xft_loop();
  deliveries_t d;
  xf_closure_t *c;
  done_setup(&d, loop, &c);
  pthread_t ts[2];
  finisher_t ws[2];
  done_finish(&d, ts, ws);
  pthread_join(ts[0], NULL);
  pthread_join(ts[1], NULL);
  ck_assert_int_eq(atomic_load(&d.count), 0); /* never inside set_result */
  ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
  ck_assert_int_eq(atomic_load(&d.count), DONE_FUTURES);
  done_teardown(&d, c);
  xf_loop_unref(loop);
}
END_TEST

/* The same while the loop runs: everything arrives, on the owner thread, in
 * (usually far) fewer iterations than completions. */
START_TEST(test_done_closures_while_running) {
  xf_loop_t *loop = xft_loop();
  deliveries_t d;
  xf_closure_t *c;
  done_setup(&d, loop, &c);
  pthread_t ts[2];
  finisher_t ws[2];
  done_finish(&d, ts, ws);
  int iterations = 0;
  while (atomic_load(&d.count) < DONE_FUTURES) {
    ck_assert_int_eq(xf_loop_run(loop, XF_RUN_ONCE), XF_OK);
    iterations++;
  }
  pthread_join(ts[0], NULL);
  pthread_join(ts[1], NULL);
  ck_assert_int_le(iterations, DONE_FUTURES);
  done_teardown(&d, c);
  xf_loop_unref(loop);
}
END_TEST

START_TEST(test_done_closure_rules) {
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  xf_closure_t *c;
  ck_assert_int_eq(xf_closure_new("void(int32)", life_handler, NULL, NULL, NULL, &c),
                   XF_OK);
  ck_assert_int_eq(xf_future_add_done_closure(f, c), XF_ETYPE);
  xf_closure_unref(c);
  ck_assert_int_eq(
      xf_closure_new("int32(pointer)", count_and_answer, NULL, NULL, NULL, &c), XF_OK);
  ck_assert_int_eq(xf_future_add_done_closure(f, c), XF_ETYPE);
  xf_closure_unref(c);
  ck_assert_int_eq(xf_future_add_done_closure(f, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_future_add_done_closure(NULL, NULL), XF_EINVAL);

  /* With no owner loop: inline in the finishing thread, at once if done. */
  life_t l;
  memset(&l, 0, sizeof l);
  ck_assert_int_eq(xf_closure_new("void(pointer)", life_handler, &l, life_free, NULL, &c),
                   XF_OK);
  ck_assert_int_eq(xf_future_add_done_closure(f, c), XF_OK);
  ck_assert_int_eq(atomic_load(&l.runs), 0);
  ck_assert_int_eq(xf_future_set_result(f, NULL), XF_OK);
  ck_assert_int_eq(atomic_load(&l.runs), 1);
  ck_assert_int_eq(xf_future_add_done_closure(f, c), XF_OK);
  ck_assert_int_eq(atomic_load(&l.runs), 2);
  xf_closure_unref(c);
  ck_assert_int_eq(atomic_load(&l.freed), 1);
  xf_future_unref(f);
}
END_TEST

/* A done callback is taken back with xf_future_remove_done_closure: every
 * registration of that closure not run yet goes, its reference with it, and
 * the other closures' registrations stay. */
START_TEST(test_done_closure_remove) {
  xf_loop_t *loop = xft_loop();
  life_t l, other;
  memset(&l, 0, sizeof l);
  memset(&other, 0, sizeof other);
  xf_closure_t *c, *c2;
  ck_assert_int_eq(xf_closure_new("void(pointer)", life_handler, &l, life_free, loop, &c),
                   XF_OK);
  ck_assert_int_eq(
      xf_closure_new("void(pointer)", life_handler, &other, life_free, loop, &c2), XF_OK);
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_add_done_closure(f, c), XF_OK);
  ck_assert_int_eq(xf_future_add_done_closure(f, c2), XF_OK);
  ck_assert_int_eq(xf_future_add_done_closure(f, c), XF_OK);
  ck_assert_int_eq(xf_future_remove_done_closure(f, c), 2);
  ck_assert_int_eq(xf_future_remove_done_closure(f, c), 0);
  /* The registrations' references are gone: ours is the last one. */
  xf_closure_unref(c);
  ck_assert_int_eq(atomic_load(&l.freed), 1);
  xf_closure_unref(c2);
  ck_assert_int_eq(atomic_load(&other.freed), 0);
  ck_assert_int_eq(xf_future_set_result(f, NULL), XF_OK);
  run_until(loop, &other.runs, 1);
  ck_assert_int_eq(atomic_load(&l.runs), 0);
  ck_assert_int_eq(xf_future_remove_done_closure(f, c2), 0);
  run_until(loop, &other.freed, 1);
  ck_assert(atomic_load(&other.freed_on_main));
  ck_assert_int_eq(xf_future_remove_done_closure(NULL, c2), XF_EINVAL);
  ck_assert_int_eq(xf_future_remove_done_closure(f, NULL), XF_EINVAL);
  xf_future_unref(f);
  xf_loop_unref(loop);
}
END_TEST

/* Removing races with another thread finishing the future: the callback
 * either is removed (and never runs) or runs once, on the owner thread. */
typedef struct race_finish {
  xf_future_t *f;
} race_finish_t;

static void *race_finisher(void *arg) {
  xf_future_set_result(((race_finish_t *) arg)->f, NULL);
  return NULL;
}

START_TEST(test_done_closure_remove_races_completion) {
  xf_loop_t *loop = xft_loop();
  life_t l;
  memset(&l, 0, sizeof l);
  xf_closure_t *c;
  ck_assert_int_eq(xf_closure_new("void(pointer)", life_handler, &l, life_free, loop, &c),
                   XF_OK);
  int removed = 0;
  for (int i = 0; i < 200; i++) {
    race_finish_t job;
    ck_assert_int_eq(xf_future_new(&job.f), XF_OK);
    ck_assert_int_eq(xf_future_add_done_closure(job.f, c), XF_OK);
    pthread_t t = spawn(race_finisher, &job);
    int n = xf_future_remove_done_closure(job.f, c);
    ck_assert(n == 0 || n == 1);
    removed += n;
    pthread_join(t, NULL);
    /* The completion, if it was not removed, is queued by now. */
    ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
    ck_assert_int_eq(atomic_load(&l.runs) + removed, i + 1);
    xf_future_unref(job.f);
  }
  xf_closure_unref(c);
  ck_assert_int_eq(atomic_load(&l.freed), 1);
  xf_loop_unref(loop);
}
END_TEST

/* A pending future dropped on another thread drops its registrations there;
 * the closure's data, a foreign function for a binding, is still freed on
 * the owner's thread. */
static void *drop_future(void *arg) {
  xf_future_unref(arg);
  return NULL;
}

START_TEST(test_done_closure_freed_on_owner) {
  xf_loop_t *loop = xft_loop();
  life_t l;
  memset(&l, 0, sizeof l);
  xf_closure_t *c;
  ck_assert_int_eq(xf_closure_new("void(pointer)", life_handler, &l, life_free, loop, &c),
                   XF_OK);
  xf_future_t *f;
  ck_assert_int_eq(xf_future_new(&f), XF_OK);
  ck_assert_int_eq(xf_future_add_done_closure(f, c), XF_OK);
  xf_closure_unref(c); /* the registration holds the last reference */
  pthread_join(spawn(drop_future, f), NULL);
  ck_assert_int_eq(atomic_load(&l.freed), 0);
  run_until(loop, &l.freed, 1);
  ck_assert(atomic_load(&l.freed_on_main));
  ck_assert_int_eq(atomic_load(&l.runs), 0);
  xf_loop_unref(loop);
}
END_TEST

/* ---- Bad input and failed allocations ---------------------------------- */

START_TEST(test_bad_input) {
  ck_assert_int_eq(xf_closure_retire(NULL), XF_EINVAL);
  ck_assert(!xf_closure_retired(NULL));
  xf_closure_t *c = (xf_closure_t *) 1;
  ck_assert_int_eq(xf_closure_new("void()", NULL, NULL, NULL, NULL, &c), XF_EINVAL);
  ck_assert_ptr_null(c);
  c = (xf_closure_t *) 1;
  ck_assert_int_eq(xf_closure_new(NULL, life_handler, NULL, NULL, NULL, &c), XF_EINVAL);
  ck_assert_ptr_null(c);
  ck_assert_int_eq(xf_closure_new("void(", life_handler, NULL, NULL, NULL, &c),
                   XF_EINVAL);
  ck_assert_int_eq(xf_closure_new("void()", life_handler, NULL, NULL, NULL, NULL),
                   XF_EINVAL);
  ck_assert_int_eq(xf_closure_new_sig(NULL, life_handler, NULL, NULL, NULL, &c),
                   XF_EINVAL);
  ck_assert_ptr_null(xf_closure_code(NULL));
  ck_assert_ptr_null(xf_closure_loop(NULL));
  ck_assert_ptr_null(xf_closure_signature(NULL));
  ck_assert_ptr_null(xf_closure_ref(NULL));
  xf_closure_unref(NULL);

  /* A parsed signature is shared, and references work. */
  xf_signature_t *sig;
  ck_assert_int_eq(xf_signature_parse("void()", NULL, 0, &sig), XF_OK);
  ck_assert_int_eq(xf_closure_new_sig(sig, count_and_answer, NULL, NULL, NULL, &c),
                   XF_OK);
  xf_signature_unref(sig);
  ck_assert_str_eq(xf_signature_text(xf_closure_signature(c)), "void()");
  ck_assert_ptr_eq(xf_closure_ref(c), c);
  xf_closure_unref(c);
  atomic_store(&handler_runs, 0);
  ((void (*)(void)) xf_closure_code(c))();
  ck_assert_int_eq(atomic_load(&handler_runs), 1);
  xf_closure_unref(c);
}
END_TEST

static int echo_string(void *data, xf_value_t *const *args, size_t nargs,
                       xf_value_t **result) {
  (void) data;
  (void) nargs;
  *result = xf_value_ref(args[0]);
  return XF_OK;
}

START_TEST(test_enomem) {
  long before = xft_alloc_live();
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_closure_t *c;
    int rc = xf_closure_new("string(string)", echo_string, NULL, NULL, NULL, &c);
    if (rc == XF_ENOMEM) {
      ck_assert_ptr_null(c);
      continue;
    }
    ck_assert_int_eq(rc, XF_OK);
    xf_closure_unref(c);
  }
  ck_assert_int_eq(xft_alloc_live(), before);

  /* A call that runs out of memory returns the default and leaks nothing. */
  xf_closure_t *c;
  ck_assert_int_eq(xf_closure_new("string(string)", echo_string, NULL, NULL, NULL, &c),
                   XF_OK);
  const char *(*fn)(const char *) = (const char *(*) (const char *) ) xf_closure_code(c);
  before = xft_alloc_live();
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    const char *s = fn("a string long enough to need memory of its own");
    xft_alloc_fail_at(-1);
    if (s)
      ck_assert_str_eq(s, "a string long enough to need memory of its own");
    fn(NULL); /* let go of the thread's string */
  }
  ck_assert_int_eq(xft_alloc_live(), before);
  xf_closure_unref(c);
}
END_TEST

/* Posting from another thread while memory runs out: the call is dropped and
 * reported, or it runs; nothing leaks either way. */
START_TEST(test_enomem_posted) {
  xf_loop_t *loop = xft_loop();
  report_t rep;
  report_init(&rep, loop);
  life_t l;
  memset(&l, 0, sizeof l);
  xf_closure_t *c;
  ck_assert_int_eq(xf_closure_new("void(string)", life_handler, &l, NULL, loop, &c),
                   XF_OK);
  post_job_t job = {(void (*)(const char *)) xf_closure_code(c), 1, NULL};
  long before = xft_alloc_live();
  int passes = 0;
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    int runs = atomic_load(&l.runs), reports = report_count(&rep);
    pthread_t t = spawn(post_worker, &job);
    pthread_join(t, NULL);
    xft_alloc_fail_at(-1);
    ck_assert_int_eq(xf_loop_run(loop, XF_RUN_NOWAIT), XF_OK);
    ck_assert_int_eq(atomic_load(&l.runs) - runs + report_count(&rep) - reports, 1);
    passes++;
  }
  ck_assert_int_ge(passes, 2);
  ck_assert_int_eq(xft_alloc_live(), before);
  xf_closure_unref(c);
  xf_loop_unref(loop);
}
END_TEST

static Suite *closure_suite(void) {
  Suite *s = suite_create("closure");
  TCase *tc = tcase_create("types");
  tcase_add_test(tc, test_types_inline_without_owner);
  tcase_add_test(tc, test_types_on_owner_thread);
  tcase_add_test(tc, test_types_from_another_thread);
  tcase_add_test(tc, test_six_mixed_arguments);
  suite_add_tcase(s, tc);
  tc = tcase_create("threads");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_library_threads_call_back);
  tcase_add_test(tc, test_callers_wait_for_answers);
  suite_add_tcase(s, tc);
  tc = tcase_create("deadlocks");
  tcase_add_test(tc, test_deadlock_on_owner_thread);
  tcase_add_test(tc, test_closed_owner_loop);
  tcase_add_test(tc, test_waiting_caller_released_by_close);
  tcase_add_test(tc, test_waiting_caller_answered_when_loop_runs);
  suite_add_tcase(s, tc);
  tc = tcase_create("failures");
  tcase_add_test(tc, test_failing_handlers);
  tcase_add_test(tc, test_failure_reports_carry_the_error);
  suite_add_tcase(s, tc);
  tc = tcase_create("lifetime");
  tcase_add_test(tc, test_unref_with_calls_in_flight);
  tcase_add_test(tc, test_close_drops_queued_calls);
  tcase_add_test(tc, test_last_unref_elsewhere_frees_on_owner);
  tcase_add_test(tc, test_handler_drops_its_closure);
  suite_add_tcase(s, tc);
  tc = tcase_create("retired");
  tcase_add_test(tc, test_retired_answers_the_default);
  tcase_add_test(tc, test_retired_report_before_return);
  tcase_add_test(tc, test_retired_with_a_call_inside);
  tcase_add_test(tc, test_retired_with_a_posted_call);
  suite_add_tcase(s, tc);
  tc = tcase_create("done_closures");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, test_done_closures_batched);
  tcase_add_test(tc, test_done_closures_while_running);
  tcase_add_test(tc, test_done_closure_rules);
  tcase_add_test(tc, test_done_closure_remove);
  tcase_add_test(tc, test_done_closure_remove_races_completion);
  tcase_add_test(tc, test_done_closure_freed_on_owner);
  suite_add_tcase(s, tc);
  tc = tcase_create("bad_input");
  tcase_add_test(tc, test_bad_input);
  suite_add_tcase(s, tc);
  tc = tcase_create("enomem");
  tcase_add_test(tc, test_enomem);
  tcase_add_test(tc, test_enomem_posted);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  main_thread = pthread_self();
  return xft_main(closure_suite());
}

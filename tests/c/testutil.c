/* The counting, failing allocator of testutil.h, and the suites' small helpers. */
#include "testutil.h"

#include <check.h>
#include <time.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "xf/common.h"

static atomic_long xft__live;
static atomic_long xft__count;
/* Allocations still to go before the armed failure; negative when none is
 * armed. */
static atomic_long xft__fail_in = -1;
/* Set by xft_alloc_fail_from: the countdown stays at zero once it gets
 * there, so that every later allocation fails too. */
static atomic_bool xft__fail_rest;
static atomic_bool xft__failed;
static atomic_long xft__failures;

/* Counts an allocation; true when this one is to fail. */
static bool xft__alloc_should_fail(void) {
  atomic_fetch_add(&xft__count, 1);
  long left = atomic_load(&xft__fail_in);
  while (left >= 0) {
    if (left == 0 && atomic_load(&xft__fail_rest)) {
      atomic_store(&xft__failed, true);
      atomic_fetch_add(&xft__failures, 1);
      return true;
    }
    if (atomic_compare_exchange_weak(&xft__fail_in, &left, left - 1)) {
      if (left != 0)
        return false;
      atomic_store(&xft__failed, true);
      atomic_fetch_add(&xft__failures, 1);
      return true;
    }
  }
  return false;
}

static void *xft__malloc(size_t size) {
  if (xft__alloc_should_fail())
    return NULL;
  void *p = malloc(size);
  if (p)
    atomic_fetch_add(&xft__live, 1);
  return p;
}

static void *xft__realloc(void *ptr, size_t size) {
  if (xft__alloc_should_fail())
    return NULL;
  /* A size of 0 would let realloc free the block; ask for a byte instead so
   * that every successful call leaves exactly one live block. */
  void *p = realloc(ptr, size ? size : 1);
  if (p && !ptr)
    atomic_fetch_add(&xft__live, 1);
  return p;
}

static void xft__free(void *ptr) {
  if (!ptr)
    return;
  atomic_fetch_sub(&xft__live, 1);
  free(ptr);
}

void xft_alloc_install(void) {
  atomic_store(&xft__live, 0);
  atomic_store(&xft__count, 0);
  atomic_store(&xft__fail_in, -1);
  atomic_store(&xft__fail_rest, false);
  atomic_store(&xft__failed, false);
  atomic_store(&xft__failures, 0);
  /* This runs before any test, where a Check assertion has nowhere to
   * report to. */
  if (xf_set_allocator(xft__malloc, xft__realloc, xft__free) != XF_OK) {
    fprintf(stderr, "xft_alloc_install: xf_set_allocator failed\n");
    abort();
  }
}

void xft_alloc_fail_at(long n) {
  /* Disarm first, so that no allocation in between sees the new count with
   * the old mode. */
  atomic_store(&xft__fail_in, -1);
  atomic_store(&xft__fail_rest, false);
  if (n >= 0) {
    atomic_store(&xft__failed, false);
    atomic_store(&xft__fail_in, n);
  }
}

void xft_alloc_fail_from(long n) {
  atomic_store(&xft__fail_in, -1);
  atomic_store(&xft__fail_rest, n >= 0);
  if (n < 0)
    return;
  atomic_store(&xft__failed, false);
  atomic_store(&xft__fail_in, n);
}

bool xft_alloc_failed(void) {
  return atomic_load(&xft__failed);
}

long xft_alloc_failures(void) {
  return atomic_load(&xft__failures);
}

long xft_alloc_live(void) {
  return atomic_load(&xft__live);
}

long xft_alloc_count(void) {
  return atomic_load(&xft__count);
}

/* An operation that still has not run through after this many failed
 * allocations is taken to be looping. */
#define XFT__MAX_ALLOC_POINTS 100000

xft_alloc_loop_t xft__alloc_loop_begin(void) {
  xft_alloc_loop_t loop = {.n = 0, .base = xft_alloc_live(), .done = false};
  xft_alloc_fail_at(0);
  return loop;
}

void xft__alloc_loop_next(xft_alloc_loop_t *loop) {
  bool failed = xft_alloc_failed();
  xft_alloc_fail_at(-1);
  long live = xft_alloc_live();
  ck_assert_msg(live == loop->base,
                "%ld live block(s) instead of %ld after the pass failing allocation %ld",
                live, loop->base, loop->n);
  if (!failed) {
    loop->done = true;
    return;
  }
  ck_assert_msg(loop->n < XFT__MAX_ALLOC_POINTS, "more than %d allocation points",
                XFT__MAX_ALLOC_POINTS);
  loop->n++;
  xft_alloc_fail_at(loop->n);
}

xf_value_t *xft_int(int64_t i) {
  xf_value_t *v;
  ck_assert_int_eq(xf_value_new_int(i, &v), XF_OK);
  return v;
}

int64_t xft_result_int(xf_future_t *f) {
  xf_value_t *v;
  int64_t i = -1;
  ck_assert_int_eq(xf_future_result(f, -1, &v), XF_OK);
  ck_assert_int_eq(xf_value_get_int(v, &i), XF_OK);
  xf_value_unref(v);
  return i;
}

xf_executor_t *xft_pool(uint32_t workers) {
  xf_thread_pool_options_t o = XF_THREAD_POOL_OPTIONS_INIT;
  o.max_workers = workers;
  xf_executor_t *ex;
  ck_assert_int_eq(xf_thread_pool_new(&o, &ex), XF_OK);
  return ex;
}

xf_loop_t *xft_loop(void) {
  xf_loop_t *loop;
  ck_assert_int_eq(xf_loop_new(&loop), XF_OK);
  return loop;
}

void xft_loop_free(xf_loop_t *loop) {
  ck_assert_int_eq(xf_loop_close(loop), XF_OK);
  xf_loop_unref(loop);
}

void xft_sleep_ns(int64_t ns) {
  struct timespec ts = {(time_t) (ns / 1000000000), (long) (ns % 1000000000)};
  nanosleep(&ts, NULL);
}

int xft_main(Suite *suite) {
  xft_alloc_install();
  SRunner *sr = srunner_create(suite);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

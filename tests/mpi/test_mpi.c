/* The MPI executor's suite (xf/mpi.h), run under mpirun with 3 or 4 ranks.
 *
 * Rank 0 runs the Check suite, in Check's no-fork mode (a fork of an MPI
 * process is no MPI process). Every test that makes an SPMD executor makes
 * it collectively: the other ranks sit in a loop of
 * xf_mpi_world_executor_new, each call serving one executor of rank 0's
 * until it is shut down, and leave the loop when rank 0 releases them at
 * the end (xf_mpi_world_release).
 *
 * Started without mpirun, the program starts itself under mpirun (the
 * command and its environment come from the build); in a build without MPI
 * it says so and exits with 77, which CTest reports as skipped.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xf/mpi.h"
#include "xf/xf.h"

#ifndef XFT_MPI_TASKS
#error "XFT_MPI_TASKS names the tasks library"
#endif

#define WAIT_NS 60000000000LL /* a bound, not a timing assertion: no hang */

static int world_size;

/* The executor of the running test. A test that fails half-way leaves it
 * to the teardown, which shuts it down, so that the worker ranks go on to
 * the next test's executor rather than wait for this one's end. */
static xf_executor_t *current;

static void teardown(void) {
  if (current) {
    xf_executor_shutdown(current, true, true);
    xf_executor_unref(current);
    current = NULL;
  }
}

static void release(xf_executor_t *ex) {
  ck_assert_ptr_eq(ex, current);
  current = NULL;
  xf_executor_unref(ex);
}

static xf_executor_t *spmd(uint32_t max_in_flight) {
  xf_mpi_options_t o = XF_MPI_OPTIONS_INIT;
  o.max_in_flight = max_in_flight;
  xf_executor_t *ex = NULL;
  ck_assert_int_eq(xf_mpi_world_executor_new(0, &o, &ex), XF_OK);
  ck_assert_ptr_nonnull(ex);
  current = ex;
  return ex;
}

static xf_future_t *submit_add(xf_executor_t *ex, int64_t a, int64_t b) {
  xf_value_t *args[2];
  ck_assert_int_eq(xf_value_new_int(a, &args[0]), XF_OK);
  ck_assert_int_eq(xf_value_new_int(b, &args[1]), XF_OK);
  xf_future_t *f = NULL;
  ck_assert_int_eq(xf_process_pool_submit_symbol(ex, XFT_MPI_TASKS, "xft_mpi_add",
                                                 "int64(int64, int64)", args, 2, -1, &f),
                   XF_OK);
  xf_value_unref(args[0]);
  xf_value_unref(args[1]);
  return f;
}

static int64_t int_result(xf_future_t *f) {
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_future_result(f, WAIT_NS, &v), XF_OK);
  int64_t i = 0;
  ck_assert_int_eq(xf_value_get_int(v, &i), XF_OK);
  xf_value_unref(v);
  return i;
}

/* The error a future failed with (a new reference). */
static xf_error_t *error_of(xf_future_t *f) {
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_future_result(f, WAIT_NS, &v), XF_EFAILED);
  xf_error_t *err = NULL;
  ck_assert_int_eq(xf_future_error(f, 0, &err), XF_OK);
  ck_assert_ptr_nonnull(err);
  return err;
}

START_TEST(test_results) {
  xf_executor_t *ex = spmd(0);
  xf_future_t *f = submit_add(ex, 40, 2);
  ck_assert_int_eq(int_result(f), 42);
  xf_future_unref(f);

  /* A function of what the worker has loaded already (libm through libc's
   * namespace is not guaranteed, so a named library). */
  xf_value_t *zero = NULL;
  ck_assert_int_eq(xf_value_new_double(0.0, &zero), XF_OK);
  ck_assert_int_eq(xf_process_pool_submit_symbol(ex, "libm.so.6", "cos", "double(double)",
                                                 &zero, 1, -1, &f),
                   XF_OK);
  xf_value_unref(zero);
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_future_result(f, WAIT_NS, &v), XF_OK);
  double d = 0;
  ck_assert_int_eq(xf_value_get_double(v, &d), XF_OK);
  ck_assert(d == 1.0);
  xf_value_unref(v);
  xf_future_unref(f);

  /* The task ran on another rank: another process. */
  ck_assert_int_eq(xf_process_pool_submit_symbol(ex, XFT_MPI_TASKS, "xft_mpi_pid",
                                                 "int64()", NULL, 0, -1, &f),
                   XF_OK);
  ck_assert_int_ne(int_result(f), (int64_t) getpid());
  xf_future_unref(f);

  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_uint_eq(st.max_workers, (uint32_t) world_size - 1);
  ck_assert_uint_eq(st.completed, 3);
  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_uint_eq(st.threads, 0);
  release(ex);
}
END_TEST

static int c_task(void *data, xf_future_t *f) {
  (void) data;
  (void) f;
  return XF_OK;
}

START_TEST(test_errors) {
  xf_executor_t *ex = spmd(0);
  xf_future_t *f = NULL;
  /* A symbol the rank cannot find fails its own future. */
  ck_assert_int_eq(xf_process_pool_submit_symbol(ex, XFT_MPI_TASKS, "xft_no_such",
                                                 "int64()", NULL, 0, -1, &f),
                   XF_OK);
  xf_error_t *err = error_of(f);
  ck_assert_str_eq(xf_error_type(err), "AttributeError");
  ck_assert_ptr_nonnull(strstr(xf_error_message(err), "xft_no_such"));
  xf_error_unref(err);
  xf_future_unref(f);

  /* A result with no encoding fails that task alone. */
  ck_assert_int_eq(xf_process_pool_submit_symbol(ex, XFT_MPI_TASKS, "xft_mpi_pointer",
                                                 "pointer()", NULL, 0, -1, &f),
                   XF_OK);
  err = error_of(f);
  ck_assert_int_eq(xf_error_code(err), XF_ETYPE);
  xf_error_unref(err);
  xf_future_unref(f);

  /* A task of a language the C worker does not run. */
  xf_value_t *payload = NULL;
  ck_assert_int_eq(xf_value_new_opaque("python", "x", 1, &payload), XF_OK);
  ck_assert_int_eq(xf_process_pool_submit_payload(ex, "python", payload, -1, &f), XF_OK);
  xf_value_unref(payload);
  err = error_of(f);
  ck_assert_str_eq(xf_error_type(err), "ValueError");
  ck_assert_ptr_nonnull(strstr(xf_error_message(err), "\"c\" only"));
  xf_error_unref(err);
  xf_future_unref(f);

  /* Refused at submission: a bad signature, a wrong count, a C function
   * pointer (it cannot cross a process boundary). */
  ck_assert_int_eq(xf_process_pool_submit_symbol(ex, XFT_MPI_TASKS, "xft_mpi_add",
                                                 "int64(", NULL, 0, -1, &f),
                   XF_EINVAL);
  ck_assert_ptr_null(f);
  ck_assert_int_eq(xf_process_pool_submit_symbol(ex, XFT_MPI_TASKS, "xft_mpi_add",
                                                 "int64(int64, int64)", NULL, 0, -1, &f),
                   XF_EINVAL);
  ck_assert_int_eq(xf_executor_submit(ex, c_task, NULL, NULL, &f), XF_EINVAL);
  ck_assert_ptr_null(f);

  /* The executor still works after all that. */
  f = submit_add(ex, 1, 2);
  ck_assert_int_eq(int_result(f), 3);
  xf_future_unref(f);

  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  ck_assert_int_eq(xf_process_pool_submit_symbol(ex, XFT_MPI_TASKS, "xft_mpi_pid",
                                                 "int64()", NULL, 0, -1, &f),
                   XF_ESHUTDOWN);
  release(ex);
}
END_TEST

/* Many tasks, one at a time per rank and then pipelined. */
static void many(uint32_t max_in_flight) {
  enum { N = 2000 };
  xf_executor_t *ex = spmd(max_in_flight);
  static xf_future_t *fs[N];
  for (int i = 0; i < N; i++)
    fs[i] = submit_add(ex, i, 1);
  int64_t sum = 0;
  for (int i = 0; i < N; i++) {
    sum += int_result(fs[i]);
    xf_future_unref(fs[i]);
  }
  ck_assert_int_eq(sum, (int64_t) N * (N + 1) / 2);
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_uint_eq(st.completed, N);
  ck_assert_uint_eq(st.queued, 0);
  release(ex); /* shuts it down and waits */
}

START_TEST(test_many_tasks) {
  many(1);
}
END_TEST

START_TEST(test_many_tasks_in_flight) {
  many(8);
}
END_TEST

/* Every rank runs tasks: as many distinct pids as worker ranks. */
START_TEST(test_every_rank_serves) {
  xf_executor_t *ex = spmd(0);
  int64_t pids[8] = {0};
  int seen = 0;
  for (int round = 0; round < 100 && seen < world_size - 1; round++) {
    xf_future_t *fs[8];
    for (int i = 0; i < world_size - 1; i++)
      ck_assert_int_eq(xf_process_pool_submit_symbol(ex, XFT_MPI_TASKS, "xft_mpi_pid",
                                                     "int64()", NULL, 0, -1, &fs[i]),
                       XF_OK);
    for (int i = 0; i < world_size - 1; i++) {
      int64_t pid = int_result(fs[i]);
      xf_future_unref(fs[i]);
      bool known = false;
      for (int k = 0; k < seen; k++)
        known |= pids[k] == pid;
      if (!known)
        pids[seen++] = pid;
    }
  }
  ck_assert_int_eq(seen, world_size - 1);
  release(ex);
}
END_TEST

START_TEST(test_shutdown_cancel) {
  enum { N = 500 };
  xf_executor_t *ex = spmd(0);
  static xf_future_t *fs[N];
  for (int i = 0; i < N; i++)
    fs[i] = submit_add(ex, i, 0);
  ck_assert_int_eq(xf_executor_shutdown(ex, true, true), XF_OK);
  /* Every future is done: a result, or cancelled before it was sent. */
  int results = 0, cancelled = 0;
  for (int i = 0; i < N; i++) {
    ck_assert(xf_future_done(fs[i]));
    if (xf_future_cancelled(fs[i])) {
      cancelled++;
    } else {
      ck_assert_int_eq(int_result(fs[i]), i);
      results++;
    }
    xf_future_unref(fs[i]);
  }
  ck_assert_int_eq(results + cancelled, N);
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_uint_eq(st.cancelled, (uint64_t) cancelled);
  release(ex);
}
END_TEST

/* shutdown(wait=false) returns at once; the tasks still finish, and
 * dropping the handle waits for the ranks to be released. */
START_TEST(test_shutdown_nowait) {
  xf_executor_t *ex = spmd(0);
  xf_future_t *fs[20];
  for (int i = 0; i < 20; i++)
    fs[i] = submit_add(ex, i, i);
  ck_assert_int_eq(xf_executor_shutdown(ex, false, false), XF_OK);
  for (int i = 0; i < 20; i++) {
    ck_assert_int_eq(int_result(fs[i]), 2 * i);
    xf_future_unref(fs[i]);
  }
  release(ex);
}
END_TEST

START_TEST(test_bad_arguments) {
  xf_executor_t *ex = NULL;
  xf_mpi_options_t o = XF_MPI_OPTIONS_INIT;
  ck_assert_int_eq(xf_mpi_world_executor_new(0, &o, NULL), XF_EINVAL);
  o.sz = 1;
  ck_assert_int_eq(xf_mpi_world_executor_new(0, &o, &ex), XF_EINVAL);
  ck_assert_ptr_null(ex);
  int comm = 0;
  ck_assert_int_eq(xf_mpi_comm_executor_new(&comm, 1, 0, NULL, &ex), XF_EINVAL);
  ck_assert_int_eq(xf_mpi_serve_open(0, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_mpi_serve_wait(), XF_ESTATE); /* nothing is being served */
  ck_assert(xf_mpi_available());
  int rank = -1, size = 0;
  ck_assert_int_eq(xf_mpi_world(&rank, &size), XF_OK);
  ck_assert_int_eq(rank, 0);
  ck_assert_int_eq(size, world_size);
}
END_TEST

/* Spawn mode: two xfworker processes started with MPI_Comm_spawn. */
START_TEST(test_spawn) {
#ifdef XFT_WORKER
  xf_mpi_options_t o = XF_MPI_OPTIONS_INIT;
  o.max_workers = 2;
  o.worker_path = XFT_WORKER;
  xf_executor_t *ex = NULL;
  ck_assert_int_eq(xf_mpi_pool_new(&o, &ex), XF_OK);
  current = ex;
  xf_future_t *fs[50];
  for (int i = 0; i < 50; i++)
    fs[i] = submit_add(ex, i, 100);
  for (int i = 0; i < 50; i++) {
    ck_assert_int_eq(int_result(fs[i]), i + 100);
    xf_future_unref(fs[i]);
  }
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_uint_eq(st.max_workers, 2);
  release(ex);
#endif
}
END_TEST

static Suite *mpi_suite(void) {
  Suite *s = suite_create("mpi");
  TCase *tc = tcase_create("results");
  tcase_add_checked_fixture(tc, NULL, teardown);
  tcase_add_test(tc, test_results);
  tcase_add_test(tc, test_every_rank_serves);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_checked_fixture(tc, NULL, teardown);
  tcase_add_test(tc, test_errors);
  tcase_add_test(tc, test_bad_arguments);
  suite_add_tcase(s, tc);
  tc = tcase_create("many_tasks");
  tcase_add_checked_fixture(tc, NULL, teardown);
  tcase_add_test(tc, test_many_tasks);
  tcase_add_test(tc, test_many_tasks_in_flight);
  suite_add_tcase(s, tc);
  tc = tcase_create("shutdown");
  tcase_add_checked_fixture(tc, NULL, teardown);
  tcase_add_test(tc, test_shutdown_cancel);
  tcase_add_test(tc, test_shutdown_nowait);
  suite_add_tcase(s, tc);
  tc = tcase_create("spawn");
  tcase_add_checked_fixture(tc, NULL, teardown);
  tcase_add_test(tc, test_spawn);
  suite_add_tcase(s, tc);
  return s;
}

int main(int argc, char **argv) {
  if (!xf_mpi_available()) {
    printf(
        "c_mpi: SKIPPED: this build of xfutures has no MPI (XF_MPI is off or MPI for C "
        "was not found)\n");
    return 77;
  }
  if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && argc > 0) {
#ifdef XFT_MPIEXEC
    /* Not under mpirun: start the suite under it. */
    execlp(XFT_MPIEXEC, XFT_MPIEXEC, "-n", "3", argv[0], (char *) NULL);
    perror("c_mpi: cannot run " XFT_MPIEXEC);
#else
    (void) argv;
#endif
    return 1;
  }
  int rank = -1;
  if (xf_mpi_world(&rank, &world_size) != XF_OK || world_size < 2) {
    fprintf(stderr, "c_mpi: needs at least 2 ranks\n");
    return 1;
  }
  if (rank != 0) {
    /* A worker rank: serve each executor rank 0 makes, until released. */
    for (;;) {
      xf_executor_t *ex = NULL;
      int rc = xf_mpi_world_executor_new(0, NULL, &ex);
      if (rc == XF_ESHUTDOWN && !ex)
        return 0;
      if (rc != XF_OK || ex)
        return 1;
    }
  }
  SRunner *sr = srunner_create(mpi_suite());
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  /* The worker ranks wait for the next executor: there is none. */
  int rc = xf_mpi_world_release(0);
  if (rc != XF_OK)
    fprintf(stderr, "c_mpi: xf_mpi_world_release: %s\n", xf_strerror(rc));
  return rc == XF_OK && failed == 0 ? 0 : 1;
}

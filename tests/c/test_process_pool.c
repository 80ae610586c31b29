/* The process pool: C functions of a test library run in worker processes;
 * errors cross as errors; a worker killed with SIGKILL, crashing or calling
 * exit fails its own task with "BrokenProcessPool" and then breaks the pool
 * or is replaced as the policy says; initializers, recycling after
 * max_tasks_per_child, per-task timeouts, a running task cancelled (which
 * kills its worker with kill_on_cancel), shutdown with cancel_futures,
 * terminate and kill; and no process, zombie or descriptor left behind.
 *
 * Rendezvous with a running task go through a FIFO: the task writes its
 * worker's pid into it, so the test knows the task runs before it acts. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "testutil.h"
#include <xf/xf.h>

#ifndef XFT_WORKER
#error "XFT_WORKER: the path of xfworker"
#endif
#ifndef XFT_TASKS
#error "XFT_TASKS: the path of the test task library"
#endif

/* Under valgrind the suite repeats its fault tests fewer times. */
static int reps(int n) {
  const char *pre = getenv("LD_PRELOAD");
  return pre && strstr(pre, "vgpreload") ? 3 : n;
}

static xf_process_pool_options_t options(uint32_t workers, int policy) {
  xf_process_pool_options_t o = XF_PROCESS_POOL_OPTIONS_INIT;
  o.max_workers = workers;
  o.worker_path = XFT_WORKER;
  o.on_worker_death = policy;
  o.forward_stderr = false;
  return o;
}

static xf_executor_t *pool_with(const xf_process_pool_options_t *o) {
  xf_executor_t *ex;
  int rc = xf_process_pool_new(o, &ex);
  ck_assert_msg(rc == XF_OK, "xf_process_pool_new: %s", xf_err_name(rc));
  return ex;
}

static xf_executor_t *pool(uint32_t workers, int policy) {
  xf_process_pool_options_t o = options(workers, policy);
  return pool_with(&o);
}

static void pool_free(xf_executor_t *ex) {
  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  xf_executor_unref(ex);
}

static xf_future_t *submit(xf_executor_t *ex, const char *symbol, const char *sig,
                           xf_value_t **args, size_t n, int64_t timeout) {
  xf_future_t *f;
  int rc =
      xf_process_pool_submit_symbol(ex, XFT_TASKS, symbol, sig, args, n, timeout, &f);
  ck_assert_msg(rc == XF_OK, "%s: %s", symbol, xf_err_name(rc));
  return f;
}

static xf_future_t *submit0(xf_executor_t *ex, const char *symbol, const char *sig) {
  return submit(ex, symbol, sig, NULL, 0, -1);
}

/* The pid of a worker of ex, from a task that runs in one. */
static int64_t worker_pid(xf_executor_t *ex) {
  xf_future_t *f = submit0(ex, "xft_pid", "int64()");
  int64_t pid = xft_result_int(f);
  xf_future_unref(f);
  return pid;
}

/* Wait for f to fail and return its error (a new reference). */
static xf_error_t *failure(xf_future_t *f) {
  xf_value_t *v = NULL;
  int rc = xf_future_result(f, -1, &v);
  ck_assert_msg(rc == XF_EFAILED, "expected a failure, got %s", xf_err_name(rc));
  xf_error_t *err;
  ck_assert_int_eq(xf_future_error(f, -1, &err), XF_OK);
  ck_assert_ptr_nonnull(err);
  return err;
}

static void assert_broken(xf_future_t *f, const char *needle) {
  xf_error_t *err = failure(f);
  ck_assert_int_eq(xf_error_code(err), XF_EBROKEN);
  ck_assert_str_eq(xf_error_type(err), "BrokenProcessPool");
  ck_assert_msg(!needle || strstr(xf_error_message(err), needle), "\"%s\" lacks \"%s\"",
                xf_error_message(err), needle);
  xf_error_unref(err);
}

/* A FIFO for a rendezvous with a task. */
static void fifo_make(char *path, size_t size) {
  static int n;
  snprintf(path, size, "/tmp/xft_pp_%ld_%d", (long) getpid(), n++);
  unlink(path);
  ck_assert_int_eq(mkfifo(path, 0600), 0);
}

/* Submit xft_announce_and_block and wait until it runs; returns its
 * worker's pid. The wait is bounded only so that a broken pool fails the
 * test instead of hanging it. */
static int64_t start_blocker(xf_executor_t *ex, const char *path, xf_future_t **out) {
  int fd = open(path, O_RDONLY | O_NONBLOCK);
  ck_assert_int_ge(fd, 0);
  xf_value_t *arg;
  ck_assert_int_eq(xf_value_new_cstring(path, &arg), XF_OK);
  *out = submit(ex, "xft_announce_and_block", "int64(string)", &arg, 1, -1);
  xf_value_unref(arg);
  char buf[32];
  size_t got = 0;
  while (got == 0 || buf[got - 1] != '\n') {
    struct pollfd p = {fd, POLLIN, 0};
    ck_assert_int_eq(poll(&p, 1, 60000), 1);
    ssize_t k = read(fd, buf + got, sizeof buf - 1 - got);
    if (k < 0 && errno == EAGAIN)
      continue;
    ck_assert_int_gt(k, 0);
    got += (size_t) k;
  }
  buf[got] = '\0';
  close(fd);
  unlink(path);
  return atoll(buf);
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n++;
  closedir(d);
  return n;
}

static int count_fds(void) {
  return count_entries("/proc/self/fd");
}

/* Threads of this process named "xfprocpool": the pools' managers. */
static int count_managers(void) {
  DIR *d = opendir("/proc/self/task");
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    char path[300], comm[64] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f)
      continue;
    if (fgets(comm, sizeof comm, f) && strncmp(comm, "xfprocpool", 10) == 0)
      n++;
    fclose(f);
  }
  closedir(d);
  return n;
}

/* No child process, alive or zombie, is left. */
static bool no_children(void) {
  int status;
  return waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD;
}

/* ---- Results ------------------------------------------------------------- */

START_TEST(test_results) {
  xf_executor_t *ex = pool(2, XF_WORKER_DEATH_BREAK);
  enum { N = 16 };
  xf_future_t *fs[N];
  for (int i = 0; i < N; i++) {
    xf_value_t *args[] = {xft_int(i), xft_int(1000)};
    fs[i] = submit(ex, "xft_add", "int64(int64, int64)", args, 2, -1);
    xf_value_unref(args[0]);
    xf_value_unref(args[1]);
  }
  for (int i = 0; i < N; i++) {
    ck_assert_int_eq(xft_result_int(fs[i]), 1000 + i);
    xf_future_unref(fs[i]);
  }
  xf_value_t *args[2];
  ck_assert_int_eq(xf_value_new_double(1.5, &args[0]), XF_OK);
  args[1] = xft_int(4);
  xf_future_t *f = submit(ex, "xft_scale", "double(double, int32)", args, 2, -1);
  xf_value_unref(args[0]);
  xf_value_t *v;
  ck_assert_int_eq(xf_future_result(f, -1, &v), XF_OK);
  double d;
  ck_assert_int_eq(xf_value_get_double(v, &d), XF_OK);
  ck_assert(d == 6.0);
  xf_value_unref(v);
  xf_future_unref(f);
  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_uint_eq(st.completed, N + 1);
  ck_assert_uint_eq(st.queued, 0);
  ck_assert_uint_eq(st.running, 0);
  ck_assert_uint_eq(st.max_workers, 2);
  xf_process_pool_stats_t ps = XF_PROCESS_POOL_STATS_INIT;
  ck_assert_int_eq(xf_process_pool_stats(ex, &ps), XF_OK);
  ck_assert_uint_eq(ps.workers, 0);
  ck_assert_uint_ge(ps.spawned, 1);
  ck_assert_uint_le(ps.spawned, 2);
  ck_assert_uint_eq(ps.deaths, 0);
  xf_executor_unref(ex);
}
END_TEST

/* The workers one by one: their pids, the tasks each finished, the tasks
 * in each now. */
START_TEST(test_worker_stats) {
  xf_executor_t *ex = pool(1, XF_WORKER_DEATH_REPLACE);
  size_t n = 99;
  ck_assert_int_eq(xf_process_pool_workers(ex, NULL, 0, &n), XF_OK);
  ck_assert_uint_eq(n, 0); /* workers start with the first task */
  enum { N = 5 };
  int64_t pid = 0;
  for (int i = 0; i < N; i++) {
    int64_t p = worker_pid(ex);
    ck_assert(i == 0 || p == pid);
    pid = p;
  }
  xf_process_worker_t w[2];
  memset(w, 0xff, sizeof w);
  ck_assert_int_eq(xf_process_pool_workers(ex, w, 2, &n), XF_OK);
  ck_assert_uint_eq(n, 1);
  ck_assert_int_eq(w[0].pid, pid);
  ck_assert_uint_eq(w[0].tasks_done, N);
  ck_assert_uint_eq(w[0].running, 0);
  ck_assert_uint_eq(w[0].reserved, 0);
  ck_assert_int_eq(w[1].pid, -1); /* past the count: untouched */

  /* A task in it now. */
  char path[64];
  fifo_make(path, sizeof path);
  xf_future_t *blocked;
  ck_assert_int_eq(start_blocker(ex, path, &blocked), pid);
  ck_assert_int_eq(xf_process_pool_workers(ex, w, 1, &n), XF_OK);
  ck_assert_uint_eq(n, 1);
  ck_assert_uint_eq(w[0].running, 1);
  ck_assert_uint_eq(w[0].tasks_done, N);
  /* Once it died its slot is free: the pool counts it before the future
   * fails. */
  ck_assert_int_eq(kill((pid_t) pid, SIGKILL), 0);
  xf_error_unref(failure(blocked));
  xf_future_unref(blocked);
  ck_assert_int_eq(xf_process_pool_workers(ex, w, 1, &n), XF_OK);
  ck_assert_uint_eq(n, 0);

  /* Bad input. */
  ck_assert_int_eq(xf_process_pool_workers(ex, NULL, 1, &n), XF_EINVAL);
  ck_assert_int_eq(xf_process_pool_workers(ex, w, 1, NULL), XF_EINVAL);
  ck_assert_int_eq(xf_process_pool_workers(NULL, w, 1, &n), XF_EINVAL);
  xf_executor_t *tp = xft_pool(1);
  ck_assert_int_eq(xf_process_pool_workers(tp, w, 1, &n), XF_EINVAL);
  xf_executor_unref(tp);
  pool_free(ex);
}
END_TEST

START_TEST(test_large_values) {
  xf_executor_t *ex = pool(1, XF_WORKER_DEATH_BREAK);
  int64_t n = 8 << 20;
  xf_value_t *arg = xft_int(n);
  xf_future_t *f = submit(ex, "xft_big_string", "string(int64)", &arg, 1, -1);
  xf_value_t *v;
  ck_assert_int_eq(xf_future_result(f, -1, &v), XF_OK);
  const char *s;
  size_t len;
  ck_assert_int_eq(xf_value_get_string(v, &s, &len), XF_OK);
  ck_assert_uint_eq(len, (size_t) n);
  ck_assert(s[0] == 'a' && s[25] == 'z' && s[n - 1] == 'a' + (n - 1) % 26);
  xf_future_unref(f);
  /* And a large argument the other way. */
  f = submit(ex, "xft_strlen", "size_t(string)", &v, 1, -1);
  ck_assert_int_eq(xft_result_int(f), n);
  xf_future_unref(f);
  xf_value_unref(v);
  pool_free(ex);
}
END_TEST

START_TEST(test_library_state_persists) {
  xf_executor_t *ex = pool(1, XF_WORKER_DEATH_BREAK);
  for (int64_t i = 1; i <= 3; i++) {
    xf_future_t *f = submit0(ex, "xft_count", "int64()");
    ck_assert_int_eq(xft_result_int(f), i);
    xf_future_unref(f);
  }
  pool_free(ex);
}
END_TEST

START_TEST(test_in_flight_pipelining) {
  xf_process_pool_options_t o = options(1, XF_WORKER_DEATH_BREAK);
  o.max_in_flight = 4;
  xf_executor_t *ex = pool_with(&o);
  enum { N = 12 };
  xf_future_t *fs[N];
  for (int i = 0; i < N; i++)
    fs[i] = submit0(ex, "xft_count", "int64()");
  /* One worker runs them all, in the order they were sent. */
  for (int i = 0; i < N; i++) {
    ck_assert_int_eq(xft_result_int(fs[i]), i + 1);
    xf_future_unref(fs[i]);
  }
  pool_free(ex);
}
END_TEST

START_TEST(test_finding_the_worker) {
  /* Through XF_WORKER, and else in the build tree (not installed here). */
  xf_process_pool_options_t o = options(1, XF_WORKER_DEATH_BREAK);
  o.worker_path = NULL;
  ck_assert_int_eq(setenv("XF_WORKER", XFT_WORKER, 1), 0);
  xf_executor_t *ex = pool_with(&o);
  ck_assert_int_gt(worker_pid(ex), 0);
  pool_free(ex);
  ck_assert_int_eq(unsetenv("XF_WORKER"), 0);
  ex = pool_with(&o);
  ck_assert_int_gt(worker_pid(ex), 0);
  pool_free(ex);
  /* An argv of its own. */
  const char *argv[] = {"xfworker-custom", NULL};
  o.worker_path = XFT_WORKER;
  o.worker_argv = argv;
  ex = pool_with(&o);
  ck_assert_int_gt(worker_pid(ex), 0);
  pool_free(ex);
}
END_TEST

START_TEST(test_worker_that_never_starts) {
  /* A program that is no worker: the pool breaks even with the replacing
   * policy, rather than starting it again and again. */
  for (int policy = 0; policy < 2; policy++) {
    xf_process_pool_options_t o = options(2, policy);
    o.worker_path = "/bin/true";
    xf_executor_t *ex = pool_with(&o);
    xf_future_t *f = submit0(ex, "xft_pid", "int64()");
    assert_broken(f, "before it was ready");
    xf_future_unref(f);
    pool_free(ex);
  }
  ck_assert(no_children());
}
END_TEST

/* ---- Errors --------------------------------------------------------------- */

START_TEST(test_task_errors) {
  xf_executor_t *ex = pool(1, XF_WORKER_DEATH_BREAK);
  int64_t pid = worker_pid(ex);
  xf_future_t *f;
  ck_assert_int_eq(xf_process_pool_submit_symbol(ex, "/nonexistent/libnothing.so", "f",
                                                 "void()", NULL, 0, -1, &f),
                   XF_OK);
  xf_error_t *err = failure(f);
  ck_assert_str_eq(xf_error_type(err), "ImportError");
  xf_error_unref(err);
  xf_future_unref(f);
  f = submit0(ex, "xft_no_such_symbol", "void()");
  err = failure(f);
  ck_assert_str_eq(xf_error_type(err), "AttributeError");
  xf_error_unref(err);
  xf_future_unref(f);
  /* A result with no encoding fails its own task only. */
  f = submit0(ex, "xft_pointer", "pointer()");
  err = failure(f);
  ck_assert_int_eq(xf_error_code(err), XF_ETYPE);
  ck_assert_ptr_nonnull(strstr(xf_error_message(err), "no encoding"));
  xf_error_unref(err);
  xf_future_unref(f);
  /* An argument that does not fit the C type fails in the worker. */
  xf_value_t *big = xft_int(1LL << 40);
  xf_value_t *args[] = {xf_value_void(), big};
  xf_value_t *d;
  ck_assert_int_eq(xf_value_new_double(1, &d), XF_OK);
  args[0] = d;
  f = submit(ex, "xft_scale", "double(double, int32)", args, 2, -1);
  err = failure(f);
  ck_assert_int_eq(xf_error_code(err), XF_ERANGE);
  xf_error_unref(err);
  xf_future_unref(f);
  xf_value_unref(big);
  /* Another language: the C worker says it runs C only. */
  xf_value_t *payload;
  ck_assert_int_eq(xf_value_new_opaque("python", "x", 1, &payload), XF_OK);
  ck_assert_int_eq(xf_process_pool_submit_payload(ex, "python", payload, -1, &f), XF_OK);
  err = failure(f);
  ck_assert_ptr_nonnull(strstr(xf_error_message(err), "\"python\""));
  xf_error_unref(err);
  xf_future_unref(f);
  xf_value_unref(payload);
  /* None of it cost the worker. */
  ck_assert_int_eq(worker_pid(ex), pid);
  xf_process_pool_stats_t ps = XF_PROCESS_POOL_STATS_INIT;
  ck_assert_int_eq(xf_process_pool_stats(ex, &ps), XF_OK);
  ck_assert_uint_eq(ps.spawned, 1);
  pool_free(ex);
}
END_TEST

static int plain_task(void *data, xf_future_t *f) {
  (void) data;
  (void) f;
  return XF_OK;
}

START_TEST(test_submit_errors) {
  xf_executor_t *ex = pool(1, XF_WORKER_DEATH_BREAK);
  xf_future_t *f = (xf_future_t *) 1;
  /* A C function pointer cannot cross a process boundary. */
  ck_assert_int_eq(xf_executor_submit(ex, plain_task, NULL, NULL, &f), XF_EINVAL);
  ck_assert_ptr_null(f);
  ck_assert_int_eq(
      xf_executor_submit_native(ex, (void *) plain_task, "void()", NULL, 0, &f),
      XF_EINVAL);
  /* Checked before anything is queued. */
  ck_assert_int_eq(xf_process_pool_submit_symbol(ex, XFT_TASKS, "xft_add", "int64(int64)",
                                                 NULL, 0, -1, &f),
                   XF_EINVAL);
  ck_assert_int_eq(
      xf_process_pool_submit_symbol(ex, XFT_TASKS, "xft_add", "int65()", NULL, 0, -1, &f),
      XF_EINVAL);
  static int x;
  xf_value_t *p;
  ck_assert_int_eq(xf_value_new_pointer(&x, NULL, &p), XF_OK);
  ck_assert_int_eq(xf_process_pool_submit_symbol(ex, XFT_TASKS, "xft_strlen",
                                                 "size_t(pointer)", &p, 1, -1, &f),
                   XF_ETYPE);
  ck_assert_ptr_null(f);
  xf_value_unref(p);
  ck_assert_int_eq(
      xf_process_pool_submit_symbol(ex, NULL, "f", "void()", NULL, 0, -1, &f), XF_EINVAL);
  ck_assert_int_eq(xf_process_pool_submit_payload(ex, "", xf_value_void(), -1, &f),
                   XF_EINVAL);
  ck_assert_int_eq(
      xf_process_pool_submit_symbol(ex, XFT_TASKS, "f", "void()", NULL, 0, -1, NULL),
      XF_EINVAL);
  /* Not a process pool. */
  xf_executor_t *tp = xft_pool(1);
  ck_assert_int_eq(
      xf_process_pool_submit_symbol(tp, XFT_TASKS, "xft_pid", "int64()", NULL, 0, -1, &f),
      XF_EINVAL);
  xf_process_pool_stats_t ps = XF_PROCESS_POOL_STATS_INIT;
  ck_assert_int_eq(xf_process_pool_stats(tp, &ps), XF_EINVAL);
  ck_assert_int_eq(xf_process_pool_terminate(tp, 0), XF_EINVAL);
  xf_executor_unref(tp);
  /* After shutdown. */
  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  ck_assert_int_eq(
      xf_process_pool_submit_symbol(ex, XFT_TASKS, "xft_pid", "int64()", NULL, 0, -1, &f),
      XF_ESHUTDOWN);
  xf_executor_unref(ex);
}
END_TEST

START_TEST(test_bad_options) {
  xf_executor_t *ex = (xf_executor_t *) 1;
  xf_process_pool_options_t o = options(1, XF_WORKER_DEATH_BREAK);
  /* A caller built before kill_on_cancel existed passes the smaller size,
   * and gets the default for it; a size smaller than that is refused. */
  o.sz = offsetof(xf_process_pool_options_t, init_payload) + sizeof(xf_value_t *);
  ck_assert_int_eq(xf_process_pool_new(&o, &ex), XF_OK);
  xf_future_t *f = submit0(ex, "xft_pid", "int64()");
  ck_assert_int_gt(xft_result_int(f), 0);
  xf_future_unref(f);
  pool_free(ex);
  ex = (xf_executor_t *) 1;
  o.sz = offsetof(xf_process_pool_options_t, init_payload) + sizeof(xf_value_t *) - 1;
  ck_assert_int_eq(xf_process_pool_new(&o, &ex), XF_EINVAL);
  ck_assert_ptr_null(ex);
  o = options(1, 7);
  ck_assert_int_eq(xf_process_pool_new(&o, &ex), XF_EINVAL);
  o = options(1, XF_WORKER_DEATH_BREAK);
  o.worker_path = "/nonexistent/xfworker";
  ck_assert_int_eq(xf_process_pool_new(&o, &ex), XF_EINVAL);
  o = options(1, XF_WORKER_DEATH_BREAK);
  o.init_library = XFT_TASKS;
  o.init_symbol = "xft_init_ok";
  o.init_signature = "int32(int32)";
  ck_assert_int_eq(xf_process_pool_new(&o, &ex), XF_EINVAL); /* no argument */
  ck_assert_int_eq(xf_process_pool_new(NULL, NULL), XF_EINVAL);
}
END_TEST

/* ---- Deaths --------------------------------------------------------------- */

START_TEST(test_kill9_mid_task) {
  xf_executor_t *ex = pool(1, XF_WORKER_DEATH_REPLACE);
  for (int r = 0; r < reps(20); r++) {
    char path[64], needle[64];
    fifo_make(path, sizeof path);
    xf_future_t *f;
    int64_t pid = start_blocker(ex, path, &f);
    ck_assert_int_eq(kill((pid_t) pid, SIGKILL), 0);
    snprintf(needle, sizeof needle, "(pid %lld) was killed by signal 9", (long long) pid);
    assert_broken(f, needle);
    xf_future_unref(f);
    /* Replaced: the next task runs in a new worker. */
    ck_assert_int_ne(worker_pid(ex), pid);
  }
  xf_process_pool_stats_t ps = XF_PROCESS_POOL_STATS_INIT;
  ck_assert_int_eq(xf_process_pool_stats(ex, &ps), XF_OK);
  ck_assert_uint_eq(ps.deaths, (uint64_t) reps(20));
  ck_assert(!ps.broken);
  pool_free(ex);
  ck_assert(no_children());
}
END_TEST

START_TEST(test_segfault_and_exit) {
  xf_executor_t *ex = pool(2, XF_WORKER_DEATH_REPLACE);
  for (int r = 0; r < reps(20); r++) {
    xf_future_t *crash = submit0(ex, "xft_segfault", "void()");
    xf_value_t *st = xft_int(3);
    xf_future_t *leave = submit(ex, "xft_exit", "void(int32)", &st, 1, -1);
    xf_value_t *args[] = {xft_int(r), xft_int(1)};
    xf_future_t *ok = submit(ex, "xft_add", "int64(int64, int64)", args, 2, -1);
    assert_broken(crash, "was killed by signal 11");
    xf_error_t *err = failure(leave);
    ck_assert_str_eq(xf_error_type(err), "BrokenProcessPool");
    ck_assert_ptr_nonnull(strstr(xf_error_message(err), "exited with status 3"));
    /* The worker's stderr, last lines. */
    ck_assert_ptr_nonnull(xf_error_traceback(err));
    ck_assert_ptr_nonnull(strstr(xf_error_traceback(err), "leaving on purpose"));
    xf_error_unref(err);
    ck_assert_int_eq(xft_result_int(ok), r + 1);
    xf_future_unref(crash);
    xf_future_unref(leave);
    xf_future_unref(ok);
  }
  pool_free(ex);
  ck_assert(no_children());
}
END_TEST

/* A done callback of the dead worker's task submits again, as a user's
 * retry would: it runs on the manager thread while the death is handled. */
typedef struct resubmit {
  xf_executor_t *ex;
  int rc;
  uint64_t deaths; /* the pool's death count, as the callback saw it */
  sem_t ran;       /* posted once rc is set: the callback runs on the manager */
} resubmit_t;

static void resubmit_on_done(xf_future_t *f, void *data) {
  (void) f;
  resubmit_t *r = data;
  xf_future_t *again = NULL;
  r->rc = xf_process_pool_submit_symbol(r->ex, XFT_TASKS, "xft_pid", "int64()", NULL, 0,
                                        -1, &again);
  xf_future_unref(again);
  xf_process_pool_stats_t ps = XF_PROCESS_POOL_STATS_INIT;
  if (xf_process_pool_stats(r->ex, &ps) == XF_OK)
    r->deaths = ps.deaths;
  sem_post(&r->ran);
}

START_TEST(test_death_breaks_pool) {
  for (int r = 0; r < reps(5); r++) {
    xf_executor_t *ex = pool(1, XF_WORKER_DEATH_BREAK);
    /* The tasks queue behind one that runs until its worker is killed. */
    char path[64];
    fifo_make(path, sizeof path);
    xf_future_t *crash;
    int64_t pid = start_blocker(ex, path, &crash);
    enum { N = 5 };
    xf_future_t *queued[N];
    for (int i = 0; i < N; i++)
      queued[i] = submit0(ex, "xft_pid", "int64()");
    resubmit_t retry = {.ex = ex, .rc = 1};
    ck_assert_int_eq(sem_init(&retry.ran, 0, 0), 0);
    ck_assert_int_eq(
        xf_future_add_done_callback(crash, resubmit_on_done, &retry, NULL, NULL), XF_OK);
    ck_assert_int_eq(kill((pid_t) pid, SIGKILL), 0);
    assert_broken(crash, "signal 9");
    /* The pool was broken before the task's future failed: whoever that
     * failure wakes finds submit refused. The wait is bounded only so that
     * a callback that never runs fails the test rather than hangs it. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    ck_assert_int_eq(sem_timedwait(&retry.ran, &until), 0);
    ck_assert_int_eq(retry.rc, XF_EBROKEN);
    ck_assert_uint_eq(retry.deaths, 1); /* counted before the futures failed */
    sem_destroy(&retry.ran);
    for (int i = 0; i < N; i++) {
      assert_broken(queued[i], NULL);
      xf_future_unref(queued[i]);
    }
    xf_future_unref(crash);
    xf_future_t *f = (xf_future_t *) 1;
    ck_assert_int_eq(xf_process_pool_submit_symbol(ex, XFT_TASKS, "xft_pid", "int64()",
                                                   NULL, 0, -1, &f),
                     XF_EBROKEN);
    ck_assert_ptr_null(f);
    xf_process_pool_stats_t ps = XF_PROCESS_POOL_STATS_INIT;
    ck_assert_int_eq(xf_process_pool_stats(ex, &ps), XF_OK);
    ck_assert(ps.broken);
    pool_free(ex);
  }
  ck_assert(no_children());
}
END_TEST

/* ---- Initializers ---------------------------------------------------------- */

START_TEST(test_initializer) {
  xf_process_pool_options_t o = options(2, XF_WORKER_DEATH_BREAK);
  xf_value_t *arg = xft_int(42);
  o.init_library = XFT_TASKS;
  o.init_symbol = "xft_init_ok";
  o.init_signature = "int32(int32)";
  o.init_args = &arg;
  o.init_nargs = 1;
  xf_executor_t *ex = pool_with(&o);
  xf_value_unref(arg); /* copied by the pool */
  for (int i = 0; i < 4; i++) {
    xf_future_t *f = submit0(ex, "xft_init_value_get", "int32()");
    ck_assert_int_eq(xft_result_int(f), 42);
    xf_future_unref(f);
  }
  pool_free(ex);
}
END_TEST

START_TEST(test_failing_initializer) {
  xf_process_pool_options_t o = options(1, XF_WORKER_DEATH_REPLACE);
  o.init_library = XFT_TASKS;
  o.init_symbol = "xft_init_fail";
  o.init_signature = "int32()";
  xf_executor_t *ex = pool_with(&o);
  xf_future_t *f = submit0(ex, "xft_pid", "int64()");
  xf_error_t *err = failure(f);
  ck_assert_int_eq(xf_error_code(err), XF_EBROKEN);
  ck_assert_str_eq(xf_error_type(err), "BrokenProcessPool");
  ck_assert_ptr_nonnull(strstr(xf_error_message(err), "initializer"));
  ck_assert_ptr_nonnull(strstr(xf_error_message(err), "returned 7"));
  xf_error_t *cause;
  ck_assert_int_eq(xf_value_get_error(xf_error_payload(err), &cause), XF_OK);
  ck_assert_str_eq(xf_error_type(cause), "InitializerError");
  xf_error_unref(err);
  xf_future_unref(f);
  ck_assert_int_eq(
      xf_process_pool_submit_symbol(ex, XFT_TASKS, "xft_pid", "int64()", NULL, 0, -1, &f),
      XF_EBROKEN);
  pool_free(ex);
  ck_assert(no_children());
}
END_TEST

START_TEST(test_initializer_of_another_language) {
  /* The C worker refuses a Python initializer, which breaks the pool. */
  xf_process_pool_options_t o = options(1, XF_WORKER_DEATH_REPLACE);
  xf_value_t *payload;
  ck_assert_int_eq(xf_value_new_opaque("python", "x", 1, &payload), XF_OK);
  o.init_language = "python";
  o.init_payload = payload;
  xf_executor_t *ex = pool_with(&o);
  xf_value_unref(payload);
  xf_future_t *f = submit0(ex, "xft_pid", "int64()");
  xf_error_t *err = failure(f);
  ck_assert_int_eq(xf_error_code(err), XF_EBROKEN);
  ck_assert_ptr_nonnull(strstr(xf_error_message(err), "\"python\""));
  xf_error_unref(err);
  xf_future_unref(f);
  pool_free(ex);
  ck_assert(no_children());
}
END_TEST

/* ---- Recycling and timeouts -------------------------------------------------- */

START_TEST(test_max_tasks_per_child) {
  xf_process_pool_options_t o = options(1, XF_WORKER_DEATH_BREAK);
  o.max_tasks_per_child = 2;
  xf_executor_t *ex = pool_with(&o);
  int64_t pids[6];
  for (int i = 0; i < 6; i++)
    pids[i] = worker_pid(ex);
  for (int i = 0; i < 6; i += 2) {
    ck_assert_int_eq(pids[i], pids[i + 1]);
    if (i > 0)
      ck_assert_int_ne(pids[i], pids[i - 1]);
  }
  /* Exact with pipelining too: a worker is sent no more than its share. */
  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  xf_executor_unref(ex);
  o.max_in_flight = 4;
  o.max_tasks_per_child = 3;
  ex = pool_with(&o);
  xf_future_t *fs[9];
  for (int i = 0; i < 9; i++)
    fs[i] = submit0(ex, "xft_count", "int64()");
  for (int i = 0; i < 9; i++) {
    ck_assert_int_eq(xft_result_int(fs[i]), i % 3 + 1);
    xf_future_unref(fs[i]);
  }
  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  xf_process_pool_stats_t ps = XF_PROCESS_POOL_STATS_INIT;
  ck_assert_int_eq(xf_process_pool_stats(ex, &ps), XF_OK);
  ck_assert_uint_eq(ps.spawned, 3);
  ck_assert_uint_eq(ps.retired, 3);
  ck_assert_uint_eq(ps.workers, 0);
  ck_assert_uint_eq(ps.deaths, 0);
  xf_executor_unref(ex);
  ck_assert(no_children());
}
END_TEST

START_TEST(test_timeout) {
  /* Even with the breaking policy: a timeout replaces the worker. */
  xf_executor_t *ex = pool(1, XF_WORKER_DEATH_BREAK);
  for (int r = 0; r < reps(10); r++) {
    int64_t pid = worker_pid(ex);
    xf_future_t *f = submit(ex, "xft_block", "void()", NULL, 0, 20 * MS);
    xf_error_t *err = failure(f);
    ck_assert_int_eq(xf_error_code(err), XF_ETIMEDOUT);
    ck_assert_str_eq(xf_error_type(err), "TimeoutError");
    xf_error_unref(err);
    xf_future_unref(f);
    ck_assert_int_ne(worker_pid(ex), pid);
  }
  /* A task that finishes in time is not disturbed by its timeout. */
  xf_future_t *f = submit(ex, "xft_pid", "int64()", NULL, 0, 60000 * MS);
  ck_assert_int_gt(xft_result_int(f), 0);
  xf_future_unref(f);
  xf_process_pool_stats_t ps = XF_PROCESS_POOL_STATS_INIT;
  ck_assert_int_eq(xf_process_pool_stats(ex, &ps), XF_OK);
  ck_assert_uint_eq(ps.timeouts, (uint64_t) reps(10));
  ck_assert(!ps.broken);
  pool_free(ex);
  ck_assert(no_children());
}
END_TEST

/* ---- Cancelling a running task ----------------------------------------------- */

/* With kill_on_cancel, cancelling a task that runs kills its worker and
 * ends the future cancelled; the worker is replaced, even under the
 * breaking policy, since the pool chose to stop it. A queued task is
 * cancelled as ever, with no worker harmed. */
START_TEST(test_kill_on_cancel) {
  xf_process_pool_options_t o = options(1, XF_WORKER_DEATH_BREAK);
  o.kill_on_cancel = true;
  xf_executor_t *ex = pool_with(&o);
  for (int r = 0; r < reps(10); r++) {
    char path[64];
    fifo_make(path, sizeof path);
    xf_future_t *f;
    int64_t pid = start_blocker(ex, path, &f);
    xf_future_t *queued = submit0(ex, "xft_pid", "int64()");
    ck_assert_int_eq(xf_future_cancel(queued), XF_OK);
    ck_assert(xf_future_cancelled(queued));
    xf_future_unref(queued);
    ck_assert_int_eq(xf_future_cancel_msg(f, "no longer wanted"), XF_OK);
    xf_value_t *v = NULL;
    ck_assert_int_eq(xf_future_result(f, -1, &v), XF_ECANCELLED);
    ck_assert(xf_future_cancelled(f));
    xf_error_t *err = NULL;
    ck_assert_int_eq(xf_future_error(f, -1, &err), XF_OK);
    ck_assert_str_eq(xf_error_message(err), "no longer wanted");
    xf_error_unref(err);
    /* Its worker was killed and reaped before the future ended. */
    ck_assert_int_eq(kill((pid_t) pid, 0), -1);
    ck_assert_int_eq(errno, ESRCH);
    /* A second cancel finds it cancelled already. */
    ck_assert_int_eq(xf_future_cancel(f), XF_OK);
    xf_future_unref(f);
    ck_assert_int_ne(worker_pid(ex), pid);
  }
  xf_process_pool_stats_t ps = XF_PROCESS_POOL_STATS_INIT;
  ck_assert_int_eq(xf_process_pool_stats(ex, &ps), XF_OK);
  ck_assert_uint_eq(ps.deaths, 0);
  ck_assert(!ps.broken);
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_uint_eq(st.cancelled, 2 * (uint64_t) reps(10));
  /* A task that finished is not disturbed by a late cancel. */
  xf_future_t *f = submit0(ex, "xft_pid", "int64()");
  int64_t pid = xft_result_int(f);
  ck_assert_int_eq(xf_future_cancel(f), XF_ESTATE);
  xf_future_unref(f);
  ck_assert_int_eq(worker_pid(ex), pid);
  pool_free(ex);
  ck_assert(no_children());
}
END_TEST

/* With two tasks in one worker, cancelling one kills the worker: the other
 * fails as in a death, but the pool goes on. */
START_TEST(test_kill_on_cancel_in_flight) {
  xf_process_pool_options_t o = options(1, XF_WORKER_DEATH_BREAK);
  o.kill_on_cancel = true;
  o.max_in_flight = 2;
  xf_executor_t *ex = pool_with(&o);
  char path[64];
  fifo_make(path, sizeof path);
  xf_future_t *f;
  int64_t pid = start_blocker(ex, path, &f);
  xf_future_t *behind = submit0(ex, "xft_pid", "int64()");
  ck_assert_int_eq(xf_future_cancel(f), XF_OK);
  xf_value_t *v = NULL;
  ck_assert_int_eq(xf_future_result(f, -1, &v), XF_ECANCELLED);
  /* The second task was sent to the same worker (max_in_flight), unless
   * it went to the worker's replacement: either way it ends. */
  int rc = xf_future_result(behind, -1, &v);
  if (rc == XF_OK) {
    int64_t got = 0;
    ck_assert_int_eq(xf_value_get_int(v, &got), XF_OK);
    ck_assert_int_ne(got, pid);
    xf_value_unref(v);
  } else {
    assert_broken(behind, "cancelled");
  }
  xf_future_unref(behind);
  xf_future_unref(f);
  ck_assert_int_ne(worker_pid(ex), pid);
  xf_process_pool_stats_t ps = XF_PROCESS_POOL_STATS_INIT;
  ck_assert_int_eq(xf_process_pool_stats(ex, &ps), XF_OK);
  ck_assert(!ps.broken);
  pool_free(ex);
  ck_assert(no_children());
}
END_TEST

/* Without the option a running task cannot be cancelled, as in the stdlib. */
START_TEST(test_cancel_running_without_kill) {
  xf_executor_t *ex = pool(1, XF_WORKER_DEATH_REPLACE);
  char path[64];
  fifo_make(path, sizeof path);
  xf_future_t *f;
  int64_t pid = start_blocker(ex, path, &f);
  ck_assert_int_eq(xf_future_cancel(f), XF_ESTATE);
  ck_assert(!xf_future_done(f));
  ck_assert_int_eq(kill((pid_t) pid, SIGKILL), 0);
  assert_broken(f, "signal 9");
  xf_future_unref(f);
  pool_free(ex);
  ck_assert(no_children());
}
END_TEST

/* ---- Shutdown, terminate, kill ---------------------------------------------- */

START_TEST(test_shutdown_cancel_futures) {
  xf_executor_t *ex = pool(1, XF_WORKER_DEATH_BREAK);
  char path[64];
  fifo_make(path, sizeof path);
  xf_future_t *running;
  int64_t pid = start_blocker(ex, path, &running);
  enum { N = 4 };
  xf_future_t *queued[N];
  for (int i = 0; i < N; i++)
    queued[i] = submit0(ex, "xft_pid", "int64()");
  ck_assert_int_eq(xf_executor_shutdown(ex, false, true), XF_OK);
  for (int i = 0; i < N; i++) {
    ck_assert(xf_future_cancelled(queued[i]));
    xf_future_unref(queued[i]);
  }
  ck_assert(!xf_future_done(running));
  xf_future_t *f = (xf_future_t *) 1;
  ck_assert_int_eq(
      xf_process_pool_submit_symbol(ex, XFT_TASKS, "xft_pid", "int64()", NULL, 0, -1, &f),
      XF_ESHUTDOWN);
  /* The running task is not cancelled; its worker's death ends it. */
  kill((pid_t) pid, SIGKILL);
  assert_broken(running, "signal 9");
  xf_future_unref(running);
  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  ck_assert_int_eq(xf_executor_stats(ex, &st), XF_OK);
  ck_assert_uint_eq(st.cancelled, N);
  xf_executor_unref(ex);
  ck_assert(no_children());
}
END_TEST

static void terminate_case(bool kill_now) {
  xf_executor_t *ex = pool(2, XF_WORKER_DEATH_BREAK);
  char p1[64], p2[64];
  fifo_make(p1, sizeof p1);
  fifo_make(p2, sizeof p2);
  xf_future_t *a, *b;
  start_blocker(ex, p1, &a);
  start_blocker(ex, p2, &b);
  xf_future_t *queued = submit0(ex, "xft_pid", "int64()");
  if (kill_now)
    ck_assert_int_eq(xf_process_pool_kill(ex), XF_OK);
  else
    ck_assert_int_eq(xf_process_pool_terminate(ex, 10 * MS), XF_OK);
  /* terminate waits for the workers: everything is settled now. */
  ck_assert(xf_future_done(a) && xf_future_done(b));
  assert_broken(a, kill_now ? "signal 9" : "signal 15");
  assert_broken(b, "terminated");
  ck_assert(xf_future_cancelled(queued));
  ck_assert(no_children());
  xf_future_unref(a);
  xf_future_unref(b);
  xf_future_unref(queued);
  xf_executor_unref(ex);
}

START_TEST(test_terminate) {
  terminate_case(false);
}
END_TEST

START_TEST(test_kill) {
  terminate_case(true);
}
END_TEST

START_TEST(test_unref_finishes_work) {
  /* Dropping the only reference shuts down with wait: accepted tasks run. */
  xf_executor_t *ex = pool(2, XF_WORKER_DEATH_BREAK);
  xf_future_t *fs[6];
  for (int i = 0; i < 6; i++)
    fs[i] = submit0(ex, "xft_pid", "int64()");
  xf_executor_unref(ex);
  for (int i = 0; i < 6; i++) {
    ck_assert_int_gt(xft_result_int(fs[i]), 0);
    xf_future_unref(fs[i]);
  }
  ck_assert(no_children());
}
END_TEST

typedef struct {
  xf_executor_t *ex;
} drop_t;

static void drop_pool(xf_future_t *f, void *data) {
  (void) f;
  drop_t *d = data;
  /* Runs on the pool's manager thread: the last reference goes here. */
  xf_executor_unref(d->ex);
}

START_TEST(test_last_reference_dropped_in_callback) {
  ck_assert_int_eq(count_managers(), 0);
  xf_executor_t *ex = pool(1, XF_WORKER_DEATH_REPLACE);
  ck_assert_int_eq(count_managers(), 1);
  drop_t d = {ex};
  char path[64];
  fifo_make(path, sizeof path);
  xf_future_t *gate;
  int64_t pid = start_blocker(ex, path, &gate);
  /* Added while the task runs, so it runs on the manager thread, which
   * finishes the future when the worker dies. */
  ck_assert_int_eq(xf_future_add_done_callback(gate, drop_pool, &d, NULL, NULL), XF_OK);
  kill((pid_t) pid, SIGKILL);
  assert_broken(gate, NULL);
  xf_future_unref(gate);
  /* The manager leaves by itself, reaps the worker and frees the pool; its
   * thread is gone last. Wait for that (bounded, so that a bug fails the
   * test instead of hanging it). */
  for (int i = 0; i < 6000 && count_managers() != 0; i++)
    xft_sleep_ns(10 * MS);
  ck_assert_int_eq(count_managers(), 0);
  ck_assert(no_children());
}
END_TEST

START_TEST(test_nothing_left_behind) {
  int fds = count_fds();
  for (int r = 0; r < reps(5); r++) {
    xf_executor_t *ex = pool(2, XF_WORKER_DEATH_REPLACE);
    xf_future_t *crash = submit0(ex, "xft_segfault", "void()");
    xf_future_t *fine = submit0(ex, "xft_pid", "int64()");
    xf_future_t *slow = submit(ex, "xft_block", "void()", NULL, 0, 10 * MS);
    assert_broken(crash, NULL);
    ck_assert_int_gt(xft_result_int(fine), 0);
    ck_assert_int_eq(xf_future_wait(slow, -1), XF_OK);
    xf_future_unref(crash);
    xf_future_unref(fine);
    xf_future_unref(slow);
    pool_free(ex);
    ck_assert(no_children());
    ck_assert_int_eq(count_fds(), fds);
  }
}
END_TEST

/* ---- Allocation failures ------------------------------------------------------ */

START_TEST(test_new_alloc_failures) {
  xf_process_pool_options_t o = options(1, XF_WORKER_DEATH_BREAK);
  xf_value_t *arg = xft_int(1);
  o.init_library = XFT_TASKS;
  o.init_symbol = "xft_init_ok";
  o.init_signature = "int32(int32)";
  o.init_args = &arg;
  o.init_nargs = 1;
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_executor_t *ex;
    int rc = xf_process_pool_new(&o, &ex);
    /* The manager is idle until asked: nothing else allocates meanwhile. */
    xft_alloc_fail_at(-1);
    if (rc == XF_ENOMEM)
      continue;
    ck_assert_int_eq(rc, XF_OK);
    pool_free(ex);
  }
  xf_value_unref(arg);
}
END_TEST

START_TEST(test_submit_alloc_failures) {
  /* On a pool that is shut down (its manager gone), so that every
   * allocation counted is the submission's own. */
  xf_executor_t *ex = pool(1, XF_WORKER_DEATH_BREAK);
  ck_assert_int_eq(xf_executor_shutdown(ex, true, false), XF_OK);
  xf_value_t *args[] = {xft_int(1), xft_int(2)};
  XFT_FOR_EACH_ALLOC_FAILURE(n) {
    xf_future_t *f;
    int rc = xf_process_pool_submit_symbol(ex, XFT_TASKS, "xft_add",
                                           "int64(int64, int64)", args, 2, -1, &f);
    if (rc == XF_ENOMEM)
      continue;
    ck_assert_int_eq(rc, XF_ESHUTDOWN);
  }
  xf_value_unref(args[0]);
  xf_value_unref(args[1]);
  xf_executor_unref(ex);
}
END_TEST

static Suite *process_pool_suite(void) {
  Suite *s = suite_create("process_pool");
  /* Workers start processes and, under the sanitizers, run slowly: every
   * case gets a generous bound (only a hang should ever reach it). */
  TCase *tc = tcase_create("results");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_results);
  tcase_add_test(tc, test_worker_stats);
  tcase_add_test(tc, test_large_values);
  tcase_add_test(tc, test_library_state_persists);
  tcase_add_test(tc, test_in_flight_pipelining);
  tcase_add_test(tc, test_finding_the_worker);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_task_errors);
  tcase_add_test(tc, test_submit_errors);
  tcase_add_test(tc, test_bad_options);
  suite_add_tcase(s, tc);
  tc = tcase_create("deaths");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_kill9_mid_task);
  tcase_add_test(tc, test_segfault_and_exit);
  tcase_add_test(tc, test_death_breaks_pool);
  tcase_add_test(tc, test_worker_that_never_starts);
  suite_add_tcase(s, tc);
  tc = tcase_create("initializers");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_initializer);
  tcase_add_test(tc, test_failing_initializer);
  tcase_add_test(tc, test_initializer_of_another_language);
  suite_add_tcase(s, tc);
  tc = tcase_create("recycling_and_timeouts");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_max_tasks_per_child);
  tcase_add_test(tc, test_timeout);
  suite_add_tcase(s, tc);

  tc = tcase_create("kill_on_cancel");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_kill_on_cancel);
  tcase_add_test(tc, test_kill_on_cancel_in_flight);
  tcase_add_test(tc, test_cancel_running_without_kill);
  suite_add_tcase(s, tc);
  tc = tcase_create("shutdown");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_shutdown_cancel_futures);
  tcase_add_test(tc, test_terminate);
  tcase_add_test(tc, test_kill);
  tcase_add_test(tc, test_unref_finishes_work);
  tcase_add_test(tc, test_last_reference_dropped_in_callback);
  tcase_add_test(tc, test_nothing_left_behind);
  suite_add_tcase(s, tc);
  tc = tcase_create("allocation");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_new_alloc_failures);
  tcase_add_test(tc, test_submit_alloc_failures);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return xft_main(process_pool_suite());
}

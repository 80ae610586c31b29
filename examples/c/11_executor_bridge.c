/* Bridging executor work into the loop (seeds 003 and 004):
 * run_in_executor; the same bridge by hand (a pool future whose done
 * callback, in the worker, resolves a loop future through
 * call_soon_threadsafe); and four blocking calls at once. The four calls
 * show that they run at once by meeting: each, after its sleep, counts in
 * and waits until all four are there, which only calls running at the same
 * time can do (the wait's bound only ends a hang). */
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include <xf/xf.h>

#define MS 1000000LL

static void nap(int64_t ms) {
  struct timespec ts = {0, (long) (ms * MS)};
  nanosleep(&ts, NULL);
}

static int time_consuming_function(void *data, xf_future_t *self) {
  (void) data;
  nap(50); /* blocking, in a worker thread */
  xf_value_t *v;
  int rc = xf_value_new_cstring("Processed arg1 and arg2", &v);
  return rc == XF_OK ? xf_future_set_result(self, v) : rc;
}

static int cpu_bound_work(void *data, xf_future_t *self) {
  int64_t x = (int64_t) (intptr_t) data, result = 0;
  for (int64_t i = 0; i < 100000; i++)
    result += i * x;
  xf_value_t *v;
  int rc = xf_value_new_int(result, &v);
  return rc == XF_OK ? xf_future_set_result(self, v) : rc;
}

/* Where the four blocking calls meet. */
typedef struct meeting {
  _Atomic int arrived;
  _Atomic int met;
  xf_future_t *all_here; /* finished by the fourth to arrive */
} meeting_t;

static int blocking_sleep(void *data, xf_future_t *self) {
  (void) self;
  meeting_t *m = data;
  nap(150);
  if (atomic_fetch_add(&m->arrived, 1) + 1 == 4)
    xf_future_set_result(m->all_here, NULL);
  if (xf_future_wait(m->all_here, 30000 * MS) == XF_OK)
    atomic_fetch_add(&m->met, 1);
  return XF_OK;
}

/* The bridge: the loop future and the thread future's outcome. */
typedef struct bridge {
  xf_future_t *future;
  xf_future_t *thread_future;
} bridge_t;

static void transfer(void *data) { /* on the loop's thread */
  bridge_t *b = data;
  xf_future_chain(b->thread_future, b->future);
}

static void callback(xf_future_t *thread_future, void *data) { /* in the worker */
  bridge_t *b = data;
  b->thread_future = xf_future_ref(thread_future);
  xf_loop_call_soon_threadsafe(xf_future_loop(b->future), transfer, b, NULL);
}

int main(void) {
  xf_loop_t *loop;
  xf_executor_t *pool;
  xf_thread_pool_options_t opts = XF_THREAD_POOL_OPTIONS_INIT;
  opts.max_workers = 4;
  if (xf_loop_new(&loop) != XF_OK || xf_thread_pool_new(&opts, &pool) != XF_OK)
    return 1;
  xf_future_t *f;
  xf_value_t *v;
  const char *text;
  size_t len;
  if (xf_loop_run_in_executor(loop, pool, time_consuming_function, NULL, NULL, &f) !=
          XF_OK ||
      xf_loop_run_until_complete(loop, f, &v) != XF_OK ||
      xf_value_get_string(v, &text, &len) != XF_OK)
    return 1;
  printf("Thread result: %.*s\n", (int) len, text);
  xf_value_unref(v);
  xf_future_unref(f);

  bridge_t b = {NULL, NULL};
  int64_t result;
  if (xf_loop_create_future(loop, &b.future) != XF_OK ||
      xf_executor_submit(pool, cpu_bound_work, (void *) 2, NULL, &f) != XF_OK ||
      xf_future_add_done_callback(f, callback, &b, NULL, NULL) != XF_OK ||
      xf_loop_run_until_complete(loop, b.future, &v) != XF_OK ||
      xf_value_get_int(v, &result) != XF_OK)
    return 1;
  printf("Result: %lld\n", (long long) result);
  xf_value_unref(v);
  xf_future_unref(f);
  xf_future_unref(b.thread_future);
  xf_future_unref(b.future);

  xf_future_t *calls[4], *all;
  meeting_t meeting = {0, 0, NULL};
  if (xf_future_new(&meeting.all_here) != XF_OK)
    return 1;
  for (int i = 0; i < 4; i++)
    if (xf_loop_run_in_executor(loop, pool, blocking_sleep, &meeting, NULL, &calls[i]) !=
        XF_OK)
      return 1;
  if (xf_future_all(calls, 4, 0, &all) != XF_OK ||
      xf_loop_run_until_complete(loop, all, NULL) != XF_OK)
    return 1;
  printf("4 blocking calls ran concurrently: %s\n", meeting.met == 4 ? "True" : "False");
  xf_future_unref(all);
  xf_future_unref(meeting.all_here);
  for (int i = 0; i < 4; i++)
    xf_future_unref(calls[i]);
  xf_executor_unref(pool);
  xf_loop_close(loop);
  xf_loop_unref(loop);
  return 0;
}

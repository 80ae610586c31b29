/* The seed's run_in_executor program in C: a blocking function (a 0.2 s
 * sleep instead of 1 s) runs four times through run_in_executor on the
 * loop's default thread pool, so the four calls take about as long as one,
 * and the loop stays free meanwhile. */
#include <stdio.h>
#include <time.h>

#include <xf/xf.h>

#define MS 1000000LL

static int check(int rc, const char *what) {
  if (rc != XF_OK)
    fprintf(stderr, "%s: %s\n", what, xf_strerror(rc));
  return rc;
}

/* def time_consuming_function(arg1, arg2): time.sleep(0.2); return "..." */
static int time_consuming_function(void *data, xf_future_t *self) {
  intptr_t n = (intptr_t) data;
  struct timespec ts = {0, 200 * MS};
  nanosleep(&ts, NULL);
  char text[64];
  snprintf(text, sizeof text, "Processed arg1 and arg%d", (int) n);
  xf_value_t *v;
  int rc = xf_value_new_cstring(text, &v);
  return rc == XF_OK ? xf_future_set_result(self, v) : rc;
}

static int ticks;

/* Shows that the loop keeps running while the pool blocks. */
static void tick(void *data) {
  xf_loop_t *loop = data;
  ticks++;
  xf_loop_call_later(loop, 20 * MS, tick, loop, NULL, NULL);
}

int main(void) {
  xf_loop_t *loop;
  if (check(xf_loop_new(&loop), "loop"))
    return 1;
  if (check(xf_loop_call_soon(loop, tick, loop, NULL, NULL), "tick"))
    return 1;
  int64_t start = xf_now();
  xf_future_t *fs[4], *all;
  for (intptr_t i = 0; i < 4; i++)
    if (check(xf_loop_run_in_executor(loop, NULL, time_consuming_function,
                                      (void *) (i + 2), NULL, &fs[i]),
              "run_in_executor"))
      return 1;
  if (check(xf_future_all(fs, 4, 0, &all), "all"))
    return 1;
  xf_value_t *list;
  if (check(xf_loop_run_until_complete(loop, all, &list), "run"))
    return 1;
  double elapsed = (double) (xf_now() - start) / 1e9;
  size_t n = 0;
  xf_value_list_len(list, &n);
  for (size_t i = 0; i < n; i++) {
    xf_value_t *item;
    const char *text;
    size_t len;
    if (xf_value_list_get(list, i, &item) == XF_OK &&
        xf_value_get_string(item, &text, &len) == XF_OK)
      printf("Thread result: %.*s\n", (int) len, text);
  }
  printf("4 blocking calls of 0.20 s took %.2f s; the loop ticked %d times meanwhile\n",
         elapsed, ticks);
  xf_value_unref(list);
  xf_future_unref(all);
  for (int i = 0; i < 4; i++)
    xf_future_unref(fs[i]);
  xf_loop_close(loop);
  xf_loop_unref(loop);
  return 0;
}

/* Workload 4: calls from other threads into a loop, against uv_async_send.
 *
 * loop_pingpong   two loops on two threads bounce a message n times: loop A
 *                 posts to loop B, whose callback posts back to A. ns per
 *                 round trip (two cross-thread hand-offs, each of which may
 *                 have to wake a sleeping loop).
 *   xfutures        xf_loop_call_soon_threadsafe.
 *   libuv           uv_async_send on one uv_async_t per loop. Only one
 *                   message is ever in flight, so coalescing cannot lose one.
 * loop_flood      two producer threads each post m calls to one loop as fast
 *                 as they can; ns per call, from the start of the producers
 *                 until the loop has run the last call.
 *   xfutures        xf_loop_call_soon_threadsafe: every call runs (checked).
 *   libuv uv_async_send (coalescing)
 *                   the raw primitive: libuv merges sends that arrive before
 *                   the loop runs the callback, so it delivers far fewer
 *                   calls than were sent; both counts are reported (sends,
 *                   deliveries). It is a lower bound, not a like-for-like
 *                   anchor.
 *   libuv uv_async_send + queue
 *                   what a libuv program does to deliver every call: each
 *                   send mallocs a node, appends it to a mutex-protected
 *                   list and calls uv_async_send; the callback drains the
 *                   list. Every call runs (checked).
 *
 * Run: build/bench/bench/loop_cross [--quick] [--reps N]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#include "bench.h"

static long n_trips, n_flood;

/* ---- Ping-pong: xfutures ---------------------------------------------- */

static xf_loop_t *xa, *xb;
static long xf_trips;

static void xf_ping(void *data);

static void xf_pong(void *data) {
  (void) data;
  BENCH_CHECK(xf_loop_call_soon_threadsafe(xa, xf_ping, NULL, NULL));
}

static void xf_ping(void *data) {
  (void) data;
  if (++xf_trips == n_trips) {
    xf_loop_stop(xa);
    xf_loop_stop(xb);
    return;
  }
  BENCH_CHECK(xf_loop_call_soon_threadsafe(xb, xf_pong, NULL, NULL));
}

static void *xf_run_b(void *arg) {
  (void) arg;
  BENCH_CHECK(xf_loop_run(xb, XF_RUN_DEFAULT));
  return NULL;
}

static double xf_pingpong_once(void) {
  BENCH_CHECK(xf_loop_new(&xa));
  BENCH_CHECK(xf_loop_new(&xb));
  xf_trips = 0;
  pthread_t t;
  int64_t t0 = bench_now();
  if (pthread_create(&t, NULL, xf_run_b, NULL) != 0)
    bench_die("pthread_create");
  BENCH_CHECK(xf_loop_call_soon_threadsafe(xb, xf_pong, NULL, NULL));
  BENCH_CHECK(xf_loop_run(xa, XF_RUN_DEFAULT));
  pthread_join(t, NULL);
  double ns = (double) (bench_now() - t0) / (double) n_trips;
  xf_loop_unref(xa);
  xf_loop_unref(xb);
  return ns;
}

/* ---- Ping-pong: libuv --------------------------------------------------- */

static uv_loop_t ua, ub;
static uv_async_t async_a, async_b;
static long uv_trips;
static atomic_int uv_finished;

static void uv_on_b(uv_async_t *h) {
  (void) h;
  if (atomic_load(&uv_finished)) {
    uv_close((uv_handle_t *) &async_b, NULL);
    return;
  }
  uv_async_send(&async_a);
}

static void uv_on_a(uv_async_t *h) {
  (void) h;
  if (++uv_trips == n_trips) {
    atomic_store(&uv_finished, 1);
    uv_async_send(&async_b);
    uv_close((uv_handle_t *) &async_a, NULL);
    return;
  }
  uv_async_send(&async_b);
}

static void *uv_run_b(void *arg) {
  (void) arg;
  uv_run(&ub, UV_RUN_DEFAULT);
  return NULL;
}

static double uv_pingpong_once(void) {
  uv_loop_init(&ua);
  uv_loop_init(&ub);
  uv_async_init(&ua, &async_a, uv_on_a);
  uv_async_init(&ub, &async_b, uv_on_b);
  uv_trips = 0;
  atomic_store(&uv_finished, 0);
  pthread_t t;
  int64_t t0 = bench_now();
  if (pthread_create(&t, NULL, uv_run_b, NULL) != 0)
    bench_die("pthread_create");
  uv_async_send(&async_b);
  uv_run(&ua, UV_RUN_DEFAULT);
  pthread_join(t, NULL);
  double ns = (double) (bench_now() - t0) / (double) n_trips;
  if (uv_trips != n_trips)
    bench_die("libuv ping-pong: %ld of %ld trips", uv_trips, n_trips);
  uv_loop_close(&ua);
  uv_loop_close(&ub);
  return ns;
}

/* ---- Flood: xfutures ---------------------------------------------------- */

static xf_loop_t *xl;
static long xf_received;

static void xf_count(void *data) {
  (void) data;
  if (++xf_received == 2 * n_flood)
    xf_loop_stop(xl);
}

static void *xf_producer(void *arg) {
  (void) arg;
  for (long i = 0; i < n_flood; i++)
    BENCH_CHECK(xf_loop_call_soon_threadsafe(xl, xf_count, NULL, NULL));
  return NULL;
}

static double xf_flood_once(void) {
  BENCH_CHECK(xf_loop_new(&xl));
  xf_received = 0;
  pthread_t p[2];
  int64_t t0 = bench_now();
  for (int i = 0; i < 2; i++)
    if (pthread_create(&p[i], NULL, xf_producer, NULL) != 0)
      bench_die("pthread_create");
  BENCH_CHECK(xf_loop_run(xl, XF_RUN_DEFAULT));
  double ns = (double) (bench_now() - t0) / (double) (2 * n_flood);
  for (int i = 0; i < 2; i++)
    pthread_join(p[i], NULL);
  if (xf_received != 2 * n_flood)
    bench_die("xfutures flood: %ld of %ld calls ran", xf_received, 2 * n_flood);
  xf_loop_unref(xl);
  return ns;
}

/* ---- Flood: libuv, raw and with a queue --------------------------------- */

static uv_loop_t ul;
static uv_async_t async_l;
static long uv_delivered, uv_queued_run;
static atomic_int producers_done;

typedef struct node {
  struct node *next;
} node_t;

static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static node_t *qhead, *qtail;
static int use_queue;

static void uv_on_flood(uv_async_t *h) {
  (void) h;
  uv_delivered++;
  if (use_queue) {
    pthread_mutex_lock(&qlock);
    node_t *list = qhead;
    qhead = qtail = NULL;
    pthread_mutex_unlock(&qlock);
    while (list != NULL) {
      node_t *next = list->next;
      uv_queued_run++;
      free(list);
      list = next;
    }
    if (uv_queued_run == 2 * n_flood)
      uv_close((uv_handle_t *) &async_l, NULL);
  } else if (atomic_load(&producers_done) == 2) {
    uv_close((uv_handle_t *) &async_l, NULL);
  }
}

static void *uv_producer(void *arg) {
  (void) arg;
  for (long i = 0; i < n_flood; i++) {
    if (use_queue) {
      node_t *nd = malloc(sizeof *nd);
      if (nd == NULL)
        bench_die("out of memory");
      nd->next = NULL;
      pthread_mutex_lock(&qlock);
      if (qtail != NULL)
        qtail->next = nd;
      else
        qhead = nd;
      qtail = nd;
      pthread_mutex_unlock(&qlock);
    }
    uv_async_send(&async_l);
  }
  atomic_fetch_add(&producers_done, 1);
  /* The raw variant's last word: a callback runs after this send, and it
   * sees both producers done. */
  uv_async_send(&async_l);
  return NULL;
}

static double uv_flood_once(void) {
  uv_loop_init(&ul);
  uv_async_init(&ul, &async_l, uv_on_flood);
  uv_delivered = uv_queued_run = 0;
  atomic_store(&producers_done, 0);
  pthread_t p[2];
  int64_t t0 = bench_now();
  for (int i = 0; i < 2; i++)
    if (pthread_create(&p[i], NULL, uv_producer, NULL) != 0)
      bench_die("pthread_create");
  uv_run(&ul, UV_RUN_DEFAULT);
  double ns = (double) (bench_now() - t0) / (double) (2 * n_flood);
  for (int i = 0; i < 2; i++)
    pthread_join(p[i], NULL);
  if (use_queue && uv_queued_run != 2 * n_flood)
    bench_die("libuv queue flood: %ld of %ld calls ran", uv_queued_run, 2 * n_flood);
  uv_loop_close(&ul);
  return ns;
}

static void run(const char *workload, const char *impl, const char *unit, long n,
                double (*once)(void), const char *extra) {
  double v[64];
  once();
  for (int r = 0; r < bench_reps; r++)
    v[r] = once();
  bench_emit(workload, impl, unit, 1, n, v, bench_reps, extra);
}

int main(int argc, char **argv) {
  bench_init("loop_cross", argc, argv);
  if (bench_reps > 64)
    bench_reps = 64;
  n_trips = bench_size(20000, 500);
  n_flood = bench_size(500000, 10000);

  run("loop_pingpong", "xfutures", "ns/trip", n_trips, xf_pingpong_once, NULL);
  run("loop_pingpong", "libuv uv_async_send", "ns/trip", n_trips, uv_pingpong_once, NULL);

  char extra[160];
  snprintf(extra, sizeof extra, "\"sends\": %ld, \"deliveries\": %ld", 2 * n_flood,
           2 * n_flood);
  run("loop_flood", "xfutures", "ns/call", 2 * n_flood, xf_flood_once, extra);

  use_queue = 1;
  run("loop_flood", "libuv uv_async_send + queue", "ns/call", 2 * n_flood, uv_flood_once,
      extra);

  /* The raw primitive: report how many of the sends became callbacks (in
   * the last repetition). */
  use_queue = 0;
  double v[64];
  uv_flood_once();
  for (int r = 0; r < bench_reps; r++)
    v[r] = uv_flood_once();
  snprintf(extra, sizeof extra,
           "\"sends\": %ld, \"deliveries\": %ld, \"coalesces\": true", 2 * n_flood + 2,
           uv_delivered);
  bench_emit("loop_flood", "libuv uv_async_send (coalescing)", "ns/call", 1, 2 * n_flood,
             v, bench_reps, extra);
  return 0;
}

/* The whole-workload allocation sweep.
 *
 * One realistic workload uses every part of xfutures together: a thread
 * pool with a hundred tasks, free-standing futures with inline and loop done
 * callbacks, every combinator, a loop with timers, call_soon, tasks and
 * run_in_executor, call_soon_threadsafe and closures called from pool
 * threads, and native calls. It checks every return code and, whatever
 * happened, tears everything down, as a careful user's code does: on an
 * error it stops starting new work, finishes the futures it owns, lets what
 * is in flight settle and releases it all.
 *
 * The sweep first runs the workload once with the counting allocator to find
 * its N allocations, then once for every k in 1..N with the k-th allocation
 * failing, in two modes: the k-th alone, and the k-th and every one after it.
 * Each pass must
 * - neither crash nor hang (every wait has a generous bound, and a watchdog
 *   thread aborts a pass that takes far too long);
 * - show the failure: XF_ENOMEM comes back from a call, or a future the
 *   workload holds fails with XF_ENOMEM, or the loop's exception handler is
 *   told of it. A failed allocation that leaves no trace is a bug;
 * - leave nothing behind: after the teardown (pool threads joined) the
 *   counting allocator has no live block more than before, and every piece
 *   of user data handed to the library was freed exactly once.
 * A pass in which the failure did not happen (with threads, the k-th
 * allocation is not always the same one) must produce the full, exact
 * outcome of the clean run.
 *
 * A second variant of the workload adds work run for its effect only, whose
 * futures the program drops at once (build_dropped): a failure there has
 * nowhere to surface, so its sweeps check everything but the trace.
 *
 * Under valgrind (RUNNING_ON_VALGRIND) a pass is ten times slower and every
 * suite runs in turn, so each sweep then tries about SWEEP_VALGRIND_POINTS
 * values of k spread over the range (a stride over k) and takes seconds;
 * the plain, ASan and TSan runs try every k. XFT_SWEEP_STRIDE=n forces a
 * stride of n anywhere (1: every k, also under valgrind).
 */
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <check.h>

#include "testutil.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* Two patterns of a careful program that the library once got wrong; both
 * are on, and each can be switched off (-D...=0) to tell a new failure from
 * them.
 *
 * SWEEP_BLOCKED_WORKER: one of the hundred pool tasks calls a closure whose
 * owner loop does not run yet, so it blocks its worker, while the program
 * waits for the other tasks (xf_wait, as_completed). Tasks submitted
 * together must run in parallel: a warm pool that queued them all behind
 * the blocked one made the wait never end. Off, the closure is called by a
 * task of its own submitted after the waits.
 *
 * SWEEP_DROP_UNFINISHED: the program makes a future, hangs then(), shield(),
 * chain(), all(), any(), first() and an unwrapping then() on it, and drops
 * it unfinished (the API allows that: its callbacks never run, their data
 * is freed), keeping only the then() and shield() results, which must then
 * finish (cancelled). They used to stay pending for ever, and the futures
 * of the others to keep themselves alive through reference cycles once
 * every reference to them was gone. */
#ifndef SWEEP_BLOCKED_WORKER
#define SWEEP_BLOCKED_WORKER 1
#endif
#ifndef SWEEP_DROP_UNFINISHED
#define SWEEP_DROP_UNFINISHED 1
#endif

/* Points per mode tried under valgrind. */
#define SWEEP_VALGRIND_POINTS 100

#define SEC     (1000 * MS)
/* The bound of every wait of the workload; a clean pass takes milliseconds. */
#define WAIT_NS (20 * SEC)
/* The watchdog's bound for a whole pass, teardown included. */
#define PASS_NS (120 * SEC)

#define NTASKS      100
#define NWATCH      160
#define NTHREADSAFE 10 /* pool tasks that post to the loop: every tenth */

/* ---- User data ------------------------------------------------------------ */

/* Every piece of data the workload hands to the library is a block of its
 * own (plain malloc, so the library's allocator does not count it), freed
 * through udata_free: the count of live ones must be zero after a pass. */
static atomic_long udata_live;

typedef struct udata {
  int tag;
  struct wl *w;
} udata_t;

static udata_t *udata_new(struct wl *w, int tag) {
  udata_t *u = malloc(sizeof *u);
  ck_assert_ptr_nonnull(u);
  u->tag = tag;
  u->w = w;
  atomic_fetch_add(&udata_live, 1);
  return u;
}

static void udata_free(void *p) {
  if (!p)
    return;
  atomic_fetch_sub(&udata_live, 1);
  free(p);
}

/* ---- The workload's state ---------------------------------------------- */

/* What ran, counted so that the clean run can check each exactly. */
typedef struct counts {
  atomic_int inline_cb;         /* inline done callback on the user future */
  atomic_int loop_cb;           /* loop done callback on the user future, on the loop */
  atomic_int removed_cb;        /* a callback that was removed: never */
  atomic_int done_closure;      /* the done closure on the user future */
  atomic_int closure_int;       /* the int32(int32) closure's handler */
  atomic_int closure_void;      /* the void(int32) closure's handler */
  atomic_int soon;              /* call_soon */
  atomic_int later;             /* the short call_later timer */
  atomic_int long_timer;        /* a timer cancelled before it is due: never */
  atomic_int threadsafe;        /* call_soon_threadsafe from pool tasks, run */
  atomic_int threadsafe_posted; /* ... and accepted */
  atomic_int off_loop;          /* loop callbacks that ran off the loop thread: never */
  atomic_int observed;          /* cb_observe on dropped futures, run */
  int observing;                /* ... and registered */
} counts_t;

typedef struct wl {
  bool drops; /* include the work whose futures the program drops */

  /* Outcome of the build: the first error a call returned, and where. */
  int rc;
  const char *where;

  xf_executor_t *pool, *lex;
  xf_loop_t *loop;
  xf_signature_t *sig_void;
  xf_closure_t *cl_int, *cl_void, *cl_done;
  xf_future_t *user;      /* ours to finish */
  xf_future_t *chain_dst; /* ours until chain takes it */
  bool chain_taken;
  xf_future_t *tasks[NTASKS];
  size_t ntasks;
  xf_handle_t *later, *long_timer;

  /* Every future the workload holds besides the tasks, with a name. */
  xf_future_t *watch[NWATCH];
  const char *names[NWATCH];
  int64_t expect[NWATCH]; /* the clean run's value; -1: checked elsewhere */
  size_t nwatch;

  /* Loop callbacks accepted, which must therefore run. */
  struct {
    bool loop_cb, done_closure, soon, later;
  } reg;
  /* Answers that break the API's promises, seen in any pass. */
  struct {
    bool remove_bad;
    int remove_rc;
    int close_rc;
  } bugs;

  /* How the failure surfaced. */
  atomic_int handler_enomem;
  atomic_int handler_other;
  atomic_int dropped_enomem; /* dropped futures that failed with XF_ENOMEM */
  int futures_enomem;
  int as_completed_yielded;
  const char *hung; /* the wait that ran out of time */
  counts_t n;
} wl_t;

static void watch(wl_t *w, xf_future_t *f, const char *name, int64_t expect) {
  ck_assert_uint_lt(w->nwatch, NWATCH);
  w->watch[w->nwatch] = f;
  w->names[w->nwatch] = name;
  w->expect[w->nwatch] = expect;
  w->nwatch++;
}

/* Record the first failing call; returns rc so that callers can write
 * `if (note_rc(...) != XF_OK)`. */
static int note_rc(wl_t *w, int rc, const char *where) {
  if (rc != XF_OK && w->rc == XF_OK) {
    w->rc = rc;
    w->where = where;
  }
  return rc;
}

#define TRY(w, call)                                                                     \
  do {                                                                                   \
    if (note_rc((w), (call), #call) != XF_OK)                                            \
      return (w)->rc;                                                                    \
  } while (0)

/* ---- Callbacks and tasks ------------------------------------------------ */

static void exception_handler(xf_loop_t *loop, const char *message, xf_error_t *err,
                              void *data) {
  (void) loop;
  (void) message;
  udata_t *u = data;
  if (xf_error_code(err) == XF_ENOMEM)
    atomic_fetch_add(&u->w->handler_enomem, 1);
  else
    atomic_fetch_add(&u->w->handler_other, 1);
}

static void on_loop(wl_t *w) {
  if (xf_loop_current() != w->loop)
    atomic_fetch_add(&w->n.off_loop, 1);
}

static void cb_inline(xf_future_t *f, void *data) {
  (void) f;
  udata_t *u = data;
  atomic_fetch_add(&u->w->n.inline_cb, 1);
}

static void cb_loop(xf_future_t *f, void *data) {
  (void) f;
  udata_t *u = data;
  on_loop(u->w);
  atomic_fetch_add(&u->w->n.loop_cb, 1);
}

static void cb_removed(xf_future_t *f, void *data) {
  (void) f;
  udata_t *u = data;
  atomic_fetch_add(&u->w->n.removed_cb, 1);
}

static void cb_soon(void *data) {
  udata_t *u = data;
  on_loop(u->w);
  atomic_fetch_add(&u->w->n.soon, 1);
}

static void cb_later(void *data) {
  udata_t *u = data;
  on_loop(u->w);
  atomic_fetch_add(&u->w->n.later, 1);
}

static void cb_long_timer(void *data) {
  udata_t *u = data;
  atomic_fetch_add(&u->w->n.long_timer, 1);
}

static void cb_threadsafe(void *data) {
  udata_t *u = data;
  on_loop(u->w);
  atomic_fetch_add(&u->w->n.threadsafe, 1);
}

static int h_closure_int(void *data, xf_value_t *const *args, size_t nargs,
                         xf_value_t **result) {
  udata_t *u = data;
  on_loop(u->w);
  atomic_fetch_add(&u->w->n.closure_int, 1);
  int64_t x;
  if (nargs != 1 || xf_value_get_int(args[0], &x) != XF_OK)
    return XF_EINVAL;
  return xf_value_new_int(x + 1, result);
}

static int h_closure_void(void *data, xf_value_t *const *args, size_t nargs,
                          xf_value_t **result) {
  (void) args;
  (void) nargs;
  (void) result;
  udata_t *u = data;
  on_loop(u->w);
  atomic_fetch_add(&u->w->n.closure_void, 1);
  return XF_OK;
}

static int h_done_closure(void *data, xf_value_t *const *args, size_t nargs,
                          xf_value_t **result) {
  (void) args;
  (void) nargs;
  (void) result;
  udata_t *u = data;
  on_loop(u->w);
  atomic_fetch_add(&u->w->n.done_closure, 1);
  return XF_OK;
}

/* A pool task: its value is 3 * i. Task 1 also calls the int32(int32)
 * closure (posted to the loop, waiting for its answer), task 2 the void
 * one, and every tenth posts a callback with call_soon_threadsafe, as does
 * task 2 after its closure call: calls from one thread run in order, so once
 * that callback has run, the void call has run too (if it could be posted). */
static int task_main(void *data, xf_future_t *fut) {
  udata_t *u = data;
  wl_t *w = u->w;
  int i = u->tag;
  if (SWEEP_BLOCKED_WORKER && i == 1 && w->cl_int) {
    int32_t (*fn)(int32_t) = (int32_t(*)(int32_t)) xf_closure_code(w->cl_int);
    /* The default value 0 means the call could not be made; the reason went
     * to the exception handler. */
    if (fn(41) != 42)
      return XF_EFAILED;
  }
  if (i == 2 && w->cl_void) {
    void (*fn)(int32_t) = (void (*)(int32_t)) xf_closure_code(w->cl_void);
    fn(7);
  }
  if (i % 10 == 0 || i == 2) {
    udata_t *v = udata_new(w, i);
    int rc = xf_loop_call_soon_threadsafe(w->loop, cb_threadsafe, v, udata_free);
    if (rc != XF_OK) {
      udata_free(v);
      return rc;
    }
    atomic_fetch_add(&w->n.threadsafe_posted, 1);
  }
  return xf_future_set_result(fut, xft_int(3 * i));
}

/* A pool task that calls the int32(int32) closure, which runs on the loop,
 * and waits for its answer. */
static int closure_caller(void *data, xf_future_t *fut) {
  udata_t *u = data;
  int32_t (*fn)(int32_t) = (int32_t(*)(int32_t)) xf_closure_code(u->w->cl_int);
  int32_t r = fn(41);
  /* The default value 0 means the call could not be made; the reason went
   * to the exception handler. */
  if (r != 42)
    return XF_EFAILED;
  return xf_future_set_result(fut, xft_int(r));
}

static int inner_main(void *data, xf_future_t *fut) {
  udata_t *u = data;
  return xf_future_set_result(fut, xft_int(1000 + u->tag));
}

static int rie_main(void *data, xf_future_t *fut) {
  (void) data;
  return xf_future_set_result(fut, xft_int(77));
}

static int64_t native_add(int64_t a, int64_t b) {
  return a + b;
}

/* A continuation's view of its antecedent: 0 with its int in *x; 1 when
 * the antecedent failed and its error has been handed on to result; a
 * negative code otherwise (XF_ECANCELLED for a cancelled antecedent). */
static int antecedent_int(xf_future_t *a, xf_future_t *result, int64_t *x) {
  if (xf_future_cancelled(a))
    return XF_ECANCELLED;
  xf_value_t *v;
  int rc = xf_future_result(a, 0, &v);
  if (rc == XF_EFAILED) {
    xf_error_t *e;
    if ((rc = xf_future_error(a, 0, &e)) != XF_OK)
      return rc;
    rc = xf_future_set_error(result, e);
    return rc == XF_OK ? 1 : rc;
  }
  if (rc != XF_OK)
    return rc;
  rc = xf_value_get_int(v, x);
  xf_value_unref(v);
  return rc;
}

/* On the pool: twice the antecedent. */
static int cont_double(void *data, xf_future_t *a, xf_future_t *result) {
  (void) data;
  int64_t x;
  int rc = antecedent_int(a, result, &x);
  if (rc != 0)
    return rc > 0 ? XF_OK : rc;
  return xf_future_set_result(result, xft_int(2 * x));
}

/* On the loop (through its executor): the antecedent plus one. */
static int cont_loop(void *data, xf_future_t *a, xf_future_t *result) {
  udata_t *u = data;
  on_loop(u->w);
  int64_t x;
  int rc = antecedent_int(a, result, &x);
  if (rc != 0)
    return rc > 0 ? XF_OK : rc;
  return xf_future_set_result(result, xft_int(x + 1));
}

/* Inline: submits another pool task and returns its future, which the
 * result then follows (1000 + the antecedent). */
static int cont_unwrap(void *data, xf_future_t *a, xf_future_t *result) {
  udata_t *u = data;
  wl_t *w = u->w;
  int64_t x;
  int rc = antecedent_int(a, result, &x);
  if (rc != 0)
    return rc > 0 ? XF_OK : rc;
  udata_t *v = udata_new(w, (int) x);
  xf_future_t *inner;
  if ((rc = xf_executor_submit(w->pool, inner_main, v, udata_free, &inner)) != XF_OK) {
    udata_free(v);
    return rc;
  }
  rc = xf_future_chain(inner, result);
  xf_future_unref(inner);
  return rc;
}

/* A task: sleeps 50 us on the loop, then answers 42. A failure of what it
 * awaits is handed on. */
static int step_main(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  udata_t *u = data;
  on_loop(u->w);
  if (status == XF_ECANCELLED)
    return XF_ECANCELLED;
  if (!awaited) {
    xf_future_t *s;
    int rc = xf_loop_sleep(u->w->loop, 50 * 1000, &s);
    if (rc != XF_OK)
      return rc;
    rc = xf_task_await(task, s);
    xf_future_unref(s);
    return rc == XF_OK ? XF_TASK_AWAIT : rc;
  }
  if (status == XF_EFAILED) {
    xf_error_t *e;
    int rc = xf_future_error(awaited, 0, &e);
    if (rc != XF_OK)
      return rc;
    return xf_future_set_error(task, e);
  }
  return xf_future_set_result(task, xft_int(42));
}

/* ---- The workload ------------------------------------------------------- */

/* For a future the program drops at once: count its XF_ENOMEM, which has
 * nowhere else to surface. */
static void cb_observe(xf_future_t *f, void *data) {
  udata_t *u = data;
  atomic_fetch_add(&u->w->n.observed, 1);
  if (xf_future_cancelled(f))
    return;
  xf_error_t *e;
  if (xf_future_error(f, 0, &e) == XF_OK && e && xf_error_code(e) == XF_ENOMEM)
    atomic_fetch_add(&u->w->dropped_enomem, 1);
  xf_error_unref(e);
}

/* Hang cb_observe on f and drop the program's reference to f, in every
 * case. */
static int observe_and_drop(wl_t *w, xf_future_t *f) {
  udata_t *u = udata_new(w, w->n.observing);
  int rc = xf_future_add_done_callback(f, cb_observe, u, udata_free, NULL);
  if (rc != XF_OK)
    udata_free(u);
  else
    w->n.observing++;
  xf_future_unref(f);
  return rc;
}

enum {
  EXPECT_DONE = -4,  /* any outcome */
  EXPECT_LIST = -1,  /* the list of the hundred task values */
  EXPECT_ANY = -2,   /* the value of one of tasks 20..24 */
  EXPECT_FIRST = -3, /* the value of one of tasks 25..29 */
};

/* Work run for its effect only: the program drops these futures at once,
 * keeping at most a callback that reports how each ended (which may never
 * run: a future whose last reference is gone may be freed unfinished). A
 * failure in there has nowhere to surface, so the passes that include this
 * part check only that nothing crashes, hangs or leaks. */
static int build_dropped(wl_t *w) {
  udata_t *u;
  xf_future_t *f;
  int rc;
  u = udata_new(w, 0);
  if (note_rc(w, xf_future_then(w->tasks[35], NULL, cont_double, u, udata_free, &f),
              "xf_future_then(dropped)") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  TRY(w, observe_and_drop(w, f));
  u = udata_new(w, 0);
  if (note_rc(w, xf_future_then(w->tasks[36], NULL, cont_unwrap, u, udata_free, &f),
              "xf_future_then(unwrap, dropped)") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  TRY(w, observe_and_drop(w, f));
  TRY(w, xf_future_all(w->tasks + 35, 5, 0, &f));
  TRY(w, observe_and_drop(w, f));
  TRY(w, xf_future_any(w->tasks + 35, 5, false, &f));
  TRY(w, observe_and_drop(w, f));
  TRY(w, xf_future_first(w->tasks + 35, 5, false, &f));
  TRY(w, observe_and_drop(w, f));
  xf_future_t *dst;
  TRY(w, xf_future_new(&dst));
  if ((rc = xf_future_chain(w->tasks[37], dst)) != XF_OK)
    xf_future_cancel(dst);
  TRY(w, observe_and_drop(w, dst));
  TRY(w, rc);

#if SWEEP_DROP_UNFINISHED
  /* A future dropped unfinished, with everything hung on it. */
  xf_future_t *input;
  TRY(w, xf_future_new(&input));
  u = udata_new(w, 0);
  rc = xf_future_then(input, NULL, cont_double, u, udata_free, &f);
  if (rc != XF_OK)
    udata_free(u);
  else
    watch(w, f, "then(unfinished input)", EXPECT_DONE);
  if (rc == XF_OK && (rc = xf_future_shield(input, &f)) == XF_OK)
    watch(w, f, "shield(unfinished input)", EXPECT_DONE);
  u = udata_new(w, 0);
  if (rc == XF_OK &&
      (rc = xf_future_then(input, NULL, cont_unwrap, u, udata_free, &f)) == XF_OK)
    rc = observe_and_drop(w, f);
  else
    udata_free(u);
  if (rc == XF_OK && (rc = xf_future_all(&input, 1, 0, &f)) == XF_OK)
    rc = observe_and_drop(w, f);
  if (rc == XF_OK && (rc = xf_future_any(&input, 1, false, &f)) == XF_OK)
    rc = observe_and_drop(w, f);
  if (rc == XF_OK && (rc = xf_future_first(&input, 1, false, &f)) == XF_OK)
    rc = observe_and_drop(w, f);
  if (rc == XF_OK && (rc = xf_future_new(&dst)) == XF_OK) {
    if ((rc = xf_future_chain(input, dst)) != XF_OK)
      xf_future_cancel(dst);
    int orc = observe_and_drop(w, dst);
    rc = rc != XF_OK ? rc : orc;
  }
  xf_future_unref(input);
  TRY(w, rc);
#endif
  return XF_OK;
}

/* Everything is made here, in the order a program would, stopping at the
 * first error. */
static int build(wl_t *w) {
  xf_thread_pool_options_t o = XF_THREAD_POOL_OPTIONS_INIT;
  o.max_workers = 4;
  TRY(w, xf_thread_pool_new(&o, &w->pool));
  TRY(w, xf_loop_new(&w->loop));
  udata_t *u = udata_new(w, 0);
  if (note_rc(w, xf_loop_set_exception_handler(w->loop, exception_handler, u, udata_free),
              "xf_loop_set_exception_handler") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  TRY(w, xf_loop_executor(w->loop, &w->lex));

  /* Closures owned by the loop, called from pool threads. */
  u = udata_new(w, 0);
  if (note_rc(w,
              xf_closure_new("int32(int32)", h_closure_int, u, udata_free, w->loop,
                             &w->cl_int),
              "xf_closure_new") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  TRY(w, xf_signature_parse("void(int32)", NULL, 0, &w->sig_void));
  u = udata_new(w, 0);
  if (note_rc(w,
              xf_closure_new_sig(w->sig_void, h_closure_void, u, udata_free, w->loop,
                                 &w->cl_void),
              "xf_closure_new_sig") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  u = udata_new(w, 0);
  if (note_rc(w,
              xf_closure_new("void(pointer)", h_done_closure, u, udata_free, w->loop,
                             &w->cl_done),
              "xf_closure_new(done)") != XF_OK) {
    udata_free(u);
    return w->rc;
  }

  /* The user's future, with callbacks of every kind; one is removed again. */
  TRY(w, xf_future_new(&w->user));
  u = udata_new(w, 0);
  if (note_rc(w, xf_future_add_done_callback(w->user, cb_inline, u, udata_free, NULL),
              "add_done_callback(inline)") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  u = udata_new(w, 0);
  if (note_rc(w, xf_future_add_done_callback(w->user, cb_loop, u, udata_free, w->loop),
              "add_done_callback(loop)") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  w->reg.loop_cb = true;
  u = udata_new(w, 0);
  if (note_rc(w, xf_future_add_done_callback(w->user, cb_removed, u, udata_free, NULL),
              "add_done_callback(removed)") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  int removed = xf_future_remove_done_callback(w->user, cb_removed, u);
  if (removed != 1) {
    w->bugs.remove_bad = true;
    w->bugs.remove_rc = removed;
  }
  TRY(w, xf_future_add_done_closure(w->user, w->cl_done));
  w->reg.done_closure = true;

  /* A hundred pool tasks. */
  for (int i = 0; i < NTASKS; i++) {
    u = udata_new(w, i);
    if (note_rc(w, xf_executor_submit(w->pool, task_main, u, udata_free, &w->tasks[i]),
                "xf_executor_submit") != XF_OK) {
      udata_free(u);
      return w->rc;
    }
    w->ntasks++;
  }
  TRY(w, xf_future_set_result(w->user, xft_int(7)));

  /* Waiting, with every combinator over the tasks. With
   * SWEEP_BLOCKED_WORKER task 1 waits for the loop, which does not run yet:
   * the waits leave out the first tasks. */
  unsigned char flags[NTASKS];
  int rc = xf_wait(w->tasks + 4, NTASKS - 4, XF_ALL_COMPLETED, WAIT_NS, flags);
  if (rc == XF_ETIMEDOUT)
    w->hung = "xf_wait";
  TRY(w, rc);
  xf_as_completed_t *it;
  TRY(w, xf_as_completed_new(w->tasks + 40, 10, WAIT_NS, &it));
  for (;;) {
    xf_future_t *f;
    rc = xf_as_completed_next(it, &f);
    if (rc != XF_OK || !f)
      break;
    w->as_completed_yielded++;
    xf_future_unref(f);
  }
  xf_as_completed_free(it);
  if (rc == XF_ETIMEDOUT)
    w->hung = "xf_as_completed_next";
  TRY(w, rc);

  xf_future_t *f;
  if (!SWEEP_BLOCKED_WORKER) {
    u = udata_new(w, 0);
    if (note_rc(w, xf_executor_submit(w->pool, closure_caller, u, udata_free, &f),
                "xf_executor_submit(closure caller)") != XF_OK) {
      udata_free(u);
      return w->rc;
    }
    watch(w, f, "closure caller", 42);
  }
  TRY(w, xf_future_all(w->tasks, NTASKS, 0, &f));
  watch(w, f, "all", EXPECT_LIST);
  TRY(w, xf_future_all(w->tasks, NTASKS, XF_ALL_COLLECT, &f));
  watch(w, f, "all(collect)", EXPECT_LIST);
  TRY(w, xf_future_any(w->tasks + 20, 5, false, &f));
  watch(w, f, "any", EXPECT_ANY);
  TRY(w, xf_future_first(w->tasks + 25, 5, false, &f));
  watch(w, f, "first", EXPECT_FIRST);

  u = udata_new(w, 0);
  if (note_rc(w, xf_future_then(w->tasks[30], w->pool, cont_double, u, udata_free, &f),
              "xf_future_then(pool)") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  watch(w, f, "then(pool)", 2 * 90);
  u = udata_new(w, 0);
  if (note_rc(w, xf_future_then(w->user, w->lex, cont_loop, u, udata_free, &f),
              "xf_future_then(loop)") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  watch(w, f, "then(loop)", 8);
  u = udata_new(w, 0);
  if (note_rc(w, xf_future_then(w->tasks[31], NULL, cont_unwrap, u, udata_free, &f),
              "xf_future_then(unwrap)") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  watch(w, f, "then(unwrap)", 1000 + 93);

  TRY(w, xf_future_new(&w->chain_dst));
  TRY(w, xf_future_chain(w->tasks[32], w->chain_dst));
  w->chain_taken = true;
  TRY(w, xf_future_shield(w->tasks[33], &f));
  watch(w, f, "shield", 99);
  TRY(w, xf_future_timeout(w->loop, w->tasks[34], WAIT_NS, &f));
  watch(w, f, "timeout", 102);

  /* The loop's own work. */
  u = udata_new(w, 0);
  if (note_rc(w, xf_loop_call_soon(w->loop, cb_soon, u, udata_free, NULL),
              "xf_loop_call_soon") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  w->reg.soon = true;
  u = udata_new(w, 0);
  if (note_rc(w,
              xf_loop_call_later(w->loop, 50 * 1000, cb_later, u, udata_free, &w->later),
              "xf_loop_call_later") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  w->reg.later = true;
  u = udata_new(w, 0);
  if (note_rc(w,
              xf_loop_call_later(w->loop, 3600 * SEC, cb_long_timer, u, udata_free,
                                 &w->long_timer),
              "xf_loop_call_later(long)") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  u = udata_new(w, 0);
  if (note_rc(w, xf_task_new(w->loop, step_main, u, udata_free, &f), "xf_task_new") !=
      XF_OK) {
    udata_free(u);
    return w->rc;
  }
  watch(w, f, "task", 42);
  u = udata_new(w, 0);
  if (note_rc(w, xf_loop_run_in_executor(w->loop, NULL, rie_main, u, udata_free, &f),
              "xf_loop_run_in_executor") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  watch(w, f, "run_in_executor", 77);
  /* A task whose future the program drops once it has hung a continuation
   * and a shield on it: the pool still finishes it, and they follow. */
  xf_future_t *task;
  u = udata_new(w, 51);
  if (note_rc(w, xf_executor_submit(w->pool, task_main, u, udata_free, &task),
              "xf_executor_submit(dropped)") != XF_OK) {
    udata_free(u);
    return w->rc;
  }
  u = udata_new(w, 0);
  rc = xf_future_then(task, w->pool, cont_double, u, udata_free, &f);
  if (rc != XF_OK)
    udata_free(u);
  else
    watch(w, f, "then(dropped antecedent)", 2 * 153);
  if (rc == XF_OK && (rc = xf_future_shield(task, &f)) == XF_OK)
    watch(w, f, "shield(dropped antecedent)", 153);
  xf_future_unref(task);
  TRY(w, rc);

  xf_value_t *args[2] = {xft_int(40), xft_int(2)};
  rc = xf_executor_submit_native(w->pool, (void *) native_add, "int64(int64, int64)",
                                 args, 2, &f);
  xf_value_unref(args[0]);
  xf_value_unref(args[1]);
  TRY(w, rc);
  watch(w, f, "submit_native", 42);
  return w->drops ? build_dropped(w) : XF_OK;
}

/* After an error: finish the futures that are ours to finish, so that
 * everything waiting on them settles. */
static void abandon(wl_t *w) {
  if (w->user && !xf_future_done(w->user))
    xf_future_cancel(w->user);
  if (w->chain_dst && !w->chain_taken)
    xf_future_cancel(w->chain_dst);
}

/* Whether everything started has finished: every future we hold is done and
 * every loop callback that was accepted has run. */
static bool settled(wl_t *w) {
  for (size_t i = 0; i < w->ntasks; i++)
    if (!xf_future_done(w->tasks[i]))
      return false;
  for (size_t i = 0; i < w->nwatch; i++)
    if (!xf_future_done(w->watch[i]))
      return false;
  if (w->chain_dst && !xf_future_done(w->chain_dst))
    return false;
  if ((w->reg.loop_cb && !atomic_load(&w->n.loop_cb)) ||
      (w->reg.done_closure && !atomic_load(&w->n.done_closure)) ||
      (w->reg.soon && !atomic_load(&w->n.soon)) ||
      (w->reg.later && !atomic_load(&w->n.later)))
    return false;
  return atomic_load(&w->n.threadsafe) == atomic_load(&w->n.threadsafe_posted);
}

/* Run the loop (as a host would: poll its descriptor, then one iteration
 * that never waits) until everything has settled, within WAIT_NS. */
static bool drive(wl_t *w) {
  int64_t deadline = xf_now() + WAIT_NS;
  for (;;) {
    if (w->loop) {
      int rc = xf_loop_run(w->loop, XF_RUN_NOWAIT);
      if (rc != XF_OK)
        ck_abort_msg("xf_loop_run: %s", xf_err_name(rc));
    }
    if (settled(w))
      return true;
    if (xf_now() > deadline)
      return false;
    /* Futures finished by pool threads do not wake the loop: look again
     * every 200 us at the latest. */
    int64_t t = 200 * 1000;
    if (w->loop) {
      int64_t due = xf_loop_backend_timeout(w->loop);
      if (due >= 0 && due < t)
        t = due;
      struct pollfd p = {xf_loop_backend_fd(w->loop), POLLIN, 0};
      struct timespec ts = {0, (long) t};
      ppoll(&p, 1, &ts, NULL);
    } else {
      xft_sleep_ns(t);
    }
  }
}

/* Count the futures that failed with XF_ENOMEM. */
static int count_enomem(wl_t *w, xf_future_t *f) {
  (void) w;
  if (!xf_future_done(f) || xf_future_cancelled(f))
    return 0;
  xf_error_t *e;
  if (xf_future_error(f, 0, &e) != XF_OK)
    return 0;
  int oom = e && xf_error_code(e) == XF_ENOMEM;
  xf_error_unref(e);
  return oom;
}

static void collect(wl_t *w) {
  for (size_t i = 0; i < w->ntasks; i++)
    w->futures_enomem += count_enomem(w, w->tasks[i]);
  for (size_t i = 0; i < w->nwatch; i++)
    w->futures_enomem += count_enomem(w, w->watch[i]);
  if (w->chain_dst)
    w->futures_enomem += count_enomem(w, w->chain_dst);
}

/* Release everything, whatever happened, in the order that a program
 * must: the pool's threads first (they post to the loop), then the loop. */
static void teardown(wl_t *w) {
  if (w->pool)
    xf_executor_shutdown(w->pool, true, false);
  if (w->loop)
    for (int i = 0; i < 100 && xf_loop_backend_timeout(w->loop) == 0; i++)
      xf_loop_run(w->loop, XF_RUN_NOWAIT);
  xf_handle_cancel(w->long_timer);
  xf_handle_unref(w->long_timer);
  xf_handle_unref(w->later);
  for (size_t i = 0; i < w->ntasks; i++)
    xf_future_unref(w->tasks[i]);
  for (size_t i = 0; i < w->nwatch; i++)
    xf_future_unref(w->watch[i]);
  xf_future_unref(w->chain_dst);
  xf_future_unref(w->user);
  xf_closure_unref(w->cl_int);
  xf_closure_unref(w->cl_void);
  xf_closure_unref(w->cl_done);
  xf_signature_unref(w->sig_void);
  xf_executor_unref(w->lex);
  xf_executor_unref(w->pool);
  if (w->loop) {
    int rc = xf_loop_close(w->loop);
    if (rc != XF_OK)
      w->bugs.close_rc = rc;
    xf_loop_unref(w->loop);
  }
}

/* ---- Checking a pass ------------------------------------------------------ */

/* Why f does not hold the int expect, or NULL if it does. */
static const char *wrong_int(xf_future_t *f, int64_t expect, char *buf, size_t len) {
  xf_value_t *v;
  int rc = xf_future_result(f, 0, &v);
  if (rc != XF_OK) {
    snprintf(buf, len, "result %s", xf_err_name(rc));
    return buf;
  }
  int64_t x = -1;
  rc = xf_value_get_int(v, &x);
  if (rc == XF_OK && expect == EXPECT_ANY)
    rc = x >= 60 && x <= 72 && x % 3 == 0 ? XF_OK : XF_ERANGE;
  else if (rc == XF_OK && expect == EXPECT_FIRST)
    rc = x >= 75 && x <= 87 && x % 3 == 0 ? XF_OK : XF_ERANGE;
  else if (rc == XF_OK && x != expect)
    rc = XF_ERANGE;
  xf_value_unref(v);
  if (rc == XF_OK)
    return NULL;
  snprintf(buf, len, "value %lld, expected %lld", (long long) x, (long long) expect);
  return buf;
}

static const char *wrong_list(xf_future_t *f, char *buf, size_t len) {
  xf_value_t *v;
  int rc = xf_future_result(f, 0, &v);
  if (rc != XF_OK) {
    snprintf(buf, len, "result %s", xf_err_name(rc));
    return buf;
  }
  size_t n = 0;
  rc = xf_value_list_len(v, &n);
  if (rc == XF_OK && n != NTASKS)
    rc = XF_ERANGE;
  for (size_t i = 0; rc == XF_OK && i < n; i++) {
    xf_value_t *item;
    int64_t x = -1;
    if ((rc = xf_value_list_get(v, i, &item)) == XF_OK &&
        (rc = xf_value_get_int(item, &x)) == XF_OK && x != 3 * (int64_t) i)
      rc = XF_ERANGE;
  }
  xf_value_unref(v);
  if (rc == XF_OK)
    return NULL;
  snprintf(buf, len, "not the list of the task values (%s)", xf_err_name(rc));
  return buf;
}

/* The first way in which the pass differs from the full outcome of a run in
 * which nothing failed, or NULL. Called before the teardown. */
static const char *not_clean(wl_t *w, char *buf, size_t len) {
  char why[96];
  const char *r;
  if (w->rc != XF_OK) {
    snprintf(buf, len, "%s returned %s", w->where, xf_err_name(w->rc));
    return buf;
  }
  for (size_t i = 0; i < w->ntasks; i++)
    if ((r = wrong_int(w->tasks[i], 3 * (int64_t) i, why, sizeof why))) {
      snprintf(buf, len, "task %zu: %s", i, r);
      return buf;
    }
  for (size_t i = 0; i < w->nwatch; i++) {
    if (w->expect[i] == EXPECT_DONE)
      continue;
    r = w->expect[i] == EXPECT_LIST
            ? wrong_list(w->watch[i], why, sizeof why)
            : wrong_int(w->watch[i], w->expect[i], why, sizeof why);
    if (r) {
      snprintf(buf, len, "%s: %s", w->names[i], r);
      return buf;
    }
  }
  if ((r = wrong_int(w->chain_dst, 96, why, sizeof why))) {
    snprintf(buf, len, "chain: %s", r);
    return buf;
  }
  struct {
    const char *name;
    int got, want;
  } counts[] = {
      {"inline done callback", atomic_load(&w->n.inline_cb), 1},
      {"loop done callback", atomic_load(&w->n.loop_cb), 1},
      {"done closure", atomic_load(&w->n.done_closure), 1},
      {"int32(int32) closure", atomic_load(&w->n.closure_int), 1},
      {"void(int32) closure", atomic_load(&w->n.closure_void), 1},
      {"call_soon", atomic_load(&w->n.soon), 1},
      {"call_later", atomic_load(&w->n.later), 1},
      {"call_soon_threadsafe", atomic_load(&w->n.threadsafe), NTHREADSAFE + 1},
      {"as_completed", w->as_completed_yielded, 10},
      {"exception handler",
       atomic_load(&w->handler_enomem) + atomic_load(&w->handler_other), 0},
  };
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
    if (counts[i].got != counts[i].want) {
      snprintf(buf, len, "%s: %d, expected %d", counts[i].name, counts[i].got,
               counts[i].want);
      return buf;
    }
  return NULL;
}

/* What broke a promise of the API, in any pass, or NULL. Called after the
 * teardown. */
static const char *broken(wl_t *w, char *buf, size_t len) {
  if (w->bugs.remove_bad) {
    snprintf(buf, len, "remove_done_callback returned %d, expected 1", w->bugs.remove_rc);
    return buf;
  }
  if (w->bugs.close_rc != XF_OK) {
    snprintf(buf, len, "xf_loop_close: %s", xf_err_name(w->bugs.close_rc));
    return buf;
  }
  struct {
    const char *name;
    int got, max;
  } counts[] = {
      {"inline done callback", atomic_load(&w->n.inline_cb), 1},
      {"loop done callback", atomic_load(&w->n.loop_cb), 1},
      {"removed done callback", atomic_load(&w->n.removed_cb), 0},
      {"done closure", atomic_load(&w->n.done_closure), 1},
      {"int32(int32) closure", atomic_load(&w->n.closure_int), 1},
      {"void(int32) closure", atomic_load(&w->n.closure_void), 1},
      {"call_soon", atomic_load(&w->n.soon), 1},
      {"call_later", atomic_load(&w->n.later), 1},
      {"cancelled timer", atomic_load(&w->n.long_timer), 0},
      {"callbacks on dropped futures", atomic_load(&w->n.observed), w->n.observing},
      {"loop callbacks off the loop thread", atomic_load(&w->n.off_loop), 0},
  };
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
    if (counts[i].got > counts[i].max) {
      snprintf(buf, len, "%s ran %d times, at most %d", counts[i].name, counts[i].got,
               counts[i].max);
      return buf;
    }
  if (atomic_load(&w->n.threadsafe) != atomic_load(&w->n.threadsafe_posted)) {
    snprintf(buf, len, "%d call_soon_threadsafe callbacks accepted, %d ran",
             atomic_load(&w->n.threadsafe_posted), atomic_load(&w->n.threadsafe));
    return buf;
  }
  return NULL;
}

/* ---- The sweep ------------------------------------------------------------ */

enum { MODE_NONE, MODE_ALONE, MODE_FROM };
static const char *const mode_names[] = {"no failure", "k-th alone", "from k-th on"};

/* What the passes of one sweep found. */
typedef struct tally {
  long passes, failed;               /* passes, and those in which the failure happened */
  long by_rc, by_future, by_handler; /* how XF_ENOMEM surfaced (may overlap) */
  long problems;
  char report[4096];
  size_t used;
} tally_t;

#define REPORT_MAX 30

static void problem(tally_t *t, long k, int mode, const char *what) {
  if (t->problems++ < REPORT_MAX && t->used < sizeof t->report)
    t->used += (size_t) snprintf(t->report + t->used, sizeof t->report - t->used,
                                 "\n  k=%ld (%s): %s", k, mode_names[mode], what);
}

/* The watchdog: a pass that runs far past every bound of its waits is hung
 * somewhere no bound reaches (a join, a close); there is nothing to tear
 * down then, so it says which pass and aborts. */
static struct {
  pthread_t thread;
  atomic_bool stop;
  _Atomic int64_t since; /* start of the running pass, 0 between passes */
  atomic_long k;
  atomic_int mode;
} dog;

static void *dog_main(void *arg) {
  (void) arg;
  while (!atomic_load(&dog.stop)) {
    int64_t since = atomic_load(&dog.since);
    if (since && xf_now() - since > PASS_NS) {
      fprintf(stderr, "sweep: the pass k=%ld (%s) still runs after %lld s: hung\n",
              atomic_load(&dog.k), mode_names[atomic_load(&dog.mode)],
              (long long) (PASS_NS / SEC));
      abort();
    }
    xft_sleep_ns(50 * MS);
  }
  return NULL;
}

static void dog_start(void) {
  atomic_store(&dog.stop, false);
  atomic_store(&dog.since, 0);
  ck_assert_int_eq(pthread_create(&dog.thread, NULL, dog_main, NULL), 0);
}

static void dog_stop(void) {
  atomic_store(&dog.stop, true);
  pthread_join(dog.thread, NULL);
}

/* What has not settled, for a message about a hang. */
static const char *pending(wl_t *w, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = 0;
#define PENDING(...)                                                                     \
  if (used < len)                                                                        \
  used += (size_t) snprintf(buf + used, len - used, __VA_ARGS__)
  for (size_t i = 0; i < w->nwatch; i++)
    if (!xf_future_done(w->watch[i]))
      PENDING(" %s", w->names[i]);
  for (size_t i = 0; i < w->ntasks; i++)
    if (!xf_future_done(w->tasks[i]))
      PENDING(" task%zu", i);
  if (w->chain_dst && !xf_future_done(w->chain_dst))
    PENDING(" chain");
  if (w->reg.loop_cb && !atomic_load(&w->n.loop_cb))
    PENDING(" loop-done-callback");
  if (w->reg.done_closure && !atomic_load(&w->n.done_closure))
    PENDING(" done-closure");
  if (w->reg.soon && !atomic_load(&w->n.soon))
    PENDING(" call_soon");
  if (w->reg.later && !atomic_load(&w->n.later))
    PENDING(" call_later");
  if (w->pool) {
    xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
    if (xf_executor_stats(w->pool, &st) == XF_OK)
      PENDING("; pool: %u threads, %llu queued, %llu running", st.threads,
              (unsigned long long) st.queued, (unsigned long long) st.running);
  }
  if (atomic_load(&w->n.threadsafe) != atomic_load(&w->n.threadsafe_posted))
    PENDING(" call_soon_threadsafe(%d of %d)", atomic_load(&w->n.threadsafe),
            atomic_load(&w->n.threadsafe_posted));
#undef PENDING
  return buf;
}

/* One run of the workload with the k-th allocation (1-based) failing as mode
 * says. */
static void run_pass(long k, int mode, bool drops, tally_t *t) {
  wl_t *w = calloc(1, sizeof *w);
  ck_assert_ptr_nonnull(w);
  w->drops = drops;
  long live = xft_alloc_live(), udata = atomic_load(&udata_live);
  atomic_store(&dog.k, k);
  atomic_store(&dog.mode, mode);
  atomic_store(&dog.since, xf_now());
  if (mode == MODE_ALONE)
    xft_alloc_fail_at(k - 1);
  else if (mode == MODE_FROM)
    xft_alloc_fail_from(k - 1);

  if (build(w) != XF_OK)
    abandon(w);
  char what[512];
  if (w->hung)
    ck_abort_msg("k=%ld (%s): %s timed out; pending:%s", k, mode_names[mode], w->hung,
                 pending(w, what, sizeof what));
  if (!drive(w))
    ck_abort_msg("k=%ld (%s): still pending after %lld s (build: %s at %s):%s", k,
                 mode_names[mode], (long long) (WAIT_NS / SEC), xf_err_name(w->rc),
                 w->where ? w->where : "-", pending(w, what, sizeof what));
  collect(w);
  char clean_buf[256];
  const char *unclean = not_clean(w, clean_buf, sizeof clean_buf);
  teardown(w);
  xft_alloc_fail_at(-1);
  bool failed = mode != MODE_NONE && xft_alloc_failed();
  atomic_store(&dog.since, 0);

  t->passes++;
  char buf[512];
  const char *r;
  if ((r = broken(w, buf, sizeof buf)))
    problem(t, k, mode, r);
  long leaked = xft_alloc_live() - live, udata_left = atomic_load(&udata_live) - udata;
  if (leaked || udata_left) {
    snprintf(buf, sizeof buf,
             "%ld block(s) and %ld user data left after the teardown%s%s", leaked,
             udata_left, w->where ? "; build stopped at " : "", w->where ? w->where : "");
    problem(t, k, mode, buf);
  }
  if (failed) {
    t->failed++;
    bool by_rc = w->rc == XF_ENOMEM,
         by_future = w->futures_enomem > 0 || atomic_load(&w->dropped_enomem) > 0,
         by_handler = atomic_load(&w->handler_enomem) > 0;
    t->by_rc += by_rc;
    t->by_future += by_future;
    t->by_handler += by_handler;
    if (!by_rc && !by_future && !by_handler && !drops) {
      snprintf(buf, sizeof buf, "XF_ENOMEM left no trace (build: %s%s%s)",
               xf_err_name(w->rc), w->where ? " at " : "", w->where ? w->where : "");
      problem(t, k, mode, buf);
    }
  } else if (unclean) {
    snprintf(buf, sizeof buf, "no allocation failed, yet %s", unclean);
    problem(t, k, mode, buf);
  }
  free(w);
}

static void tally_print(const char *what, long n, long stride, const tally_t *t,
                        long injected, int64_t ns) {
  printf("sweep %s: N=%ld stride=%ld passes=%ld failed=%ld (allocations failed: %ld) "
         "surfaced: rc=%ld future=%ld handler=%ld problems=%ld time=%.2fs\n",
         what, n, stride, t->passes, t->failed, injected, t->by_rc, t->by_future,
         t->by_handler, t->problems, (double) ns / 1e9);
  fflush(stdout);
}

/* The workload's allocations in a run with no failure. */
static long count_allocations(bool drops) {
  tally_t t = {0};
  long before = xft_alloc_count();
  run_pass(0, MODE_NONE, drops, &t);
  long n = xft_alloc_count() - before;
  ck_assert_msg(t.problems == 0, "the run with no failure:%s", t.report);
  return n;
}

static long sweep_stride(long n) {
  const char *env = getenv("XFT_SWEEP_STRIDE");
  if (env && atol(env) > 0)
    return atol(env);
  if (RUNNING_ON_VALGRIND)
    return n / SWEEP_VALGRIND_POINTS > 1 ? n / SWEEP_VALGRIND_POINTS : 1;
  return 1;
}

static void sweep(int mode, bool drops) {
  dog_start();
  long n = count_allocations(drops);
  long stride = sweep_stride(n);
  tally_t t = {0};
  int64_t start = xf_now();
  long failures = xft_alloc_failures();
  /* With a stride, start in the middle of the first stretch so that the
   * points are spread over the whole range. */
  for (long k = stride > 1 ? stride / 2 : 1; k <= n; k += stride)
    run_pass(k, mode, drops, &t);
  char what[64];
  snprintf(what, sizeof what, "%s%s", mode_names[mode], drops ? ", dropped futures" : "");
  tally_print(what, n, stride, &t, xft_alloc_failures() - failures, xf_now() - start);
  dog_stop();
  ck_assert_msg(t.problems == 0, "%ld problem(s) in %ld passes:%s", t.problems, t.passes,
                t.report);
}

/* ---- Tests ---------------------------------------------------------------- */

/* The workload itself, with nothing failing: every outcome exact. */
START_TEST(test_sweep_clean) {
  dog_start();
  tally_t t = {0};
  int64_t start = xf_now();
  for (int i = 0; i < 4; i++)
    run_pass(0, MODE_NONE, i % 2, &t);
  long n = count_allocations(false);
  tally_print("clean", n, 1, &t, 0, xf_now() - start);
  dog_stop();
  ck_assert_msg(t.problems == 0, "%s", t.report);
  ck_assert_int_gt(n, 0);
  /* Nothing at all is left: no block the library keeps for itself, and every
   * thread it started is gone. */
  ck_assert_int_eq(xft_alloc_live(), 0);
  ck_assert_int_eq(atomic_load(&udata_live), 0);
}
END_TEST

START_TEST(test_sweep_kth_alone) {
  sweep(MODE_ALONE, false);
}
END_TEST

START_TEST(test_sweep_from_kth_on) {
  sweep(MODE_FROM, false);
}
END_TEST

/* The workload with the futures it drops: XF_ENOMEM may leave no trace
 * there, everything else holds. */
START_TEST(test_sweep_dropped_kth_alone) {
  sweep(MODE_ALONE, true);
}
END_TEST

START_TEST(test_sweep_dropped_from_kth_on) {
  sweep(MODE_FROM, true);
}
END_TEST

static Suite *sweep_suite(void) {
  Suite *s = suite_create("sweep");
  TCase *tc = tcase_create("clean");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_sweep_clean);
  suite_add_tcase(s, tc);
  /* A sweep is thousands of passes: its bound is the pass watchdog's, times
   * a few hundred (valgrind runs about SWEEP_VALGRIND_POINTS of them). */
  tc = tcase_create("alloc_failure");
  tcase_set_timeout(tc, 1800);
  tcase_add_test(tc, test_sweep_kth_alone);
  tcase_add_test(tc, test_sweep_from_kth_on);
  tcase_add_test(tc, test_sweep_dropped_kth_alone);
  tcase_add_test(tc, test_sweep_dropped_from_kth_on);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return xft_main(sweep_suite());
}

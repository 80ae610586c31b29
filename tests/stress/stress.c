/* The stress program: millions of racing operations on shared objects,
 * with every outcome counted.
 *
 * A team of threads works through rounds of three kinds, each round started
 * and ended by a barrier so that its objects are fresh and its outcome can
 * be checked exactly:
 *
 * - futures: the threads share one future and, in a random order, add done
 *   callbacks to it, remove their own again, try to finish it (a value or a
 *   cancellation) and drop their references. Every callback must run
 *   exactly once, except one whose removal returned 1, which must never
 *   run; each one's data is freed exactly once; exactly one finishing call
 *   wins and the final state says which.
 * - pools: the threads storm a new thread pool with submissions while one
 *   of them shuts it down (waiting or not, cancelling the queue or not), the
 *   queue sometimes bounded so that submitters block. Every accepted
 *   submission's future must finish: ran once with its value, or cancelled
 *   without running; every task's data is freed exactly once; a refused
 *   submission (XF_ESHUTDOWN) never runs and keeps its data.
 * - loops: one thread runs a new loop while the others storm it with
 *   call_soon_threadsafe, with calls of closures the loop owns, with loop
 *   futures finished from their thread and with free-standing futures
 *   whose done callbacks go to the loop, and
 *   call xf_loop_stop at random; the loop thread runs it again after each
 *   stop, then closes it and drops it, or drops it from inside a last run,
 *   while the posts go on (some of the futures are finished after their
 *   thread dropped the loop too). Every
 *   accepted callback runs at most once, on the loop's thread, and has its
 *   data freed exactly once (by running or by the close); refused ones
 *   (XF_ECLOSED) never run.
 *
 * Any violation is printed and makes the exit status 1; a round that makes
 * no progress for a minute is reported as a hang (exit status 2).
 *
 * Usage: stress [--ops N] [--threads T] [--seed S]
 * N (default 10,000,000) is the total number of operations, shared equally
 * by the three kinds; T (default 4, at least 2) the team's size.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xf/xf.h>

/* ---- Reporting ------------------------------------------------------------ */

static atomic_long violations;

#define MAX_REPORTED 20

#define VIOLATION(...)                                                                   \
  do {                                                                                   \
    if (atomic_fetch_add(&violations, 1) < MAX_REPORTED) {                               \
      flockfile(stderr);                                                                 \
      fprintf(stderr, "stress: violation: " __VA_ARGS__);                                \
      fputc('\n', stderr);                                                               \
      funlockfile(stderr);                                                               \
    }                                                                                    \
  } while (0)

/* Totals, added up by each thread at the end of each round. */
static struct {
  atomic_long future_ops, pool_ops, loop_ops;
  atomic_long callbacks_run, callbacks_removed;
  atomic_long submitted, refused, tasks_run, tasks_cancelled;
  atomic_long posted, post_refused, posts_run, posts_dropped, stops, handler_calls;
  atomic_long closure_calls, closure_runs;
  atomic_long rounds[3];
} totals;

/* ---- Small tools ---------------------------------------------------------- */

typedef struct rng {
  uint64_t s;
} rng_t;

static uint64_t rnd(rng_t *r) {
  /* xorshift64*: fast, and good enough to pick operations. */
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return r->s * 2685821657736338717ull;
}

static unsigned rnd_below(rng_t *r, unsigned n) {
  return (unsigned) ((rnd(r) >> 32) % n);
}

/* A spinning barrier: rounds are short, and a sleeping barrier would cost
 * more than the round. It yields, because the team may outnumber the
 * cores. */
typedef struct barrier {
  atomic_uint count;
  atomic_uint generation;
  unsigned n;
} barrier_t;

static void barrier_wait(barrier_t *b) {
  unsigned gen = atomic_load(&b->generation);
  if (atomic_fetch_add(&b->count, 1) + 1 == b->n) {
    atomic_store(&b->count, 0);
    atomic_fetch_add(&b->generation, 1);
    return;
  }
  while (atomic_load(&b->generation) == gen)
    sched_yield();
}

/* What a callback or task saw: run and free counts, checked after the
 * round. */
typedef struct rec {
  atomic_int ran;
  atomic_int freed;
  int removed; /* futures: what remove_done_callback returned, or -1 */
  bool accepted;
  bool wrong_thread;
  xf_future_t *fut; /* pools: the accepted submission's future */
} rec_t;

static void rec_reset(rec_t *r) {
  atomic_store_explicit(&r->ran, 0, memory_order_relaxed);
  atomic_store_explicit(&r->freed, 0, memory_order_relaxed);
  r->removed = -1;
  r->accepted = false;
  r->wrong_thread = false;
  r->fut = NULL;
}

static void rec_free(void *p) {
  rec_t *r = p;
  atomic_fetch_add(&r->freed, 1);
}

/* ---- The team ------------------------------------------------------------- */

enum { KIND_FUTURES, KIND_POOLS, KIND_LOOPS };
static const char *const kind_names[] = {"futures", "pools", "loops"};

/* Operations per thread per round, and records per thread. */
#define FUTURE_OPS 24
#define POOL_OPS   400
#define LOOP_OPS   400
#define MAX_RECS   512

typedef struct team team_t;

typedef struct member {
  team_t *team;
  int id;
  rng_t rng;
  rec_t recs[MAX_RECS];
  int nrecs;
  rec_t closure_rec; /* loops: the producer's closure, its calls counted in ran */
  long closure_calls;
  pthread_t thread;
} member_t;

struct team {
  int n;
  long target[3]; /* operations of each kind */
  barrier_t barrier;
  member_t *members;

  /* The current round's shared objects, set by member 0 between barriers. */
  atomic_int kind; /* what runs, for the watchdog's message */
  xf_future_t *future;
  atomic_int sets_ok, cancels_ok;
  xf_executor_t *pool;
  unsigned shutdown_at;
  bool shutdown_wait, shutdown_cancel;
  xf_loop_t *loop;
  atomic_int producers_done;
  atomic_bool closing; /* set just before the loop is closed */

  /* For the hang watchdog. */
  atomic_long progress;
};

/* ---- Futures -------------------------------------------------------------- */

static void cb_future(xf_future_t *f, void *data) {
  rec_t *r = data;
  if (!xf_future_done(f))
    r->wrong_thread = true; /* run before the future was done */
  atomic_fetch_add(&r->ran, 1);
}

static void futures_round(member_t *m) {
  team_t *t = m->team;
  if (m->id == 0) {
    xf_future_t *f;
    if (xf_future_new(&f) != XF_OK) {
      VIOLATION("xf_future_new failed");
      exit(1);
    }
    /* A reference for each member, and member 0's own for the check. */
    for (int i = 0; i < t->n; i++)
      xf_future_ref(f);
    t->future = f;
    atomic_store(&t->sets_ok, 0);
    atomic_store(&t->cancels_ok, 0);
  }
  barrier_wait(&t->barrier);
  xf_future_t *f = t->future;
  long ops = 0;
  m->nrecs = 0;
  unsigned finish_at = rnd_below(&m->rng, FUTURE_OPS);
  for (unsigned j = 0; j < FUTURE_OPS; j++) {
    if (j == finish_at) {
      int rc;
      if (rnd(&m->rng) & 1) {
        xf_value_t *v = NULL;
        xf_value_new_int(m->id, &v);
        if ((rc = xf_future_set_result(f, v)) == XF_OK)
          atomic_fetch_add(&t->sets_ok, 1);
        else if (rc != XF_ESTATE)
          VIOLATION("set_result returned %s", xf_err_name(rc));
      } else {
        if ((rc = xf_future_cancel(f)) == XF_OK)
          atomic_fetch_add(&t->cancels_ok, 1);
        else if (rc != XF_ESTATE)
          VIOLATION("cancel returned %s", xf_err_name(rc));
      }
      ops++;
    }
    unsigned what = rnd_below(&m->rng, 3);
    if (what < 2 && m->nrecs < MAX_RECS) {
      rec_t *r = &m->recs[m->nrecs];
      rec_reset(r);
      int rc = xf_future_add_done_callback(f, cb_future, r, rec_free, NULL);
      if (rc != XF_OK)
        VIOLATION("add_done_callback returned %s", xf_err_name(rc));
      else
        m->nrecs++;
    } else if (m->nrecs > 0) {
      rec_t *r = &m->recs[rnd_below(&m->rng, (unsigned) m->nrecs)];
      if (r->removed < 0) {
        r->removed = xf_future_remove_done_callback(f, cb_future, r);
        if (r->removed < 0 || r->removed > 1)
          VIOLATION("remove_done_callback returned %d for one registration", r->removed);
        else if (r->removed == 1 && atomic_load(&r->freed) != 1)
          VIOLATION("a removed callback's data was not freed by the removal");
      }
    }
    ops++;
  }
  xf_future_unref(f);
  ops++;
  barrier_wait(&t->barrier);

  /* Every member tried to finish f before dropping its reference, so f was
   * done before its last reference went: every callback not removed ran. */
  long run = 0, removed = 0;
  for (int i = 0; i < m->nrecs; i++) {
    rec_t *r = &m->recs[i];
    int ran = atomic_load(&r->ran), freed = atomic_load(&r->freed);
    if (r->removed == 1) {
      removed++;
      if (ran != 0)
        VIOLATION("a callback removed (remove returned 1) ran %d times", ran);
    } else {
      run += ran;
      if (ran != 1)
        VIOLATION("a done callback ran %d times (remove returned %d)", ran, r->removed);
    }
    if (freed != 1)
      VIOLATION("a done callback's data was freed %d times", freed);
    if (r->wrong_thread)
      VIOLATION("a done callback ran before its future was done");
  }
  if (m->id == 0) {
    int sets = atomic_load(&t->sets_ok), cancels = atomic_load(&t->cancels_ok);
    int state = xf_future_state(f);
    if (sets > 1)
      VIOLATION("%d set_result calls succeeded on one future", sets);
    if (sets == 1 && (cancels != 0 || state != XF_FINISHED))
      VIOLATION("set_result won, yet %d cancels succeeded and the state is %d", cancels,
                state);
    if (sets == 0 && state != XF_CANCELLED)
      VIOLATION("no set_result won, yet the state is %d", state);
    xf_future_unref(f);
  }
  atomic_fetch_add(&totals.future_ops, ops);
  atomic_fetch_add(&totals.callbacks_run, run);
  atomic_fetch_add(&totals.callbacks_removed, removed);
}

/* ---- Pools ---------------------------------------------------------------- */

static int task_count(void *data, xf_future_t *fut) {
  rec_t *r = data;
  atomic_fetch_add(&r->ran, 1);
  return xf_future_set_result(fut, xf_value_bool(true));
}

static void pools_round(member_t *m) {
  team_t *t = m->team;
  if (m->id == 0) {
    xf_thread_pool_options_t o = XF_THREAD_POOL_OPTIONS_INIT;
    o.max_workers = 1 + rnd_below(&m->rng, 4);
    /* Sometimes a small bounded queue, so that submitters block for room
     * when the shutdown comes. */
    if (rnd_below(&m->rng, 4) == 0)
      o.max_queue = 1 + rnd_below(&m->rng, 8);
    if (xf_thread_pool_new(&o, &t->pool) != XF_OK) {
      VIOLATION("xf_thread_pool_new failed");
      exit(1);
    }
    t->shutdown_at = rnd_below(&m->rng, POOL_OPS);
    t->shutdown_wait = rnd(&m->rng) & 1;
    t->shutdown_cancel = rnd(&m->rng) & 1;
  }
  barrier_wait(&t->barrier);
  xf_executor_t *pool = t->pool;
  long ops = 0, refused = 0;
  m->nrecs = 0;
  for (unsigned j = 0; j < POOL_OPS && m->nrecs < MAX_RECS; j++) {
    if (m->id == 0 && j == t->shutdown_at) {
      int rc = xf_executor_shutdown(pool, t->shutdown_wait, t->shutdown_cancel);
      if (rc != XF_OK)
        VIOLATION("shutdown returned %s", xf_err_name(rc));
      ops++;
    }
    rec_t *r = &m->recs[m->nrecs];
    rec_reset(r);
    int rc = xf_executor_submit(pool, task_count, r, rec_free, &r->fut);
    ops++;
    if (rc == XF_OK) {
      r->accepted = true;
      m->nrecs++;
      continue;
    }
    if (rc != XF_ESHUTDOWN)
      VIOLATION("submit returned %s", xf_err_name(rc));
    refused++;
    /* Refused: it never runs and its data is still ours. */
    if (atomic_load(&r->ran) || atomic_load(&r->freed))
      VIOLATION("a refused submission ran or had its data freed");
    if (m->id != 0 || j > t->shutdown_at)
      break;
  }
  barrier_wait(&t->barrier);
  if (m->id == 0) {
    /* Waits for every accepted task. */
    int rc = xf_executor_shutdown(pool, true, false);
    if (rc != XF_OK)
      VIOLATION("shutdown(wait) returned %s", xf_err_name(rc));
    xf_executor_unref(pool);
  }
  barrier_wait(&t->barrier);

  long run = 0, cancelled = 0;
  for (int i = 0; i < m->nrecs; i++) {
    rec_t *r = &m->recs[i];
    int state = xf_future_state(r->fut);
    int ran = atomic_load(&r->ran), freed = atomic_load(&r->freed);
    if (state == XF_CANCELLED) {
      cancelled++;
      if (ran != 0)
        VIOLATION("a cancelled task ran %d times", ran);
    } else if (state == XF_FINISHED) {
      run++;
      xf_value_t *v;
      if (ran != 1)
        VIOLATION("a finished task ran %d times", ran);
      else if (xf_future_result(r->fut, 0, &v) != XF_OK || v != xf_value_bool(true))
        VIOLATION("a finished task's future holds no value");
      else
        xf_value_unref(v);
    } else {
      VIOLATION("an accepted submission's future is still in state %d after "
                "shutdown(wait)",
                state);
    }
    if (freed != 1)
      VIOLATION("a task's data was freed %d times", freed);
    xf_future_unref(r->fut);
  }
  atomic_fetch_add(&totals.pool_ops, ops);
  atomic_fetch_add(&totals.submitted, m->nrecs);
  atomic_fetch_add(&totals.refused, refused);
  atomic_fetch_add(&totals.tasks_run, run);
  atomic_fetch_add(&totals.tasks_cancelled, cancelled);
}

/* ---- Loops ---------------------------------------------------------------- */

typedef struct loop_rec {
  rec_t rec;
  team_t *team;
} loop_rec_t;

/* Set in the thread that runs the round's loop. */
static _Thread_local bool loop_thread;

static void cb_post(void *data) {
  rec_t *r = data;
  if (!loop_thread)
    r->wrong_thread = true;
  atomic_fetch_add(&r->ran, 1);
}

static void cb_loop_future(xf_future_t *f, void *data) {
  (void) f;
  cb_post(data);
}

static void loop_handler(xf_loop_t *loop, const char *message, xf_error_t *err,
                         void *data) {
  (void) loop;
  (void) message;
  (void) err;
  (void) data;
  /* Done callbacks that meet the closed loop are reported here. */
  atomic_fetch_add(&totals.handler_calls, 1);
}

static void cb_drop_loop(void *data) {
  xf_loop_t *loop = data;
  xf_loop_unref(loop);
  /* The running call still holds the loop's memory. */
  xf_loop_stop(loop);
}

/* The loop thread's part: run the loop again after each stop until every
 * producer is done or the round's runs are used up, then close and drop it
 * (the producers may still be posting). */
static long loop_owner(member_t *m) {
  team_t *t = m->team;
  xf_loop_t *loop = t->loop;
  unsigned runs = 1 + rnd_below(&m->rng, 8);
  long ops = 0;
  m->nrecs = 0;
  loop_thread = true;
  for (unsigned i = 0; i < runs && atomic_load(&t->producers_done) < t->n - 1; i++) {
    int rc = xf_loop_run(loop, XF_RUN_DEFAULT);
    ops++;
    if (rc != XF_OK)
      VIOLATION("xf_loop_run returned %s", xf_err_name(rc));
  }
  atomic_store(&t->closing, true);
  if (rnd(&m->rng) & 1) {
    int rc = xf_loop_close(loop);
    if (rc != XF_OK)
      VIOLATION("xf_loop_close returned %s", xf_err_name(rc));
    xf_loop_unref(loop);
    return ops + 2;
  }
  /* Or drop the loop from inside its last run: the last reference, if the
   * producers have dropped theirs, closes it as that run ends. */
  int rc = xf_loop_call_soon(loop, cb_drop_loop, loop, NULL, NULL);
  if (rc != XF_OK) {
    VIOLATION("xf_loop_call_soon returned %s", xf_err_name(rc));
    xf_loop_unref(loop);
    return ops + 1;
  }
  if ((rc = xf_loop_run(loop, XF_RUN_DEFAULT)) != XF_OK)
    VIOLATION("xf_loop_run returned %s", xf_err_name(rc));
  return ops + 2;
}

/* Free-standing futures per producer whose done callbacks go to the loop;
 * some are finished only after the producer dropped its loop reference, so
 * that their completions race the close and the last unref. */
#define LATE_FUTURES 64

/* A producer's void(int32) closure, owned by the loop: each call from the
 * producer's thread is posted to the loop. */
static int h_closure(void *data, xf_value_t *const *args, size_t nargs,
                     xf_value_t **result) {
  (void) args;
  (void) nargs;
  (void) result;
  cb_post(data);
  return XF_OK;
}

static long loop_producer(member_t *m) {
  team_t *t = m->team;
  xf_loop_t *loop = t->loop; /* this member's own reference */
  long ops = 0, refused = 0, stops = 0, calls = 0;
  m->nrecs = 0;
  rec_reset(&m->closure_rec);
  xf_closure_t *closure = NULL;
  int crc =
      xf_closure_new("void(int32)", h_closure, &m->closure_rec, rec_free, loop, &closure);
  if (crc == XF_OK)
    m->closure_rec.accepted = true;
  else if (crc != XF_ECLOSED || !atomic_load(&t->closing))
    VIOLATION("xf_closure_new returned %s", xf_err_name(crc));
  void (*call)(int32_t) = (void (*)(int32_t)) xf_closure_code(closure);
  xf_future_t *late[LATE_FUTURES];
  int nlate = 0;
  for (int i = 0; i < LATE_FUTURES; i++) {
    rec_t *r = &m->recs[m->nrecs];
    rec_reset(r);
    if (xf_future_new(&late[nlate]) != XF_OK) {
      VIOLATION("xf_future_new failed");
      break;
    }
    int rc = xf_future_add_done_callback(late[nlate], cb_loop_future, r, rec_free, loop);
    ops++;
    if (rc != XF_OK) {
      VIOLATION("add_done_callback(loop) returned %s", xf_err_name(rc));
      xf_future_unref(late[nlate]);
      break;
    }
    r->accepted = true;
    m->nrecs++;
    nlate++;
  }
  for (unsigned j = 0; j < LOOP_OPS && m->nrecs < MAX_RECS; j++) {
    unsigned what = rnd_below(&m->rng, 32);
    ops++;
    if (what == 3 && call) {
      /* Dropped with a report when the loop is closed first. */
      call((int32_t) j);
      calls++;
      continue;
    }
    if (what == 2 && nlate > 0) {
      xf_future_t *f = late[--nlate];
      xf_future_set_result(f, NULL);
      xf_future_unref(f);
      continue;
    }
    if (what == 0) {
      int rc = xf_loop_stop(loop);
      if (rc != XF_OK && rc != XF_ECLOSED)
        VIOLATION("xf_loop_stop returned %s", xf_err_name(rc));
      stops++;
      continue;
    }
    rec_t *r = &m->recs[m->nrecs];
    rec_reset(r);
    int rc;
    if (what == 1) {
      /* A loop future finished in this thread: its callback is marshalled
       * to the loop. */
      xf_future_t *f;
      rc = xf_loop_create_future(loop, &f);
      if (rc == XF_OK) {
        rc = xf_future_add_done_callback(f, cb_loop_future, r, rec_free, NULL);
        if (rc == XF_OK) {
          r->accepted = true;
          m->nrecs++;
        }
        xf_future_set_result(f, NULL);
        xf_future_unref(f);
      }
    } else {
      rc = xf_loop_call_soon_threadsafe(loop, cb_post, r, rec_free);
      if (rc == XF_OK) {
        r->accepted = true;
        m->nrecs++;
      }
    }
    if (rc == XF_OK)
      continue;
    if (rc != XF_ECLOSED)
      VIOLATION("posting to a loop returned %s", xf_err_name(rc));
    else if (!atomic_load(&t->closing))
      VIOLATION("XF_ECLOSED from a loop that nobody closes");
    refused++;
    if (atomic_load(&r->ran) || atomic_load(&r->freed))
      VIOLATION("a refused post ran or had its data freed");
    break;
  }
  /* Done: make sure the owner leaves its run, drop the loop, then finish
   * the futures left and drop the closure (its destruction may be posted to
   * the loop, or race the close). */
  atomic_fetch_add(&t->producers_done, 1);
  xf_loop_stop(loop);
  xf_loop_unref(loop);
  while (nlate > 0) {
    xf_future_t *f = late[--nlate];
    xf_future_set_result(f, NULL);
    xf_future_unref(f);
    ops++;
  }
  xf_closure_unref(closure);
  ops++;
  m->closure_calls = calls;
  atomic_fetch_add(&totals.post_refused, refused);
  atomic_fetch_add(&totals.stops, stops);
  return ops + 2;
}

static void loops_round(member_t *m) {
  team_t *t = m->team;
  if (m->id == 0) {
    if (xf_loop_new(&t->loop) != XF_OK ||
        xf_loop_set_exception_handler(t->loop, loop_handler, NULL, NULL) != XF_OK) {
      VIOLATION("xf_loop_new failed");
      exit(1);
    }
    /* A reference for each producer. */
    for (int i = 1; i < t->n; i++)
      xf_loop_ref(t->loop);
    atomic_store(&t->producers_done, 0);
    atomic_store(&t->closing, false);
  }
  barrier_wait(&t->barrier);
  long ops = m->id == 0 ? loop_owner(m) : loop_producer(m);
  barrier_wait(&t->barrier);

  long run = 0, dropped = 0;
  for (int i = 0; i < m->nrecs; i++) {
    rec_t *r = &m->recs[i];
    int ran = atomic_load(&r->ran), freed = atomic_load(&r->freed);
    if (ran > 1)
      VIOLATION("a posted callback ran %d times", ran);
    run += ran;
    dropped += ran == 0;
    if (freed != 1)
      VIOLATION("a posted callback's data was freed %d times (it ran %d times)", freed,
                ran);
    if (r->wrong_thread)
      VIOLATION("a posted callback ran off the loop's thread");
  }
  if (m->id != 0) {
    /* Every posted call ran at most once, on the loop; the closure is gone
     * once the loop is closed and every reference dropped. */
    rec_t *c = &m->closure_rec;
    int ran = atomic_load(&c->ran), freed = atomic_load(&c->freed);
    if (ran > m->closure_calls)
      VIOLATION("a closure's handler ran %d times for %ld calls", ran, m->closure_calls);
    if (freed != (c->accepted ? 1 : 0))
      VIOLATION("a closure's data was freed %d times", freed);
    if (c->wrong_thread)
      VIOLATION("a closure's posted call ran off the loop's thread");
    atomic_fetch_add(&totals.closure_calls, m->closure_calls);
    atomic_fetch_add(&totals.closure_runs, ran);
  }
  atomic_fetch_add(&totals.loop_ops, ops);
  atomic_fetch_add(&totals.posted, m->nrecs);
  atomic_fetch_add(&totals.posts_run, run);
  atomic_fetch_add(&totals.posts_dropped, dropped);
}

/* ---- Driving -------------------------------------------------------------- */

static long kind_ops(int kind) {
  return atomic_load(kind == KIND_FUTURES ? &totals.future_ops
                     : kind == KIND_POOLS ? &totals.pool_ops
                                          : &totals.loop_ops);
}

/* Rounds of each kind until its share of the operations is done. Every
 * member adds its counts before the round's last barrier, so all of them
 * read the same totals after it and agree on whether to go on. */
static void *member_main(void *arg) {
  member_t *m = arg;
  team_t *t = m->team;
  for (int kind = KIND_FUTURES; kind <= KIND_LOOPS; kind++) {
    if (m->id == 0)
      t->kind = kind;
    while (kind_ops(kind) < t->target[kind]) {
      if (kind == KIND_FUTURES)
        futures_round(m);
      else if (kind == KIND_POOLS)
        pools_round(m);
      else
        loops_round(m);
      if (m->id == 0) {
        atomic_fetch_add(&totals.rounds[kind], 1);
        atomic_fetch_add(&t->progress, 1);
      }
      barrier_wait(&t->barrier);
      /* Stop early once the report is full. */
      if (atomic_load(&violations) >= MAX_REPORTED)
        return NULL;
    }
  }
  return NULL;
}

/* Reports a team that makes no progress for a minute, which is a hang. */
static void *watchdog_main(void *arg) {
  team_t *t = arg;
  long last = -1;
  int idle = 0;
  for (;;) {
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    long now = atomic_load(&t->progress);
    if (now != last) {
      last = now;
      idle = 0;
      continue;
    }
    if (++idle >= 60) {
      int kind = atomic_load(&t->kind);
      fprintf(stderr, "stress: hang: no round finished for 60 s (%s round %ld)\n",
              kind_names[kind], atomic_load(&totals.rounds[kind]) + 1);
      fflush(stderr);
      _exit(2);
    }
  }
  return NULL;
}

static void usage(const char *argv0) {
  fprintf(stderr, "usage: %s [--ops N] [--threads T] [--seed S]\n", argv0);
  exit(64);
}

static long parse_long(const char *s, const char *argv0) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < 0)
    usage(argv0);
  return v;
}

int main(int argc, char **argv) {
  long ops = 10000000;
  int threads = 4;
  uint64_t seed = (uint64_t) time(NULL);
  for (int i = 1; i < argc; i++) {
    if (i + 1 < argc && !strcmp(argv[i], "--ops"))
      ops = parse_long(argv[++i], argv[0]);
    else if (i + 1 < argc && !strcmp(argv[i], "--threads"))
      threads = (int) parse_long(argv[++i], argv[0]);
    else if (i + 1 < argc && !strcmp(argv[i], "--seed"))
      seed = (uint64_t) parse_long(argv[++i], argv[0]);
    else
      usage(argv[0]);
  }
  if (threads < 2 || threads > 64)
    usage(argv[0]);

  team_t t;
  memset(&t, 0, sizeof t);
  t.n = threads;
  t.barrier.n = (unsigned) threads;
  /* A third of the operations for each kind. */
  t.target[KIND_FUTURES] = ops / 3;
  t.target[KIND_POOLS] = ops / 3;
  t.target[KIND_LOOPS] = ops - 2 * (ops / 3);
  t.members = calloc((size_t) threads, sizeof *t.members);
  if (!t.members) {
    fprintf(stderr, "stress: out of memory\n");
    return 1;
  }
  printf("stress: %ld operations, %d threads, seed %" PRIu64 "\n", ops, threads, seed);
  fflush(stdout);

  pthread_t dog;
  pthread_create(&dog, NULL, watchdog_main, &t);
  pthread_detach(dog);
  int64_t start = xf_now();
  for (int i = 0; i < threads; i++) {
    member_t *m = &t.members[i];
    m->team = &t;
    m->id = i;
    m->rng.s = seed * 0x9E3779B97F4A7C15ull + (uint64_t) i + 1;
    if (pthread_create(&m->thread, NULL, member_main, m) != 0) {
      fprintf(stderr, "stress: cannot start a thread\n");
      return 1;
    }
  }
  for (int i = 0; i < threads; i++)
    pthread_join(t.members[i].thread, NULL);
  double secs = (double) (xf_now() - start) / 1e9;

  long fo = atomic_load(&totals.future_ops), po = atomic_load(&totals.pool_ops),
       lo = atomic_load(&totals.loop_ops);
  printf("futures: %ld ops in %ld rounds; %ld callbacks run, %ld removed\n", fo,
         atomic_load(&totals.rounds[KIND_FUTURES]), atomic_load(&totals.callbacks_run),
         atomic_load(&totals.callbacks_removed));
  printf("pools:   %ld ops in %ld rounds; %ld submissions accepted (%ld ran, %ld "
         "cancelled), %ld refused\n",
         po, atomic_load(&totals.rounds[KIND_POOLS]), atomic_load(&totals.submitted),
         atomic_load(&totals.tasks_run), atomic_load(&totals.tasks_cancelled),
         atomic_load(&totals.refused));
  printf("loops:   %ld ops in %ld rounds; %ld posts accepted (%ld ran, %ld dropped by "
         "close), %ld refused, %ld closure calls (%ld ran), %ld stops, %ld reports\n",
         lo, atomic_load(&totals.rounds[KIND_LOOPS]), atomic_load(&totals.posted),
         atomic_load(&totals.posts_run), atomic_load(&totals.posts_dropped),
         atomic_load(&totals.post_refused), atomic_load(&totals.closure_calls),
         atomic_load(&totals.closure_runs), atomic_load(&totals.stops),
         atomic_load(&totals.handler_calls));
  long v = atomic_load(&violations);
  printf("total:   %ld ops, %ld callbacks and tasks run, %.2f s (%.0f ops/s), %ld "
         "violations\n",
         fo + po + lo,
         atomic_load(&totals.callbacks_run) + atomic_load(&totals.tasks_run) +
             atomic_load(&totals.posts_run) + atomic_load(&totals.closure_runs),
         secs, (double) (fo + po + lo) / secs, v);
  free(t.members);
  if (v) {
    fprintf(stderr, "stress: %ld violation(s)\n", v);
    return 1;
  }
  return 0;
}

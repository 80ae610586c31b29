/* An operation-sequence fuzzer over futures, a loop and a thread pool.
 *
 * The input is a program: each operation is an opcode byte followed by the
 * bytes of its arguments (past the end of the input every byte reads as
 * zero). The program works on NSLOTS slots, each holding one reference to a
 * future or nothing, on one loop (made by the fuzzer thread, which is also
 * the thread that runs it) and on a thread pool of two workers. What it can
 * do: make futures (free-standing or bound to the loop), finish, cancel or
 * start them, add and remove done callbacks, wait with zero timeouts, combine
 * futures (all, any, first, then on three kinds of executor, chain, shield,
 * timeout, tasks), schedule callbacks and timers on the loop, run one
 * non-blocking iteration of it, check its backend fd, submit to the pool
 * (tasks that post back to the loop from a worker), shut the pool down,
 * close the loop or drop the program's reference to it, drop references to
 * futures, and make one allocation of the next operation fail (OP_FAIL: only
 * allocations of the fuzzer's thread count, and XF_ENOMEM becomes an
 * allowed answer of that operation).
 *
 * Nothing here ever blocks: every wait has a zero timeout, the loop only
 * runs in XF_RUN_NOWAIT mode, timers are due at once or an hour later, and
 * pool tasks finish by themselves without waiting for anything. The pool's
 * workers race with the program, so the order of some events varies between
 * runs; every invariant below holds whatever that order is.
 *
 * Invariants (a broken one aborts, and libFuzzer reports the input):
 * - A future's state only moves forward: pending to running, finished or
 *   cancelled; running to finished or cancelled; never back, never from one
 *   done state to another. Checked after every operation on every slot.
 * - Every return code is one the header promises, and agrees with the state
 *   (set_result XF_OK leaves the future finished, a zero-timeout wait that
 *   times out means it was not done before, and so on).
 * - Done callbacks and loop callbacks run at most once, only on a done
 *   future, a loop callback only on the loop's thread and never inside the
 *   call that registered it, never after being removed or cancelled; each
 *   registration's data is freed exactly once. A registration on a future
 *   that was seen done runs exactly once by the end (for a loop callback:
 *   unless the program closed the loop itself).
 * - At the end the program finishes every future it still holds that it
 *   made itself, shuts the pool down (waiting), and runs the loop until it
 *   is idle. Then every future it still holds whose inputs were all seen
 *   done, or are bound to be (see expected_done), is done: nothing waits
 *   forever on an outcome that exists.
 * - Closing the loop frees the data of every task (done or dropped). When
 *   the loop has work ready, its backend fd is readable.
 * - After the loop is closed and every reference dropped, every block the
 *   library allocated for this input is freed (a counting allocator,
 *   fuzz_common.h).
 *
 * tests/fuzz/decode_ops.py prints an input as the program it stands for.
 */
#include <poll.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSLOTS   8
#define NHANDLES 4

#define MAX_OPS   160
#define MAX_NODES (MAX_OPS + 8)
#define MAX_RECS  (2 * MAX_OPS + 8)
#define HOUR_NS   (3600LL * 1000000000LL)

/* ---- What the program knows about each future ------------------------- */

enum node_kind {
  N_FREE,    /* xf_future_new */
  N_LOOPF,   /* xf_loop_create_future */
  N_POOL,    /* submitted to the pool */
  N_RIE,     /* xf_loop_run_in_executor on the pool */
  N_THEN,    /* xf_future_then */
  N_SHIELD,  /* xf_future_shield */
  N_TIMEOUT, /* xf_future_timeout */
  N_ALL,     /* xf_future_all */
  N_ANY,     /* xf_future_any */
  N_FIRST,   /* xf_future_first */
  N_TASK     /* xf_task_new */
};

static const char *const kind_names[] = {
    "new",     "loop_future", "submit", "run_in_executor", "then", "shield",
    "timeout", "all",         "any",    "first",           "task"};

enum { EX_INLINE, EX_POOL, EX_LOOP };
enum { TO_NOW, TO_HOUR, TO_FOREVER };

typedef struct node {
  int kind;
  int in[NSLOTS]; /* node ids of the inputs */
  int nin;
  int srcs[NSLOTS]; /* chain(src, this): sources copied into this */
  int nsrcs;
  int extra;      /* then: the future its continuation unwraps; task: the awaited */
  int exmode;     /* then: EX_* */
  int tmode;      /* timeout: TO_* */
  int held;       /* slots holding a reference */
  xf_future_t *f; /* valid while held > 0 */
  int state;      /* the last state seen */
  bool done_seen;
  bool cancel_ok; /* xf_future_cancel returned XF_OK */
  int sentinel;   /* free-standing futures: a record that tells when it is freed */
  int memo;       /* expected_done: 0 unknown, 1 in progress, 2 yes, 3 no */
} node_t;

/* ---- Callback records ------------------------------------------------- */

enum rec_kind {
  R_DONE,       /* xf_future_add_done_callback */
  R_SOON,       /* xf_loop_call_soon */
  R_LATER_NOW,  /* xf_loop_call_later(0) */
  R_LATER_HOUR, /* xf_loop_call_later(one hour) */
  R_POST,       /* xf_loop_call_soon_threadsafe from a pool task */
  R_TASKFN,     /* a pool task's data */
  R_THENFN,     /* a continuation's data */
  R_STEP        /* a loop task's data */
};

typedef struct rec {
  int kind;
  _Atomic int ran;
  _Atomic int freed;
  int node;       /* R_DONE: the future; R_THENFN/R_STEP: the unwrapped or awaited */
  bool on_loop;   /* R_DONE: posted to the loop rather than run inline */
  bool sentinel;  /* R_DONE: the node's own, see freed_pending */
  bool accepted;  /* the call that took it returned XF_OK */
  bool removed;   /* R_DONE: removed before it ran */
  bool cancelled; /* R_SOON/R_LATER_*: xf_handle_cancel was called */
  _Atomic bool post_accepted; /* R_POST */
  int variant;                /* what a task, continuation or step does */
  xf_future_t *ref;           /* a reference that the free function drops */
  struct rec *post;           /* R_TASKFN: the record of the callback it posts */
  xf_loop_t *loop;            /* R_TASKFN: a reference to the loop it posts to */
  int phase;                  /* R_STEP */
} rec_t;

/* ---- The program's state (one input at a time) ------------------------- */

static struct {
  xf_loop_t *loop;
  xf_executor_t *pool;
  xf_executor_t *loop_ex;
  bool closed;      /* the program closed the loop (or dropped it) */
  bool dropped;     /* the program dropped its reference to the loop */
  unsigned fail_n;  /* the next armed call fails its n-th allocation */
  bool shut;        /* the program shut the pool down */
  int slot[NSLOTS]; /* node ids, -1 when empty */
  xf_handle_t *handle[NHANDLES];
  rec_t *handle_rec[NHANDLES];
  node_t nodes[MAX_NODES];
  int nnodes;
  rec_t recs[MAX_RECS];
  int nrecs;
  _Atomic int reports; /* calls of the exception handler */
} P;

static rec_t *rec_new(int kind) {
  if (P.nrecs == MAX_RECS)
    return NULL;
  rec_t *r = &P.recs[P.nrecs++];
  memset(r, 0, sizeof *r);
  r->kind = kind;
  r->node = -1;
  return r;
}

/* The free function of every record: exactly once. A pool task that never
 * ran takes the record of the call it would have posted with it. */
static void rec_free(void *data) {
  rec_t *r = data;
  FUZZ_CHECKF(atomic_fetch_add(&r->freed, 1) == 0, "data of a %d record freed twice",
              r->kind);
  xf_future_unref(r->ref);
  xf_loop_unref(r->loop);
  if ((r->kind == R_TASKFN || r->kind == R_THENFN) && r->post &&
      atomic_load(&r->ran) == 0)
    rec_free(r->post);
}

/* A record the library refused: the caller still owns its data. */
static void rec_refused(rec_t *r) {
  FUZZ_CHECK(atomic_load(&r->ran) == 0 && atomic_load(&r->freed) == 0);
  rec_free(r);
}

static void rec_ran(rec_t *r) {
  FUZZ_CHECKF(atomic_fetch_add(&r->ran, 1) == 0, "a %d callback ran twice", r->kind);
  FUZZ_CHECKF(atomic_load(&r->freed) == 0, "a %d callback ran after its data was freed",
              r->kind);
}

/* One library call with an allocation failure armed (OP_FAIL): every
 * allocation the fuzzer's thread makes counts, until disarm. */
static bool arm(void) {
  if (!P.fail_n)
    return false;
  fuzz_fail_nth(P.fail_n);
  P.fail_n = 0;
  return true;
}

static void disarm(void) {
  fuzz_fail_nth(0);
}

/* An answer allowed for the call just made: rc itself, or XF_ENOMEM when
 * it ran with an allocation failure armed. */
static bool ok_or_oom(int rc, int want, bool armed) {
  return rc == want || (armed && rc == XF_ENOMEM);
}

static void on_done(xf_future_t *f, void *data) {
  rec_t *r = data;
  FUZZ_CHECK(xf_future_done(f));
  FUZZ_CHECK(!r->removed);
  if (r->on_loop)
    FUZZ_CHECK(xf_loop_current() == P.loop);
  rec_ran(r);
}

static void on_loop_call(void *data) {
  rec_t *r = data;
  FUZZ_CHECK(xf_loop_current() == P.loop);
  FUZZ_CHECK(!r->cancelled);
  FUZZ_CHECK(r->kind != R_LATER_HOUR);
  rec_ran(r);
}

static void on_exception(xf_loop_t *loop, const char *message, xf_error_t *err,
                         void *data) {
  (void) loop;
  (void) message;
  (void) err;
  (void) data;
  atomic_fetch_add(&P.reports, 1);
}

/* ---- Nodes and slots ----------------------------------------------------- */

static bool legal_move(int from, int to) {
  if (from == to)
    return true;
  if (from == XF_PENDING)
    return to == XF_RUNNING || to == XF_FINISHED || to == XF_CANCELLED;
  /* A running future bound to another one (a then() result that follows an
   * inner future) takes that one's cancellation. */
  return from == XF_RUNNING && (to == XF_FINISHED || to == XF_CANCELLED);
}

/* Read a held node's state and check that it only moved forward. */
static int observe(int id) {
  node_t *n = &P.nodes[id];
  int s = xf_future_state(n->f);
  FUZZ_CHECKF(s >= XF_PENDING && s <= XF_CANCELLED, "state %d", s);
  FUZZ_CHECKF(legal_move(n->state, s), "%s future %d went from state %d to %d",
              kind_names[n->kind], id, n->state, s);
  n->state = s;
  if (s >= XF_FINISHED)
    n->done_seen = true;
  return s;
}

static void observe_all(void) {
  for (int i = 0; i < NSLOTS; i++)
    if (P.slot[i] >= 0)
      observe(P.slot[i]);
}

static int node_new(int kind, xf_future_t *f) {
  FUZZ_CHECK(P.nnodes < MAX_NODES);
  int id = P.nnodes++;
  node_t *n = &P.nodes[id];
  memset(n, 0, sizeof *n);
  n->kind = kind;
  n->extra = -1;
  n->f = f;
  n->state = XF_PENDING;
  n->sentinel = -1;
  /* A free-standing future runs its callbacks inline, never drops them: a
   * callback's data freed without it having run means the future was freed
   * while pending. */
  rec_t *r = xf_future_loop(f) ? NULL : rec_new(R_DONE);
  if (r) {
    r->node = id;
    r->sentinel = true;
    FUZZ_CHECK(xf_future_add_done_callback(f, on_done, r, rec_free, NULL) == XF_OK);
    r->accepted = true;
    n->sentinel = (int) (r - P.recs);
  }
  observe(id);
  return id;
}

static bool freed_pending(int id) {
  int k = P.nodes[id].sentinel;
  return k >= 0 && atomic_load(&P.recs[k].freed) == 1 && atomic_load(&P.recs[k].ran) == 0;
}

static void slot_drop(int s) {
  int id = P.slot[s];
  if (id < 0)
    return;
  node_t *n = &P.nodes[id];
  observe(id);
  P.slot[s] = -1;
  xf_future_t *f = n->f;
  if (--n->held == 0)
    n->f = NULL;
  xf_future_unref(f);
}

/* Put a node's new reference into slot s. */
static void slot_put(int s, int id) {
  slot_drop(s);
  P.slot[s] = id;
  P.nodes[id].held++;
}

static xf_future_t *slot_future(int s) {
  return P.slot[s] >= 0 ? P.nodes[P.slot[s]].f : NULL;
}

/* The occupied slots named by a mask, as futures and node ids. */
static size_t gather_inputs(uint8_t mask, xf_future_t **fs, int *ids) {
  size_t n = 0;
  for (int i = 0; i < NSLOTS; i++) {
    if ((mask & (1u << i)) && P.slot[i] >= 0) {
      ids[n] = P.slot[i];
      fs[n++] = P.nodes[P.slot[i]].f;
    }
  }
  return n;
}

/* ---- Pool tasks, continuations and loop tasks ------------------------------ */

static int pool_task(void *data, xf_future_t *self) {
  rec_t *r = data;
  rec_ran(r);
  FUZZ_CHECK(xf_future_state(self) == XF_RUNNING);
  switch (r->variant) {
  case 0:
    return XF_OK;
  case 1: {
    xf_value_t *v;
    FUZZ_CHECK(xf_value_new_int(1, &v) == XF_OK);
    FUZZ_CHECK(xf_future_set_result(self, v) == XF_OK);
    return XF_OK;
  }
  case 2:
    return XF_EFAILED;
  case 3:
    FUZZ_CHECK(xf_future_fail(self, XF_EINVAL, "ValueError", "from a task") == XF_OK);
    return XF_OK;
  default: {
    /* A post to the loop from a worker thread. */
    rec_t *p = r->post;
    int rc = xf_loop_call_soon_threadsafe(r->loop, on_loop_call, p, rec_free);
    FUZZ_CHECKF(rc == XF_OK || rc == XF_ECLOSED, "call_soon_threadsafe: %s",
                xf_err_name(rc));
    if (rc == XF_OK)
      atomic_store(&p->post_accepted, true);
    else
      rec_refused(p);
    return XF_OK;
  }
  }
}

static int continuation(void *data, xf_future_t *antecedent, xf_future_t *result) {
  rec_t *r = data;
  rec_ran(r);
  FUZZ_CHECK(xf_future_done(antecedent));
  FUZZ_CHECK(xf_future_state(result) == XF_RUNNING);
  switch (r->variant) {
  case 0:
    return XF_OK;
  case 1:
    FUZZ_CHECK(xf_future_set_result(result, xf_value_bool(true)) == XF_OK);
    return XF_OK;
  case 2:
    return XF_ECANCELLED;
  case 3:
    FUZZ_CHECK(xf_future_set_result(result, NULL) == XF_OK);
    return XF_EFAILED; /* ignored: the result is already finished */
  case 4: {
    /* Unwrap: the result follows a pool task made here. */
    rec_t *task = r->post;
    xf_future_t *inner = NULL;
    int rc = xf_executor_submit(P.pool, pool_task, task, rec_free, &inner);
    if (rc != XF_OK) {
      FUZZ_CHECKF(rc == XF_ESHUTDOWN || (rc == XF_ENOMEM && fuzz_failing_here()),
                  "submit from a continuation: %s", xf_err_name(rc));
      rec_refused(task);
      return rc;
    }
    rc = xf_future_chain(inner, result);
    FUZZ_CHECKF(rc == XF_OK || (rc == XF_ENOMEM && fuzz_failing_here()), "unwrap: %s",
                xf_err_name(rc));
    xf_future_unref(inner);
    return rc;
  }
  default: {
    /* Unwrap a future that is already finished (variant 5), or one that
     * nobody will ever finish (6). */
    xf_future_t *inner;
    int rc = xf_future_new(&inner);
    if (rc == XF_OK && r->variant == 5)
      FUZZ_CHECK(xf_future_set_result(inner, xf_value_bool(false)) == XF_OK);
    if (rc == XF_OK)
      rc = xf_future_chain(inner, result);
    xf_future_unref(inner);
    FUZZ_CHECKF(rc == XF_OK || (rc == XF_ENOMEM && fuzz_failing_here()), "unwrap: %s",
                xf_err_name(rc));
    return rc;
  }
  }
}

static int step(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  rec_t *r = data;
  FUZZ_CHECK(xf_loop_current() == P.loop);
  FUZZ_CHECKF(atomic_load(&r->freed) == 0,
              "the step of a task (variant %d) ran after its data was freed", r->variant);
  atomic_store(&r->ran, 1);
  int phase = r->phase++;
  FUZZ_CHECKF(status == XF_OK || status == XF_EFAILED || status == XF_ECANCELLED,
              "step status %s", xf_err_name(status));
  if (awaited)
    FUZZ_CHECK(xf_future_done(awaited));
  /* A cancellation ends the task whenever it comes, also before its first
   * step (asyncio throws it into a coroutine that never ran): a step that
   * went on awaiting instead would be a task that ignores cancellation,
   * which the program's model of what finishes does not describe. */
  if (phase == 0 && status == XF_ECANCELLED)
    return XF_ECANCELLED;
  if (phase == 0) {
    switch (r->variant) {
    case 0:
      if (r->ref) {
        FUZZ_CHECK(xf_task_await(task, r->ref) == XF_OK);
        return XF_TASK_AWAIT;
      }
      return XF_OK;
    case 1:
      return XF_TASK_YIELD;
    default:
      return XF_EFAILED;
    }
  }
  if (status == XF_ECANCELLED)
    return XF_ECANCELLED;
  return status == XF_OK ? XF_OK : XF_EFAILED;
}

/* ---- Operations ----------------------------------------------------------- */

enum {
  OP_NEW,
  OP_NEW_LOOP,
  OP_SET_RESULT,
  OP_SET_ERROR,
  OP_CANCEL,
  OP_SET_RUNNING,
  OP_ADD_CALLBACK,
  OP_REMOVE_CALLBACK,
  OP_WAIT,
  OP_WAIT_MANY,
  OP_AS_COMPLETED,
  OP_ALL,
  OP_ANY,
  OP_FIRST,
  OP_THEN,
  OP_CHAIN,
  OP_SHIELD,
  OP_TIMEOUT,
  OP_CALL_SOON,
  OP_CALL_LATER,
  OP_HANDLE_CANCEL,
  OP_RUN,
  OP_STOP,
  OP_SUBMIT,
  OP_RUN_IN_EXECUTOR,
  OP_TASK,
  OP_SHUTDOWN,
  OP_CLOSE,
  OP_UNREF,
  OP_DUP,
  OP_BACKEND,
  OP_FAIL,
  OP_LOOP_UNREF,
  OP_COUNT
};

static void op_finish(fuzz_in_t *in, int op) {
  int s = fuzz_u8(in) % NSLOTS;
  uint8_t arg = fuzz_u8(in);
  xf_future_t *f = slot_future(s);
  if (!f)
    return;
  int id = P.slot[s];
  /* Not the futures whose work runs on another thread (a pool task, a
   * continuation): concurrent.futures lets a program finish them, but the
   * outcome would then race the worker's own, which nothing can check. */
  int kind = P.nodes[id].kind;
  if (kind == N_POOL || kind == N_RIE || kind == N_THEN)
    return;
  bool was_done = P.nodes[id].done_seen;
  int rc;
  if (op == OP_SET_RESULT) {
    xf_value_t *v = NULL;
    if (arg & 1)
      FUZZ_CHECK(xf_value_new_cstring("result", &v) == XF_OK);
    else if (arg & 2)
      FUZZ_CHECK(xf_value_new_int(-(int64_t) arg, &v) == XF_OK);
    /* Setting allocates nothing itself; the callbacks it runs may. */
    arm();
    rc = xf_future_set_result(f, v);
    disarm();
  } else {
    xf_error_t *e;
    FUZZ_CHECK(xf_error_new(arg & 1 ? XF_EFAILED : XF_EINVAL, NULL, NULL, &e) == XF_OK);
    arm();
    rc = xf_future_set_error(f, e);
    disarm();
  }
  int st = observe(id);
  FUZZ_CHECKF(rc == XF_OK || rc == XF_ESTATE, "set: %s", xf_err_name(rc));
  if (rc == XF_OK)
    FUZZ_CHECK(st == XF_FINISHED && !was_done);
  else
    FUZZ_CHECK(st >= XF_FINISHED);
}

static void op_cancel(fuzz_in_t *in) {
  int s = fuzz_u8(in) % NSLOTS;
  uint8_t arg = fuzz_u8(in);
  xf_future_t *f = slot_future(s);
  if (!f)
    return;
  int id = P.slot[s];
  bool armed = arm();
  int rc = arg & 1 ? xf_future_cancel_msg(f, "stop") : xf_future_cancel(f);
  disarm();
  int st = observe(id);
  FUZZ_CHECKF(rc == XF_OK || rc == XF_ESTATE || (armed && rc == XF_ENOMEM), "cancel: %s",
              xf_err_name(rc));
  if (rc == XF_OK)
    P.nodes[id].cancel_ok = true;
  if (rc == XF_ENOMEM)
    return;
  /* A task turns the request into a cancellation delivered to its step; a
   * running then() result, or any running future chained to a source, hands
   * it to the future it follows, which may be a task that defers it
   * (future.h, xf_future_cancel). */
  if (P.nodes[id].kind == N_TASK || P.nodes[id].kind == N_THEN)
    return;
  if (rc == XF_OK && st == XF_RUNNING && P.nodes[id].nsrcs > 0)
    return;
  if (rc == XF_OK)
    FUZZ_CHECKF(st == XF_CANCELLED, "cancel returned XF_OK, state %d", st);
  else
    FUZZ_CHECK(st == XF_RUNNING || st == XF_FINISHED);
}

static void op_set_running(fuzz_in_t *in) {
  int s = fuzz_u8(in) % NSLOTS;
  xf_future_t *f = slot_future(s);
  if (!f)
    return;
  int id = P.slot[s];
  /* Only whoever runs the work may start a future: the program starts the
   * ones it made. */
  if (P.nodes[id].kind != N_FREE && P.nodes[id].kind != N_LOOPF)
    return;
  int before = P.nodes[id].state;
  int rc = xf_future_set_running_or_notify_cancel(f);
  int st = observe(id);
  FUZZ_CHECKF(rc == XF_OK || rc == XF_ECANCELLED || rc == XF_ESTATE, "set_running: %s",
              xf_err_name(rc));
  if (rc == XF_OK)
    FUZZ_CHECK(before == XF_PENDING && st != XF_PENDING && st != XF_CANCELLED);
  else if (rc == XF_ECANCELLED)
    FUZZ_CHECK(st == XF_CANCELLED);
  else
    FUZZ_CHECK(st == XF_RUNNING || st == XF_FINISHED);
}

static void op_add_callback(fuzz_in_t *in) {
  int s = fuzz_u8(in) % NSLOTS;
  uint8_t arg = fuzz_u8(in);
  xf_future_t *f = slot_future(s);
  if (!f)
    return;
  rec_t *r = rec_new(R_DONE);
  if (!r)
    return;
  int id = P.slot[s];
  bool was_done = P.nodes[id].done_seen;
  xf_loop_t *target = (arg & 1) && !P.dropped ? P.loop : NULL;
  r->node = id;
  r->on_loop = target != NULL || xf_future_loop(f) != NULL;
  bool armed = arm();
  int rc = xf_future_add_done_callback(f, on_done, r, rec_free, target);
  disarm();
  FUZZ_CHECKF(ok_or_oom(rc, XF_OK, armed), "add_done_callback: %s", xf_err_name(rc));
  if (rc != XF_OK) {
    rec_refused(r);
    return;
  }
  r->accepted = true;
  if (r->on_loop)
    FUZZ_CHECK(atomic_load(&r->ran) == 0); /* never synchronously */
  else if (was_done)
    FUZZ_CHECK(atomic_load(&r->ran) == 1); /* at once in the caller */
}

static void op_remove_callback(fuzz_in_t *in) {
  int k = fuzz_u8(in);
  if (P.nrecs == 0)
    return;
  rec_t *r = &P.recs[k % P.nrecs];
  if (r->kind != R_DONE || r->sentinel || !r->accepted || P.nodes[r->node].held == 0)
    return;
  int rc = xf_future_remove_done_callback(P.nodes[r->node].f, on_done, r);
  FUZZ_CHECKF(rc == 0 || rc == 1, "remove_done_callback: %d", rc);
  if (rc == 1) {
    FUZZ_CHECK(!r->removed && atomic_load(&r->ran) == 0);
    FUZZ_CHECK(atomic_load(&r->freed) == 1);
    r->removed = true;
  }
}

static void op_wait(fuzz_in_t *in) {
  int s = fuzz_u8(in) % NSLOTS;
  uint8_t how = fuzz_u8(in) % 3;
  xf_future_t *f = slot_future(s);
  if (!f)
    return;
  int id = P.slot[s];
  bool was_done = P.nodes[id].done_seen;
  int rc;
  if (how == 0) {
    rc = xf_future_wait(f, 0);
    int st = observe(id);
    FUZZ_CHECKF(rc == XF_OK || rc == XF_ETIMEDOUT, "wait: %s", xf_err_name(rc));
    FUZZ_CHECK(rc == XF_OK ? st >= XF_FINISHED : !was_done);
  } else if (how == 1) {
    xf_value_t *v = (xf_value_t *) &rc; /* must be reset */
    rc = xf_future_result(f, 0, &v);
    int st = observe(id);
    FUZZ_CHECK((rc == XF_OK) == (v != NULL));
    switch (rc) {
    case XF_OK:
    case XF_EFAILED:
      FUZZ_CHECK(st == XF_FINISHED);
      break;
    case XF_ECANCELLED:
      FUZZ_CHECK(st == XF_CANCELLED);
      break;
    case XF_ETIMEDOUT:
      FUZZ_CHECK(!was_done);
      break;
    default:
      FUZZ_CHECKF(false, "result: %s", xf_err_name(rc));
    }
    xf_value_unref(v);
  } else {
    xf_error_t *e = (xf_error_t *) &rc;
    rc = xf_future_error(f, 0, &e);
    int st = observe(id);
    if (rc == XF_OK) {
      FUZZ_CHECK(st >= XF_FINISHED);
      if (st == XF_CANCELLED)
        FUZZ_CHECK(e && xf_error_code(e) == XF_ECANCELLED);
    } else {
      FUZZ_CHECKF(rc == XF_ETIMEDOUT, "error: %s", xf_err_name(rc));
      FUZZ_CHECK(!was_done && e == NULL);
    }
    xf_error_unref(e);
  }
}

static void op_wait_many(fuzz_in_t *in) {
  uint8_t mask = fuzz_u8(in);
  int when = fuzz_u8(in) % 3;
  xf_future_t *fs[NSLOTS];
  int ids[NSLOTS];
  size_t n = gather_inputs(mask, fs, ids);
  bool was_done[NSLOTS];
  for (size_t i = 0; i < n; i++)
    was_done[i] = P.nodes[ids[i]].done_seen;
  unsigned char flags[NSLOTS];
  int rc = xf_wait(fs, n, when, 0, flags);
  FUZZ_CHECKF(rc == XF_OK || rc == XF_ETIMEDOUT, "xf_wait: %s", xf_err_name(rc));
  bool all = true, any = false;
  for (size_t i = 0; i < n; i++) {
    int st = observe(ids[i]);
    FUZZ_CHECK(flags[i] == 0 || flags[i] == 1);
    if (flags[i])
      FUZZ_CHECK(st >= XF_FINISHED);
    if (was_done[i])
      FUZZ_CHECK(flags[i]);
    all = all && flags[i];
    any = any || flags[i];
  }
  if (rc == XF_OK && when == XF_ALL_COMPLETED)
    FUZZ_CHECK(all);
  if (rc == XF_OK && when == XF_FIRST_COMPLETED && n > 0)
    FUZZ_CHECK(any);
}

static void op_as_completed(fuzz_in_t *in) {
  uint8_t mask = fuzz_u8(in);
  xf_future_t *fs[NSLOTS];
  int ids[NSLOTS];
  size_t n = gather_inputs(mask, fs, ids);
  xf_as_completed_t *it = NULL;
  int rc = xf_as_completed_new(fs, n, 0, &it);
  FUZZ_CHECKF(rc == XF_OK, "as_completed_new: %s", xf_err_name(rc));
  for (size_t k = 0; k <= n; k++) {
    xf_future_t *f = NULL;
    rc = xf_as_completed_next(it, &f);
    FUZZ_CHECKF(rc == XF_OK || rc == XF_ETIMEDOUT, "as_completed_next: %s",
                xf_err_name(rc));
    if (rc != XF_OK || !f)
      break;
    FUZZ_CHECK(k < n);
    FUZZ_CHECK(xf_future_done(f));
    xf_future_unref(f);
  }
  xf_as_completed_free(it);
}

static void op_combine(fuzz_in_t *in, int op) {
  uint8_t mask = fuzz_u8(in);
  uint8_t arg = fuzz_u8(in);
  int dst = fuzz_u8(in) % NSLOTS;
  xf_future_t *fs[NSLOTS];
  int ids[NSLOTS];
  size_t n = gather_inputs(mask, fs, ids);
  xf_future_t *out = NULL;
  int rc, kind;
  bool armed = arm();
  if (op == OP_ALL) {
    kind = N_ALL;
    rc = xf_future_all(fs, n, arg & 1 ? XF_ALL_COLLECT : 0, &out);
  } else if (op == OP_ANY) {
    kind = N_ANY;
    rc = xf_future_any(fs, n, arg & 1, &out);
  } else {
    kind = N_FIRST;
    rc = xf_future_first(fs, n, arg & 1, &out);
  }
  disarm();
  if (op == OP_FIRST && n == 0) {
    FUZZ_CHECKF(rc == XF_EINVAL && out == NULL, "first of none: %s", xf_err_name(rc));
    return;
  }
  FUZZ_CHECKF(ok_or_oom(rc, XF_OK, armed), "combinator %d: %s", op, xf_err_name(rc));
  FUZZ_CHECK((rc == XF_OK) == (out != NULL));
  observe_all();
  if (rc != XF_OK)
    return;
  int id = node_new(kind, out);
  node_t *nd = &P.nodes[id];
  nd->nin = (int) n;
  memcpy(nd->in, ids, n * sizeof *ids);
  slot_put(dst, id);
  observe_all();
}

/* A continuation's data holds no future: one held there could be the
 * antecedent, and the antecedent's registration holds the data, a cycle that
 * only the program could break. The futures it unwraps it makes itself. */
static void op_then(fuzz_in_t *in) {
  int src = fuzz_u8(in) % NSLOTS;
  uint8_t arg = fuzz_u8(in);
  int dst = fuzz_u8(in) % NSLOTS;
  xf_future_t *f = slot_future(src);
  if (!f || P.nrecs + 2 > MAX_RECS)
    return;
  int exmode = (arg & 3) % 3;
  int variant = (arg >> 2) % 7;
  rec_t *r = rec_new(R_THENFN);
  r->variant = variant;
  if (variant == 4)
    r->post = rec_new(R_TASKFN); /* the data of the task it submits */
  xf_executor_t *ex = exmode == EX_POOL ? P.pool : exmode == EX_LOOP ? P.loop_ex : NULL;
  xf_future_t *out = NULL;
  int ante = P.slot[src];
  bool armed = arm();
  int rc = xf_future_then(f, ex, continuation, r, rec_free, &out);
  disarm();
  FUZZ_CHECKF(ok_or_oom(rc, XF_OK, armed), "then: %s", xf_err_name(rc));
  FUZZ_CHECK((rc == XF_OK) == (out != NULL));
  if (rc != XF_OK) {
    rec_refused(r); /* and the record of its task with it */
    observe_all();
    return;
  }
  r->accepted = true;
  int id = node_new(N_THEN, out);
  node_t *nd = &P.nodes[id];
  nd->in[0] = ante;
  nd->nin = 1;
  nd->tmode = variant; /* what the continuation does */
  nd->exmode = exmode;
  slot_put(dst, id);
  observe_all();
}

/* Whether node x waits, directly or through others, for node y: y is one
 * of x's inputs, chain sources or awaited futures, or one of theirs. */
static bool waits_for(int x, int y, bool *seen) {
  if (x < 0 || seen[x])
    return false;
  if (x == y)
    return true;
  seen[x] = true;
  const node_t *n = &P.nodes[x];
  for (int i = 0; i < n->nin; i++)
    if (waits_for(n->in[i], y, seen))
      return true;
  for (int i = 0; i < n->nsrcs; i++)
    if (waits_for(n->srcs[i], y, seen))
      return true;
  return waits_for(n->extra, y, seen);
}

/* chain(src, dst) where src waits for dst would make futures that wait for
 * each other: such a loop can never finish by itself, and future.h says it
 * keeps itself alive (nothing outside can tell it is unreachable). The
 * program does not build one, so that the leak check stays exact. */
static void op_chain(fuzz_in_t *in) {
  int a = fuzz_u8(in) % NSLOTS;
  int b = fuzz_u8(in) % NSLOTS;
  xf_future_t *src = slot_future(a), *dst = slot_future(b);
  if (!src || !dst)
    return;
  /* Not into futures that a worker thread finishes (as op_finish). */
  int dkind = P.nodes[P.slot[b]].kind;
  if (src != dst && (dkind == N_POOL || dkind == N_THEN))
    return;
  bool seen[MAX_NODES] = {false};
  if (src != dst && waits_for(P.slot[a], P.slot[b], seen))
    return;
  /* The model must know every source of dst, or a later chain could close
   * a loop it does not see: no new source once its list is full. */
  node_t *nd = &P.nodes[P.slot[b]];
  bool known = false;
  for (int i = 0; i < nd->nsrcs; i++)
    known = known || nd->srcs[i] == P.slot[a];
  if (src != dst && !known && nd->nsrcs == NSLOTS)
    return;
  bool armed = arm();
  int rc = xf_future_chain(src, dst);
  disarm();
  if (src == dst) {
    FUZZ_CHECK(rc == XF_EINVAL);
    return;
  }
  FUZZ_CHECKF(ok_or_oom(rc, XF_OK, armed), "chain: %s", xf_err_name(rc));
  observe_all();
  if (rc != XF_OK)
    return;
  if (!known)
    nd->srcs[nd->nsrcs++] = P.slot[a];
  observe_all();
}

static void op_shield(fuzz_in_t *in) {
  int src = fuzz_u8(in) % NSLOTS;
  int dst = fuzz_u8(in) % NSLOTS;
  xf_future_t *f = slot_future(src);
  if (!f)
    return;
  xf_future_t *out = NULL;
  bool armed = arm();
  int rc = xf_future_shield(f, &out);
  disarm();
  FUZZ_CHECKF(ok_or_oom(rc, XF_OK, armed), "shield: %s", xf_err_name(rc));
  FUZZ_CHECK((rc == XF_OK) == (out != NULL));
  if (rc != XF_OK)
    return;
  int id = node_new(N_SHIELD, out);
  P.nodes[id].in[0] = P.slot[src];
  P.nodes[id].nin = 1;
  slot_put(dst, id);
  observe_all();
}

static void op_timeout(fuzz_in_t *in) {
  int src = fuzz_u8(in) % NSLOTS;
  int tmode = fuzz_u8(in) % 3;
  int dst = fuzz_u8(in) % NSLOTS;
  xf_future_t *f = slot_future(src);
  if (!f || P.dropped)
    return;
  int64_t ns = tmode == TO_NOW ? 0 : tmode == TO_HOUR ? HOUR_NS : -1;
  xf_future_t *out = NULL;
  bool armed = arm();
  int rc = xf_future_timeout(P.loop, f, ns, &out);
  disarm();
  if (P.closed) {
    FUZZ_CHECKF(rc == XF_ECLOSED && !out, "timeout on a closed loop: %s",
                xf_err_name(rc));
    return;
  }
  FUZZ_CHECKF(ok_or_oom(rc, XF_OK, armed), "timeout: %s", xf_err_name(rc));
  FUZZ_CHECK((rc == XF_OK) == (out != NULL));
  observe_all();
  if (rc != XF_OK)
    return;
  int id = node_new(N_TIMEOUT, out);
  P.nodes[id].in[0] = P.slot[src];
  P.nodes[id].nin = 1;
  P.nodes[id].tmode = tmode;
  slot_put(dst, id);
  observe_all();
}

static void op_call(fuzz_in_t *in, int op) {
  uint8_t arg = fuzz_u8(in);
  int kind = op == OP_CALL_SOON ? R_SOON : arg & 2 ? R_LATER_HOUR : R_LATER_NOW;
  if (P.dropped)
    return;
  rec_t *r = rec_new(kind);
  if (!r)
    return;
  int h = (arg >> 2) % (NHANDLES + 1); /* NHANDLES: no handle */
  xf_handle_t *handle = NULL;
  xf_handle_t **out = h < NHANDLES ? &handle : NULL;
  int rc = kind == R_SOON ? xf_loop_call_soon(P.loop, on_loop_call, r, rec_free, out)
                          : xf_loop_call_later(P.loop, kind == R_LATER_HOUR ? HOUR_NS : 0,
                                               on_loop_call, r, rec_free, out);
  if (P.closed) {
    FUZZ_CHECKF(rc == XF_ECLOSED, "call on a closed loop: %s", xf_err_name(rc));
    rec_refused(r);
    return;
  }
  FUZZ_CHECKF(rc == XF_OK, "call_soon/later: %s", xf_err_name(rc));
  FUZZ_CHECK(atomic_load(&r->ran) == 0);
  r->accepted = true;
  if (out) {
    FUZZ_CHECK(handle != NULL);
    xf_handle_unref(P.handle[h]);
    P.handle[h] = handle;
    P.handle_rec[h] = r;
  }
}

static void op_handle_cancel(fuzz_in_t *in) {
  int h = fuzz_u8(in) % NHANDLES;
  if (!P.handle[h])
    return;
  rec_t *r = P.handle_rec[h];
  bool ran = atomic_load(&r->ran);
  FUZZ_CHECK(xf_handle_cancel(P.handle[h]) == XF_OK);
  FUZZ_CHECK(xf_handle_cancelled(P.handle[h]));
  r->cancelled = true;
  /* On the loop's thread a cancelled timer leaves the heap at once, and its
   * data goes with it; a queued call is dropped when its turn comes. Once
   * the program let go of the loop, a pool thread may be closing it right
   * now: the timer's data then goes with that close. */
  if (!ran && r->kind != R_SOON && !P.dropped)
    FUZZ_CHECK(atomic_load(&r->freed) == 1);
}

static void op_run(void) {
  if (P.dropped)
    return;
  int rc = xf_loop_run(P.loop, XF_RUN_NOWAIT);
  FUZZ_CHECKF(rc == (P.closed ? XF_ECLOSED : XF_OK), "run: %s", xf_err_name(rc));
  observe_all();
}

static void op_submit(fuzz_in_t *in, int op) {
  uint8_t arg = fuzz_u8(in);
  int dst = fuzz_u8(in) % NSLOTS;
  if (P.nrecs + 2 > MAX_RECS)
    return;
  if (op == OP_RUN_IN_EXECUTOR && P.dropped)
    return;
  rec_t *r = rec_new(R_TASKFN);
  r->variant = arg % 5;
  if (r->variant == 4 && P.dropped)
    r->variant = 0;
  if (r->variant == 4) {
    r->post = rec_new(R_POST);
    r->loop = xf_loop_ref(P.loop);
  }
  xf_future_t *out = NULL;
  bool armed = op == OP_SUBMIT && arm();
  int rc = op == OP_SUBMIT
               ? xf_executor_submit(P.pool, pool_task, r, rec_free, &out)
               : xf_loop_run_in_executor(P.loop, P.pool, pool_task, r, rec_free, &out);
  disarm();
  if (rc != XF_OK) {
    FUZZ_CHECK(out == NULL);
    if (armed && rc == XF_ENOMEM)
      ; /* refused for want of memory */
    else if (op == OP_RUN_IN_EXECUTOR && P.closed)
      FUZZ_CHECKF(rc == XF_ECLOSED, "run_in_executor: %s", xf_err_name(rc));
    else
      FUZZ_CHECKF(rc == XF_ESHUTDOWN && P.shut, "submit: %s", xf_err_name(rc));
    rec_refused(r); /* and its post with it */
    return;
  }
  FUZZ_CHECK(out != NULL);
  r->accepted = true;
  if (r->post)
    r->post->accepted = true;
  int id = node_new(op == OP_SUBMIT ? N_POOL : N_RIE, out);
  slot_put(dst, id);
}

static void op_task(fuzz_in_t *in) {
  int target = fuzz_u8(in) % NSLOTS;
  uint8_t arg = fuzz_u8(in);
  int dst = fuzz_u8(in) % NSLOTS;
  if (P.dropped)
    return;
  rec_t *r = rec_new(R_STEP);
  if (!r)
    return;
  r->variant = arg % 3;
  if (r->variant == 0 && slot_future(target)) {
    r->node = P.slot[target];
    r->ref = xf_future_ref(slot_future(target));
  }
  xf_future_t *out = NULL;
  int rc = xf_task_new(P.loop, step, r, rec_free, &out);
  if (P.closed) {
    FUZZ_CHECKF(rc == XF_ECLOSED && !out, "task on a closed loop: %s", xf_err_name(rc));
    rec_refused(r);
    return;
  }
  FUZZ_CHECKF(rc == XF_OK && out, "task_new: %s", xf_err_name(rc));
  FUZZ_CHECK(xf_task_is_task(out));
  r->accepted = true;
  int id = node_new(N_TASK, out);
  P.nodes[id].extra = r->node;
  slot_put(dst, id);
}

static void op_shutdown(fuzz_in_t *in) {
  uint8_t arg = fuzz_u8(in);
  FUZZ_CHECK(xf_executor_shutdown(P.pool, arg & 1, arg & 2) == XF_OK);
  P.shut = true;
  observe_all();
}

static void op_close(void) {
  if (P.dropped)
    return;
  FUZZ_CHECK(xf_loop_close(P.loop) == XF_OK);
  FUZZ_CHECK(xf_loop_is_closed(P.loop));
  P.closed = true;
  observe_all();
  /* A task's data goes when it is done or dropped with its loop. */
  for (int i = 0; i < P.nrecs; i++)
    if (P.recs[i].kind == R_STEP && P.recs[i].accepted)
      FUZZ_CHECKF(atomic_load(&P.recs[i].freed) == 1, "a task's data outlives its loop");
}

static void op_dup(fuzz_in_t *in) {
  int a = fuzz_u8(in) % NSLOTS;
  int b = fuzz_u8(in) % NSLOTS;
  if (a == b || P.slot[a] < 0)
    return;
  int id = P.slot[a];
  FUZZ_CHECK(xf_future_ref(P.nodes[id].f) == P.nodes[id].f);
  slot_put(b, id);
}

/* backend_fd is readable whenever the loop has queued work (loop.h). A
 * worker thread may be inside a post right now: backend_timeout sees the
 * queued item a moment before the poster's write makes the fd readable, so
 * the check waits for it, with a bound that only ends a hang. */
static void op_backend(void) {
  if (P.dropped)
    return;
  if (P.closed) {
    FUZZ_CHECK(xf_loop_backend_fd(P.loop) == XF_ECLOSED);
    return;
  }
  int fd = xf_loop_backend_fd(P.loop);
  FUZZ_CHECK(fd >= 0);
  int64_t t = xf_loop_backend_timeout(P.loop);
  FUZZ_CHECKF(t >= -1, "backend_timeout: %lld", (long long) t);
  if (t == 0) {
    struct pollfd pfd = {fd, POLLIN, 0};
    FUZZ_CHECKF(poll(&pfd, 1, 10000) == 1,
                "work is ready but backend_fd is not readable");
  }
}

static void run_op(fuzz_in_t *in) {
  int op = fuzz_u8(in) % OP_COUNT;
  switch (op) {
  case OP_NEW:
  case OP_NEW_LOOP: {
    int s = fuzz_u8(in) % NSLOTS;
    xf_future_t *f = NULL;
    if (op == OP_NEW_LOOP && P.dropped)
      break;
    bool armed = arm();
    int rc = op == OP_NEW ? xf_future_new(&f) : xf_loop_create_future(P.loop, &f);
    disarm();
    if (op == OP_NEW_LOOP && P.closed) {
      FUZZ_CHECK(rc == XF_ECLOSED && !f);
      break;
    }
    FUZZ_CHECKF(ok_or_oom(rc, XF_OK, armed), "new: %s", xf_err_name(rc));
    FUZZ_CHECK((rc == XF_OK) == (f != NULL));
    if (rc != XF_OK)
      break;
    FUZZ_CHECK(xf_future_loop(f) == (op == OP_NEW ? NULL : P.loop));
    slot_put(s, node_new(op == OP_NEW ? N_FREE : N_LOOPF, f));
    break;
  }
  case OP_SET_RESULT:
  case OP_SET_ERROR:
    op_finish(in, op);
    break;
  case OP_CANCEL:
    op_cancel(in);
    break;
  case OP_SET_RUNNING:
    op_set_running(in);
    break;
  case OP_ADD_CALLBACK:
    op_add_callback(in);
    break;
  case OP_REMOVE_CALLBACK:
    op_remove_callback(in);
    break;
  case OP_WAIT:
    op_wait(in);
    break;
  case OP_WAIT_MANY:
    op_wait_many(in);
    break;
  case OP_AS_COMPLETED:
    op_as_completed(in);
    break;
  case OP_ALL:
  case OP_ANY:
  case OP_FIRST:
    op_combine(in, op);
    break;
  case OP_THEN:
    op_then(in);
    break;
  case OP_CHAIN:
    op_chain(in);
    break;
  case OP_SHIELD:
    op_shield(in);
    break;
  case OP_TIMEOUT:
    op_timeout(in);
    break;
  case OP_CALL_SOON:
  case OP_CALL_LATER:
    op_call(in, op);
    break;
  case OP_HANDLE_CANCEL:
    op_handle_cancel(in);
    break;
  case OP_RUN:
    op_run();
    break;
  case OP_STOP: {
    if (P.dropped)
      break;
    int rc = xf_loop_stop(P.loop);
    FUZZ_CHECKF(rc == XF_OK || (rc == XF_ECLOSED && P.closed), "stop: %s",
                xf_err_name(rc));
    break;
  }
  case OP_SUBMIT:
  case OP_RUN_IN_EXECUTOR:
    op_submit(in, op);
    break;
  case OP_TASK:
    op_task(in);
    break;
  case OP_SHUTDOWN:
    op_shutdown(in);
    break;
  case OP_CLOSE:
    op_close();
    break;
  case OP_UNREF:
    slot_drop(fuzz_u8(in) % NSLOTS);
    break;
  case OP_DUP:
    op_dup(in);
    break;
  case OP_BACKEND:
    op_backend();
    break;
  case OP_FAIL: {
    /* The next operation's main call fails its n-th allocation. */
    static int nested;
    unsigned n = 1 + fuzz_u8(in) % 12;
    if (nested < 4) {
      nested++;
      P.fail_n = n;
      run_op(in);
      P.fail_n = 0;
      nested--;
    }
    break;
  }
  case OP_LOOP_UNREF:
    /* The program lets go of the loop: that closes it, unless a pool task
     * still holds a reference, and its memory stays while futures are bound
     * to it. The program never touches it again. */
    if (!P.dropped) {
      xf_loop_unref(P.loop);
      P.dropped = P.closed = true;
    }
    break;
  }
  observe_all();
}

/* ---- The end of a program --------------------------------------------------- */

/* Whether node id is bound to be done once every future the program holds
 * and made itself is finished, the pool has finished its work and the loop
 * is idle. A lower bound: a future that is not expected may be done too.
 * future.h promises that an antecedent or input freed while pending counts
 * as cancelled (then, shield, chain, all, any, first), and that a
 * continuation the executor drops cancels the then() result. */
static bool expected_done(int id);

static bool resolved(int id) {
  return expected_done(id) || freed_pending(id);
}

static bool expected_done(int id) {
  node_t *n = &P.nodes[id];
  if (n->done_seen)
    return true;
  if (n->memo == 1) /* chains can form a cycle */
    return false;
  if (n->memo)
    return n->memo == 2;
  n->memo = 1;
  bool yes = false;
  /* A future chained into by the program follows its sources: the outcome
   * of its own work (a task, a continuation) no longer finishes it. */
  bool own = n->nsrcs == 0;
  switch (n->kind) {
  case N_FREE:
  case N_LOOPF:
    break; /* dropped while pending: nobody can finish it */
  case N_POOL:
    yes = own; /* pool tasks finish by themselves, or are cancelled */
    break;
  case N_RIE:
    yes = true; /* it follows a pool task */
    break;
  case N_THEN:
    /* Unwrapping a future that nobody finishes (variant 6) never ends,
     * unless the result is cancelled, which cancels that future. */
    yes = (own && n->tmode != 6 && expected_done(n->in[0])) || freed_pending(n->in[0]) ||
          (own && n->cancel_ok);
    break;
  case N_SHIELD:
    yes = resolved(n->in[0]);
    break;
  case N_TIMEOUT:
    yes = (n->tmode == TO_NOW && !P.closed) || expected_done(n->in[0]);
    break;
  case N_ALL:
  case N_ANY:
    yes = true;
    for (int i = 0; i < n->nin; i++)
      yes = yes && resolved(n->in[i]);
    break;
  case N_FIRST:
    for (int i = 0; i < n->nin; i++)
      yes = yes || resolved(n->in[i]);
    break;
  case N_TASK:
    yes = own && !P.closed && (n->extra < 0 || expected_done(n->extra));
    break;
  }
  /* A task whose loop is closed never runs again, whatever it follows. A
   * task reaches the outcome of its sources as a cancellation request,
   * which it answers only once the future it awaits is done (that future
   * may be running, where cancelling it does nothing, as in asyncio). */
  bool follows =
      !(n->kind == N_TASK && (P.closed || (n->extra >= 0 && !expected_done(n->extra))));
  for (int i = 0; i < n->nsrcs && !yes && follows; i++)
    yes = resolved(n->srcs[i]);
  n->memo = yes ? 2 : 3;
  return yes;
}

/* Every future the program made, for the report of a broken invariant. */
static void dump_nodes(void) {
  for (int id = 0; id < P.nnodes; id++) {
    const node_t *n = &P.nodes[id];
    fprintf(stderr, "  future %d: %s, last seen in state %d%s%s, held %d; inputs", id,
            kind_names[n->kind], n->state, n->done_seen ? " (done)" : "",
            freed_pending(id) ? " (freed pending)" : "", n->held);
    for (int i = 0; i < n->nin; i++)
      fprintf(stderr, " %d", n->in[i]);
    fprintf(stderr, "; chained from");
    for (int i = 0; i < n->nsrcs; i++)
      fprintf(stderr, " %d", n->srcs[i]);
    fprintf(stderr, "\n");
  }
}

static void teardown(void) {
  /* Finish what the program made itself and still holds. */
  for (int i = 0; i < NSLOTS; i++) {
    int id = P.slot[i];
    if (id < 0 || (P.nodes[id].kind != N_FREE && P.nodes[id].kind != N_LOOPF))
      continue;
    int rc = xf_future_set_result(P.nodes[id].f, NULL);
    FUZZ_CHECK(rc == XF_OK || rc == XF_ESTATE);
    observe_all();
  }
  /* The pool's work ends (its tasks never wait), then the loop's. */
  FUZZ_CHECK(xf_executor_shutdown(P.pool, true, false) == XF_OK);
  observe_all();
  if (!P.closed) {
    int idle = 0;
    for (int i = 0; i < 100000 && idle < 2; i++) {
      FUZZ_CHECK(xf_loop_run(P.loop, XF_RUN_NOWAIT) == XF_OK);
      idle = xf_loop_backend_timeout(P.loop) != 0 ? idle + 1 : 0;
    }
    FUZZ_CHECKF(idle == 2, "the loop never became idle");
  }
  observe_all();

  for (int i = 0; i < NSLOTS; i++) {
    int id = P.slot[i];
    if (id >= 0 && expected_done(id) && !P.nodes[id].done_seen)
      dump_nodes();
    if (id >= 0 && expected_done(id))
      FUZZ_CHECKF(P.nodes[id].done_seen,
                  "%s future %d (slot %d) is still pending (state %d)",
                  kind_names[P.nodes[id].kind], id, i, P.nodes[id].state);
  }
  for (int i = 0; i < P.nrecs; i++) {
    rec_t *r = &P.recs[i];
    if (!r->accepted)
      continue;
    bool must_run = false;
    switch (r->kind) {
    case R_DONE:
      must_run = !r->removed && P.nodes[r->node].done_seen && (!r->on_loop || !P.closed);
      break;
    case R_SOON:
    case R_LATER_NOW:
      must_run = !r->cancelled && !P.closed;
      break;
    case R_POST:
      must_run = atomic_load(&r->post_accepted) && !P.closed;
      break;
    default:
      break;
    }
    if (must_run)
      FUZZ_CHECKF(atomic_load(&r->ran) == 1, "record %d (kind %d, future %d) never ran",
                  i, r->kind, r->node);
  }

  if (!P.dropped)
    FUZZ_CHECK(xf_loop_close(P.loop) == XF_OK);
  for (int i = 0; i < NSLOTS; i++)
    slot_drop(i);
  for (int h = 0; h < NHANDLES; h++)
    xf_handle_unref(P.handle[h]);
  xf_executor_unref(P.loop_ex);
  xf_executor_unref(P.pool);
  if (!P.dropped)
    xf_loop_unref(P.loop);

  /* Data that is never freed belongs to a leak, which LeakSanitizer can
   * show instead (fuzz_check_leaks). */
  bool by_lsan = getenv("FUZZ_LEAKS_BY_LSAN") != NULL;
  for (int i = 0; i < P.nrecs; i++) {
    rec_t *r = &P.recs[i];
    int freed = atomic_load(&r->freed);
    FUZZ_CHECKF(freed == 1 || (freed == 0 && by_lsan),
                "record %d (kind %d) freed %d times", i, r->kind, freed);
    FUZZ_CHECK(atomic_load(&r->ran) <= 1);
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void) argc;
  (void) argv;
  fuzz_install_allocator();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  long live = fuzz_live();
  memset(&P, 0, sizeof P);
  for (int i = 0; i < NSLOTS; i++)
    P.slot[i] = -1;
  FUZZ_CHECK(xf_loop_new(&P.loop) == XF_OK);
  FUZZ_CHECK(xf_loop_set_exception_handler(P.loop, on_exception, NULL, NULL) == XF_OK);
  FUZZ_CHECK(xf_loop_executor(P.loop, &P.loop_ex) == XF_OK);
  xf_thread_pool_options_t opts = XF_THREAD_POOL_OPTIONS_INIT;
  opts.max_workers = 2;
  opts.thread_name_prefix = "fuzz";
  FUZZ_CHECK(xf_thread_pool_new(&opts, &P.pool) == XF_OK);

  fuzz_in_t in = {data, size};
  for (int i = 0; i < MAX_OPS && fuzz_more(&in); i++)
    run_op(&in);
  teardown();
  fuzz_check_leaks(live);
  return 0;
}

/* The thread pool executor.
 *
 * Design notes
 * ------------
 * A submission is one exchange and one store: the future (which carries its
 * task, see future_internal.h) is appended to `inbox`, an intrusive FIFO of
 * many producers (xf__pool_pop_locked describes it). The submitter writes
 * only the link of the future it appended before, a cache line its own core
 * wrote last; the workers, which take tasks under the pool lock in
 * submission order, only read links, so no future is written by a worker
 * before it runs it. Submitters never take the lock once the threads are
 * started, and workers take it once per task among themselves only. Tasks
 * run, futures finish and callbacks fire outside the lock.
 *
 * A worker takes one task per lock, not a batch: a task it kept aside while
 * it runs another may be the one that task waits for (tasks submitted
 * together that block on each other), and nothing would run it. For the
 * same reason `queued` drops as each task is taken, not once per batch: it
 * is what tells a submitter that a sleeper must be woken (below).
 *
 * `queued` counts accepted tasks not yet taken by a worker. A submitter reserves its slot
 * there before it pushes, which gives bounded queues their bound and shutdown its
 * guarantee: a submitter re-checks `shutdown` after reserving (and backs out if set), and
 * workers leave only when shut down with `queued` at zero, so an accepted task is never
 * stranded in the inbox.
 *
 * Sleeping and waking is what costs on this kind of machine (a futex round
 * trip is tens of microseconds), so the pool avoids it on its hot paths:
 * - one idle worker at a time spins on `queued` for a while before it
 *   sleeps (more would take the cores from the threads that submit and
 *   run), and only when a process-wide spin slot is free
 *   (xf__aspin_begin in future_internal.h): on a machine of two cores a
 *   spinning worker, a spinning waiter and the worker that runs the task
 *   would be three threads on two cores;
 * - a sleeper is woken only when the workers that will look at the queue
 *   do not cover it: those awake and not busy (`alive - sleepers - busy`:
 *   the spinner, and workers between tasks or about to sleep) must number
 *   at least `queued`. A worker counts itself in `busy` from the moment it
 *   takes a task until the task is over, so a busy worker is never taken
 *   for one that will pick up the next task; blocking tasks submitted
 *   together run in parallel whatever the interleaving. Both a submitter
 *   (after it adds to `queued`) and a worker that has just become busy
 *   (after it adds to `busy`) check the rule, in the Dekker order (add,
 *   then load the other's counter), so at least one of them sees the
 *   other's change and wakes a sleeper when one is needed. Workers awake
 *   and idle in number cost no wake-up at all;
 * - a worker sleeps on an event count (wake_seq) after announcing itself in
 *   `sleepers`, and a submitter issues a wake only when `sleepers` is not
 *   zero. Both sides use sequentially consistent operations in the Dekker
 *   order (submitter: reserve in `queued`, load `sleepers`; worker: add to
 *   `sleepers`, load `queued`), so at least one sees the other and no
 *   wake-up is lost.
 *
 * Threads start lazily: a submission that finds no idle token starts one,
 * up to max_workers; a worker adds a token each time it finishes a task, as
 * Python's ThreadPoolExecutor does with its idle semaphore.
 *
 * A worker names itself ("<prefix>-<n>") before anything else runs on it,
 * so the initializer and every task see the name.
 *
 * Fork: a pool records the fork generation it was made in (fork.c). In a
 * child process its workers do not exist, so every entry point checks the
 * generation first: submit, shutdown and stats return XF_EBROKEN without
 * touching the lock or the threads, and dropping the handle frees the pool
 * without joining (xf__pool_abandon). A worker that called fork() inside a
 * task (the child's only thread) leaves the pool when the task returns.
 *
 * Lifetime: the pool is shared by its handle and each worker thread (one
 * reference each). Shutdown with wait joins every worker except the calling
 * thread; a worker not joined is detached when the handle goes away and
 * frees the pool if it is the last to leave.
 *
 * Lock rule: the pool lock and a future's lock are never held together.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>

#include "executor_internal.h"

/* Fields that different threads write often are kept a cache line apart
 * (by padding: the pool comes from the allocation hook, which promises no
 * more than malloc's alignment), so a submitter and the workers do not
 * invalidate each other's lines for fields they do not share. */
#define XF__PAD(name) char name[64]

/* A worker's own counters, a cache line each: every task updates them, and
 * shared counters would bounce between the workers' cores. stats sums
 * them. */
typedef struct xf__pool_slot {
  struct xf__pool *pool;
  _Atomic uint64_t started, finished, skipped; /* skipped: cancelled before running */
  char pad[64 - sizeof(void *) - 3 * sizeof(uint64_t)];
} xf__pool_slot_t;

typedef struct xf__pool {
  /* Written by submitters, read by workers. */
  _Atomic(xf__qnode_t *) in_tail; /* the inbox's last node (task_link) */
  _Atomic size_t queued;          /* accepted, not yet taken by a worker */

  /* Written by workers, read by submitters. */
  XF__PAD(pad1);
  _Atomic uint32_t sleepers;
  _Atomic uint32_t spinning; /* 1 while an idle worker spins for work */
  _Atomic uint32_t wake_seq;
  _Atomic uint32_t idle; /* tokens: tasks finished, not yet matched by a submit */
  _Atomic uint32_t space_seq;
  _Atomic uint32_t space_waiters;

  /* The workers' own. */
  XF__PAD(pad2);
  xf__lock_t lock;
  _Atomic uint32_t busy;    /* workers that took a task and have not finished it */
  xf__qnode_t *in_head;     /* the inbox's first node; under lock */
  xf__qnode_t anchor;       /* the inbox's own node, see xf__pool_pop_locked */
  _Atomic uint64_t dropped; /* cancelled while queued (shutdown) */

  /* Read-mostly. */
  XF__PAD(pad3);
  _Atomic uint32_t refs; /* the handle + one per live thread */
  _Atomic bool shutdown;
  _Atomic bool broken;
  uint32_t fork_gen; /* the process generation it was made in */
  uint32_t max_workers;
  size_t max_queue;
  int queue_policy;
  xf_thread_init_fn initializer;
  void *init_data;
  char prefix[16];

  /* Threads: started under lock; joined under join_lock. */
  pthread_mutex_t join_lock;
  _Atomic uint32_t nthreads; /* started; written under lock */
  _Atomic uint32_t alive;
  pthread_t *threads;
  bool *joined;           /* under join_lock */
  xf__pool_slot_t *slots; /* one per possible worker, a cache line each */
  void *slots_mem;        /* the allocation slots are aligned within */
} xf__pool_t;

static _Thread_local xf__pool_t *xf__current_pool;

static void xf__pool_release(xf__pool_t *p) {
  if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
    return;
  pthread_mutex_destroy(&p->join_lock);
  xf__free(p->threads);
  xf__free(p->joined);
  xf__free(p->slots_mem);
  xf__free(p);
}

static inline xf_future_t *xf__task_of(xf__qnode_t *n) {
  return XF__CONTAINER_OF(n, xf_future_t, task_link);
}

/* The links of the inbox are written by a submitter and read by a worker
 * at the same time: atomic accesses to plain pointers. */
static inline xf__qnode_t *xf__link_load(xf__qnode_t *n) {
  return __atomic_load_n(&n->next, __ATOMIC_ACQUIRE);
}

/* Append a node to the inbox: any thread, no lock. */
static void xf__pool_inbox_push(xf__pool_t *p, xf__qnode_t *n) {
  n->next = NULL;
  xf__qnode_t *prev = atomic_exchange_explicit(&p->in_tail, n, memory_order_acq_rel);
  __atomic_store_n(&prev->next, n, __ATOMIC_RELEASE);
}

/* Take the first task of the inbox; NULL when there is none, or when the
 * next one is still being linked in (its submitter swapped in_tail and has
 * not yet written the link: it counts in queued, and the caller tries
 * again). Lock held.
 *
 * The inbox is an intrusive queue of many producers and one consumer at a
 * time (D. Vyukov's): the consumer only reads the submitters' links, and
 * the anchor node stands in for an empty queue, so that a submitter always
 * has a last node to link from. A node is taken only once its link is
 * written, after which no submitter writes into it. */
static xf_future_t *xf__pool_pop_locked(xf__pool_t *p) {
  xf__qnode_t *head = p->in_head, *next = xf__link_load(head);
  if (head == &p->anchor) {
    if (!next)
      return NULL;
    p->in_head = head = next;
    next = xf__link_load(next);
  }
  if (!next) {
    /* head is the last node, or a submitter is linking one after it. */
    if (head != atomic_load_explicit(&p->in_tail, memory_order_acquire))
      return NULL;
    xf__pool_inbox_push(p, &p->anchor);
    if (!(next = xf__link_load(head)))
      return NULL;
  }
  p->in_head = next;
  atomic_fetch_sub_explicit(&p->queued, 1, memory_order_relaxed);
  return xf__task_of(head);
}

/* Detach every task that has arrived, as a chain of task_link. Lock
 * held. */
static xf__qnode_t *xf__pool_take_all_locked(xf__pool_t *p) {
  xf__queue_t all;
  xf__queue_init(&all);
  xf_future_t *f;
  while ((f = xf__pool_pop_locked(p)))
    xf__queue_push(&all, &f->task_link);
  return all.head;
}

static void xf__pool_wake_workers(xf__pool_t *p, int count) {
  atomic_fetch_add_explicit(&p->wake_seq, 1, memory_order_seq_cst);
  xf__futex_wake(&p->wake_seq, count);
}

static void xf__pool_wake_submitters(xf__pool_t *p) {
  if (atomic_load_explicit(&p->space_waiters, memory_order_seq_cst)) {
    atomic_fetch_add_explicit(&p->space_seq, 1, memory_order_seq_cst);
    xf__futex_wake(&p->space_seq, INT32_MAX);
  }
}

/* Drop a chain of never-run tasks, failing each with code. */
static void xf__pool_drop_list(xf__pool_t *p, xf__qnode_t *list, int code) {
  while (list) {
    xf__qnode_t *next = list->next;
    xf_future_t *f = xf__task_of(list);
    list->next = NULL;
    xf_executor_drop_task(f, code);
    if (code == XF_ECANCELLED)
      atomic_fetch_add_explicit(&p->dropped, 1, memory_order_relaxed);
    xf_future_unref(f);
    list = next;
  }
  xf__pool_wake_submitters(p);
}

/* Only the slot's worker writes its counters, so plain load-add-store
 * updates suffice (atomic only for the readers in stats). */
static inline void xf__bump(_Atomic uint64_t *c) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                        memory_order_release);
}

static void xf__pool_run(xf__pool_slot_t *slot, xf_future_t *f) {
  xf__pool_t *p = slot->pool;
  xf__bump(&slot->started);
  int rc = xf_executor_run_task(f);
  xf_future_unref(f);
  atomic_fetch_sub_explicit(&p->busy, 1, memory_order_release);
  /* One idle token per finished task, as Python's idle semaphore: a later
   * submission takes it instead of starting a thread. A full pool needs
   * none. The token comes before the count that stats reads, so that a
   * task counted as finished has given its worker back. */
  if (atomic_load_explicit(&p->nthreads, memory_order_relaxed) < p->max_workers)
    atomic_fetch_add_explicit(&p->idle, 1, memory_order_release);
  xf__bump(rc == XF_OK ? &slot->finished : &slot->skipped);
}

/* Whether a sleeping worker should be woken for the tasks now queued: when
 * the workers that will look at the queue (awake and not busy) are fewer
 * than the tasks. Busy workers do not count, however soon they may finish:
 * counting them would make a task wait for another one to end. Called after
 * the caller's change to queued or busy, in the Dekker order described
 * above. The counters are read one after the other, so their sum may
 * exceed alive for a moment; that errs towards a wake-up. */
static bool xf__pool_should_wake(xf__pool_t *p) {
  uint32_t sleepers = atomic_load_explicit(&p->sleepers, memory_order_seq_cst);
  if (!sleepers)
    return false;
  uint32_t taken = sleepers + atomic_load_explicit(&p->busy, memory_order_seq_cst);
  uint32_t alive = atomic_load_explicit(&p->alive, memory_order_relaxed);
  size_t looking = alive > taken ? alive - taken : 0;
  return atomic_load_explicit(&p->queued, memory_order_seq_cst) > looking;
}

/* Wait for work: a task, or NULL once the pool is shut down and every
 * accepted task has been taken. */
static xf_future_t *xf__pool_next(xf__pool_t *p) {
  for (;;) {
    /* In a child process the pool's lock may be held by a thread that is
     * not there: the worker that forked leaves instead. */
    if (xf__forked(p->fork_gen))
      return NULL;
    xf__lock(&p->lock);
    xf_future_t *f = xf__pool_pop_locked(p);
    xf__unlock(&p->lock);
    if (f) {
      /* Busy until the task is over. Then cover what is still queued (a
       * submitter that counted this worker as looking relies on it). */
      atomic_fetch_add_explicit(&p->busy, 1, memory_order_seq_cst);
      if (xf__pool_should_wake(p))
        xf__pool_wake_workers(p, 1);
      return f;
    }
    /* A reserved slot whose push has not landed yet keeps queued above
     * zero. Its submitter may have been preempted: yield the CPU to it
     * rather than spin against it on a machine with few cores. */
    if (atomic_load_explicit(&p->queued, memory_order_seq_cst)) {
      sched_yield();
      continue;
    }
    if (atomic_load_explicit(&p->shutdown, memory_order_seq_cst))
      return NULL;
    /* At most one idle worker spins; the others sleep at once, leaving the
     * cores to threads with work to do. */
    uint32_t expected = 0;
    if (atomic_compare_exchange_strong_explicit(
            &p->spinning, &expected, 1, memory_order_seq_cst, memory_order_relaxed)) {
      bool seen = false;
      xf__aspin_t spin;
      /* The full budget, not an adaptive one: a spin that missed its task
       * because the submitter was preempted says nothing about the next
       * one, and a worker asleep costs the submitter a wake-up. */
      if (xf__aspin_begin(&spin, NULL)) {
        while (!seen && xf__aspin_step(&spin))
          seen = atomic_load_explicit(&p->queued, memory_order_relaxed) ||
                 atomic_load_explicit(&p->shutdown, memory_order_relaxed);
        xf__aspin_end(&spin, NULL, seen);
      }
      atomic_store_explicit(&p->spinning, 0, memory_order_seq_cst);
      if (seen)
        continue;
    }
    uint32_t seq = atomic_load_explicit(&p->wake_seq, memory_order_seq_cst);
    atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
    if (!atomic_load_explicit(&p->queued, memory_order_seq_cst) &&
        !atomic_load_explicit(&p->shutdown, memory_order_seq_cst))
      xf__futex_wait(&p->wake_seq, seq, -1);
    atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
  }
}

static void *xf__pool_worker(void *arg) {
  xf__pool_slot_t *slot = arg;
  xf__pool_t *p = slot->pool;
  /* Named from the thread itself, first, so the initializer and every task
   * see the name. Names hold 15 bytes: the prefix was cut to leave room for
   * "-<n>". */
  char name[32];
  snprintf(name, sizeof name, "%s-%u", p->prefix, (unsigned) (slot - p->slots));
  name[15] = '\0';
  pthread_setname_np(pthread_self(), name);
  xf__current_pool = p;
  if (p->initializer && p->initializer(p->init_data) != 0) {
    /* A failed initializer breaks the pool, as BrokenThreadPool: later
     * submissions are refused, and what was accepted fails, including
     * submissions still landing (they hold a slot in queued). */
    atomic_store_explicit(&p->broken, true, memory_order_seq_cst);
    xf__pool_wake_workers(p, INT32_MAX);
    while (atomic_load_explicit(&p->queued, memory_order_seq_cst)) {
      xf__lock(&p->lock);
      xf__qnode_t *list = xf__pool_take_all_locked(p);
      xf__unlock(&p->lock);
      xf__pool_drop_list(p, list, XF_EBROKEN);
      xf__cpu_relax();
    }
  } else {
    xf_future_t *f;
    while ((f = xf__pool_next(p))) {
      if (atomic_load_explicit(&p->space_waiters, memory_order_relaxed))
        xf__pool_wake_submitters(p);
      xf__pool_run(slot, f);
    }
  }
  atomic_fetch_sub_explicit(&p->alive, 1, memory_order_relaxed);
  xf__current_pool = NULL;
  xf__pool_release(p);
  return NULL;
}

/* Start one more worker. Lock held. */
static int xf__pool_spawn_locked(xf__pool_t *p) {
  uint32_t n = atomic_load_explicit(&p->nthreads, memory_order_relaxed);
  atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&p->alive, 1, memory_order_relaxed);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 1u << 20);
  int err = pthread_create(&p->threads[n], &attr, xf__pool_worker, &p->slots[n]);
  pthread_attr_destroy(&attr);
  if (err) {
    atomic_fetch_sub_explicit(&p->alive, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&p->refs, 1, memory_order_relaxed);
    return XF_ESYS;
  }
  atomic_store_explicit(&p->nthreads, n + 1, memory_order_relaxed);
  return XF_OK;
}

/* Reserve a slot in queued, honouring a bounded queue. */
static int xf__pool_reserve(xf__pool_t *p) {
  size_t q = atomic_load_explicit(&p->queued, memory_order_relaxed);
  for (;;) {
    if (atomic_load_explicit(&p->broken, memory_order_relaxed))
      return XF_EBROKEN;
    if (atomic_load_explicit(&p->shutdown, memory_order_relaxed))
      return XF_ESHUTDOWN;
    if (p->max_queue && q >= p->max_queue) {
      if (p->queue_policy == XF_QUEUE_REJECT || xf__current_pool == p)
        return XF_EAGAIN; /* a worker blocking on its own queue could wait forever */
      uint32_t seq = atomic_load_explicit(&p->space_seq, memory_order_seq_cst);
      atomic_fetch_add_explicit(&p->space_waiters, 1, memory_order_seq_cst);
      q = atomic_load_explicit(&p->queued, memory_order_seq_cst);
      if (q >= p->max_queue && !atomic_load_explicit(&p->shutdown, memory_order_seq_cst))
        xf__futex_wait(&p->space_seq, seq, -1);
      atomic_fetch_sub_explicit(&p->space_waiters, 1, memory_order_relaxed);
      q = atomic_load_explicit(&p->queued, memory_order_relaxed);
      continue;
    }
    if (atomic_compare_exchange_weak_explicit(&p->queued, &q, q + 1, memory_order_seq_cst,
                                              memory_order_relaxed))
      return XF_OK;
  }
}

/* Start a worker if no idle one is expected, up to max_workers. */
static int xf__pool_grow(xf__pool_t *p) {
  if (atomic_load_explicit(&p->nthreads, memory_order_relaxed) >= p->max_workers)
    return XF_OK;
  uint32_t idle = atomic_load_explicit(&p->idle, memory_order_relaxed);
  while (idle && !atomic_compare_exchange_weak_explicit(&p->idle, &idle, idle - 1,
                                                        memory_order_relaxed,
                                                        memory_order_relaxed))
    ;
  if (idle || atomic_load_explicit(&p->nthreads, memory_order_relaxed) >= p->max_workers)
    return XF_OK;
  int rc = XF_OK;
  xf__lock(&p->lock);
  if (atomic_load_explicit(&p->nthreads, memory_order_relaxed) < p->max_workers) {
    rc = xf__pool_spawn_locked(p);
    /* Without a thread nothing would run; with some, the task waits. */
    if (atomic_load_explicit(&p->nthreads, memory_order_relaxed) > 0)
      rc = XF_OK;
  }
  xf__unlock(&p->lock);
  return rc;
}

static int xf__pool_submit(void *impl, xf_future_t *f) {
  xf__pool_t *p = impl;
  if (xf__forked(p->fork_gen))
    return XF_EBROKEN;
  int rc = xf__pool_reserve(p);
  if (rc != XF_OK)
    return rc;
  /* Seen after the reservation, a shutdown or a break has not drained the
   * queue past this task yet: back out. Otherwise the workers wait for it. */
  if (atomic_load_explicit(&p->shutdown, memory_order_seq_cst) ||
      atomic_load_explicit(&p->broken, memory_order_seq_cst) ||
      (rc = xf__pool_grow(p)) != XF_OK) {
    atomic_fetch_sub_explicit(&p->queued, 1, memory_order_seq_cst);
    xf__pool_wake_submitters(p);
    if (rc == XF_OK)
      rc = atomic_load_explicit(&p->broken, memory_order_relaxed) ? XF_EBROKEN
                                                                  : XF_ESHUTDOWN;
    return rc;
  }
  xf__pool_inbox_push(p, &f->task_link);
  if (xf__pool_should_wake(p))
    xf__pool_wake_workers(p, 1);
  return XF_OK;
}

static int xf__pool_shutdown(void *impl, bool wait, bool cancel_futures) {
  xf__pool_t *p = impl;
  /* Inherited: nothing of it runs in this process, nothing to wait for. */
  if (xf__forked(p->fork_gen))
    return XF_EBROKEN;
  xf__qnode_t *dropped = NULL;
  atomic_store_explicit(&p->shutdown, true, memory_order_seq_cst);
  xf__lock(&p->lock);
  if (cancel_futures)
    dropped = xf__pool_take_all_locked(p);
  uint32_t nthreads = atomic_load_explicit(&p->nthreads, memory_order_relaxed);
  xf__unlock(&p->lock);
  xf__pool_drop_list(p, dropped, XF_ECANCELLED);
  xf__pool_wake_workers(p, INT32_MAX);
  /* Blocked submitters re-check and see the shutdown. */
  atomic_fetch_add_explicit(&p->space_seq, 1, memory_order_seq_cst);
  xf__futex_wake(&p->space_seq, INT32_MAX);
  if (!wait)
    return XF_OK;
  pthread_mutex_lock(&p->join_lock);
  for (uint32_t i = 0; i < nthreads; i++) {
    if (p->joined[i] || pthread_equal(p->threads[i], pthread_self()))
      continue;
    pthread_join(p->threads[i], NULL);
    p->joined[i] = true;
  }
  pthread_mutex_unlock(&p->join_lock);
  return XF_OK;
}

static int xf__pool_stats(void *impl, xf_executor_stats_t *out) {
  xf__pool_t *p = impl;
  if (xf__forked(p->fork_gen))
    return XF_EBROKEN;
  out->queued = atomic_load_explicit(&p->queued, memory_order_relaxed);
  uint64_t started = 0, finished = 0, skipped = 0;
  uint32_t n = atomic_load_explicit(&p->nthreads, memory_order_acquire);
  for (uint32_t i = 0; i < n; i++) {
    /* finished before started: a task counted finished is counted started. */
    finished += atomic_load_explicit(&p->slots[i].finished, memory_order_acquire);
    skipped += atomic_load_explicit(&p->slots[i].skipped, memory_order_acquire);
    started += atomic_load_explicit(&p->slots[i].started, memory_order_acquire);
  }
  out->running = started - finished - skipped;
  out->completed = finished;
  out->cancelled = skipped + atomic_load_explicit(&p->dropped, memory_order_relaxed);
  out->threads = atomic_load_explicit(&p->alive, memory_order_relaxed);
  out->max_workers = p->max_workers;
  return XF_OK;
}

/* Release, in a child process, an inherited pool whose handle is gone. Its
 * workers are not in this process, so their references are dropped with
 * the pool, and its tasks will never run here: the queue's references to
 * their futures are dropped (a future nobody else holds is freed with its
 * task's data; one still held stays pending). Left as it is: a pool whose
 * lock was taken at the moment of the fork (its queue may be half changed),
 * and one that the calling thread (a worker that forked) still runs. */
static void xf__pool_abandon(xf__pool_t *p) {
  if (xf__current_pool == p || atomic_load_explicit(&p->lock.word, memory_order_relaxed))
    return;
  for (xf__qnode_t *n = p->in_head, *next; n; n = next) {
    next = n->next;
    if (n != &p->anchor)
      xf_future_unref(xf__task_of(n));
  }
  xf__free(p->threads);
  xf__free(p->joined);
  xf__free(p->slots_mem);
  xf__free(p);
}

static void xf__pool_destroy(void *impl) {
  xf__pool_t *p = impl;
  /* Inherited: its thread handles and its lock belong to the parent. */
  if (xf__forked(p->fork_gen)) {
    xf__pool_abandon(p);
    return;
  }
  /* Shutdown already ran (xf_executor_unref calls it first). Workers not
   * joined (the handle was dropped on one of them) are detached: they leave
   * on their own and the last one out frees the pool. */
  pthread_mutex_lock(&p->join_lock);
  xf__lock(&p->lock);
  uint32_t nthreads = atomic_load_explicit(&p->nthreads, memory_order_relaxed);
  xf__unlock(&p->lock);
  for (uint32_t i = 0; i < nthreads; i++) {
    if (!p->joined[i]) {
      pthread_detach(p->threads[i]);
      p->joined[i] = true;
    }
  }
  pthread_mutex_unlock(&p->join_lock);
  xf__pool_release(p);
}

static const xf_executor_ops_t xf__pool_ops = {
    .sz = sizeof(xf_executor_ops_t),
    .name = "thread_pool",
    .submit = xf__pool_submit,
    .shutdown = xf__pool_shutdown,
    .stats = xf__pool_stats,
    .destroy = xf__pool_destroy,
};

int xf_thread_pool_new(const xf_thread_pool_options_t *opts, xf_executor_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  xf_thread_pool_options_t o = XF_THREAD_POOL_OPTIONS_INIT;
  if (opts) {
    if (opts->sz < sizeof(size_t) || opts->sz > sizeof o)
      return XF_EINVAL;
    memcpy(&o, opts, opts->sz);
  }
  if (o.queue_policy != XF_QUEUE_BLOCK && o.queue_policy != XF_QUEUE_REJECT)
    return XF_EINVAL;
  if (o.max_workers == 0) {
    int cpus = xf__cpu_count();
    o.max_workers = cpus + 4 < 32 ? (uint32_t) cpus + 4 : 32;
  }
  if (o.max_workers > 4096)
    return XF_ERANGE;
  xf__pool_t *p = xf__calloc(1, sizeof *p);
  if (!p)
    return XF_ENOMEM;
  p->threads = xf__calloc(o.max_workers, sizeof *p->threads);
  p->joined = xf__calloc(o.max_workers, sizeof *p->joined);
  /* The slots start on a cache line of their own and end where the next
   * line starts: each is written by its worker for every task, and an
   * object that the allocator put on the same line (the executor handle,
   * whose count the submitter changes for every submission) would bounce
   * between the cores with it. */
  p->slots_mem = xf__calloc(o.max_workers + 1, sizeof *p->slots);
  if (p->slots_mem)
    p->slots = (xf__pool_slot_t *) (((uintptr_t) p->slots_mem + 63) & ~(uintptr_t) 63);
  int rc = XF_ENOMEM;
  if (p->threads && p->joined && p->slots)
    rc = xf_executor_new(&xf__pool_ops, p, out);
  if (rc != XF_OK) {
    xf__free(p->threads);
    xf__free(p->joined);
    xf__free(p->slots_mem);
    xf__free(p);
    return rc;
  }
  atomic_init(&p->refs, 1);
  p->fork_gen = xf__fork_gen();
  for (uint32_t i = 0; i < o.max_workers; i++)
    p->slots[i].pool = p;
  xf__lock_init(&p->lock);
  p->anchor.next = NULL;
  p->in_head = &p->anchor;
  atomic_init(&p->in_tail, &p->anchor);
  pthread_mutex_init(&p->join_lock, NULL);
  p->max_workers = o.max_workers;
  p->max_queue = o.max_queue;
  p->queue_policy = o.queue_policy;
  p->initializer = o.initializer;
  p->init_data = o.init_data;
  const char *prefix =
      o.thread_name_prefix && *o.thread_name_prefix ? o.thread_name_prefix : "xfpool";
  /* Thread names hold 15 bytes; leave room for "-<n>". */
  snprintf(p->prefix, sizeof p->prefix - 4, "%s", prefix);
  return XF_OK;
}

/* The thread pool executor.
 *
 * Design notes
 * ------------
 * Tasks wait in one FIFO of futures linked through their task_next field,
 * guarded by the pool lock (a futex lock, internal.h). The lock is held only
 * to push or pop: tasks run, futures finish and callbacks fire outside it.
 *
 * Sleeping and waking is what costs on this kind of machine (a futex round
 * trip is tens of microseconds), so the pool avoids it on its hot paths:
 * - an idle worker spins on the queue length for a while before it sleeps;
 * - a worker sleeps on an event count (wake_seq) after announcing itself in
 *   `sleepers`, and a submitter issues a wake only when `sleepers` is not
 *   zero. The two sides use sequentially consistent operations in the
 *   Dekker order (submitter: store length, load sleepers; worker: add
 *   sleepers, load length), so at least one of them sees the other and no
 *   wake-up is lost.
 *
 * Threads start lazily: a submission that finds no idle worker starts one,
 * up to max_workers, as Python's ThreadPoolExecutor does.
 *
 * Lifetime: the pool is shared by its handle and each worker thread (one
 * reference each). Shutdown with wait joins every worker except the calling
 * thread; a worker not joined is detached when the handle goes away and
 * frees the pool if it is the last to leave.
 *
 * Lock rule: the pool lock and a future's lock are never held together.
 */
#include <pthread.h>
#include <stdio.h>

#include "executor_internal.h"

/* How long an idle worker spins before sleeping. */
#define XF__POOL_SPIN 8000

typedef struct xf__pool {
  _Atomic uint32_t refs; /* the handle + one per live thread */
  xf__lock_t lock;
  xf_future_t *head, *tail; /* the queue; under lock */
  _Atomic size_t queued;    /* its length; written under lock, read anywhere */
  _Atomic uint32_t wake_seq;
  _Atomic uint32_t sleepers;
  _Atomic uint32_t idle; /* tokens: tasks finished, not yet matched by a submit */
  _Atomic uint32_t space_seq;
  _Atomic uint32_t space_waiters;
  _Atomic bool shutdown; /* written under lock */
  _Atomic bool broken;   /* written under lock */
  _Atomic uint64_t running, completed, cancelled;

  uint32_t max_workers;
  size_t max_queue;
  int queue_policy;
  xf_thread_init_fn initializer;
  void *init_data;
  char prefix[16];

  /* Threads: started under lock; joined under join_lock. */
  pthread_mutex_t join_lock;
  uint32_t nthreads; /* started; under lock */
  _Atomic uint32_t alive;
  pthread_t *threads;
  bool *joined; /* under join_lock */
} xf__pool_t;

static _Thread_local xf__pool_t *xf__current_pool;

static void xf__pool_release(xf__pool_t *p) {
  if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
    return;
  pthread_mutex_destroy(&p->join_lock);
  xf__free(p->threads);
  xf__free(p->joined);
  xf__free(p);
}

/* Pop the queue head; NULL when empty. Lock held. */
static xf_future_t *xf__pool_pop_locked(xf__pool_t *p) {
  xf_future_t *f = p->head;
  if (f) {
    p->head = f->task_next;
    if (!p->head)
      p->tail = NULL;
    f->task_next = NULL;
    atomic_store_explicit(&p->queued,
                          atomic_load_explicit(&p->queued, memory_order_relaxed) - 1,
                          memory_order_relaxed);
  }
  return f;
}

/* Detach the whole queue. Lock held. */
static xf_future_t *xf__pool_take_all_locked(xf__pool_t *p) {
  xf_future_t *list = p->head;
  p->head = p->tail = NULL;
  atomic_store_explicit(&p->queued, 0, memory_order_relaxed);
  return list;
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

/* Drop a list of never-run tasks, failing each with code. */
static void xf__pool_drop_list(xf__pool_t *p, xf_future_t *list, int code) {
  while (list) {
    xf_future_t *next = list->task_next;
    list->task_next = NULL;
    xf_executor_drop_task(list, code);
    if (code == XF_ECANCELLED)
      atomic_fetch_add_explicit(&p->cancelled, 1, memory_order_relaxed);
    xf_future_unref(list);
    list = next;
  }
  xf__pool_wake_submitters(p);
}

static void xf__pool_run(xf__pool_t *p, xf_future_t *f) {
  atomic_fetch_add_explicit(&p->running, 1, memory_order_relaxed);
  int rc = xf_executor_run_task(f);
  xf_future_unref(f);
  atomic_fetch_sub_explicit(&p->running, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(rc == XF_OK ? &p->completed : &p->cancelled, 1,
                            memory_order_release);
  /* One idle token per finished task, as Python's idle semaphore: a later
   * submission takes it instead of starting a thread. */
  atomic_fetch_add_explicit(&p->idle, 1, memory_order_relaxed);
}

/* Wait for work. Returns with the lock held, and either a task popped or
 * NULL when the pool is shut down (or broken) and the queue is empty. */
static xf_future_t *xf__pool_next(xf__pool_t *p) {
  xf__lock(&p->lock);
  xf_future_t *f = xf__pool_pop_locked(p);
  if (f)
    return f;
  for (;;) {
    if (atomic_load_explicit(&p->shutdown, memory_order_relaxed))
      break;
    xf__unlock(&p->lock);
    bool seen = false;
    for (int i = 0; i < XF__POOL_SPIN; i++) {
      if (atomic_load_explicit(&p->queued, memory_order_relaxed) ||
          atomic_load_explicit(&p->shutdown, memory_order_relaxed)) {
        seen = true;
        break;
      }
      xf__cpu_relax();
    }
    if (!seen) {
      uint32_t seq = atomic_load_explicit(&p->wake_seq, memory_order_seq_cst);
      atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
      if (!atomic_load_explicit(&p->queued, memory_order_seq_cst) &&
          !atomic_load_explicit(&p->shutdown, memory_order_seq_cst))
        xf__futex_wait(&p->wake_seq, seq, -1);
      atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
    }
    xf__lock(&p->lock);
    if ((f = xf__pool_pop_locked(p)))
      break;
  }
  return f;
}

static void *xf__pool_worker(void *arg) {
  xf__pool_t *p = arg;
  xf__current_pool = p;
  if (p->initializer && p->initializer(p->init_data) != 0) {
    /* A failed initializer breaks the pool, as BrokenThreadPool: what is
     * queued fails, and later submissions are refused. */
    xf__lock(&p->lock);
    atomic_store_explicit(&p->broken, true, memory_order_relaxed);
    xf_future_t *list = xf__pool_take_all_locked(p);
    xf__unlock(&p->lock);
    xf__pool_drop_list(p, list, XF_EBROKEN);
    xf__pool_wake_workers(p, INT32_MAX);
  } else {
    for (;;) {
      xf_future_t *f = xf__pool_next(p);
      xf__unlock(&p->lock);
      if (!f)
        break;
      if (atomic_load_explicit(&p->space_waiters, memory_order_relaxed))
        xf__pool_wake_submitters(p);
      xf__pool_run(p, f);
    }
  }
  atomic_fetch_sub_explicit(&p->alive, 1, memory_order_relaxed);
  xf__current_pool = NULL;
  xf__pool_release(p);
  return NULL;
}

/* Start one more worker. Lock held. */
static int xf__pool_spawn_locked(xf__pool_t *p) {
  uint32_t n = p->nthreads;
  atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&p->alive, 1, memory_order_relaxed);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 1u << 20);
  int err = pthread_create(&p->threads[n], &attr, xf__pool_worker, p);
  pthread_attr_destroy(&attr);
  if (err) {
    atomic_fetch_sub_explicit(&p->alive, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&p->refs, 1, memory_order_relaxed);
    return XF_ESYS;
  }
  /* Names hold 15 bytes: the prefix was cut to leave room for "-<n>". */
  char name[32];
  snprintf(name, sizeof name, "%s-%u", p->prefix, (unsigned) n);
  name[15] = '\0';
  pthread_setname_np(p->threads[n], name);
  p->nthreads = n + 1;
  return XF_OK;
}

static int xf__pool_submit(void *impl, xf_future_t *f) {
  xf__pool_t *p = impl;
  xf__lock(&p->lock);
  for (;;) {
    if (atomic_load_explicit(&p->broken, memory_order_relaxed)) {
      xf__unlock(&p->lock);
      return XF_EBROKEN;
    }
    if (atomic_load_explicit(&p->shutdown, memory_order_relaxed)) {
      xf__unlock(&p->lock);
      return XF_ESHUTDOWN;
    }
    if (!p->max_queue ||
        atomic_load_explicit(&p->queued, memory_order_relaxed) < p->max_queue)
      break;
    if (p->queue_policy == XF_QUEUE_REJECT || xf__current_pool == p) {
      /* A worker blocking on its own pool's queue could wait forever. */
      xf__unlock(&p->lock);
      return XF_EAGAIN;
    }
    uint32_t seq = atomic_load_explicit(&p->space_seq, memory_order_seq_cst);
    atomic_fetch_add_explicit(&p->space_waiters, 1, memory_order_seq_cst);
    xf__unlock(&p->lock);
    xf__futex_wait(&p->space_seq, seq, -1);
    atomic_fetch_sub_explicit(&p->space_waiters, 1, memory_order_relaxed);
    xf__lock(&p->lock);
  }
  uint32_t idle = atomic_load_explicit(&p->idle, memory_order_relaxed);
  while (idle && !atomic_compare_exchange_weak_explicit(&p->idle, &idle, idle - 1,
                                                        memory_order_relaxed,
                                                        memory_order_relaxed))
    ;
  if (!idle && p->nthreads < p->max_workers) {
    int rc = xf__pool_spawn_locked(p);
    if (rc != XF_OK && p->nthreads == 0) {
      xf__unlock(&p->lock);
      return rc;
    }
  }
  if (p->tail)
    p->tail->task_next = f;
  else
    p->head = f;
  p->tail = f;
  atomic_store_explicit(&p->queued,
                        atomic_load_explicit(&p->queued, memory_order_relaxed) + 1,
                        memory_order_seq_cst);
  xf__unlock(&p->lock);
  if (atomic_load_explicit(&p->sleepers, memory_order_seq_cst))
    xf__pool_wake_workers(p, 1);
  return XF_OK;
}

static int xf__pool_shutdown(void *impl, bool wait, bool cancel_futures) {
  xf__pool_t *p = impl;
  xf_future_t *dropped = NULL;
  xf__lock(&p->lock);
  atomic_store_explicit(&p->shutdown, true, memory_order_seq_cst);
  if (cancel_futures)
    dropped = xf__pool_take_all_locked(p);
  uint32_t nthreads = p->nthreads;
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
  out->queued = atomic_load_explicit(&p->queued, memory_order_relaxed);
  out->running = atomic_load_explicit(&p->running, memory_order_relaxed);
  out->completed = atomic_load_explicit(&p->completed, memory_order_relaxed);
  out->cancelled = atomic_load_explicit(&p->cancelled, memory_order_relaxed);
  out->threads = atomic_load_explicit(&p->alive, memory_order_relaxed);
  out->max_workers = p->max_workers;
  return XF_OK;
}

static void xf__pool_destroy(void *impl) {
  xf__pool_t *p = impl;
  /* Shutdown already ran (xf_executor_unref calls it first). Workers not
   * joined (the handle was dropped on one of them) are detached: they leave
   * on their own and the last one out frees the pool. */
  pthread_mutex_lock(&p->join_lock);
  xf__lock(&p->lock);
  uint32_t nthreads = p->nthreads;
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
  int rc = XF_ENOMEM;
  if (p->threads && p->joined)
    rc = xf_executor_new(&xf__pool_ops, p, out);
  if (rc != XF_OK) {
    xf__free(p->threads);
    xf__free(p->joined);
    xf__free(p);
    return rc;
  }
  atomic_init(&p->refs, 1);
  xf__lock_init(&p->lock);
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

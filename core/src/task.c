/* Tasks: C coroutines driven by the loop.
 *
 * Design notes
 * ------------
 * A task is a loop-bound future whose state (xf__task_t) hangs off the
 * future itself: hook_data for the cancel hook, and task_data/task_free so
 * that the state is freed with the future's last reference (a task future
 * is never handed to an executor, so those fields are free for this use).
 *
 * The step function runs on the loop's thread only: first from a call_soon
 * callback, then from a done callback that the awaited future posts to the
 * task's loop, whatever thread finishes it. Each of these holds a reference
 * to the task, so a running task stays alive even when nobody else holds it.
 *
 * Cancellation may come from any thread. The request is a flag (and a
 * message) under the task's lock, read and cleared by the next step, which
 * receives XF_ECANCELLED: once per request, as asyncio delivers one
 * CancelledError per cancel(). The hook also cancels the future the task
 * awaits, with the same message, so that the step is resumed soon. A
 * request that arrives during a step, before the step picked the future to
 * await, is acted upon when the step returns XF_TASK_AWAIT.
 *
 * A future chained into a task (xf_future_chain(src, task)) finishes it,
 * except that a cancelled source reaches the task as a request like the
 * others: the source's outcome is then spent. So once a step received a
 * request, the task ends as the step answers, chained or not: cancelled for
 * XF_ECANCELLED (the chain carries that back to the source), failed for an
 * error, with a void result for XF_OK if the step set none. Leaving it to
 * the chain would leave it pending for good.
 *
 * A task suspended on a future holds that future, and the future's done
 * callback holds the task: a cycle that completion breaks. The loop keeps
 * its suspended tasks on a list so that closing it breaks the cycles of the
 * tasks that will never resume (xf__tasks_release), and frees their data
 * (as it does for a task whose queued step it drops, see
 * xf__task_call_release), even if someone still holds the task's future.
 * The loop does that before it stops taking posts, so that the wake-up of a
 * suspended task, which may hold the task's last reference, is dropped by
 * the closing thread after the task left the list, never by another thread
 * (meeting a closed loop) while the list is walked.
 *
 * Lock rule: the task lock is never held while a future is cancelled or a
 * callback runs.
 */
#include "cancel_internal.h"
#include "loop_internal.h"

typedef struct xf__task {
  xf__link_t link;   /* in the loop's suspended list; loop thread */
  bool linked;       /* loop thread */
  bool in_step;      /* loop thread */
  bool awaited;      /* xf_task_await was called in this step; loop thread */
  bool cancel_seen;  /* a step received a cancellation request; loop thread */
  bool call_ran;     /* the queued step call being released ran; loop thread */
  xf_future_t *self; /* the task's future, borrowed: the state lives in it */
  xf_step_fn step;
  void *data;
  xf_free_data_fn free_data;

  xf__lock_t lock;
  bool finished;         /* under lock */
  bool cancel_requested; /* under lock */
  char *cancel_msg;      /* under lock */
  xf_future_t *awaiting; /* under lock; a reference */
} xf__task_t;

static int xf__task_cancel_hook(xf_future_t *f, const char *msg);

static void xf__task_unref_future(void *p) {
  xf_future_unref(p);
}

static void xf__task_free_data(xf__task_t *st) {
  xf_free_data_fn free_data = st->free_data;
  st->free_data = NULL;
  if (free_data)
    free_data(st->data);
}

/* Called by the future's last unref (task_free). */
static void xf__task_state_free(void *p) {
  xf__task_t *st = p;
  xf__task_free_data(st);
  xf_future_unref(st->awaiting);
  xf__free(st->cancel_msg);
  xf__free(st);
}

static inline xf__task_t *xf__task_of(xf_future_t *task) {
  return task->hook_data;
}

bool xf_task_is_task(const xf_future_t *f) {
  return f && f->cancel_hook == xf__task_cancel_hook;
}

static void xf__task_unlink(xf__task_t *st) {
  if (!st->linked)
    return;
  st->link.prev->next = st->link.next;
  st->link.next->prev = st->link.prev;
  st->linked = false;
}

/* The outcome of a done future, as a step's status. */
static int xf__task_status(xf_future_t *f) {
  if (xf_future_cancelled(f))
    return XF_ECANCELLED;
  return f->error ? XF_EFAILED : XF_OK;
}

static void xf__task_step(xf_future_t *task, xf_future_t *awaited, int status);

static void xf__task_first(void *data) {
  xf__task_of(data)->call_ran = true;
  xf__task_step(data, NULL, XF_OK);
}

/* Releases a queued step call once it ran, or once the loop dropped it
 * because it was closed first: the task never runs again then, and its data
 * goes now, as xf_task_new promises, rather than with the task's future. A
 * call queued by a yield is released after the one that was running, so
 * the flag set by the latter is read and cleared before the former runs. */
static void xf__task_call_release(void *p) {
  xf_future_t *task = p;
  xf__task_t *st = xf__task_of(task);
  if (!st->call_ran)
    xf__task_free_data(st);
  st->call_ran = false;
  xf_future_unref(task);
}

/* Queue the task's next step on its loop (the first, or after a yield). */
static int xf__task_queue_step(xf_future_t *task) {
  int rc = xf_loop_call_soon(task->loop, xf__task_first, xf_future_ref(task),
                             xf__task_call_release, NULL);
  if (rc != XF_OK)
    xf_future_unref(task);
  return rc;
}

static void xf__task_wakeup(xf_future_t *awaited, void *data) {
  xf__task_step(data, awaited, xf__task_status(awaited));
}

/* The task is over: finish its future unless the step did, free its data. */
static void xf__task_finish(xf_future_t *task, xf__task_t *st, int rc) {
  xf__lock(&st->lock);
  st->finished = true;
  char *msg = st->cancel_msg;
  st->cancel_msg = NULL;
  xf_future_t *aw = st->awaiting;
  st->awaiting = NULL;
  xf__unlock(&st->lock);
  xf_future_unref(aw);
  if (rc == XF_ECANCELLED) {
    /* Also when a future is chained into the task: its cancellation reached
     * the step as a request, and the step let it out. */
    if (!xf_future_done(task) && xf__future_cancel_final(task, msg) == XF_ENOMEM)
      xf__future_cancel_final(task, NULL);
  } else if (st->cancel_seen) {
    /* The step had a cancellation request to answer: its answer is final,
     * even with a future chained into the task, whose outcome may be the
     * very cancellation the step answered. */
    if (rc < 0)
      xf__future_fail_code(task, rc);
    else if (!xf_future_done(task))
      xf_future_set_result(task, NULL);
  } else {
    xf__future_finish_after(task, rc);
  }
  xf__free(msg);
  xf__task_free_data(st);
}

static void xf__task_step(xf_future_t *task, xf_future_t *awaited, int status) {
  xf__task_t *st = xf__task_of(task);
  xf__task_unlink(st);
  xf__lock(&st->lock);
  xf_future_t *prev = st->awaiting;
  st->awaiting = NULL;
  bool finished = st->finished;
  if (st->cancel_requested) {
    st->cancel_requested = false;
    st->cancel_seen = true;
    status = XF_ECANCELLED;
  }
  xf__unlock(&st->lock);
  xf_future_unref(prev);
  if (finished)
    return;
  if (xf_future_done(task)) {
    /* Finished from outside (set_result on the task): the step is over. */
    xf__task_finish(task, st, XF_OK);
    return;
  }

  st->in_step = true;
  st->awaited = false;
  int rc = st->step(task, st->data, awaited, status);
  st->in_step = false;

  if (xf_future_done(task) || (rc != XF_TASK_AWAIT && rc != XF_TASK_YIELD)) {
    xf__task_finish(task, st, rc > 0 ? XF_OK : rc);
    return;
  }
  if (rc == XF_TASK_YIELD) {
    int yrc = xf__task_queue_step(task);
    if (yrc != XF_OK)
      xf__task_finish(task, st, yrc);
    return;
  }
  xf__lock(&st->lock);
  xf_future_t *aw = xf_future_ref(st->awaiting);
  xf__unlock(&st->lock);
  if (!aw) {
    /* XF_TASK_AWAIT without xf_task_await: a bug in the step. */
    xf__task_finish(task, st, XF_ESTATE);
    return;
  }
  int arc = xf_future_add_done_callback(aw, xf__task_wakeup, xf_future_ref(task),
                                        xf__task_unref_future, task->loop);
  if (arc != XF_OK) {
    xf_future_unref(task);
    xf_future_unref(aw);
    xf__task_finish(task, st, arc);
    return;
  }
  xf__link_t *head = xf__loop_suspended(task->loop);
  st->link.next = head;
  st->link.prev = head->prev;
  head->prev->next = &st->link;
  head->prev = &st->link;
  st->linked = true;
  /* A cancellation requested during the step could not reach aw yet. Its
   * message goes along; it is borrowed meanwhile, and put back unless a
   * newer request (perhaps aw's own cancellation coming back along a chain)
   * brought one. */
  xf__lock(&st->lock);
  bool cancel = st->cancel_requested;
  char *msg = NULL;
  if (cancel) {
    msg = st->cancel_msg;
    st->cancel_msg = NULL;
  }
  xf__unlock(&st->lock);
  if (cancel) {
    xf_future_cancel_msg(aw, msg);
    xf__lock(&st->lock);
    if (!st->cancel_msg) {
      st->cancel_msg = msg;
      msg = NULL;
    }
    xf__unlock(&st->lock);
    xf__free(msg);
  }
  xf_future_unref(aw);
}

static int xf__task_cancel_hook(xf_future_t *f, const char *msg) {
  xf__task_t *st = xf__task_of(f);
  char *copy = NULL;
  if (msg && !(copy = xf__strdup(msg)))
    return XF_ENOMEM;
  xf__lock(&st->lock);
  if (st->finished) {
    xf__unlock(&st->lock);
    xf__free(copy);
    return xf__future_cancel_final(f, msg);
  }
  st->cancel_requested = true;
  char *old = st->cancel_msg;
  st->cancel_msg = copy;
  xf_future_t *aw = xf_future_ref(st->awaiting);
  xf__unlock(&st->lock);
  xf__free(old);
  if (aw) {
    /* With the message, as asyncio cancels a task's waiter. */
    xf_future_cancel_msg(aw, msg);
    xf_future_unref(aw);
  }
  return XF_OK;
}

int xf__task_new(xf_loop_t *loop, xf_step_fn step, void *data, xf_free_data_fn free_data,
                 xf_future_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!loop || !step)
    return XF_EINVAL;
  int rc = xf__loop_check_thread(loop);
  if (rc != XF_OK)
    return rc;
  xf__task_t *st = xf__calloc(1, sizeof *st);
  if (!st)
    return XF_ENOMEM;
  xf__lock_init(&st->lock);
  st->step = step;
  st->data = data;
  st->free_data = free_data;
  xf_future_t *task;
  if ((rc = xf__future_new(loop, &task)) != XF_OK) {
    xf__free(st);
    return rc;
  }
  st->self = task;
  task->hook_data = st;
  task->cancel_hook = xf__task_cancel_hook;
  task->task_data = st;
  task->task_free = xf__task_state_free;
  if ((rc = xf__task_queue_step(task)) != XF_OK) {
    st->free_data = NULL; /* the caller keeps its data */
    xf_future_unref(task);
    return rc;
  }
  *out = task;
  return XF_OK;
}

/* A task made while a cancel scope of its loop is current belongs to that
 * scope (scope.c), as its futures do: the scope's steps wrap its own, and
 * the scope's cancellation cancels it. */
int xf_task_new(xf_loop_t *loop, xf_step_fn step, void *data, xf_free_data_fn free_data,
                xf_future_t **out) {
  xf_scope_t *s = loop && step && out ? xf__scope_current_for(loop) : NULL;
  if (s && xf__loop_check_thread(loop) == XF_OK)
    return xf_scope_spawn(s, step, data, free_data, out);
  return xf__task_new(loop, step, data, free_data, out);
}

int xf_task_await(xf_future_t *task, xf_future_t *f) {
  if (!xf_task_is_task(task) || !f || f == task)
    return XF_EINVAL;
  xf__task_t *st = xf__task_of(task);
  if (!xf__loop_is_running_here(task->loop)) {
    int rc = xf__loop_check_thread(task->loop);
    return rc != XF_OK ? rc : XF_ESTATE;
  }
  if (!st->in_step || st->awaited)
    return XF_ESTATE;
  st->awaited = true;
  xf_future_ref(f);
  xf__lock(&st->lock);
  st->awaiting = f;
  xf__unlock(&st->lock);
  return XF_OK;
}

void xf__tasks_release(xf_loop_t *loop) {
  xf__link_t *head = xf__loop_suspended(loop);
  while (head->next != head) {
    xf__task_t *st = XF__CONTAINER_OF(head->next, xf__task_t, link);
    xf__task_unlink(st);
    /* Dropped: its data goes now, whoever still holds its future. */
    xf__task_free_data(st);
    xf__lock(&st->lock);
    xf_future_t *aw = st->awaiting;
    st->awaiting = NULL;
    xf__unlock(&st->lock);
    if (!aw)
      continue;
    /* The task cannot be resumed any more: its wake-up callback goes, and
     * with it the callback's reference to the task (which may free st). */
    xf_future_remove_done_callback(aw, xf__task_wakeup, st->self);
    xf_future_unref(aw);
  }
}

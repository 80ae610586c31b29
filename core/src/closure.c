/* Closures: libffi trampolines whose calls land on their owner loop.
 *
 * Design notes
 * ------------
 * A closure is a libffi closure (executable memory from ffi_closure_alloc)
 * prepared with the signature's shared ffi_cif, whose entry point is
 * xf__closure_entry. Every call takes a reference on the closure for its
 * duration (a posted call through its record), so a handler that drops
 * the last reference of its owner (a one-shot callback) does not pull the
 * closure from under the call.
 *
 * Where a call runs. With no owner loop, or on the thread running the owner
 * loop, the arguments become values and the handler runs at once. Anywhere
 * else the call becomes a record (the closure reference, the arguments as
 * values, the answer) posted with xf_loop_call_soon_threadsafe: that is the
 * loop's batched incoming queue, which costs a producer no system call while
 * the loop is awake, and keeps each producer's order.
 *
 * A void call is fire-and-forget: the record belongs to the loop. A call
 * that returns a value shares its record between the caller and the loop
 * (two references). The loop side runs the handler, stores the answer, then
 * publishes it through `state` and wakes the caller if it sleeps; the loop
 * frees its side through the posted item's free function, which runs also
 * when the loop closes before the call ran — then the answer is XF_ECLOSED
 * and the caller is released with the default return value. The caller
 * spins briefly, then sleeps on the futex word, as xf_future_wait does.
 *
 * Deadlocks we can see. A call that must wait is refused (default value,
 * report to the loop's exception handler) when the owner loop is closed, and
 * when it is not being run and the caller is the owner's thread: nobody else
 * would run it. The owner's thread is `home`: the thread that made the
 * closure, then the last thread that ran a call of it on the owner loop.
 *
 * The last reference. Freeing a closure calls its free_data, which for a
 * binding releases a foreign object that must be released on its owner
 * thread. So when the last reference drops on another thread while the owner
 * loop is open, the destruction is posted to the loop (run or, if the loop
 * closes first, performed as the loop drops the item).
 *
 * Done callbacks. A registration made by xf_future_add_done_closure is an
 * ordinary done callback (xf__done_run) whose data holds a closure
 * reference and the future as a pointer value, made once at registration
 * so that delivery allocates nothing. Removing registrations by closure
 * matches that data under the future's lock. A registration dropped with
 * its future on another thread drops its closure reference there, and the
 * rule above sends the closure's destruction, and so its free_data, to the
 * owner loop.
 *
 * Retirement. An owner that goes away while C code may still hold the
 * function pointer (a binding whose interpreter is closing, with a C
 * library's thread still calling) retires the closure instead of dropping
 * it: `retired` is set, and from then on the entry answers every call with
 * the default value without touching the handler or the owner loop; the
 * first such call is reported (`reported` makes it once, and the calls
 * that lose the race wait until the report is made, so that no call after
 * retirement returns before it: a process that exits right after such a
 * call still shows it). The handler's
 * data must still outlive the handler calls already running: `active`
 * counts them (xf__closure_invoke), and free_data runs when the closure is
 * retired with none active, or when the last active one leaves, whichever
 * comes second (`data_gone` makes it once). The order is Dekker's, with
 * sequentially consistent operations: a caller increments `active` and then
 * reads `retired`, the retiring thread sets `retired` and then reads
 * `active`, so at least one of the two sees the other and frees the data.
 * The closure's memory stays for as long as references remain, so an owner
 * that cannot know when C code stops calling keeps its reference.
 *
 * String results. A closure returning char* must hand its caller memory
 * that outlives the call: the calling thread keeps the result value in a
 * thread-specific slot until its next string-returning call or its exit.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>

#include "closure_internal.h"
#include "loop_internal.h"

/* The answer has been published; the caller sleeps on the word. */
#define XF__CALL_DONE    1u
#define XF__CALL_WAITING 2u

struct xf_closure {
  _Atomic uint32_t refs;
  xf_signature_t *sig; /* a reference */
  xf_closure_handler_fn handler;
  void *data;
  xf_free_data_fn free_data;
  xf_loop_t *loop;            /* a reference to its memory, or NULL */
  _Atomic(const void *) home; /* the owner's thread (token), see above */
  ffi_closure *fc;
  void *code;
  _Atomic uint32_t active; /* handler calls running, see Retirement */
  _Atomic bool retired;    /* the handler is never called again */
  _Atomic int reported;    /* a call after retirement: 1 reporting, 2 done */
  _Atomic bool data_gone;  /* free_data has run */
};

/* A call posted to the owner loop. */
typedef struct xf__call {
  xf_closure_t *c; /* a reference */
  _Atomic uint32_t refs;
  _Atomic uint32_t state; /* XF__CALL_DONE | XF__CALL_WAITING */
  bool wait;              /* the caller waits for the answer */
  bool ran;               /* loop thread */
  int status;             /* the answer: XF_OK or why there is none */
  xf_value_t *result;     /* the answer's value (may be NULL) */
  size_t nargs;
  xf_value_t *args[];
} xf__call_t;

/* A thread's identity: the address of its copy. */
static _Thread_local char xf__closure_token;

static inline const void *xf__self(void) {
  return &xf__closure_token;
}

/* ---- Reporting ------------------------------------------------------------ */

/* Tell the owner loop's exception handler that a call of c failed. err
 * (borrowed) is the error if there is one, else one is made from code. */
static void xf__closure_report(xf_closure_t *c, const char *what, int code,
                               xf_error_t *err) {
  if (!c->loop)
    return;
  char message[160];
  snprintf(message, sizeof message, "closure %s: %s; its caller got the default value",
           c->sig->text, what);
  if (err) {
    xf_loop_call_exception_handler(c->loop, message, err);
    return;
  }
  xf_error_t *e;
  if (xf_error_new(code, NULL, NULL, &e) != XF_OK)
    e = xf__error_oom();
  xf_loop_call_exception_handler(c->loop, message, e);
  xf_error_unref(e);
}

/* Release the handler's data, once. */
static void xf__closure_data_free(xf_closure_t *c) {
  if (!atomic_exchange(&c->data_gone, true) && c->free_data)
    c->free_data(c->data);
}

/* A call that arrived after retirement: the first one is reported, to the
 * owner loop while it is open, else on stderr, as the loop's default handler
 * would (nobody else is left to tell). */
static _Thread_local const xf_closure_t *xf__reporting; /* this thread reports it */

static void xf__closure_report_retired(xf_closure_t *c) {
  int none = 0;
  if (!atomic_compare_exchange_strong(&c->reported, &none, 1)) {
    /* (A handler that calls the closure again does not wait for itself.) */
    while (xf__reporting != c && atomic_load(&c->reported) == 1)
      sched_yield();
    return;
  }
  xf__reporting = c;
  static const char what[] = "called after its owner was released";
  if (c->loop && !xf_loop_is_closed(c->loop))
    xf__closure_report(c, what, XF_ECLOSED, NULL);
  else
    fprintf(stderr, "xfutures: closure %s: %s; its callers get the default value\n",
            c->sig->text, what);
  xf__reporting = NULL;
  atomic_store(&c->reported, 2);
}

/* ---- Thread-local string results ------------------------------------------ */

static pthread_key_t xf__string_key;
static pthread_once_t xf__string_once = PTHREAD_ONCE_INIT;
static bool xf__string_key_ok;

static void xf__string_release(void *v) {
  xf_value_unref(v);
}

static void xf__string_key_make(void) {
  xf__string_key_ok = pthread_key_create(&xf__string_key, xf__string_release) == 0;
}

/* Keep v (a new reference is taken; NULL clears) as this thread's string
 * result. XF_ENOMEM if the slot cannot be had. */
static int xf__string_keep(xf_value_t *v) {
  pthread_once(&xf__string_once, xf__string_key_make);
  if (!xf__string_key_ok)
    return XF_ENOMEM;
  xf_value_t *old = pthread_getspecific(xf__string_key);
  if (old == v)
    return XF_OK;
  if (pthread_setspecific(xf__string_key, xf_value_ref(v)) != 0) {
    xf_value_unref(v);
    return XF_ENOMEM;
  }
  xf_value_unref(old);
  return XF_OK;
}

/* ---- Calling the handler --------------------------------------------------- */

static void xf__values_release(xf_value_t **vals, size_t n) {
  for (size_t i = 0; i < n; i++) {
    xf_value_unref(vals[i]);
    vals[i] = NULL;
  }
}

/* C arguments (as libffi hands them over) to values. */
static int xf__args_to_values(const xf_signature_t *sig, void **args, xf_value_t **vals) {
  for (size_t i = 0; i < sig->nargs; i++) {
    int rc = xf__cvalue_to(sig->args[i], args[i], &vals[i]);
    if (rc != XF_OK) {
      xf__values_release(vals, i);
      return rc;
    }
  }
  return XF_OK;
}

/* Run the handler on the right thread. XF_OK with *result a new reference
 * (or NULL), or the failure, which has been reported. */
static int xf__closure_invoke(xf_closure_t *c, xf_value_t *const *args, size_t nargs,
                              xf_value_t **result) {
  *result = NULL;
  /* Written only when it changes, so that the callers' threads keep their
   * copy of this cache line. */
  if (c->loop && atomic_load_explicit(&c->home, memory_order_relaxed) != xf__self())
    atomic_store_explicit(&c->home, xf__self(), memory_order_relaxed);
  xf_value_t *r = NULL;
  atomic_fetch_add(&c->active, 1);
  if (atomic_load(&c->retired)) {
    if (atomic_fetch_sub(&c->active, 1) == 1)
      xf__closure_data_free(c);
    xf__closure_report_retired(c);
    return XF_ECLOSED;
  }
  int rc = c->handler(c->data, args, nargs, xf__ctype_is_void(c->sig->ret) ? NULL : &r);
  if (atomic_fetch_sub(&c->active, 1) == 1 && atomic_load(&c->retired))
    xf__closure_data_free(c);
  if (rc >= 0 && r && xf_value_kind(r) == XF_KIND_ERROR) {
    xf_error_t *e = NULL;
    xf_value_get_error(r, &e);
    xf__closure_report(c, "the handler failed", XF_EFAILED, e);
    xf_value_unref(r);
    return XF_EFAILED;
  }
  if (rc < 0) {
    xf_value_unref(r);
    /* A handler that retired its own closure (its owner is going away)
     * and refused the call: a call after retirement. */
    if (atomic_load(&c->retired))
      xf__closure_report_retired(c);
    else
      xf__closure_report(c, "the handler failed", rc, NULL);
    return rc;
  }
  *result = r;
  return XF_OK;
}

/* Give the caller the handler's answer r (borrowed; NULL counts as void). */
static void xf__closure_return(xf_closure_t *c, xf_value_t *r, void *ret) {
  int type = c->sig->ret;
  if (xf__ctype_is_void(type))
    return;
  xf__cslot_t slot;
  int rc = xf__cvalue_from(type, r ? r : xf_value_void(), &slot);
  if (rc == XF_OK && type == XF_C_STRING)
    rc = xf__string_keep(slot.s ? r : NULL);
  if (rc != XF_OK) {
    xf__closure_report(c,
                       rc == XF_ENOMEM ? "no memory for the result"
                                       : "the handler's result does not fit the "
                                         "return type",
                       rc, NULL);
    return;
  }
  xf__cret_store(type, &slot, ret);
}

/* ---- Calls on the owner's thread ------------------------------------------ */

static void xf__call_inline(xf_closure_t *c, void *ret, void **args) {
  /* Zeroed: optimising compilers cannot see that only the first nargs are
   * read, and only once converted. */
  xf_value_t *vals[XF_SIGNATURE_MAX_ARGS] = {NULL};
  size_t n = c->sig->nargs;
  int rc = xf__args_to_values(c->sig, args, vals);
  if (rc != XF_OK) {
    xf__closure_report(c, "no memory for the arguments", rc, NULL);
    return;
  }
  xf_value_t *r;
  if (xf__closure_invoke(c, vals, n, &r) == XF_OK)
    xf__closure_return(c, r, ret);
  xf_value_unref(r);
  xf__values_release(vals, n);
}

/* ---- Calls posted to the owner loop --------------------------------------- */

static void xf__call_unref(xf__call_t *call) {
  if (atomic_fetch_sub_explicit(&call->refs, 1, memory_order_acq_rel) == 1)
    xf__free(call);
}

/* Loop thread: run the handler and keep the answer. */
static void xf__call_run(void *data) {
  xf__call_t *call = data;
  call->ran = true;
  call->status = xf__closure_invoke(call->c, call->args, call->nargs, &call->result);
}

/* The loop is done with the call: it ran, or it was dropped (the loop
 * closed). Releases the arguments and the closure here, on the loop's side,
 * then publishes the answer to a waiting caller. */
static void xf__call_release(void *data) {
  xf__call_t *call = data;
  xf__values_release(call->args, call->nargs);
  if (!call->wait) {
    xf_closure_t *c = call->c;
    xf_value_unref(call->result);
    xf__free(call);
    xf_closure_unref(c);
    return;
  }
  /* The waiting caller drops the closure reference when it is done. */
  if (!call->ran)
    call->status = XF_ECLOSED;
  if (atomic_exchange_explicit(&call->state, XF__CALL_DONE, memory_order_acq_rel) &
      XF__CALL_WAITING)
    xf__futex_wake(&call->state, 1);
  xf__call_unref(call);
}

static void xf__call_wait(xf__call_t *call) {
  xf__spin_t spin = {0, 0};
  while (xf__spin_step(&spin))
    if (atomic_load_explicit(&call->state, memory_order_acquire) & XF__CALL_DONE)
      return;
  for (;;) {
    uint32_t s = atomic_load_explicit(&call->state, memory_order_acquire);
    if (s & XF__CALL_DONE)
      return;
    if (!(s & XF__CALL_WAITING) && !atomic_compare_exchange_weak_explicit(
                                       &call->state, &s, s | XF__CALL_WAITING,
                                       memory_order_acq_rel, memory_order_acquire))
      continue;
    xf__futex_wait(&call->state, s | XF__CALL_WAITING, -1);
  }
}

static void xf__call_posted(xf_closure_t *c, void *ret, void **args) {
  bool wait = !xf__ctype_is_void(c->sig->ret);
  xf_loop_t *loop = c->loop;
  if (xf_loop_is_closed(loop)) {
    xf__closure_report(c, "the owner loop is closed", XF_ECLOSED, NULL);
    return;
  }
  if (wait && !xf_loop_is_running(loop) &&
      atomic_load_explicit(&c->home, memory_order_relaxed) == xf__self()) {
    xf__closure_report(c,
                       "called on the owner loop's thread while the loop is not "
                       "running; waiting would deadlock",
                       XF_EDEADLK, NULL);
    return;
  }
  size_t n = c->sig->nargs;
  xf__call_t *call = xf__malloc(sizeof *call + n * sizeof(xf_value_t *));
  if (!call) {
    xf__closure_report(c, "no memory to post the call", XF_ENOMEM, NULL);
    return;
  }
  int rc = xf__args_to_values(c->sig, args, call->args);
  if (rc != XF_OK) {
    xf__free(call);
    xf__closure_report(c, "no memory for the arguments", rc, NULL);
    return;
  }
  call->c = xf_closure_ref(c);
  atomic_init(&call->refs, wait ? 2 : 1);
  atomic_init(&call->state, 0);
  call->wait = wait;
  call->ran = false;
  call->status = XF_ECLOSED;
  call->result = NULL;
  call->nargs = n;
  rc = xf_loop_call_soon_threadsafe(loop, xf__call_run, call, xf__call_release);
  if (rc != XF_OK) {
    /* Not taken: the call is still ours. */
    xf__values_release(call->args, n);
    xf_closure_unref(c);
    xf__free(call);
    xf__closure_report(
        c, rc == XF_ECLOSED ? "the owner loop is closed" : "no memory to post the call",
        rc, NULL);
    return;
  }
  if (!wait)
    return;
  xf__call_wait(call);
  int status = call->status;
  xf_value_t *r = call->result;
  call->result = NULL;
  xf__call_unref(call);
  /* The call's closure reference is ours now, so c stays valid until the
   * end. A failing handler has been reported by the loop side already. */
  if (status == XF_OK)
    xf__closure_return(c, r, ret);
  else if (status == XF_ECLOSED && !atomic_load(&c->retired))
    xf__closure_report(c, "the owner loop closed before the call ran", XF_ECLOSED, NULL);
  xf_value_unref(r);
  xf_closure_unref(c);
}

/* ---- The trampoline's target ---------------------------------------------- */

static void xf__closure_entry(ffi_cif *cif, void *ret, void **args, void *user) {
  (void) cif;
  xf_closure_t *c = user;
  if (!xf__ctype_is_void(c->sig->ret)) {
    xf__cslot_t zero;
    memset(&zero, 0, sizeof zero);
    xf__cret_store(c->sig->ret, &zero, ret);
  }
  if (atomic_load_explicit(&c->retired, memory_order_acquire)) {
    xf__closure_report_retired(c);
    return;
  }
  if (!c->loop || xf_loop_current() == c->loop) {
    /* The handler may drop the last reference of its owner. */
    xf_closure_ref(c);
    xf__call_inline(c, ret, args);
    xf_closure_unref(c);
  } else {
    xf__call_posted(c, ret, args);
  }
}

/* ---- Life cycle ------------------------------------------------------------ */

/* libffi (before 3.4.7) initialises its allocator of executable memory on
 * the first ffi_closure_alloc without a lock, so two threads making their
 * first closures at once race on its static state. One closure made and
 * freed under pthread_once, before any other, does that initialisation
 * once (CPython works around the same race the same way). */
static pthread_once_t xf__ffi_once = PTHREAD_ONCE_INIT;

static void xf__ffi_warm(void) {
  void *code = NULL;
  ffi_closure *fc = ffi_closure_alloc(sizeof(ffi_closure), &code);
  if (fc)
    ffi_closure_free(fc);
}

int xf_closure_new_sig(xf_signature_t *sig, xf_closure_handler_fn handler, void *data,
                       xf_free_data_fn free_data, xf_loop_t *owner, xf_closure_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!sig || !handler)
    return XF_EINVAL;
  if (owner && xf_loop_is_closed(owner))
    return XF_ECLOSED;
  xf_closure_t *c = xf__malloc(sizeof *c);
  if (!c)
    return XF_ENOMEM;
  pthread_once(&xf__ffi_once, xf__ffi_warm);
  void *code = NULL;
  c->fc = ffi_closure_alloc(sizeof(ffi_closure), &code);
  if (!c->fc) {
    xf__free(c);
    return XF_ENOMEM;
  }
  if (ffi_prep_closure_loc(c->fc, &sig->cif, xf__closure_entry, c, code) != FFI_OK) {
    ffi_closure_free(c->fc);
    xf__free(c);
    return XF_EINVAL;
  }
  atomic_init(&c->refs, 1);
  c->sig = xf_signature_ref(sig);
  c->handler = handler;
  c->data = data;
  c->free_data = free_data;
  c->loop = xf__loop_ref(owner);
  atomic_init(&c->home, xf__self());
  c->code = code;
  atomic_init(&c->active, 0);
  atomic_init(&c->retired, false);
  atomic_init(&c->reported, 0);
  atomic_init(&c->data_gone, false);
  *out = c;
  return XF_OK;
}

int xf_closure_new(const char *signature, xf_closure_handler_fn handler, void *data,
                   xf_free_data_fn free_data, xf_loop_t *owner, xf_closure_t **out) {
  if (!out)
    return XF_EINVAL;
  *out = NULL;
  if (!handler)
    return XF_EINVAL;
  xf_signature_t *sig;
  int rc = xf_signature_parse(signature, NULL, 0, &sig);
  if (rc != XF_OK)
    return rc;
  rc = xf_closure_new_sig(sig, handler, data, free_data, owner, out);
  xf_signature_unref(sig);
  return rc;
}

static void xf__closure_destroy(xf_closure_t *c) {
  ffi_closure_free(c->fc);
  xf__closure_data_free(c);
  xf_signature_unref(c->sig);
  xf__loop_unref(c->loop);
  xf__free(c);
}

static void xf__closure_destroy_posted(void *data) {
  xf__closure_destroy(data);
}

static void xf__closure_nothing(void *data) {
  (void) data;
}

xf_closure_t *xf_closure_ref(xf_closure_t *c) {
  if (c)
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
  return c;
}

void xf_closure_unref(xf_closure_t *c) {
  if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
    return;
  /* Off the owner's thread, with the owner loop open: destroy it there. The
   * posted item's free function does the work, so it happens also when the
   * loop closes before running it. */
  xf_loop_t *loop = c->loop;
  if (loop && !xf_loop_is_closed(loop) && xf_loop_current() != loop &&
      (xf_loop_is_running(loop) ||
       atomic_load_explicit(&c->home, memory_order_relaxed) != xf__self()) &&
      xf_loop_call_soon_threadsafe(loop, xf__closure_nothing, c,
                                   xf__closure_destroy_posted) == XF_OK)
    return;
  xf__closure_destroy(c);
}

int xf_closure_retire(xf_closure_t *c) {
  if (!c)
    return XF_EINVAL;
  if (atomic_exchange(&c->retired, true))
    return XF_OK;
  if (atomic_load(&c->active) == 0)
    xf__closure_data_free(c);
  return XF_OK;
}

bool xf_closure_retired(const xf_closure_t *c) {
  return c && atomic_load(&((xf_closure_t *) c)->retired);
}

void *xf_closure_code(const xf_closure_t *c) {
  return c ? c->code : NULL;
}

xf_loop_t *xf_closure_loop(const xf_closure_t *c) {
  return c ? c->loop : NULL;
}

xf_signature_t *xf_closure_signature(const xf_closure_t *c) {
  return c ? c->sig : NULL;
}

/* ---- Done callbacks through closures -------------------------------------- */

/* A registration: the closure and the future as a pointer value, made once
 * here so that delivering the completion allocates nothing. */
typedef struct xf__done {
  xf_closure_t *c; /* a reference */
  xf_value_t *fut; /* a pointer value to the future, without a reference */
} xf__done_t;

static void xf__done_run(xf_future_t *f, void *data) {
  (void) f;
  xf__done_t *d = data;
  xf_value_t *r;
  xf__closure_invoke(d->c, &d->fut, 1, &r);
  xf_value_unref(r);
}

static void xf__done_free(void *data) {
  xf__done_t *d = data;
  xf_value_unref(d->fut);
  xf_closure_unref(d->c);
  xf__free(d);
}

static bool xf__done_is_of(const void *data, const void *closure) {
  return ((const xf__done_t *) data)->c == closure;
}

int xf_future_remove_done_closure(xf_future_t *f, xf_closure_t *c) {
  if (!f || !c)
    return XF_EINVAL;
  return xf__future_remove_done_if(f, xf__done_run, xf__done_is_of, c);
}

int xf_future_add_done_closure(xf_future_t *f, xf_closure_t *c) {
  if (!f || !c)
    return XF_EINVAL;
  const xf_signature_t *sig = c->sig;
  if (sig->ret != XF_C_VOID || sig->nargs != 1 || sig->args[0] != XF_C_POINTER)
    return XF_ETYPE;
  xf__done_t *d = xf__malloc(sizeof *d);
  if (!d)
    return XF_ENOMEM;
  int rc = xf_value_new_pointer(f, NULL, &d->fut);
  if (rc != XF_OK) {
    xf__free(d);
    return rc;
  }
  d->c = xf_closure_ref(c);
  rc = xf_future_add_done_callback(f, xf__done_run, d, xf__done_free, c->loop);
  if (rc != XF_OK) {
    xf_value_unref(d->fut);
    xf__free(d);
    xf_closure_unref(c);
  }
  return rc;
}

/* The C runner of the scenario matrix.
 *
 *   xf_matrix_runner SCENARIO.json
 *
 * Runs one scenario through the public C API (xf/xf.h) and prints one JSON
 * line with the observations, one per step, in the shared result format
 * (tests/matrix/README.md). The runner's thread owns a loop: done callbacks
 * are registered on it, so they run on this thread whichever thread finishes
 * the future, and every step that waits runs the loop meanwhile. The
 * scenario is read with json-c.
 */
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xf/xf.h>

#ifndef XFM_WORKER
#error "XFM_WORKER: the path of xfworker"
#endif
#ifndef XFM_TASKS
#error "XFM_TASKS: the path of the library of process-pool tasks"
#endif

#define MS        1000000LL
#define MAX_NAMES 64

typedef struct named {
  char name[80];
  void *p;
} named_t;

typedef struct table {
  named_t items[MAX_NAMES];
  size_t n;
} table_t;

/* A callback's data: one per (future, tag), so that adding the same tag
 * twice registers the same (fn, data) pair and removing it removes both. */
typedef struct cbdata {
  char key[80];
  char tag[40];
} cbdata_t;

static table_t futures, pools, timers, cbs;
static xf_loop_t *loop;
static pthread_t main_thread;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static json_object *log_list;
static pthread_t threads[16];
static size_t nthreads;
static xf_closure_t *closures[16];
static size_t nclosures;

/* A blocked process-pool task: its two FIFOs, and its worker's pid once the
 * task has told it. */
typedef struct blocked {
  char ready[256], go[256];
  long pid;
} blocked_t;

static table_t blocked;
static char fifo_dir[128];

static void fatal(const char *what, int rc) {
  json_object *r = json_object_new_object();
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s (%s)", what, xf_err_name(rc), xf_strerror(rc));
  json_object_object_add(r, "status", json_object_new_string("error"));
  json_object_object_add(r, "error", json_object_new_string(msg));
  printf("%s\n", json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
  exit(1);
}

/* The C API lacks what the step needs: say so, and leave no worker behind. */
static void not_available(const char *reason) {
  json_object *r = json_object_new_object();
  json_object_object_add(r, "status", json_object_new_string("na"));
  json_object_object_add(r, "reason", json_object_new_string(reason));
  printf("%s\n", json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
  fflush(stdout);
  json_object_put(r);
  for (size_t i = 0; i < pools.n; i++) {
    xf_executor_shutdown(pools.items[i].p, true, true);
    xf_executor_unref(pools.items[i].p);
  }
  exit(0);
}

#define CHECK(call)                                                                      \
  do {                                                                                   \
    int rc_ = (call);                                                                    \
    if (rc_ < 0)                                                                         \
      fatal(#call, rc_);                                                                 \
  } while (0)

static void *lookup(table_t *t, const char *name) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->items[i].name, name) == 0)
      return t->items[i].p;
  fprintf(stderr, "unknown name %s\n", name);
  fatal("lookup", XF_EINVAL);
  return NULL;
}

static void store(table_t *t, const char *name, void *p) {
  if (t->n == MAX_NAMES)
    fatal("store", XF_ENOMEM);
  snprintf(t->items[t->n].name, sizeof t->items[t->n].name, "%s", name);
  t->items[t->n++].p = p;
}

static const char *str(json_object *step, const char *key) {
  json_object *v;
  return json_object_object_get_ex(step, key, &v) ? json_object_get_string(v) : NULL;
}

static int64_t num(json_object *step, const char *key, int64_t dflt) {
  json_object *v;
  return json_object_object_get_ex(step, key, &v) ? json_object_get_int64(v) : dflt;
}

static bool flag(json_object *step, const char *key) {
  json_object *v;
  return json_object_object_get_ex(step, key, &v) && json_object_get_boolean(v);
}

static xf_future_t *fut(json_object *step, const char *key) {
  return lookup(&futures, str(step, key));
}

/* ---- Values ------------------------------------------------------------ */

/* C's own opaque objects ({"opaque": tag}): an object value of the runtime
 * "c", which the core renders as object(c). */
static const xf_object_hooks_t c_hooks = {.sz = sizeof(xf_object_hooks_t), .name = "c"};
static char c_object;

/* The values set on futures by set_result, for same_value. */
static table_t set_values;

static xf_value_t *decode(json_object *j) {
  xf_value_t *v = NULL;
  json_object *x;
  switch (json_object_get_type(j)) {
  case json_type_null:
    return xf_value_void();
  case json_type_boolean:
    return xf_value_bool(json_object_get_boolean(j));
  case json_type_int:
    CHECK(xf_value_new_int(json_object_get_int64(j), &v));
    return v;
  case json_type_double:
    CHECK(xf_value_new_double(json_object_get_double(j), &v));
    return v;
  case json_type_string:
    CHECK(xf_value_new_string(json_object_get_string(j),
                              (size_t) json_object_get_string_len(j), &v));
    return v;
  case json_type_array: {
    size_t n = json_object_array_length(j);
    xf_value_t **items = calloc(n + 1, sizeof *items);
    for (size_t i = 0; i < n; i++)
      items[i] = decode(json_object_array_get_idx(j, i));
    CHECK(xf_value_new_list(items, n, &v));
    for (size_t i = 0; i < n; i++)
      xf_value_unref(items[i]);
    free(items);
    return v;
  }
  case json_type_object:
    if (json_object_object_get_ex(j, "double", &x)) {
      double d = json_object_get_double(x);
      if (json_object_is_type(x, json_type_string)) {
        const char *t = json_object_get_string(x);
        d = strcmp(t, "nan") == 0    ? NAN
            : strcmp(t, "inf") == 0  ? INFINITY
            : strcmp(t, "-inf") == 0 ? -INFINITY
            : strcmp(t, "-0") == 0   ? -0.0
                                     : (fatal("decode: unknown double", XF_EINVAL), 0);
      }
      CHECK(xf_value_new_double(d, &v));
      return v;
    }
    if (json_object_object_get_ex(j, "int", &x)) {
      CHECK(xf_value_new_int(strtoll(json_object_get_string(x), NULL, 10), &v));
      return v;
    }
    if (json_object_object_get_ex(j, "map", &x)) {
      size_t n = json_object_array_length(x);
      xf_value_t **kv = calloc(2 * n + 1, sizeof *kv);
      for (size_t i = 0; i < n; i++) {
        json_object *pair = json_object_array_get_idx(x, i);
        kv[i] = decode(json_object_array_get_idx(pair, 0));
        kv[n + i] = decode(json_object_array_get_idx(pair, 1));
      }
      CHECK(xf_value_new_map(kv, kv + n, n, &v));
      for (size_t i = 0; i < 2 * n; i++)
        xf_value_unref(kv[i]);
      free(kv);
      return v;
    }
    if (json_object_object_get_ex(j, "pointer", &x)) {
      CHECK(xf_value_new_pointer(NULL, NULL, &v));
      return v;
    }
    if (json_object_object_get_ex(j, "opaque", &x)) {
      CHECK(xf_value_new_object(&c_object, &c_hooks, &v));
      return v;
    }
    if (json_object_object_get_ex(j, "bytes", &x)) {
      const char *hex = json_object_get_string(x);
      size_t n = strlen(hex) / 2;
      unsigned char *buf = malloc(n + 1);
      for (size_t i = 0; i < n; i++)
        sscanf(hex + 2 * i, "%2hhx", &buf[i]);
      CHECK(xf_value_new_bytes(buf, n, &v));
      free(buf);
      return v;
    }
    break;
  default:
    break;
  }
  fatal("decode: unknown value", XF_ETYPE);
  return NULL;
}

static json_object *encode_error(xf_error_t *e) {
  json_object *o = json_object_new_object(), *err;
  const char *type = xf_error_type(e);
  if (xf_error_code(e) == XF_ECANCELLED || strcmp(type, "CancelledError") == 0) {
    json_object_object_add(o, "cancelled", json_object_new_boolean(1));
    return o;
  }
  err = json_object_new_object();
  json_object_object_add(err, "type", json_object_new_string(type));
  if (strcmp(type, "TimeoutError") != 0)
    json_object_object_add(err, "message", json_object_new_string(xf_error_message(e)));
  json_object_object_add(o, "error", err);
  return o;
}

static json_object *encode(const xf_value_t *v) {
  bool b;
  int64_t i;
  double d;
  const char *s;
  const void *p;
  size_t n;
  xf_error_t *e;
  json_object *o;
  switch (xf_value_kind(v)) {
  case XF_KIND_VOID:
    return NULL;
  case XF_KIND_BOOL:
    xf_value_get_bool(v, &b);
    return json_object_new_boolean(b);
  case XF_KIND_INT: {
    char text[32];
    xf_value_get_int(v, &i);
    if (i <= 9007199254740991LL && i >= -9007199254740991LL)
      return json_object_new_int64(i);
    snprintf(text, sizeof text, "%lld", (long long) i);
    o = json_object_new_object();
    json_object_object_add(o, "int", json_object_new_string(text));
    return o;
  }
  case XF_KIND_DOUBLE:
    xf_value_get_double(v, &d);
    o = json_object_new_object();
    if (isnan(d))
      json_object_object_add(o, "double", json_object_new_string("nan"));
    else if (isinf(d))
      json_object_object_add(o, "double", json_object_new_string(d > 0 ? "inf" : "-inf"));
    else if (d == 0 && signbit(d))
      json_object_object_add(o, "double", json_object_new_string("-0"));
    else
      json_object_object_add(o, "double", json_object_new_double(d));
    return o;
  case XF_KIND_MAP: {
    xf_value_t *key, *item;
    json_object *pairs = json_object_new_array();
    xf_value_map_len(v, &n);
    for (size_t k = 0; k < n; k++) {
      json_object *pair = json_object_new_array();
      xf_value_map_get(v, k, &key, &item);
      json_object_array_add(pair, encode(key));
      json_object_array_add(pair, encode(item));
      json_object_array_add(pairs, pair);
    }
    o = json_object_new_object();
    json_object_object_add(o, "map", pairs);
    return o;
  }
  case XF_KIND_STRING:
    xf_value_get_string(v, &s, &n);
    return json_object_new_string_len(s, (int) n);
  case XF_KIND_BYTES: {
    xf_value_get_bytes(v, &p, &n);
    char *hex = malloc(2 * n + 1);
    for (size_t k = 0; k < n; k++)
      sprintf(hex + 2 * k, "%02x", ((const unsigned char *) p)[k]);
    hex[2 * n] = 0;
    o = json_object_new_object();
    json_object_object_add(o, "bytes", json_object_new_string(hex));
    free(hex);
    return o;
  }
  case XF_KIND_LIST: {
    xf_value_t *item;
    xf_value_list_len(v, &n);
    o = json_object_new_array();
    for (size_t k = 0; k < n; k++) {
      xf_value_list_get(v, k, &item);
      json_object_array_add(o, encode(item));
    }
    return o;
  }
  case XF_KIND_ERROR:
    xf_value_get_error(v, &e);
    return encode_error(e);
  default:
    o = json_object_new_object();
    json_object_object_add(o, "object", json_object_new_string("opaque"));
    return o;
  }
}

/* [kind name, xf_value_repr's text] of a done future's value (an error
 * outcome as an error value), C's own objects shown as object(own). */
static json_object *core_repr(xf_future_t *f) {
  static const char *const kinds[] = {"void",   "bool",  "int",  "double",
                                      "string", "bytes", "list", "pointer",
                                      "object", "error", "map"};
  xf_value_t *v = NULL;
  xf_error_t *e = NULL;
  if (!xf_future_done(f))
    fatal("core_repr: the future is not done", XF_ESTATE);
  if (xf_future_result(f, 0, &v) != XF_OK) {
    CHECK(xf_future_error(f, 0, &e));
    CHECK(xf_value_new_error(e, &v));
    xf_error_unref(e);
  }
  size_t n = xf_value_repr(v, NULL, 0);
  char *text = malloc(n + 1), *own = malloc(2 * n + 1), *w = own;
  xf_value_repr(v, text, n + 1);
  /* Every object(c) becomes object(own) (9 bytes for at most 11). */
  for (const char *r = text; *r;) {
    if (strncmp(r, "object(c)", 9) == 0) {
      memcpy(w, "object(own)", 11);
      w += 11, r += 9;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
  json_object *o = json_object_new_array();
  json_object_array_add(o, json_object_new_string(kinds[xf_value_kind(v)]));
  json_object_array_add(o, json_object_new_string(own));
  free(text);
  free(own);
  xf_value_unref(v);
  return o;
}

/* ---- Waiting while the loop runs --------------------------------------- */

/* Run the loop until f is done or timeout_ms (negative: none) has passed. */
static void run_until_done(xf_future_t *f, int64_t timeout_ms) {
  xf_future_t *s, *t;
  if (xf_future_done(f))
    return;
  CHECK(xf_future_shield(f, &s));
  CHECK(xf_future_timeout(loop, s, timeout_ms < 0 ? -1 : timeout_ms * MS, &t));
  xf_loop_run_until_complete(loop, t, NULL);
  xf_future_unref(t);
  xf_future_unref(s);
}

static void settle(int64_t ms) {
  xf_future_t *s;
  CHECK(xf_loop_sleep(loop, ms * MS, &s));
  CHECK(xf_loop_run_until_complete(loop, s, NULL));
  xf_future_unref(s);
}

static json_object *outcome(xf_future_t *f) {
  xf_error_t *e = NULL;
  xf_value_t *v = NULL;
  json_object *o = json_object_new_object();
  if (!xf_future_done(f)) {
    json_object_object_add(o, "timeout", json_object_new_boolean(1));
    return o;
  }
  if (xf_future_cancelled(f)) {
    json_object_object_add(o, "cancelled", json_object_new_boolean(1));
    return o;
  }
  CHECK(xf_future_error(f, 0, &e));
  if (e) {
    json_object_put(o);
    o = encode_error(e);
    xf_error_unref(e);
    return o;
  }
  CHECK(xf_future_result(f, 0, &v));
  json_object_object_add(o, "value", encode(v));
  xf_value_unref(v);
  return o;
}

/* ---- Callbacks, timers, threads, closures, tasks ----------------------- */

static void log_tag(const char *tag) {
  char buf[64];
  bool on_main = pthread_equal(pthread_self(), main_thread);
  snprintf(buf, sizeof buf, "%s%s", tag, on_main ? "" : "@other-thread");
  pthread_mutex_lock(&log_lock);
  json_object_array_add(log_list, json_object_new_string(buf));
  pthread_mutex_unlock(&log_lock);
}

static void on_done(xf_future_t *f, void *data) {
  (void) f;
  log_tag(((cbdata_t *) data)->tag);
}

static cbdata_t *callback_data(const char *fname, const char *tag) {
  char key[80];
  snprintf(key, sizeof key, "%s/%s", fname, tag);
  for (size_t i = 0; i < cbs.n; i++)
    if (strcmp(((cbdata_t *) cbs.items[i].p)->key, key) == 0)
      return cbs.items[i].p;
  cbdata_t *d = calloc(1, sizeof *d);
  snprintf(d->key, sizeof d->key, "%s", key);
  snprintf(d->tag, sizeof d->tag, "%s", tag);
  store(&cbs, key, d);
  return d;
}

static void on_timer(void *data) {
  log_tag(data);
}

typedef struct thread_set {
  xf_future_t *f;
  xf_value_t *v;
  int64_t delay_ms;
} thread_set_t;

static void *thread_set_main(void *arg) {
  thread_set_t *t = arg;
  usleep((useconds_t) (t->delay_ms * 1000));
  xf_future_set_result(t->f, t->v);
  xf_future_unref(t->f);
  free(t);
  return NULL;
}

static int closure_add(void *data, xf_value_t *const *args, size_t nargs,
                       xf_value_t **result) {
  int64_t a, b;
  (void) nargs;
  log_tag(data);
  xf_value_get_int(args[0], &a);
  xf_value_get_int(args[1], &b);
  return xf_value_new_int(a + b, result);
}

static int then_add(void *data, xf_future_t *antecedent, xf_future_t *result) {
  xf_error_t *e = NULL;
  xf_value_t *v = NULL, *out = NULL;
  int64_t i;
  int rc = xf_future_error(antecedent, 0, &e);
  if (rc < 0)
    return rc;
  if (e)
    return xf_future_set_error(result, e);
  if ((rc = xf_future_result(antecedent, 0, &v)) < 0)
    return rc;
  rc = xf_value_get_int(v, &i);
  xf_value_unref(v);
  if (rc < 0)
    return rc;
  if ((rc = xf_value_new_int(i + (int64_t) (intptr_t) data, &out)) < 0)
    return rc;
  return xf_future_set_result(result, out);
}

typedef struct task {
  xf_future_t *awaits[8];
  xf_value_t *got[8];
  size_t n, next;
} task_t;

static void task_free(void *data) {
  task_t *t = data;
  for (size_t i = 0; i < t->next; i++)
    xf_value_unref(t->got[i]);
  free(t);
}

static int task_step(xf_future_t *task, void *data, xf_future_t *awaited, int status) {
  task_t *t = data;
  if (awaited) {
    if (status == XF_ECANCELLED)
      return XF_ECANCELLED;
    if (status == XF_EFAILED) {
      xf_error_t *e = NULL;
      xf_future_error(awaited, 0, &e);
      return xf_future_set_error(task, e);
    }
    xf_future_result(awaited, 0, &t->got[t->next - 1]);
  } else if (status == XF_ECANCELLED) {
    return XF_ECANCELLED;
  }
  if (t->next < t->n) {
    int rc = xf_task_await(task, t->awaits[t->next]);
    if (rc < 0)
      return rc;
    t->got[t->next++] = NULL;
    return XF_TASK_AWAIT;
  }
  xf_value_t *list;
  int rc = xf_value_new_list(t->got, t->n, &list);
  return rc < 0 ? rc : xf_future_set_result(task, list);
}

/* ---- Process pools ------------------------------------------------------ */

/* The task of a process_submit step: a function of the task library. */
static int process_submit(json_object *s, xf_executor_t *ex, xf_future_t **out) {
  const char *task = str(s, "task");
  xf_value_t *args[2] = {NULL, NULL};
  const char *symbol, *sig;
  size_t n = 0;
  if (strcmp(task, "add") == 0) {
    json_object *arr;
    json_object_object_get_ex(s, "args", &arr);
    for (n = 0; n < 2; n++)
      CHECK(xf_value_new_int(json_object_get_int64(json_object_array_get_idx(arr, n)),
                             &args[n]));
    symbol = "xfm_add";
    sig = "int64(int64, int64)";
  } else if (strcmp(task, "pid") == 0) {
    symbol = "xfm_pid";
    sig = "int64()";
  } else if (strcmp(task, "block") == 0) {
    blocked_t *b = calloc(1, sizeof *b);
    if (!fifo_dir[0]) {
      snprintf(fifo_dir, sizeof fifo_dir, "/tmp/xf-matrix-XXXXXX");
      if (!mkdtemp(fifo_dir))
        fatal("mkdtemp", XF_ESYS);
    }
    snprintf(b->ready, sizeof b->ready, "%s/%s.ready", fifo_dir, str(s, "f"));
    snprintf(b->go, sizeof b->go, "%s/%s.go", fifo_dir, str(s, "f"));
    if (mkfifo(b->ready, 0600) < 0 || mkfifo(b->go, 0600) < 0)
      fatal("mkfifo", XF_ESYS);
    store(&blocked, str(s, "f"), b);
    CHECK(xf_value_new_string(b->ready, strlen(b->ready), &args[0]));
    CHECK(xf_value_new_string(b->go, strlen(b->go), &args[1]));
    n = 2;
    symbol = "xfm_block";
    sig = "int64(string, string)";
  } else if (strcmp(task, "fail") == 0) {
    not_available(
        "a C task of the process pool is a C function, whose return value "
        "becomes the result: it has no way to fail with an error type and message");
    return XF_EINVAL;
  } else {
    fatal(task, XF_EINVAL);
    return XF_EINVAL;
  }
  int rc = xf_process_pool_submit_symbol(ex, XFM_TASKS, symbol, sig, args, n, -1, out);
  for (size_t i = 0; i < n; i++)
    xf_value_unref(args[i]);
  return rc;
}

static int64_t int_result(xf_future_t *f) {
  xf_value_t *v = NULL;
  int64_t i = 0;
  run_until_done(f, 10000);
  if (xf_future_result(f, 0, &v) != XF_OK || xf_value_get_int(v, &i) != XF_OK)
    fatal("int_result: not an integer", XF_ETYPE);
  xf_value_unref(v);
  return i;
}

/* Wait for the blocked task to tell its pid (it runs now). */
static void process_running(blocked_t *b) {
  char buf[32] = {0};
  int fd = open(b->ready, O_RDONLY);
  if (fd < 0)
    fatal("open ready", XF_ESYS);
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    fatal("read ready", XF_ESYS);
  b->pid = strtol(buf, NULL, 10);
}

static void process_release(blocked_t *b) {
  int fd = open(b->go, O_WRONLY);
  if (fd < 0 || write(fd, "go", 2) != 2)
    fatal("write go", XF_ESYS);
  close(fd);
}

/* ---- Steps ------------------------------------------------------------- */

static json_object *raised(const char *what) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "raised", json_object_new_string(what));
  return o;
}

static size_t future_list(json_object *step, xf_future_t **fs, const char **names) {
  json_object *arr;
  json_object_object_get_ex(step, "fs", &arr);
  size_t n = json_object_array_length(arr);
  for (size_t i = 0; i < n; i++) {
    names[i] = json_object_get_string(json_object_array_get_idx(arr, i));
    fs[i] = lookup(&futures, names[i]);
  }
  return n;
}

static int cmpstr(const void *a, const void *b) {
  return strcmp(json_object_get_string(*(json_object *const *) a),
                json_object_get_string(*(json_object *const *) b));
}

static json_object *step(json_object *s) {
  const char *op = str(s, "op");
  xf_future_t *f = NULL, *fs[16];
  const char *names[16];
  int rc;

  if (strcmp(op, "future") == 0) {
    CHECK(xf_future_new(&f));
    store(&futures, str(s, "f"), f);
  } else if (strcmp(op, "set_result") == 0 || strcmp(op, "set_error") == 0) {
    json_object *v;
    if (op[4] == 'r') {
      json_object_object_get_ex(s, "value", &v);
      xf_value_t *value = decode(v);
      /* The future holds the value from here on: the pointer stays valid. */
      store(&set_values, str(s, "f"), value);
      rc = xf_future_set_result(fut(s, "f"), value);
    } else {
      rc = xf_future_fail(fut(s, "f"), XF_EFAILED, str(s, "type"), str(s, "message"));
    }
    if (rc == XF_ESTATE)
      return raised("InvalidStateError");
    CHECK(rc);
  } else if (strcmp(op, "cancel") == 0) {
    return json_object_new_boolean(xf_future_cancel(fut(s, "f")) == XF_OK);
  } else if (strcmp(op, "core_repr") == 0) {
    return core_repr(fut(s, "f"));
  } else if (strcmp(op, "same_value") == 0) {
    xf_value_t *v = NULL;
    CHECK(xf_future_result(fut(s, "f"), 0, &v));
    bool same = v == lookup(&set_values, str(s, "f"));
    xf_value_unref(v);
    return json_object_new_boolean(same);
  } else if (strcmp(op, "state") == 0) {
    static const char *const st[] = {"pending", "running", "finished", "cancelled"};
    return json_object_new_string(st[xf_future_state(fut(s, "f"))]);
  } else if (strcmp(op, "outcome") == 0) {
    f = fut(s, "f");
    run_until_done(f, num(s, "timeout_ms", -1));
    return outcome(f);
  } else if (strcmp(op, "error_type") == 0) {
    xf_error_t *e = NULL;
    f = fut(s, "f");
    run_until_done(f, 2000);
    CHECK(xf_future_error(f, 0, &e));
    json_object *o = json_object_new_string(e ? xf_error_type(e) : "");
    xf_error_unref(e);
    return o;
  } else if (strcmp(op, "add_callback") == 0) {
    CHECK(xf_future_add_done_callback(
        fut(s, "f"), on_done, callback_data(str(s, "f"), str(s, "tag")), NULL, loop));
  } else if (strcmp(op, "remove_callback") == 0) {
    rc = xf_future_remove_done_callback(fut(s, "f"), on_done,
                                        callback_data(str(s, "f"), str(s, "tag")));
    CHECK(rc);
    return json_object_new_int(rc);
  } else if (strcmp(op, "settle") == 0) {
    settle(num(s, "ms", 0));
  } else if (strcmp(op, "log") == 0) {
    pthread_mutex_lock(&log_lock);
    json_object *out = log_list;
    log_list = json_object_new_array();
    pthread_mutex_unlock(&log_lock);
    return out;
  } else if (strcmp(op, "pool") == 0) {
    xf_thread_pool_options_t opts = XF_THREAD_POOL_OPTIONS_INIT;
    xf_executor_t *ex;
    const char *policy = str(s, "policy");
    opts.max_workers = (uint32_t) num(s, "workers", 0);
    opts.max_queue = (size_t) num(s, "max_queue", 0);
    opts.queue_policy =
        policy && strcmp(policy, "reject") == 0 ? XF_QUEUE_REJECT : XF_QUEUE_BLOCK;
    CHECK(xf_thread_pool_new(&opts, &ex));
    store(&pools, str(s, "p"), ex);
  } else if (strcmp(op, "submit") == 0) {
    xf_value_t *arg;
    CHECK(xf_value_new_int(num(s, "sleep_ms", 0) * 1000, &arg));
    rc = xf_executor_submit_native(lookup(&pools, str(s, "p")), (void *) usleep,
                                   "int32(uint32)", &arg, 1, &f);
    xf_value_unref(arg);
    if (rc == XF_ESHUTDOWN)
      return raised("ShutdownError");
    if (rc == XF_EAGAIN)
      return raised("QueueFull");
    CHECK(rc);
    store(&futures, str(s, "f"), f);
  } else if (strcmp(op, "shutdown") == 0) {
    CHECK(xf_executor_shutdown(lookup(&pools, str(s, "p")), flag(s, "wait"),
                               flag(s, "cancel_futures")));
  } else if (strcmp(op, "map") == 0) {
    /* C's map: submit each, then gather the futures in input order. */
    json_object *arr;
    xf_future_t *all;
    xf_value_t *v;
    json_object_object_get_ex(s, "sleeps_ms", &arr);
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++) {
      xf_value_t *arg;
      CHECK(xf_value_new_int(
          json_object_get_int64(json_object_array_get_idx(arr, i)) * 1000, &arg));
      CHECK(xf_executor_submit_native(lookup(&pools, str(s, "p")), (void *) usleep,
                                      "int32(uint32)", &arg, 1, &fs[i]));
      xf_value_unref(arg);
    }
    CHECK(xf_future_all(fs, n, 0, &all));
    CHECK(xf_future_result(all, -1, &v));
    json_object *o = encode(v);
    xf_value_unref(v);
    xf_future_unref(all);
    for (size_t i = 0; i < n; i++)
      xf_future_unref(fs[i]);
    return o;
  } else if (strcmp(op, "wait") == 0) {
    unsigned char done[16];
    const char *rw = str(s, "return_when");
    size_t n = future_list(s, fs, names);
    int mode = strcmp(rw, "FIRST_COMPLETED") == 0   ? XF_FIRST_COMPLETED
               : strcmp(rw, "FIRST_EXCEPTION") == 0 ? XF_FIRST_EXCEPTION
                                                    : XF_ALL_COMPLETED;
    int64_t t = num(s, "timeout_ms", -1);
    rc = xf_wait(fs, n, mode, t < 0 ? -1 : t * MS, done);
    if (rc != XF_ETIMEDOUT)
      CHECK(rc);
    json_object *o = json_object_new_object(), *d = json_object_new_array(),
                *nd = json_object_new_array();
    for (size_t i = 0; i < n; i++)
      json_object_array_add(done[i] ? d : nd, json_object_new_string(names[i]));
    json_object_array_sort(d, cmpstr);
    json_object_array_sort(nd, cmpstr);
    json_object_object_add(o, "done", d);
    json_object_object_add(o, "not_done", nd);
    return o;
  } else if (strcmp(op, "as_completed") == 0) {
    xf_as_completed_t *it;
    size_t n = future_list(s, fs, names);
    int64_t t = num(s, "timeout_ms", -1);
    json_object *order = json_object_new_array();
    CHECK(xf_as_completed_new(fs, n, t < 0 ? -1 : t * MS, &it));
    for (;;) {
      rc = xf_as_completed_next(it, &f);
      if (rc == XF_ETIMEDOUT) {
        json_object_array_add(order, json_object_new_string("TimeoutError"));
        break;
      }
      CHECK(rc);
      if (!f)
        break;
      for (size_t i = 0; i < n; i++)
        if (fs[i] == f) {
          json_object_array_add(order, json_object_new_string(names[i]));
          break;
        }
      xf_future_unref(f);
    }
    xf_as_completed_free(it);
    return order;
  } else if (strcmp(op, "gather") == 0 || strcmp(op, "first") == 0 ||
             strcmp(op, "any") == 0) {
    size_t n = future_list(s, fs, names);
    if (op[0] == 'g')
      CHECK(xf_future_all(fs, n, flag(s, "collect") ? XF_ALL_COLLECT : 0, &f));
    else if (op[0] == 'f')
      CHECK(xf_future_first(fs, n, flag(s, "cancel_rest"), &f));
    else
      CHECK(xf_future_any(fs, n, flag(s, "cancel_rest"), &f));
    store(&futures, str(s, "f"), f);
  } else if (strcmp(op, "then") == 0) {
    CHECK(xf_future_then(fut(s, "src"), NULL, then_add,
                         (void *) (intptr_t) num(s, "add", 0), NULL, &f));
    store(&futures, str(s, "f"), f);
  } else if (strcmp(op, "chain") == 0) {
    CHECK(xf_future_chain(fut(s, "src"), fut(s, "dst")));
  } else if (strcmp(op, "shield") == 0) {
    CHECK(xf_future_shield(fut(s, "src"), &f));
    store(&futures, str(s, "f"), f);
  } else if (strcmp(op, "timeout") == 0) {
    CHECK(xf_future_timeout(loop, fut(s, "src"), num(s, "timeout_ms", 0) * MS, &f));
    store(&futures, str(s, "f"), f);
  } else if (strcmp(op, "timer") == 0) {
    xf_handle_t *h;
    CHECK(xf_loop_call_later(loop, num(s, "ms", 0) * MS, on_timer, strdup(str(s, "tag")),
                             free, &h));
    if (str(s, "h"))
      store(&timers, str(s, "h"), h);
    else
      xf_handle_unref(h);
  } else if (strcmp(op, "cancel_timer") == 0) {
    CHECK(xf_handle_cancel(lookup(&timers, str(s, "h"))));
  } else if (strcmp(op, "thread_set") == 0) {
    json_object *v;
    thread_set_t *t = malloc(sizeof *t);
    json_object_object_get_ex(s, "value", &v);
    t->f = xf_future_ref(fut(s, "f"));
    t->v = decode(v);
    t->delay_ms = num(s, "delay_ms", 0);
    pthread_create(&threads[nthreads++], NULL, thread_set_main, t);
  } else if (strcmp(op, "closure_call") == 0) {
    xf_closure_t *c;
    json_object *arr;
    xf_value_t *args[2];
    json_object_object_get_ex(s, "args", &arr);
    CHECK(xf_closure_new("int64(int64, int64)", closure_add, strdup(str(s, "tag")), free,
                         loop, &c));
    closures[nclosures++] = c;
    for (int i = 0; i < 2; i++)
      CHECK(xf_value_new_int(
          json_object_get_int64(json_object_array_get_idx(arr, (size_t) i)), &args[i]));
    CHECK(xf_executor_submit_native(lookup(&pools, str(s, "p")), xf_closure_code(c),
                                    "int64(int64, int64)", args, 2, &f));
    xf_value_unref(args[0]);
    xf_value_unref(args[1]);
    store(&futures, str(s, "f"), f);
  } else if (strcmp(op, "task") == 0) {
    json_object *arr;
    task_t *t = calloc(1, sizeof *t);
    json_object_object_get_ex(s, "awaits", &arr);
    t->n = json_object_array_length(arr);
    for (size_t i = 0; i < t->n; i++)
      t->awaits[i] =
          lookup(&futures, json_object_get_string(json_object_array_get_idx(arr, i)));
    CHECK(xf_task_new(loop, task_step, t, task_free, &f));
    store(&futures, str(s, "f"), f);
  } else if (strcmp(op, "process_pool") == 0) {
    xf_process_pool_options_t opts = XF_PROCESS_POOL_OPTIONS_INIT;
    xf_executor_t *ex;
    const char *death = str(s, "on_worker_death");
    opts.max_workers = (uint32_t) num(s, "workers", 0);
    opts.worker_path = XFM_WORKER;
    opts.max_tasks_per_child = (uint32_t) num(s, "max_tasks_per_child", 0);
    opts.on_worker_death = death && strcmp(death, "replace") == 0
                               ? XF_WORKER_DEATH_REPLACE
                               : XF_WORKER_DEATH_BREAK;
    opts.forward_stderr = false;
    CHECK(xf_process_pool_new(&opts, &ex));
    store(&pools, str(s, "p"), ex);
  } else if (strcmp(op, "process_submit") == 0) {
    rc = process_submit(s, lookup(&pools, str(s, "p")), &f);
    if (rc == XF_EBROKEN)
      return raised("BrokenProcessPool");
    if (rc == XF_ESHUTDOWN)
      return raised("ShutdownError");
    CHECK(rc);
    store(&futures, str(s, "f"), f);
  } else if (strcmp(op, "process_running") == 0) {
    process_running(lookup(&blocked, str(s, "f")));
  } else if (strcmp(op, "process_release") == 0) {
    process_release(lookup(&blocked, str(s, "f")));
  } else if (strcmp(op, "process_kill") == 0) {
    blocked_t *b = lookup(&blocked, str(s, "f"));
    if (b->pid <= 0 || kill((pid_t) b->pid, SIGKILL) < 0)
      fatal("kill", XF_ESYS);
  } else if (strcmp(op, "same_worker") == 0) {
    return json_object_new_boolean(int_result(fut(s, "f")) == int_result(fut(s, "g")));
  } else {
    fatal(op, XF_EINVAL);
  }
  return json_object_new_string("ok");
}

int main(int argc, char **argv) {
  json_object *scenario, *steps, *obs, *result;
  if (argc != 2) {
    fprintf(stderr, "usage: %s SCENARIO.json\n", argv[0]);
    return 2;
  }
  scenario = json_object_from_file(argv[1]);
  if (!scenario || !json_object_object_get_ex(scenario, "steps", &steps)) {
    fprintf(stderr, "%s: %s\n", argv[1], json_util_get_last_err());
    return 2;
  }
  main_thread = pthread_self();
  log_list = json_object_new_array();
  CHECK(xf_loop_new(&loop));
  obs = json_object_new_array();
  for (size_t i = 0; i < json_object_array_length(steps); i++)
    json_object_array_add(obs, step(json_object_array_get_idx(steps, i)));

  result = json_object_new_object();
  json_object_object_add(result, "status", json_object_new_string("ran"));
  json_object_object_add(result, "obs", obs);
  printf("%s\n", json_object_to_json_string_ext(
                     result, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  fflush(stdout);

  for (size_t i = 0; i < nthreads; i++)
    pthread_join(threads[i], NULL);
  for (size_t i = 0; i < pools.n; i++) {
    xf_executor_shutdown(pools.items[i].p, true, true);
    xf_executor_unref(pools.items[i].p);
  }
  for (size_t i = 0; i < futures.n; i++)
    xf_future_unref(futures.items[i].p);
  for (size_t i = 0; i < timers.n; i++)
    xf_handle_unref(timers.items[i].p);
  for (size_t i = 0; i < nclosures; i++)
    xf_closure_unref(closures[i]);
  xf_loop_close(loop);
  xf_loop_unref(loop);
  for (size_t i = 0; i < cbs.n; i++)
    free(cbs.items[i].p);
  for (size_t i = 0; i < blocked.n; i++) {
    blocked_t *b = blocked.items[i].p;
    unlink(b->ready);
    unlink(b->go);
    free(b);
  }
  if (fifo_dir[0])
    rmdir(fifo_dir);
  json_object_put(result);
  json_object_put(scenario);
  return 0;
}

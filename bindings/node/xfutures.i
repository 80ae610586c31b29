/* The Node.js binding's SWIG interface: the raw module "xfutures_native".
 *
 * SWIG (-javascript -node -c++) turns this file into a V8 addon at build
 * time. It wraps the handle functions the JavaScript layer (index.js) needs
 * and adds the glue that only C++ can do: converting JavaScript values to
 * xf_value_t and back, turning xf_error_t into Error objects, making
 * closures whose handler is a JavaScript function, and embedding the owner
 * loop in Node's libuv loop.
 *
 * Design notes
 * ------------
 * One state per environment. Node runs one environment per thread: the
 * main thread's and each Worker's, each with its own isolate and libuv loop.
 * Each that loads the module gets its own State (js_init), found through a
 * thread_local pointer: its owner loop (an xf_loop_t run by that thread
 * only), the JavaScript layer's functions, its object hooks (whose owner is
 * its loop) and its counters. A uv_poll_t watches the owner loop's backend
 * fd and a uv_timer_t its backend timeout, and both callbacks run it once
 * with XF_RUN_NOWAIT. Every JavaScript done callback is registered on a
 * future with this loop, so the core posts the completion to it whatever
 * thread finishes the future, and the environment's thread delivers it.
 *
 * Teardown. Node's cleanup hook of the environment (at a Worker's end, and
 * at exit) closes the owner loop, lets go of every V8 handle the module
 * keeps, then closes the uv handles; Node waits for that. What the core
 * still holds (futures on pool threads, values in other environments'
 * futures) keeps the State's memory through its reference count, never its
 * V8 handles, so it can be dropped anywhere afterwards.
 *
 * SWIG's runtime keeps one template for the pointer objects of handles, a
 * process-wide V8 handle; the build makes it thread_local (CMakeLists.txt),
 * one per isolate, as everything else here is.
 *
 * Batches. A done callback does not call into V8: it appends the
 * registration's id to `fired`. After the loop run, the ids go to the
 * JavaScript dispatcher in one array, inside one node::CallbackScope, so a
 * wake-up delivers many completions with one crossing into JavaScript and
 * one microtask checkpoint.
 *
 * Keeping the process alive. `observed` counts the registrations made with
 * keep_alive that have not run or been dropped (the core frees their data
 * either way, on any thread, hence the atomic). The two uv handles are
 * referenced exactly while it is not zero, so Node exits when nothing
 * JavaScript waits for is pending in native code.
 *
 * V8 handles are touched on their environment's thread only. A JavaScript
 * object held by a value (Obj below) may lose its last reference on a
 * worker: the object hooks name the owner loop, so the core posts the
 * release there (and run_batch runs it). Once teardown has closed the loop
 * the core releases on the dropping thread, when the handle is already gone.
 */
%module xfutures_native

%include "../common/xfutures.i"

%{
#include <dlfcn.h>
#include <node.h>
#include <node_buffer.h>
#include <uv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace xfjs {

/* xf:lang-specific: the state of each Node environment */
struct Obj;
struct Reg;

/* One per Node environment (the main thread's, each Worker's): see the
 * design notes. Reference counted, because what the core holds may outlive
 * the environment: each JavaScript value held by a core value (Obj) and each
 * registration holds a reference, so the hooks and counters they point to
 * stay valid wherever the core drops them. The V8 handles and the loop are
 * the environment's and go with it, in teardown. */
struct State {
  std::atomic<long> refs{1};
  v8::Isolate *iso = nullptr;
  v8::Global<v8::Context> ctx;
  v8::Global<v8::Function> dispatch;   /* dispatch(ids) */
  v8::Global<v8::Function> make_error; /* (type, message, traceback, code, errno) */
  v8::Global<v8::Function> report;     /* report(error, fatal) */
  xf_loop_t *loop = nullptr;
  uv_poll_t poll;
  uv_timer_t timer;
  int open_handles = 0;
  std::thread::id thread;
  std::atomic<long> observed{0};
  bool refd = true;
  bool running = false;
  bool closing = false; /* teardown has begun: the uv handles are going */
  bool batching = false; /* inside run_batch */
  std::vector<double> fired;
  std::vector<Reg *> retired; /* see done_free */
  xf_object_hooks_t hooks;
  /* The JavaScript values the core holds, so that teardown can let go of
   * their V8 handles while the isolate still lives; `dead` once it has. */
  std::mutex mu;
  std::unordered_set<Obj *> objs;
  std::unordered_map<void *, Obj *> callbacks; /* closure code -> its function */
  std::unordered_map<std::string, xf_signature_t *> sigs; /* parsed, by text */
  std::unordered_set<xf_executor_t *> pools; /* thread pools index.js holds */
  bool dead = false;
  node::AsyncCleanupHookHandle hook;
  void (*hook_done)(void *) = nullptr;
  void *hook_arg = nullptr;
};

/* The calling thread's state: Node runs one environment per thread (the
 * main thread or a Worker's), so the thread names the state. Set by
 * js_init, cleared by teardown. */
static thread_local State *cur = nullptr;

static State *state_ref(State *s) {
  s->refs.fetch_add(1);
  return s;
}

static void state_unref(State *s) {
  if (s->refs.fetch_sub(1) == 1)
    delete s;
}

/* On the thread of the environment, while it lives. */
static bool at_home(State *s) {
  /* The thread first: `dead` is written on that thread only. */
  return s && std::this_thread::get_id() == s->thread && !s->dead;
}

/* xf:end */
static v8::Local<v8::String> str(v8::Isolate *iso, const char *s, int len = -1) {
  return v8::String::NewFromUtf8(iso, s ? s : "", v8::NewStringType::kNormal, len)
      .ToLocalChecked();
}

/* An Error built by the JavaScript layer's factory, so that known type names
 * get their classes (CancelledError, TimeoutError, ...). */
static v8::Local<v8::Value> make_error(v8::Isolate *iso, const char *type, const char *msg,
                                       const char *tb, int code) {
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  v8::Local<v8::Value> argv[5] = {str(iso, type), str(iso, msg),
                                  tb ? v8::Local<v8::Value>(str(iso, tb))
                                     : v8::Local<v8::Value>(v8::Undefined(iso)),
                                  str(iso, xf_err_name(code)), v8::Integer::New(iso, code)};
  if (cur->make_error.IsEmpty())
    return v8::Exception::Error(str(iso, msg));
  v8::Local<v8::Value> e;
  if (!cur->make_error.Get(iso)->Call(ctx, v8::Undefined(iso), 5, argv).ToLocal(&e))
    return v8::Exception::Error(str(iso, msg));
  return e;
}

/* A pending future read on the main thread: JavaScript's only thread must
 * never block (it delivers the completions, and everything else), so the
 * core's "would deadlock" refusal applies to every pending future here, not
 * only to the loop futures the core itself refuses (XF_EDEADLK). The error
 * is the core's: its type name, message and code come from its table. */
static void throw_deadlock(const char *what) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  std::string msg = std::string(what) + ": " + xf_strerror(XF_EDEADLK) +
                    " (the future is pending; await it instead)";
  iso->ThrowException(
      make_error(iso, xf_error_default_type(XF_EDEADLK), msg.c_str(), NULL, XF_EDEADLK));
}

/* Throw the error of a code, with what as the start of its message. */
static void throw_code(int code, const char *what) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  std::string msg = std::string(what) + ": " + xf_strerror(code);
  iso->ThrowException(make_error(iso, xf_error_default_type(code), msg.c_str(), NULL, code));
}

static void throw_type(const char *msg) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  iso->ThrowException(v8::Exception::TypeError(str(iso, msg)));
}

/* ---- JavaScript values held by xf_value_t objects ----------------------- */

/* A JavaScript value (an object's, or a closure's function) that C holds.
 * It keeps its environment's state, whose hooks the core calls. */
struct Obj {
  std::atomic<int> refs{0};
  State *s;
  v8::Global<v8::Value> v;
  bool orphan = false; /* released before teardown, off its thread */
  void *code = nullptr;            /* a closure's: its key in State::callbacks */
  xf_closure_t *closure = nullptr; /* and the closure (borrowed) */
};

static Obj *obj_new(State *s, v8::Local<v8::Value> v) {
  Obj *h = new Obj();
  h->s = state_ref(s);
  h->v.Reset(s->iso, v);
  std::lock_guard<std::mutex> lock(s->mu);
  s->objs.insert(h);
  return h;
}

/* The last reference to h is gone. On its thread, while the environment
 * lives, the V8 handle goes with it. The core sends the release there while
 * the owner loop is open, so elsewhere it only comes once teardown has
 * closed the loop: after teardown (`dead`) the handle is empty and h simply
 * goes; before it, h is left for teardown to free. */
static void obj_drop(Obj *h) {
  State *s = h->s;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    if (!s->dead && std::this_thread::get_id() != s->thread) {
      h->orphan = true;
      return;
    }
    s->objs.erase(h);
  }
  delete h;
  state_unref(s);
}

static void obj_retain(void *o, void *) {
  static_cast<Obj *>(o)->refs.fetch_add(1);
}

static void obj_release(void *o, void *) {
  Obj *h = static_cast<Obj *>(o);
  if (h->refs.fetch_sub(1) == 1)
    obj_drop(h);
}

static int hold(v8::Isolate *iso, v8::Local<v8::Value> v, xf_value_t **out) {
  Obj *h = obj_new(cur, v);
  int rc = xf_value_new_object(h, &cur->hooks, out);
  if (rc != XF_OK)
    obj_drop(h);
  return rc;
}

/* The JavaScript value an object value holds, or empty for another
 * runtime's object (another environment's included). */
static bool held(xf_value_t *v, v8::Local<v8::Value> *out) {
  void *o = NULL;
  const xf_object_hooks_t *hooks = NULL;
  if (!v || xf_value_get_object(v, &o, &hooks) != XF_OK || hooks != &cur->hooks)
    return false;
  *out = static_cast<Obj *>(o)->v.Get(cur->iso);
  return true;
}

/* ---- Values ------------------------------------------------------------- *
 *
 * The value policy (README, "The value policy"): undefined is void and null
 * the null pointer; booleans; a number that is a safe integer (but -0) an
 * int, any other number a double; a BigInt an int (int64; [2^63, 2^64) take
 * the uint64 bits, for native uint64 arguments; beyond is a RangeError); a
 * string a string; an ArrayBuffer or any view of one (Buffer, typed arrays,
 * DataView) bytes; an Array a list (holes are undefined, other properties
 * stay behind); a plain object (its prototype Object.prototype or null) a
 * map of its own enumerable string keys in their order, and a Map a map; an
 * Error an error; anything else (functions, symbols, instances of classes)
 * an object that comes back as itself. An array or object that cannot be
 * data (it contains itself, or nests deeper than 64 levels) crosses whole
 * as such an object.
 *
 * Identity. Data made from a JavaScript object (an array, a plain object, a
 * Map, bytes) comes back to JavaScript as that very object while it lives,
 * as a Promise gives back what it was resolved with. An Ident holds a
 * reference to the value and a weak handle on the object; `idents` maps the
 * value to it, and the object carries it under a private key. The value's
 * address stays a valid key while the Ident holds it; the weak callback
 * forgets it when the object is collected. An object keeps one value:
 * converted again with the same contents it gives the same value, and once
 * it has changed the new value replaces the old one (whose readers then get
 * a copy of the old contents). Only objects converted at the top (a result,
 * an argument) are recorded: a nested one comes back inside its parent. */

static const double max_safe = 9007199254740991.0;

static bool error_from_js(v8::Isolate *iso, v8::Local<v8::Value> e, xf_error_t **out);
static bool wire_plain_object(v8::Isolate *iso, v8::Local<v8::Value> v);

struct Ident {
  xf_value_t *v = nullptr;
  v8::Global<v8::Object> obj;
};

/* Per thread, so per isolate (a Worker runs its own): an Ident is only
 * found, recorded and forgotten on its isolate's thread. */
static thread_local std::unordered_map<const xf_value_t *, Ident *> idents;

static v8::Local<v8::Private> ident_key(v8::Isolate *iso) {
  return v8::Private::ForApi(iso, str(iso, "xfutures.ident"));
}

static void ident_release(const v8::WeakCallbackInfo<Ident> &info) {
  xf_value_unref(info.GetParameter()->v);
  delete info.GetParameter();
}

static void ident_gone(const v8::WeakCallbackInfo<Ident> &info) {
  Ident *id = info.GetParameter();
  idents.erase(id->v);
  id->obj.Reset();
  /* Dropping the value may release JavaScript objects it holds: not in the
   * first pass of a weak callback. */
  info.SetSecondPassCallback(ident_release);
}

/* Equal as data, doubles bit for bit (xf_value_equal finds -0.0 equal to
 * 0.0) and maps pair by pair in their order. */
static bool same_data(const xf_value_t *a, const xf_value_t *b) {
  if (a == b)
    return true;
  int kind = xf_value_kind(a);
  if (kind != xf_value_kind(b))
    return false;
  size_t n = 0, m = 0;
  switch (kind) {
  case XF_KIND_DOUBLE: {
    double x = 0, y = 0;
    xf_value_get_double(a, &x);
    xf_value_get_double(b, &y);
    return std::memcmp(&x, &y, sizeof x) == 0;
  }
  case XF_KIND_LIST:
    xf_value_list_len(a, &n);
    xf_value_list_len(b, &m);
    for (size_t i = 0; i < n && n == m; i++) {
      xf_value_t *x = NULL, *y = NULL;
      xf_value_list_get(a, i, &x);
      xf_value_list_get(b, i, &y);
      if (!same_data(x, y))
        return false;
    }
    return n == m;
  case XF_KIND_MAP:
    xf_value_map_len(a, &n);
    xf_value_map_len(b, &m);
    for (size_t i = 0; i < n && n == m; i++) {
      xf_value_t *xk = NULL, *xv = NULL, *yk = NULL, *yv = NULL;
      xf_value_map_get(a, i, &xk, &xv);
      xf_value_map_get(b, i, &yk, &yv);
      if (!same_data(xk, yk) || !same_data(xv, yv))
        return false;
    }
    return n == m;
  case XF_KIND_OBJECT: {
    /* Two holders of one JavaScript value are the same item. */
    v8::Local<v8::Value> x, y;
    if (held(const_cast<xf_value_t *>(a), &x) && held(const_cast<xf_value_t *>(b), &y))
      return x->StrictEquals(y);
    return xf_value_equal(a, b);
  }
  default:
    return xf_value_equal(a, b);
  }
}

/* Record that the object o made *out; when it made an equal value before,
 * *out becomes that one. Without room for the private key, no identity. */
static void ident_record(v8::Isolate *iso, v8::Local<v8::Object> o, xf_value_t **out) {
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  v8::Local<v8::Value> held;
  Ident *id = nullptr;
  if (o->GetPrivate(ctx, ident_key(iso)).ToLocal(&held) && held->IsExternal())
    id = static_cast<Ident *>(held.As<v8::External>()->Value());
  if (id && same_data(id->v, *out)) {
    xf_value_unref(*out);
    *out = xf_value_ref(id->v);
    return;
  }
  if (id) {
    idents.erase(id->v);
    xf_value_unref(id->v);
  } else {
    id = new Ident();
    if (!o->SetPrivate(ctx, ident_key(iso), v8::External::New(iso, id)).FromMaybe(false)) {
      delete id;
      return;
    }
    id->obj.Reset(iso, o);
    id->obj.SetWeak(id, ident_gone, v8::WeakCallbackType::kParameter);
  }
  id->v = xf_value_ref(*out);
  idents[id->v] = id;
}

/* Teardown: the objects stay with the isolate, the values they made go. */
static void idents_clear() {
  for (auto &entry : idents) {
    entry.second->obj.Reset();
    xf_value_unref(entry.second->v);
    delete entry.second;
  }
  idents.clear();
}

/* The object that made v, if it lives. */
static bool ident_find(v8::Isolate *iso, const xf_value_t *v, v8::Local<v8::Value> *out) {
  if (idents.empty())
    return false;
  auto it = idents.find(v);
  if (it == idents.end() || it->second->obj.IsEmpty())
    return false;
  *out = it->second->obj.Get(iso);
  return true;
}

enum { DATA_OK, DATA_FAILED, NOT_DATA };

/* Convert v as data; DATA_FAILED with a JavaScript exception pending, or
 * NOT_DATA for a container that cannot be data. */
static int to_data(v8::Isolate *iso, v8::Local<v8::Value> v, xf_value_t **out, int depth);

static int map_from_pairs(v8::Isolate *iso, const std::vector<v8::Local<v8::Value>> &kv,
                          xf_value_t **out, int depth) {
  size_t n = kv.size() / 2;
  std::vector<xf_value_t *> keys(n, nullptr), vals(n, nullptr);
  int st = DATA_OK;
  for (size_t i = 0; i < n && st == DATA_OK; i++) {
    st = to_data(iso, kv[2 * i], &keys[i], depth + 1);
    if (st == DATA_OK)
      st = to_data(iso, kv[2 * i + 1], &vals[i], depth + 1);
  }
  int rc = st == DATA_OK ? xf_value_new_map(keys.data(), vals.data(), n, out) : XF_OK;
  for (size_t i = 0; i < n; i++) {
    xf_value_unref(keys[i]);
    xf_value_unref(vals[i]);
  }
  if (rc != XF_OK) {
    throw_code(rc, "cannot convert the value");
    return DATA_FAILED;
  }
  return st;
}

static int to_data(v8::Isolate *iso, v8::Local<v8::Value> v, xf_value_t **out, int depth) {
  /* The handles made for one item die with it: a large container does not
   * grow the caller's scope. */
  v8::HandleScope scope(iso);
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  int rc = XF_OK;
  *out = NULL;
  if (v->IsUndefined()) {
    *out = xf_value_void();
  } else if (v->IsNull()) {
    rc = xf_value_new_pointer(NULL, NULL, out);
  } else if (v->IsBoolean()) {
    *out = xf_value_bool(v->BooleanValue(iso));
  } else if (v->IsNumber()) {
    double d = v.As<v8::Number>()->Value();
    if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) <= max_safe &&
        !(d == 0 && std::signbit(d)))
      rc = xf_value_new_int((int64_t) d, out);
    else
      rc = xf_value_new_double(d, out);
  } else if (v->IsBigInt()) {
    bool lossless = false;
    int64_t i = v.As<v8::BigInt>()->Int64Value(&lossless);
    if (!lossless) {
      uint64_t u = v.As<v8::BigInt>()->Uint64Value(&lossless);
      if (!lossless) {
        iso->ThrowException(v8::Exception::RangeError(
            str(iso, "BigInt out of range: must fit in int64 or uint64")));
        return DATA_FAILED;
      }
      i = (int64_t) u;
    }
    rc = xf_value_new_int(i, out);
  } else if (v->IsString()) {
    v8::String::Utf8Value s(iso, v);
    rc = xf_value_new_string(*s ? *s : "", *s ? (size_t) s.length() : 0, out);
  } else if (v->IsArrayBufferView()) {
    v8::Local<v8::ArrayBufferView> view = v.As<v8::ArrayBufferView>();
    std::vector<char> buf(view->ByteLength());
    if (!buf.empty())
      view->CopyContents(buf.data(), buf.size());
    rc = xf_value_new_bytes(buf.data(), buf.size(), out);
  } else if (v->IsArrayBuffer()) {
    std::shared_ptr<v8::BackingStore> store = v.As<v8::ArrayBuffer>()->GetBackingStore();
    rc = xf_value_new_bytes(store->Data(), store->ByteLength(), out);
  } else if (v->IsArray()) {
    if (depth >= 64)
      return NOT_DATA;
    v8::Local<v8::Array> a = v.As<v8::Array>();
    uint32_t n = a->Length();
    std::vector<xf_value_t *> items(n, nullptr);
    int st = DATA_OK;
    for (uint32_t i = 0; i < n && st == DATA_OK; i++) {
      v8::Local<v8::Value> item;
      st = a->Get(ctx, i).ToLocal(&item) ? to_data(iso, item, &items[i], depth + 1)
                                         : DATA_FAILED;
    }
    if (st == DATA_OK)
      rc = xf_value_new_list(items.data(), n, out);
    for (xf_value_t *item : items)
      xf_value_unref(item);
    if (st != DATA_OK)
      return st;
  } else if (v->IsMap()) {
    if (depth >= 64)
      return NOT_DATA;
    v8::Local<v8::Array> flat = v.As<v8::Map>()->AsArray();
    std::vector<v8::Local<v8::Value>> kv(flat->Length());
    for (uint32_t i = 0; i < flat->Length(); i++)
      if (!flat->Get(ctx, i).ToLocal(&kv[i]))
        return DATA_FAILED;
    return map_from_pairs(iso, kv, out, depth);
  } else if (v->IsExternal()) {
    rc = xf_value_new_pointer(v.As<v8::External>()->Value(), NULL, out);
  } else if (v->IsNativeError()) {
    xf_error_t *err = NULL;
    if (!error_from_js(iso, v, &err))
      return DATA_FAILED;
    rc = xf_value_new_error(err, out);
    xf_error_unref(err);
  } else if (wire_plain_object(iso, v)) {
    if (depth >= 64)
      return NOT_DATA;
    v8::Local<v8::Object> o = v.As<v8::Object>();
    v8::Local<v8::Array> names;
    if (!o->GetOwnPropertyNames(ctx,
                                static_cast<v8::PropertyFilter>(v8::ONLY_ENUMERABLE |
                                                                v8::SKIP_SYMBOLS),
                                v8::KeyConversionMode::kConvertToString)
             .ToLocal(&names))
      return DATA_FAILED;
    std::vector<v8::Local<v8::Value>> kv(2 * names->Length());
    for (uint32_t i = 0; i < names->Length(); i++)
      if (!names->Get(ctx, i).ToLocal(&kv[2 * i]) || !o->Get(ctx, kv[2 * i]).ToLocal(&kv[2 * i + 1]))
        return DATA_FAILED;
    return map_from_pairs(iso, kv, out, depth);
  } else {
    rc = hold(iso, v, out);
  }
  if (rc != XF_OK) {
    throw_code(rc, "cannot convert the value");
    return DATA_FAILED;
  }
  return DATA_OK;
}

/* Convert; on failure a JavaScript exception is pending and false returned. */
static bool to_value(v8::Isolate *iso, v8::Local<v8::Value> v, xf_value_t **out, int depth) {
  int st = to_data(iso, v, out, depth);
  if (st == NOT_DATA) {
    int rc = hold(iso, v, out);
    if (rc != XF_OK) {
      throw_code(rc, "cannot convert the value");
      return false;
    }
    return true;
  }
  if (st != DATA_OK)
    return false;
  int kind = xf_value_kind(*out);
  if (depth == 0 && v->IsObject() && !v->IsExternal() &&
      (kind == XF_KIND_LIST || kind == XF_KIND_MAP || kind == XF_KIND_BYTES))
    ident_record(iso, v.As<v8::Object>(), out);
  return true;
}

/* A value for C code (a native argument, a callback's result): null is
 * void there, which the core passes as NULL to a pointer or a string
 * parameter (a null pointer value would be refused for a string). */
static bool to_native_value(v8::Isolate *iso, v8::Local<v8::Value> v, xf_value_t **out) {
  if (v->IsNull()) {
    *out = xf_value_void();
    return true;
  }
  return to_value(iso, v, out, 0);
}

static v8::Local<v8::Value> error_to_js(v8::Isolate *iso, xf_error_t *e);
static v8::Local<v8::Value> to_js(v8::Isolate *iso, xf_value_t *v);
typedef bool (*map_item_fn)(v8::Isolate *, xf_value_t *, v8::Local<v8::Value> *);
static bool map_to_js(v8::Isolate *iso, xf_value_t *v, map_item_fn item,
                      v8::Local<v8::Value> *out); /* the process pool's section */
static bool to_js_item(v8::Isolate *iso, xf_value_t *v, v8::Local<v8::Value> *out) {
  *out = to_js(iso, v);
  return true;
}

static v8::Local<v8::Value> to_js(v8::Isolate *iso, xf_value_t *v) {
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  switch (xf_value_kind(v)) {
  case XF_KIND_BOOL: {
    bool b = false;
    xf_value_get_bool(v, &b);
    return v8::Boolean::New(iso, b);
  }
  case XF_KIND_INT: {
    int64_t i = 0;
    xf_value_get_int(v, &i);
    if (i >= -(int64_t) max_safe && i <= (int64_t) max_safe)
      return v8::Number::New(iso, (double) i);
    return v8::BigInt::New(iso, i);
  }
  case XF_KIND_DOUBLE: {
    double d = 0;
    xf_value_get_double(v, &d);
    return v8::Number::New(iso, d);
  }
  case XF_KIND_STRING: {
    const char *s = NULL;
    size_t len = 0;
    xf_value_get_string(v, &s, &len);
    return str(iso, s, (int) len);
  }
  case XF_KIND_BYTES: {
    const void *p = NULL;
    size_t len = 0;
    v8::Local<v8::Value> same;
    if (ident_find(iso, v, &same))
      return same;
    xf_value_get_bytes(v, &p, &len);
    return node::Buffer::Copy(iso, static_cast<const char *>(p), len).ToLocalChecked();
  }
  case XF_KIND_LIST: {
    size_t n = 0;
    v8::Local<v8::Value> same;
    if (ident_find(iso, v, &same))
      return same;
    xf_value_list_len(v, &n);
    v8::Local<v8::Array> a = v8::Array::New(iso, (int) n);
    for (size_t i = 0; i < n; i++) {
      xf_value_t *item = NULL;
      xf_value_list_get(v, i, &item);
      a->Set(ctx, (uint32_t) i, to_js(iso, item)).FromMaybe(false);
    }
    return a;
  }
  case XF_KIND_MAP: {
    v8::Local<v8::Value> m;
    if (ident_find(iso, v, &m))
      return m;
    return map_to_js(iso, v, to_js_item, &m) ? m : v8::Local<v8::Value>(v8::Undefined(iso));
  }
  case XF_KIND_POINTER: {
    void *p = NULL;
    xf_value_get_pointer(v, &p);
    if (!p)
      return v8::Null(iso);
    return v8::External::New(iso, p);
  }
  case XF_KIND_OBJECT: {
    v8::Local<v8::Value> js;
    if (held(v, &js))
      return js;
    /* Another runtime's object: an opaque handle that keeps the value. */
    void *o = NULL;
    const xf_object_hooks_t *hooks = NULL;
    xf_value_get_object(v, &o, &hooks);
    v8::Local<v8::Object> opaque = v8::Object::New(iso);
    opaque->Set(ctx, str(iso, "runtime"), str(iso, hooks->name)).FromMaybe(false);
    return opaque;
  }
  case XF_KIND_ERROR: {
    xf_error_t *e = NULL;
    xf_value_get_error(v, &e);
    return error_to_js(iso, e);
  }
  default:
    return v8::Undefined(iso);
  }
}

/* An error that carries a JavaScript payload comes back as that very value;
 * any other becomes an Error with the type name, message and traceback. */
static v8::Local<v8::Value> error_to_js(v8::Isolate *iso, xf_error_t *e) {
  v8::Local<v8::Value> js;
  if (held(xf_error_payload(e), &js))
    return js;
  return make_error(iso, xf_error_type(e), xf_error_message(e), xf_error_traceback(e),
                    xf_error_code(e));
}

static std::string prop_string(v8::Isolate *iso, v8::Local<v8::Value> o, const char *name,
                               bool *found) {
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  v8::Local<v8::Value> p;
  *found = false;
  if (!o->IsObject() || !o.As<v8::Object>()->Get(ctx, str(iso, name)).ToLocal(&p) ||
      !p->IsString())
    return "";
  *found = true;
  v8::String::Utf8Value s(iso, p);
  return *s ? std::string(*s, s.length()) : "";
}

/* Any JavaScript value as an error: its name, message and stack when it has
 * them, and the value itself as the payload so it comes back unchanged. */
static bool error_from_js(v8::Isolate *iso, v8::Local<v8::Value> e, xf_error_t **out) {
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  bool has_name = false, has_msg = false, has_stack = false;
  std::string name = prop_string(iso, e, "name", &has_name);
  std::string msg = prop_string(iso, e, "message", &has_msg);
  std::string stack = prop_string(iso, e, "stack", &has_stack);
  if (!has_msg && !e->IsObject()) {
    v8::Local<v8::String> s;
    if (e->ToString(ctx).ToLocal(&s)) {
      v8::String::Utf8Value u(iso, s);
      msg = *u ? *u : "";
    }
  }
  int code = XF_EFAILED;
  if (e->IsObject()) {
    v8::Local<v8::Value> n;
    if (e.As<v8::Object>()->Get(ctx, str(iso, "errno")).ToLocal(&n) && n->IsInt32()) {
      int c = n.As<v8::Int32>()->Value();
      if (c < 0 && std::strcmp(xf_err_name(c), "XF_UNKNOWN") != 0)
        code = c;
    }
  }
  xf_value_t *payload = NULL;
  int rc = hold(iso, e, &payload);
  if (rc == XF_OK)
    rc = xf_error_new_full(code, has_name && !name.empty() ? name.c_str() : "Error",
                           msg.c_str(), has_stack ? stack.c_str() : NULL, payload, out);
  xf_value_unref(payload);
  if (rc != XF_OK) {
    throw_code(rc, "cannot convert the error");
    return false;
  }
  return true;
}

/* Throw e (the caller keeps its reference). */
static void throw_error(xf_error_t *e) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  iso->ThrowException(error_to_js(iso, e));
}

/* Parse a signature given by a user; a bad one throws the core's error for
 * it, which names the call (context) and the place in the text. */
static xf_signature_t *check_signature(const char *context, const char *text) {
  xf_signature_t *sig = NULL;
  /* A program uses few signatures, many times each: they are parsed once
   * per environment (up to a bound, past which they are parsed each time). */
  auto it = text ? cur->sigs.find(text) : cur->sigs.end();
  if (it != cur->sigs.end())
    return xf_signature_ref(it->second);
  int rc = xf_signature_parse(text, NULL, 0, &sig);
  if (rc == XF_OK && cur->sigs.size() < 256)
    cur->sigs.emplace(text, xf_signature_ref(sig));
  if (rc != XF_OK) {
    xf_error_t *e = NULL;
    xf_signature_error_new(context, text, rc, &e);
    throw_error(e);
    xf_error_unref(e);
    return NULL;
  }
  return sig;
}

/* A done future's value (*v) or error (*e, a CancelledError when it was
 * cancelled), by xf_future_outcome; false, with what thrown, when the future
 * is not done or its outcome cannot be read. */
static bool read_outcome(xf_future_t *f, xf_value_t **v, xf_error_t **e, const char *what) {
  int state = xf_future_outcome(f, v, e);
  if (state == XF_PENDING || state == XF_RUNNING) {
    throw_deadlock(what);
    return false;
  }
  if (state < 0) {
    throw_code(state, what);
    return false;
  }
  return true;
}

/* xf:lang-specific: the owner loop in libuv, its delivery and the environment's teardown */
/* ---- The owner loop in libuv -------------------------------------------- */

/* Referenced while a registration that keeps the process alive is pending,
 * and while the loop has work ready (completions JavaScript just posted, a
 * callback due now), so that what is already under way is delivered. */
static void update_refs(bool ready = false) {
  State *s = cur;
  if (!s || s->closing)
    return;
  bool want = ready || s->observed.load() > 0;
  if (want == s->refd)
    return;
  s->refd = want;
  if (want) {
    uv_ref(reinterpret_cast<uv_handle_t *>(&s->poll));
    uv_ref(reinterpret_cast<uv_handle_t *>(&s->timer));
  } else {
    uv_unref(reinterpret_cast<uv_handle_t *>(&s->poll));
    uv_unref(reinterpret_cast<uv_handle_t *>(&s->timer));
  }
}

static void run_batch(State *s);
static void reg_delete(Reg *r);

static void on_timer(uv_timer_t *t) {
  run_batch(static_cast<State *>(t->data));
}

static void on_poll(uv_poll_t *p, int, int) {
  run_batch(static_cast<State *>(p->data));
}

/* After anything that may have given the loop work: wake it in time. */
static void rearm() {
  State *s = cur;
  if (!s || s->closing || s->running)
    return;
  int64_t t = xf_loop_backend_timeout(s->loop);
  if (t < 0)
    uv_timer_stop(&s->timer);
  else
    uv_timer_start(&s->timer, on_timer, (uint64_t) ((t + 999999) / 1000000), 0);
  update_refs(t == 0);
}

static void run_batch(State *s) {
  if (s->running || s->closing)
    return;
  v8::Isolate *iso = s->iso;
  v8::HandleScope hs(iso);
  v8::Local<v8::Context> ctx = s->ctx.Get(iso);
  v8::Context::Scope cs(ctx);
  s->batching = true;
  {
    /* Closing the scope runs the microtasks and process.nextTick queue, as
     * after any callback Node makes. */
    node::CallbackScope cbs(iso, v8::Object::New(iso), {0, 0});
    s->running = true;
    xf_loop_run(s->loop, XF_RUN_NOWAIT);
    s->running = false;
    if (!s->fired.empty()) {
      /* One array made at once from its elements (no property stores). */
      std::vector<double> ids;
      ids.swap(s->fired);
      std::vector<v8::Local<v8::Value>> items(ids.size());
      for (size_t i = 0; i < ids.size(); i++)
        items[i] = v8::Number::New(iso, ids[i]);
      v8::Local<v8::Value> argv[1] = {v8::Array::New(iso, items.data(), items.size())};
      if (s->dispatch.Get(iso)->Call(ctx, v8::Undefined(iso), 1, argv).IsEmpty())
        ; /* the exception propagates as Node's uncaught exception */
    }
  }
  s->batching = false;
  for (Reg *r : s->retired)
    reg_delete(r);
  s->retired.clear();
  rearm();
}

/* A done callback registered by JavaScript. Its address is the id the
 * dispatcher receives (a double holds a pointer exactly). The core frees it
 * on any thread (dropped with its future, or with a closed loop), so it
 * names its state. */
struct Reg {
  State *s;
  bool keep; /* counted in s->observed */
};

static void done_cb(xf_future_t *, void *data) {
  /* The owner loop runs only on its environment's thread, in run_batch. */
  Reg *r = static_cast<Reg *>(data);
  r->s->fired.push_back((double) (uintptr_t) r);
}

static void reg_delete(Reg *r) {
  state_unref(r->s);
  delete r;
}

/* A registration that ran inside run_batch stays allocated until its id
 * has been dispatched: a registration made meanwhile (by a JavaScript
 * closure the loop runs, or by the dispatch itself) must not get its
 * address, hence its id. */
static void done_free(void *data) {
  Reg *r = static_cast<Reg *>(data);
  if (r->keep)
    r->s->observed.fetch_sub(1);
  if (std::this_thread::get_id() == r->s->thread && r->s->batching) {
    r->s->retired.push_back(r);
    return;
  }
  reg_delete(r);
}

/* What the loop cannot hand to anyone goes to JavaScript: an exception
 * thrown by a JavaScript closure becomes an uncaught exception, as it would
 * in any Node callback; anything else a warning. Off the environment's
 * thread it is printed. */
static void exception_handler(xf_loop_t *, const char *message, xf_error_t *err, void *data) {
  State *s = static_cast<State *>(data);
  if (!at_home(s) || s->closing) {
    fprintf(stderr, "xfutures: %s%s%s\n", message, err ? ": " : "",
            err ? xf_error_message(err) : "");
    return;
  }
  v8::Isolate *iso = s->iso;
  v8::HandleScope hs(iso);
  v8::Local<v8::Context> ctx = s->ctx.Get(iso);
  v8::Context::Scope cs(ctx);
  v8::Local<v8::Value> js;
  bool fatal = err && held(xf_error_payload(err), &js);
  if (!fatal)
    js = err ? error_to_js(iso, err) : v8::Local<v8::Value>(v8::Undefined(iso));
  v8::Local<v8::Value> argv[3] = {js, v8::Boolean::New(iso, fatal), str(iso, message)};
  if (s->report.Get(iso)->Call(ctx, v8::Undefined(iso), 3, argv).IsEmpty())
    return;
}

/* Work dropped because its environment ended is no one's concern. */
static void quiet_handler(xf_loop_t *, const char *, xf_error_t *, void *) {}

/* ---- Teardown --------------------------------------------------------------
 *
 * Node's cleanup hook of the environment, on its thread, with the isolate
 * still alive. Closing the owner loop drops what waits on it (posted
 * completions, timers, readers, closure calls, whose callers are released
 * with the default value) and frees their data here. From then on the core
 * releases JavaScript values on whatever thread drops them, so their V8
 * handles are let go now, and the Obj records follow their last reference.
 * Node waits for `done` until the uv handles are closed. */

static void handle_closed(uv_handle_t *h) {
  State *s = static_cast<State *>(h->data);
  if (--s->open_handles > 0)
    return;
  void (*done)(void *) = s->hook_done;
  void *arg = s->hook_arg;
  s->hook.reset();
  state_unref(s);
  done(arg);
}

static void idents_clear();

static void teardown(void *data, void (*done)(void *), void *arg) {
  State *s = static_cast<State *>(data);
  s->closing = true;
  s->hook_done = done;
  s->hook_arg = arg;
  xf_loop_set_exception_handler(s->loop, quiet_handler, NULL, NULL);
  xf_loop_close(s->loop);
  idents_clear();
  std::vector<Obj *> orphans;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    s->dead = true;
    for (Obj *h : s->objs) {
      h->v.Reset();
      if (h->orphan)
        orphans.push_back(h);
    }
    for (Obj *h : orphans)
      s->objs.erase(h);
  }
  for (Obj *h : orphans) {
    delete h;
    state_unref(s);
  }
  /* The thread pools the environment still holds can never be dropped by
   * it now: they stop taking work, their queued jobs are cancelled and their
   * threads end after the job they run. Their memory stays, since waiting
   * for a running job here could hold the Worker's end indefinitely. */
  for (xf_executor_t *ex : s->pools)
    xf_executor_shutdown(ex, false, true);
  s->pools.clear();
  for (auto &entry : s->sigs)
    xf_signature_unref(entry.second);
  s->sigs.clear();
  s->ctx.Reset();
  s->dispatch.Reset();
  s->make_error.Reset();
  s->report.Reset();
  xf_loop_unref(s->loop);
  cur = nullptr;
  s->open_handles = 2;
  uv_close(reinterpret_cast<uv_handle_t *>(&s->poll), handle_closed);
  uv_close(reinterpret_cast<uv_handle_t *>(&s->timer), handle_closed);
}

/* xf:end */
/* ---- Closures ----------------------------------------------------------- */

/* A closure's data is the Obj of its function: the core frees it on the
 * owner loop's thread while the loop is open, and anywhere once it is
 * closed, which obj_drop handles. */
static void jsfn_free(void *data) {
  Obj *h = static_cast<Obj *>(data);
  if (h->code) {
    std::lock_guard<std::mutex> lock(h->s->mu);
    h->s->callbacks.erase(h->code);
  }
  obj_release(h, NULL);
}

/* Call the function h holds with args; true with *ret, or false with the
 * exception in *exc. */
static bool call_js(Obj *h, xf_value_t *const *args, size_t nargs, v8::Local<v8::Value> *ret,
                    v8::Local<v8::Value> *exc) {
  State *s = h->s;
  v8::Isolate *iso = s->iso;
  v8::Local<v8::Context> ctx = s->ctx.Get(iso);
  std::vector<v8::Local<v8::Value>> argv(nargs);
  for (size_t i = 0; i < nargs; i++)
    argv[i] = to_js(iso, args[i]);
  v8::TryCatch tc(iso);
  if (h->v.Get(iso)
          .As<v8::Function>()
          ->Call(ctx, v8::Undefined(iso), (int) nargs, argv.data())
          .ToLocal(ret))
    return true;
  *exc = tc.HasCaught() ? tc.Exception() : v8::Local<v8::Value>(v8::Undefined(iso));
  tc.Reset();
  return false;
}

static int closure_handler(void *data, xf_value_t *const *args, size_t nargs,
                           xf_value_t **result) {
  State *s = static_cast<Obj *>(data)->s;
  if (!at_home(s) || s->closing)
    return XF_EWRONGTHREAD;
  v8::Isolate *iso = s->iso;
  v8::HandleScope hs(iso);
  v8::Context::Scope cs(s->ctx.Get(iso));
  v8::Local<v8::Value> ret, exc;
  bool ok = call_js(static_cast<Obj *>(data), args, nargs, &ret, &exc);
  xf_value_t *v = NULL;
  if (ok && result) {
    v8::TryCatch tc(iso);
    ok = to_native_value(iso, ret, &v);
    if (!ok && tc.HasCaught())
      exc = tc.Exception();
  }
  if (ok) {
    if (result)
      *result = v;
    return XF_OK;
  }
  /* Hand the exception over as the failure, so the exception handler gets
   * the JavaScript value itself: as an error result for a call that returns
   * one, directly for a void call. */
  xf_error_t *err = NULL;
  if (exc.IsEmpty() || !error_from_js(iso, exc, &err))
    return XF_EFAILED;
  if (result) {
    int rc = xf_value_new_error(err, result);
    xf_error_unref(err);
    return rc;
  }
  xf_loop_call_exception_handler(s->loop, "a JavaScript callback threw", err);
  xf_error_unref(err);
  return XF_OK;
}

/* ---- Callbacks run as pool jobs ------------------------------------------
 *
 * submitNative(callback, ...) with the callback's own signature: the pool
 * thread calls a closure made for this one job, whose handler knows the
 * job's future. What the function throws fails that future (before the pool
 * thread has its answer, so before the job's own outcome could reach it),
 * and the thread gets the default value, with nothing left to report. A
 * void callback is called through a pointer-returning closure, so that the
 * pool thread waits for it as for any other: the job is done when the
 * function has run. */
struct Job {
  Obj *fn;           /* a reference (refs) */
  xf_future_t *out;  /* a reference: the future JavaScript gets */
  bool is_void;
  int ret; /* the return type */
};

static int job_handler(void *data, xf_value_t *const *args, size_t nargs,
                       xf_value_t **result) {
  Job *j = static_cast<Job *>(data);
  State *s = j->fn->s;
  if (!at_home(s) || s->closing)
    return XF_EWRONGTHREAD;
  v8::Isolate *iso = s->iso;
  v8::HandleScope hs(iso);
  v8::Context::Scope cs(s->ctx.Get(iso));
  v8::Local<v8::Value> ret, exc;
  bool ok = call_js(j->fn, args, nargs, &ret, &exc);
  if (ok && !j->is_void) {
    v8::TryCatch tc(iso);
    ok = to_native_value(iso, ret, result);
    if (!ok && tc.HasCaught())
      exc = tc.Exception();
  }
  if (ok)
    return XF_OK;
  xf_error_t *err = NULL;
  if (exc.IsEmpty() || !error_from_js(iso, exc, &err))
    return XF_EFAILED;
  xf_future_set_error(j->out, err); /* takes over err */
  /* The pool thread's default value: 0 (NULL for a pointer), or void for a
   * string, which C receives as NULL. */
  if (j->ret != XF_C_VOID && j->ret != XF_C_STRING)
    xf_value_new_int(0, result);
  return XF_OK;
}

static void job_free(void *data) {
  Job *j = static_cast<Job *>(data);
  obj_release(j->fn, NULL);
  xf_future_unref(j->out);
  delete j;
}

static void job_closure_done(xf_future_t *, void *) {}

static void job_closure_free(void *data) {
  xf_closure_unref(static_cast<xf_closure_t *>(data));
}

/* The job for fn, the function of a closure of this environment called with
 * its own signature sig; *out is the job's future. false when fn is not
 * such a closure (*out NULL) or on an error (thrown, *out NULL). */
static bool submit_job(xf_executor_t *ex, Obj *fn, xf_signature_t *sig,
                       const std::vector<xf_value_t *> &vals, xf_future_t **out) {
  *out = NULL;
  bool is_void = xf_signature_return_type(sig) == XF_C_VOID;
  xf_signature_t *callsig = xf_signature_ref(sig);
  int rc = XF_OK;
  if (is_void) {
    std::string text = std::string("pointer") + (xf_signature_text(sig) + 4);
    xf_signature_unref(callsig);
    callsig = NULL;
    rc = xf_signature_parse(text.c_str(), NULL, 0, &callsig);
  }
  xf_future_t *f = NULL, *g = NULL;
  xf_closure_t *k = NULL;
  Job *j = NULL;
  if (rc == XF_OK)
    rc = xf_future_new(&f);
  if (rc == XF_OK) {
    fn->refs.fetch_add(1);
    j = new Job{fn, xf_future_ref(f), is_void, xf_signature_return_type(sig)};
    rc = xf_closure_new_sig(callsig, job_handler, j, job_free, fn->s->loop, &k);
    if (rc != XF_OK)
      job_free(j);
  }
  if (rc == XF_OK)
    rc = xf_executor_submit_native_sig(ex, xf_closure_code(k), callsig, vals.data(),
                                       vals.size(), &g);
  /* The closure lives until the job's future is done: its code may be
   * called until then. */
  if (rc == XF_OK &&
      xf_future_add_done_callback(g, job_closure_done, k, job_closure_free, NULL) == XF_OK)
    k = NULL;
  if (rc == XF_OK)
    rc = xf_future_chain(g, f);
  xf_closure_unref(k);
  xf_future_unref(g);
  xf_signature_unref(callsig);
  if (rc != XF_OK) {
    xf_future_unref(f);
    std::string msg = std::string("submitNative(") + xf_signature_text(sig) + ")";
    throw_code(rc, msg.c_str());
    return false;
  }
  *out = f;
  return true;
}

/* A closed (freed) handle arrives as NULL: say so instead of crashing. */
static bool xf__js_check(const void *h, const char *what) {
  if (h)
    return true;
  throw_code(XF_ECLOSED, what);
  return false;
}

static bool get_pointer(v8::Local<v8::Value> v, void **out) {
  if (v->IsExternal()) {
    *out = v.As<v8::External>()->Value();
    return true;
  }
  if (v->IsBigInt()) {
    bool lossless = false;
    *out = (void *) (uintptr_t) v.As<v8::BigInt>()->Uint64Value(&lossless);
    return lossless;
  }
  return false;
}

static bool future_list(v8::Local<v8::Value> v, std::vector<xf_future_t *> *out);

} // namespace xfjs

using namespace xfjs;

/* xf:lang-specific: the addon's context-aware entry point */
/* The addon's entry point for each environment. SWIG's own registration
 * (a static constructor, left out by not defining BUILDING_NODE_EXTENSION)
 * runs once per process, so a second thread loading the addon at the same
 * time would find no module; Node looks this well-known symbol up on every
 * load instead, which is what makes the addon context-aware. SWIG's type
 * table is process-wide and made by the first initialisation: a lock keeps
 * two threads from making it at once. */
void xfutures_native_initialize(v8::Local<v8::Object> exports, v8::Local<v8::Value> module,
                                v8::Local<v8::Context> context, void *priv);
NODE_MODULE_INIT() {
  static std::mutex init_lock;
  std::lock_guard<std::mutex> lock(init_lock);
  xfutures_native_initialize(exports, module, context, nullptr);
}
/* xf:end */
%}

/* JavaScript values pass through as they are. */
%typemap(in) v8::Local<v8::Value> "$1 = $input;"
%typemap(out) v8::Local<v8::Value> "$result = $1;"

/* ---- The shared declaration ---------------------------------------------
 *
 * bindings/common/api.i declares the core's calls once; Node gives it its
 * typemaps and one %exception (XF_CHECKED). Handles travel as SWIG pointer
 * objects whose references index.js owns and drops (explicitly, or from a
 * FinalizationRegistry), so the shared handle classes, whose destructors
 * would drop them a second time, are left out, as is whatever would let
 * JavaScript run, close or rewire its environment's owner loop: that loop is
 * this file's (the `loop` parameter is always it). Calls whose arguments
 * are callables or values have no Node typemap yet; the hand-written js_*
 * functions below make them. The names index.js uses are kept. */
%ignore xf_future;
%ignore xf_executor;
%ignore xf_loop;
%ignore xf_closure;
%ignore xf_loop_new;
%ignore xf_loop_close;
%ignore xf_loop_stop;
%ignore xf_loop_run;
%ignore xf_loop_create_future;
%ignore xf_loop_set_exception_handler;
%ignore xf_loop_run_in_executor;
%ignore xf_loop_add_reader;
%ignore xf_loop_remove_reader;
%ignore xf_future_add_done_callback;
%ignore xf_future_remove_done_callback;
%ignore xf_future_outcome;
%ignore xf_executor_submit_native_sig;
%ignore xf_executor_stats;
%ignore xf_executor_shutdown;
%ignore xf_closure_new_sig;
%ignore xf_closure_code;
%ignore xf_closure_signature;
%ignore xf_signature_text;
%ignore xf_future_timeout;
%ignore xf_loop_sleep;
%ignore xf_process_pool_submit_payload;
%ignore xf_process_pool_terminate;
%ignore xf_process_pool_kill;
%ignore xf_mpi_available;
%ignore xf_mpi_world;
%ignore xf_mpi_serve_open;
%ignore xf_mpi_serve_wait;
%ignore xf_mpi_world_release;
%rename(js_future_new) xf_future_new;
%rename(js_shield) xf_future_shield;
%rename(js_future_chain) xf_future_chain;

/* A negative code is the core's error, named after the call; afterwards the
 * owner loop may have work (a chain, a shield), so it is armed again. */
%define XF_CHECKED(fn)
%exception fn %{
  $action
  rearm();
  if (result < 0) {
    throw_code(result, "$symname");
    SWIG_fail;
  }
%}
%enddef
/* JavaScript's thread has no lock to let go of around a wait. */
%define XF_BLOCKING(fn)
%enddef
%define XF_BLOCKING_CHECKED(fn)
XF_CHECKED(fn)
%enddef

%typemap(in, numinputs = 0) xf_loop_t *loop, const xf_loop_t *loop "$1 = cur->loop;"
/* A new future: the result, a handle index.js owns. */
%typemap(in, numinputs = 0) xf_future_t **out (xf_future_t *made = NULL) "$1 = &made;"
%typemap(argout) xf_future_t **out "$result = SWIG_NewPointerObj(made$argnum, SWIGTYPE_p_xf_future, 0);"
/* An array of futures. */
%typemap(in) (xf_future_t *const *fs, size_t n) (std::vector<xf_future_t *> list) {
  if (!future_list($input, &list))
    SWIG_fail;
  $1 = list.data();
  $2 = list.size();
}

%include "../common/api.i"

/* Dropping the references index.js owns. */
void xf_future_unref(xf_future_t *f);
%rename(executor_unref) xf_js_executor_unref;
%inline %{
/* xf_executor_unref for index.js: the pool is no longer the environment's
 * to shut down at its end. */
void xf_js_executor_unref(xf_executor_t *ex) {
  if (cur)
    cur->pools.erase(ex);
  xf_executor_unref(ex);
}
%}
void xf_closure_unref(xf_closure_t *c);

%{
namespace xfjs {
static bool future_list(v8::Local<v8::Value> v, std::vector<xf_future_t *> *out) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  if (!v->IsArray()) {
    throw_type("expected an array of futures");
    return false;
  }
  v8::Local<v8::Array> a = v.As<v8::Array>();
  for (uint32_t i = 0; i < a->Length(); i++) {
    v8::Local<v8::Value> item;
    void *p = NULL;
    if (!a->Get(ctx, i).ToLocal(&item) ||
        !SWIG_IsOK(SWIG_ConvertPtr(item, &p, SWIGTYPE_p_xf_future, 0)) || !p) {
      throw_type("expected an array of futures");
      return false;
    }
    out->push_back(static_cast<xf_future_t *>(p));
  }
  return true;
}
} // namespace xfjs
%}

/* xf:lang-specific: the environment's state, made on its thread */
%inline %{
/* Set up the environment's state on its thread (the main thread or a
 * Worker's): the owner loop in its libuv loop, the JavaScript layer's
 * dispatcher, error factory and reporter, and the cleanup hook that tears it
 * down. Called once per environment by index.js. */
void xf_js_init(v8::Local<v8::Value> dispatch, v8::Local<v8::Value> make_error,
                v8::Local<v8::Value> report) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  if (cur) {
    throw_code(XF_ESTATE, "js_init");
    return;
  }
  if (!dispatch->IsFunction() || !make_error->IsFunction() || !report->IsFunction()) {
    throw_type("js_init expects three functions");
    return;
  }
  xf_loop_t *loop = NULL;
  int rc = xf_loop_new(&loop);
  if (rc != XF_OK) {
    throw_code(rc, "cannot make the owner loop");
    return;
  }
  State *s = new State();
  s->loop = loop;
  s->iso = iso;
  s->thread = std::this_thread::get_id();
  s->ctx.Reset(iso, iso->GetCurrentContext());
  s->dispatch.Reset(iso, dispatch.As<v8::Function>());
  s->make_error.Reset(iso, make_error.As<v8::Function>());
  s->report.Reset(iso, report.As<v8::Function>());
  s->hooks = {sizeof(xf_object_hooks_t), "node", obj_retain, obj_release, NULL, loop};
  xf_loop_set_exception_handler(loop, exception_handler, s, NULL);
  uv_loop_t *uvl = node::GetCurrentEventLoop(iso);
  uv_poll_init(uvl, &s->poll, xf_loop_backend_fd(loop));
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_poll);
  uv_timer_init(uvl, &s->timer);
  s->timer.data = s;
  s->hook = node::AddEnvironmentCleanupHook(iso, teardown, s);
  cur = s;
  update_refs();
}

/* The number of registrations that keep the process alive. */
double xf_js_observed(void) {
  return (double) cur->observed.load();
}

%}
/* xf:end */

%inline %{
/* The calling thread's kernel id (the main thread's equals process.pid). */
double xf_js_thread_id(void) {
  return (double) syscall(SYS_gettid);
}


/* Register a done callback that lands in the dispatcher with the returned
 * id. keep_alive: the process stays alive until it ran or was removed. */
double xf_js_future_add_done(xf_future_t *f, bool keep_alive) {
  if (!xf__js_check(f, "onDone"))
    return 0;
  Reg *r = new Reg{state_ref(cur), keep_alive};
  if (keep_alive)
    cur->observed.fetch_add(1);
  int rc = xf_future_add_done_callback(f, done_cb, r, done_free, cur->loop);
  if (rc != XF_OK) {
    done_free(r);
    throw_code(rc, "onDone");
    return 0;
  }
  rearm();
  return (double) (uintptr_t) r;
}

int xf_js_future_remove_done(xf_future_t *f, double id) {
  if (!xf__js_check(f, "offDone"))
    return 0;
  int n = xf_future_remove_done_callback(f, done_cb, (void *) (uintptr_t) id);
  rearm();
  return n < 0 ? 0 : n;
}

void xf_js_future_set_result(xf_future_t *f, v8::Local<v8::Value> v) {
  if (!xf__js_check(f, "setResult"))
    return;
  xf_value_t *value = NULL;
  if (!to_value(v8::Isolate::GetCurrent(), v, &value, 0))
    return;
  int rc = xf_future_set_result(f, value);
  rearm();
  if (rc != XF_OK)
    throw_code(rc, "setResult");
}

void xf_js_future_set_error(xf_future_t *f, v8::Local<v8::Value> e) {
  if (!xf__js_check(f, "setError"))
    return;
  xf_error_t *err = NULL;
  if (!error_from_js(v8::Isolate::GetCurrent(), e, &err))
    return;
  int rc = xf_future_set_error(f, err);
  rearm();
  if (rc != XF_OK)
    throw_code(rc, "setError");
}

bool xf_js_future_cancel(xf_future_t *f, const char *msg) {
  if (!xf__js_check(f, "cancel"))
    return false;
  int rc = xf_future_cancel_msg(f, msg && *msg ? msg : NULL);
  rearm();
  return rc == XF_OK;
}

/* The value of a done future; throws its error. A pending future would make
 * the main thread wait for itself, so that is refused. */
v8::Local<v8::Value> xf_js_future_result(xf_future_t *f) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  if (!xf__js_check(f, "result"))
    return v8::Undefined(iso);
  xf_value_t *v = NULL;
  xf_error_t *e = NULL;
  if (!read_outcome(f, &v, &e, "result"))
    return v8::Undefined(iso);
  if (e) {
    throw_error(e);
    xf_error_unref(e);
    return v8::Undefined(iso);
  }
  v8::Local<v8::Value> js = to_js(iso, v);
  xf_value_unref(v);
  return js;
}

/* The error of a done future (a CancelledError when cancelled), or
 * undefined when it holds a value. Refused while pending, as result. */
v8::Local<v8::Value> xf_js_future_exception(xf_future_t *f) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  if (!xf__js_check(f, "exception"))
    return v8::Undefined(iso);
  xf_error_t *e = NULL;
  if (!read_outcome(f, NULL, &e, "exception") || !e)
    return v8::Undefined(iso);
  v8::Local<v8::Value> js = error_to_js(iso, e);
  xf_error_unref(e);
  return js;
}

/* [kind name, xf_value_repr's text] of a done future's value; an error or a
 * cancellation as an error value. A pending future is InvalidStateError. */
v8::Local<v8::Value> xf_js_core_repr(xf_future_t *f) {
  static const char *const kinds[] = {"void",   "bool",  "int",     "double",
                                      "string", "bytes", "list",    "pointer",
                                      "object", "error", "map"};
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  if (!xf__js_check(f, "coreRepr"))
    return v8::Undefined(iso);
  if (!xf_future_done(f)) {
    throw_code(XF_ESTATE, "coreRepr: the future is not done");
    return v8::Undefined(iso);
  }
  xf_value_t *v = NULL;
  xf_error_t *e = NULL;
  if (!read_outcome(f, &v, &e, "coreRepr"))
    return v8::Undefined(iso);
  if (e) {
    int rc = xf_value_new_error(e, &v);
    xf_error_unref(e);
    if (rc != XF_OK) {
      throw_code(rc, "coreRepr");
      return v8::Undefined(iso);
    }
  }
  std::string text(xf_value_repr(v, NULL, 0), '\0');
  xf_value_repr(v, &text[0], text.size() + 1);
  int kind = xf_value_kind(v);
  xf_value_unref(v);
  v8::Local<v8::Array> out = v8::Array::New(iso, 2);
  out->Set(ctx, 0, str(iso, kind >= 0 && kind <= XF_KIND_MAP ? kinds[kind] : "invalid"))
      .FromMaybe(false);
  out->Set(ctx, 1, str(iso, text.data(), (int) text.size())).FromMaybe(false);
  return out;
}

/* ---- Executors ----------------------------------------------------------- */

xf_executor_t *xf_js_thread_pool_new(int max_workers, const char *prefix) {
  if (max_workers < 0) {
    throw_code(XF_EINVAL, "ThreadPool: maxWorkers must be 0 (default) or more");
    return NULL;
  }
  xf_thread_pool_options_t opts = XF_THREAD_POOL_OPTIONS_INIT;
  opts.max_workers = (uint32_t) max_workers;
  opts.thread_name_prefix = prefix;
  xf_executor_t *ex = NULL;
  int rc = xf_thread_pool_new(&opts, &ex);
  if (rc != XF_OK)
    throw_code(rc, "ThreadPool");
  else
    cur->pools.insert(ex);
  return ex;
}

void xf_js_executor_shutdown(xf_executor_t *ex, bool wait, bool cancel_futures) {
  if (!xf__js_check(ex, "shutdown"))
    return;
  int rc = xf_executor_shutdown(ex, wait, cancel_futures);
  rearm();
  if (rc != XF_OK)
    throw_code(rc, "shutdown");
}

v8::Local<v8::Value> xf_js_executor_stats(xf_executor_t *ex) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  if (!xf__js_check(ex, "stats"))
    return v8::Undefined(iso);
  xf_executor_stats_t st = XF_EXECUTOR_STATS_INIT;
  int rc = xf_executor_stats(ex, &st);
  if (rc != XF_OK) {
    throw_code(rc, "stats");
    return v8::Undefined(iso);
  }
  v8::Local<v8::Object> o = v8::Object::New(iso);
  o->Set(ctx, str(iso, "queued"), v8::Number::New(iso, (double) st.queued)).FromMaybe(false);
  o->Set(ctx, str(iso, "running"), v8::Number::New(iso, (double) st.running)).FromMaybe(false);
  o->Set(ctx, str(iso, "completed"), v8::Number::New(iso, (double) st.completed)).FromMaybe(false);
  o->Set(ctx, str(iso, "cancelled"), v8::Number::New(iso, (double) st.cancelled)).FromMaybe(false);
  o->Set(ctx, str(iso, "threads"), v8::Number::New(iso, st.threads)).FromMaybe(false);
  o->Set(ctx, str(iso, "maxWorkers"), v8::Number::New(iso, st.max_workers)).FromMaybe(false);
  return o;
}

/* Run the C function fn (a pointer: External or BigInt address) with the
 * arguments of the array args on ex. */
xf_future_t *xf_js_submit_native(xf_executor_t *ex, v8::Local<v8::Value> fn,
                                 const char *signature, v8::Local<v8::Value> args) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  if (!xf__js_check(ex, "submitNative"))
    return NULL;
  void *p = NULL;
  if (!get_pointer(fn, &p) || !p) {
    throw_type("submitNative: fn must be a native function pointer (xf.symbol(), a "
               "Callback, or a BigInt address)");
    return NULL;
  }
  xf_signature_t *sig = check_signature("submitNative", signature);
  if (!sig)
    return NULL;
  v8::Local<v8::Array> a = args.As<v8::Array>();
  std::vector<xf_value_t *> vals;
  bool ok = args->IsArray();
  for (uint32_t i = 0; ok && i < a->Length(); i++) {
    v8::Local<v8::Value> item;
    xf_value_t *v = NULL;
    ok = a->Get(ctx, i).ToLocal(&item) && to_native_value(iso, item, &v);
    if (ok)
      vals.push_back(v);
  }
  xf_future_t *f = NULL;
  Obj *job_fn = NULL;
  if (ok) {
    std::lock_guard<std::mutex> lock(cur->mu);
    auto it = cur->callbacks.find(p);
    if (it != cur->callbacks.end() &&
        std::strcmp(xf_signature_text(sig),
                    xf_signature_text(xf_closure_signature(it->second->closure))) == 0)
      job_fn = it->second;
  }
  if (ok && job_fn) {
    submit_job(ex, job_fn, sig, vals, &f);
  } else if (ok) {
    int rc = xf_executor_submit_native_sig(ex, p, sig, vals.data(), vals.size(), &f);
    if (rc != XF_OK) {
      std::string msg = std::string("submitNative(") + xf_signature_text(sig) + ")";
      throw_code(rc, msg.c_str());
    }
  }
  for (xf_value_t *v : vals)
    xf_value_unref(v);
  xf_signature_unref(sig);
  return f;
}

/* The address of a C function or variable by name, from the process and
 * the libraries it has loaded; throws when there is none. */
v8::Local<v8::Value> xf_js_symbol(const char *name) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  void *p = name ? dlsym(RTLD_DEFAULT, name) : NULL;
  if (!p) {
    std::string msg = std::string("no native symbol named ") + (name ? name : "(null)");
    iso->ThrowException(make_error(iso, "ValueError", msg.c_str(), NULL, XF_EINVAL));
    return v8::Undefined(iso);
  }
  return v8::External::New(iso, p);
}

v8::Local<v8::Value> xf_js_pointer_address(v8::Local<v8::Value> p) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  void *ptr = NULL;
  if (!get_pointer(p, &ptr)) {
    throw_type("expected a native pointer");
    return v8::Undefined(iso);
  }
  return v8::BigInt::NewFromUnsigned(iso, (uint64_t) (uintptr_t) ptr);
}

/* ---- Closures ------------------------------------------------------------ */

xf_closure_t *xf_js_closure_new(const char *signature, v8::Local<v8::Value> fn) {
  if (!fn->IsFunction()) {
    throw_type("callback: fn must be a function");
    return NULL;
  }
  xf_signature_t *sig = check_signature("callback", signature);
  if (!sig)
    return NULL;
  Obj *j = obj_new(cur, fn);
  j->refs.store(1);
  xf_closure_t *c = NULL;
  int rc = xf_closure_new_sig(sig, closure_handler, j, jsfn_free, cur->loop, &c);
  xf_signature_unref(sig);
  if (rc != XF_OK) {
    obj_drop(j);
    throw_code(rc, "callback");
    return NULL;
  }
  j->code = xf_closure_code(c);
  j->closure = c;
  std::lock_guard<std::mutex> lock(cur->mu);
  cur->callbacks[j->code] = j;
  return c;
}

v8::Local<v8::Value> xf_js_closure_pointer(xf_closure_t *c) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  if (!xf__js_check(c, "callback"))
    return v8::Undefined(iso);
  return v8::External::New(iso, xf_closure_code(c));
}

const char *xf_js_closure_signature(xf_closure_t *c) {
  return xf_signature_text(xf_closure_signature(c));
}

/* ---- Combinators --------------------------------------------------------- */

/* kind: 0 all (flag: collect errors), 1 any, 2 first (flag: cancel the
 * rest). */
xf_future_t *xf_js_combine(int kind, v8::Local<v8::Value> fs, bool flag) {
  std::vector<xf_future_t *> list;
  if (!future_list(fs, &list))
    return NULL;
  xf_future_t *out = NULL;
  int rc;
  if (kind == 0)
    rc = xf_future_all(list.data(), list.size(), flag ? XF_ALL_COLLECT : 0, &out);
  else if (kind == 1)
    rc = xf_future_any(list.data(), list.size(), flag, &out);
  else
    rc = xf_future_first(list.data(), list.size(), flag, &out);
  rearm();
  if (rc != XF_OK)
    throw_code(rc, kind == 0 ? "all" : kind == 1 ? "any" : "first");
  return out;
}

xf_future_t *xf_js_timeout(xf_future_t *f, double ms) {
  if (!xf__js_check(f, "withTimeout"))
    return NULL;
  if (std::isnan(ms)) {
    throw_code(XF_EINVAL, "withTimeout: ms must be a number");
    return NULL;
  }
  int64_t ns = ms < 0 || std::isinf(ms) ? -1 : (int64_t) (ms * 1e6);
  xf_future_t *out = NULL;
  int rc = xf_future_timeout(cur->loop, f, ns, &out);
  rearm();
  if (rc != XF_OK)
    throw_code(rc, "withTimeout");
  return out;
}


xf_future_t *xf_js_sleep(double ms) {
  if (std::isnan(ms) || ms < 0) {
    throw_code(XF_EINVAL, "sleep: ms must be a number >= 0");
    return NULL;
  }
  xf_future_t *out = NULL;
  int rc = xf_loop_sleep(cur->loop, (int64_t) (ms * 1e6), &out);
  rearm();
  if (rc != XF_OK)
    throw_code(rc, "sleep");
  return out;
}
%}

/* ---- Chain and bounded pools ---------------------------------------------- */

%inline %{

/* A thread pool with a bounded queue. It always rejects when full (submit
 * fails with XF_EAGAIN): the main thread never blocks, and index.js makes a
 * 'block' pool wait for room asynchronously. */
xf_executor_t *xf_js_thread_pool_bounded(int max_workers, const char *prefix,
                                         double max_queue) {
  if (max_workers < 0) {
    throw_code(XF_EINVAL, "ThreadPool: maxWorkers must be 0 (default) or more");
    return NULL;
  }
  if (!(max_queue >= 0) || max_queue > 1e15) {
    throw_code(XF_EINVAL, "ThreadPool: maxQueue must be 0 (unbounded) or more");
    return NULL;
  }
  xf_thread_pool_options_t opts = XF_THREAD_POOL_OPTIONS_INIT;
  opts.max_workers = (uint32_t) max_workers;
  opts.thread_name_prefix = prefix;
  opts.max_queue = (size_t) max_queue;
  opts.queue_policy = XF_QUEUE_REJECT;
  xf_executor_t *ex = NULL;
  int rc = xf_thread_pool_new(&opts, &ex);
  if (rc != XF_OK)
    throw_code(rc, "ThreadPool");
  else
    cur->pools.insert(ex);
  return ex;
}
%}

/* ---- File descriptors ------------------------------------------------------ */

%{
namespace xfjs {
/* A JavaScript reader of an fd. The core frees it (reader_free) when it is
 * removed or replaced, or when teardown closes the loop, always on the
 * environment's thread, the only one that runs its owner loop. While it exists it keeps the process alive, as a watched
 * handle of Node's does. */
struct JsReader {
  v8::Global<v8::Function> fn;
};

static void reader_free(void *data) {
  delete static_cast<JsReader *>(data);
  cur->observed.fetch_sub(1);
  update_refs();
}

/* Inside run_batch: the handle scope, context and callback scope are open.
 * An exception goes to the exception handler as the JavaScript value itself,
 * which makes it an uncaught exception, as in any Node callback. */
static void reader_cb(int fd, void *data) {
  v8::Isolate *iso = cur->iso;
  v8::HandleScope hs(iso);
  v8::Local<v8::Context> ctx = cur->ctx.Get(iso);
  v8::Local<v8::Function> fn = static_cast<JsReader *>(data)->fn.Get(iso);
  v8::Local<v8::Value> argv[1] = {v8::Integer::New(iso, fd)};
  v8::TryCatch tc(iso);
  if (!fn->Call(ctx, v8::Undefined(iso), 1, argv).IsEmpty() || !tc.HasCaught())
    return;
  v8::Local<v8::Value> exc = tc.Exception();
  tc.Reset();
  xf_error_t *err = NULL;
  if (error_from_js(iso, exc, &err)) {
    xf_loop_call_exception_handler(cur->loop, "a JavaScript reader threw", err);
    xf_error_unref(err);
  }
}
} // namespace xfjs
%}

%inline %{
/* xf_loop_add_reader on the owner loop: fn(fd) on the main thread each time
 * fd is readable, until xf_js_remove_reader(fd). */
void xf_js_add_reader(int fd, v8::Local<v8::Value> fn) {
  if (!fn->IsFunction()) {
    throw_type("addReader expects a function");
    return;
  }
  JsReader *r = new JsReader();
  r->fn.Reset(v8::Isolate::GetCurrent(), fn.As<v8::Function>());
  cur->observed.fetch_add(1);
  int rc = xf_loop_add_reader(cur->loop, fd, reader_cb, r, reader_free);
  if (rc != XF_OK) {
    delete r;
    cur->observed.fetch_sub(1);
    throw_code(rc, "addReader");
    return;
  }
  update_refs();
  rearm();
}

/* xf_loop_remove_reader: true if a reader was removed. */
bool xf_js_remove_reader(int fd) {
  int rc = xf_loop_remove_reader(cur->loop, fd);
  rearm();
  if (rc < 0) {
    throw_code(rc, "removeReader");
    return false;
  }
  return rc == 1;
}
%}

/* ==== The process pool (process.js, worker.js) ============================
 *
 * ProcessPool runs on the core's process pool with the Node worker
 * (node worker.js), and both speak the frames of docs/wire-protocol.md in
 * the language "node". The pool, its workers and its frames are the core's;
 * this section only translates:
 *
 * - the wire codec for the worker: JavaScript values to and from the core's
 *   CBOR (xf_value_encode, xf_value_decode, xf_error_encode), so that the
 *   worker never parses CBOR itself. The wire has its own conversions rather
 *   than to_value/to_js above because a value must be data to cross: a plain
 *   object or a Map becomes a map (not a held object), and a function or an
 *   instance of a class is a TypeError instead of a handle that would mean
 *   nothing in another process;
 * - the pool's functions (new, submit_payload, terminate, kill, stats), and
 *   the result of a task's future read with the wire's conversion, so that a
 *   map comes back as a plain object.
 *
 * Nothing here blocks but terminate and kill, which wait for the workers to
 * be gone (they are SIGKILLed at the latest after the grace period).
 */

%{
#include <sys/prctl.h>
#include <csignal>
#include <cstdlib>

namespace xfjs {

/* The code an error thrown in JavaScript crosses with: its errno when it is
 * an error of the core's (its code names the errno: a Node system error's
 * errno is the OS's, not ours), else the code of its type name. A
 * CancelledError thrown by user code is a plain failure, never the core's
 * cancellation. */
static int wire_error_code(v8::Isolate *iso, v8::Local<v8::Value> e, const std::string &name) {
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  v8::Local<v8::Value> n;
  bool has_code = false;
  std::string code_name = prop_string(iso, e, "code", &has_code);
  if (has_code && e.As<v8::Object>()->Get(ctx, str(iso, "errno")).ToLocal(&n) &&
      n->IsInt32()) {
    int c = n.As<v8::Int32>()->Value();
    if (c < 0 && c != XF_ECANCELLED && code_name == xf_err_name(c))
      return c;
  }
  int code = xf_error_code_of_type(name.c_str());
  return code == XF_ECANCELLED || code == XF_EINVAL ? XF_EFAILED : code;
}

/* An Error as a wire error: name, message and stack, no payload (a live
 * JavaScript object has no meaning in another process). */
static bool wire_error_from_js(v8::Isolate *iso, v8::Local<v8::Value> e, xf_error_t **out) {
  bool has_name = false, has_msg = false, has_stack = false;
  std::string name = prop_string(iso, e, "name", &has_name);
  std::string msg = prop_string(iso, e, "message", &has_msg);
  std::string stack = prop_string(iso, e, "stack", &has_stack);
  if (!has_name || name.empty())
    name = "Error";
  int rc = xf_error_new_full(wire_error_code(iso, e, name), name.c_str(), msg.c_str(),
                             has_stack ? stack.c_str() : NULL, NULL, out);
  if (rc != XF_OK) {
    throw_code(rc, "cannot convert the error");
    return false;
  }
  return true;
}

/* What a value that cannot cross is, for the TypeError that says so. */
static std::string wire_describe(v8::Isolate *iso, v8::Local<v8::Value> v) {
  if (v->IsFunction())
    return "a function";
  if (v->IsSymbol())
    return "a symbol";
  if (v->IsExternal())
    return "a native pointer";
  if (v->IsObject()) {
    v8::String::Utf8Value c(iso, v.As<v8::Object>()->GetConstructorName());
    return std::string("an instance of ") + (*c ? *c : "an unknown class");
  }
  return "a value of this type";
}

/* A plain object: its prototype is Object.prototype or null. */
static bool wire_plain_object(v8::Isolate *iso, v8::Local<v8::Value> v) {
  if (!v->IsObject() || v->IsFunction() || v->IsArray() || v->IsMap() ||
      v->IsArrayBufferView() || v->IsNativeError() || v->IsProxy())
    return false;
  v8::Local<v8::Value> proto = v.As<v8::Object>()->GetPrototype();
  if (proto->IsNull())
    return true;
  if (!proto->IsObject())
    return false;
  v8::Local<v8::Value> pp = proto.As<v8::Object>()->GetPrototype();
  v8::Local<v8::String> ctor = proto.As<v8::Object>()->GetConstructorName();
  v8::String::Utf8Value c(iso, ctor);
  return pp->IsNull() && *c && std::strcmp(*c, "Object") == 0;
}

static bool wire_map_from_pairs(v8::Isolate *iso, v8::Local<v8::Array> pairs,
                                xf_value_t **out, int depth);

/* A JavaScript value as a core value that has an encoding; on failure a
 * JavaScript exception is pending and false returned. */
static bool wire_from_js(v8::Isolate *iso, v8::Local<v8::Value> v, xf_value_t **out, int depth) {
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  int rc = XF_OK;
  *out = NULL;
  if (depth > XF_CODEC_MAX_DEPTH / 2) {
    iso->ThrowException(
        v8::Exception::RangeError(str(iso, "value nested too deeply to cross (a cycle?)")));
    return false;
  }
  if (v->IsUndefined() || v->IsNull()) {
    *out = xf_value_void();
  } else if (v->IsBoolean()) {
    *out = xf_value_bool(v->BooleanValue(iso));
  } else if (v->IsNumber()) {
    double d = v.As<v8::Number>()->Value();
    if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) <= max_safe)
      rc = xf_value_new_int((int64_t) d, out);
    else
      rc = xf_value_new_double(d, out);
  } else if (v->IsBigInt()) {
    bool lossless = false;
    int64_t i = v.As<v8::BigInt>()->Int64Value(&lossless);
    if (!lossless) {
      iso->ThrowException(
          v8::Exception::RangeError(str(iso, "BigInt out of range: must fit in int64")));
      return false;
    }
    rc = xf_value_new_int(i, out);
  } else if (v->IsString()) {
    v8::String::Utf8Value s(iso, v);
    rc = xf_value_new_string(*s ? *s : "", *s ? (size_t) s.length() : 0, out);
  } else if (v->IsArrayBufferView()) {
    v8::Local<v8::ArrayBufferView> view = v.As<v8::ArrayBufferView>();
    std::vector<char> buf(view->ByteLength());
    if (!buf.empty())
      view->CopyContents(buf.data(), buf.size());
    rc = xf_value_new_bytes(buf.data(), buf.size(), out);
  } else if (v->IsArray()) {
    v8::Local<v8::Array> a = v.As<v8::Array>();
    uint32_t n = a->Length();
    std::vector<xf_value_t *> items(n, nullptr);
    bool ok = true;
    for (uint32_t i = 0; i < n && ok; i++) {
      v8::Local<v8::Value> item;
      ok = a->Get(ctx, i).ToLocal(&item) && wire_from_js(iso, item, &items[i], depth + 1);
    }
    if (ok)
      rc = xf_value_new_list(items.data(), n, out);
    for (xf_value_t *item : items)
      xf_value_unref(item);
    if (!ok)
      return false;
  } else if (v->IsMap()) {
    return wire_map_from_pairs(iso, v.As<v8::Map>()->AsArray(), out, depth);
  } else if (v->IsNativeError()) {
    xf_error_t *err = NULL;
    if (!wire_error_from_js(iso, v, &err))
      return false;
    rc = xf_value_new_error(err, out);
    xf_error_unref(err);
  } else if (wire_plain_object(iso, v)) {
    v8::Local<v8::Array> names;
    if (!v.As<v8::Object>()
             ->GetOwnPropertyNames(ctx, v8::ONLY_ENUMERABLE,
                                   v8::KeyConversionMode::kConvertToString)
             .ToLocal(&names))
      return false;
    /* Flatten to key, value, key, value... as Map.prototype.AsArray does. */
    uint32_t n = names->Length();
    v8::Local<v8::Array> pairs = v8::Array::New(iso, (int) (2 * n));
    for (uint32_t i = 0; i < n; i++) {
      v8::Local<v8::Value> k, val;
      if (!names->Get(ctx, i).ToLocal(&k) || !v.As<v8::Object>()->Get(ctx, k).ToLocal(&val))
        return false;
      pairs->Set(ctx, 2 * i, k).FromMaybe(false);
      pairs->Set(ctx, 2 * i + 1, val).FromMaybe(false);
    }
    return wire_map_from_pairs(iso, pairs, out, depth);
  } else {
    std::string msg = "cannot cross to another process: " + wire_describe(iso, v) +
                      " (values cross as data: undefined, null, booleans, numbers, BigInt, "
                      "strings, bytes, arrays, plain objects, Maps and Errors)";
    iso->ThrowException(v8::Exception::TypeError(str(iso, msg.c_str())));
    return false;
  }
  if (rc != XF_OK) {
    throw_code(rc, "cannot convert the value");
    return false;
  }
  return true;
}

/* A map of pairs, flattened as key, value, key, value... (a Map's keys are
 * any values, an object's are its property names). */
static bool wire_map_from_pairs(v8::Isolate *iso, v8::Local<v8::Array> pairs,
                                xf_value_t **out, int depth) {
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  uint32_t n = pairs->Length() / 2;
  std::vector<xf_value_t *> keys(n, nullptr), vals(n, nullptr);
  bool ok = true;
  for (uint32_t i = 0; i < n && ok; i++) {
    v8::Local<v8::Value> k, val;
    ok = pairs->Get(ctx, 2 * i).ToLocal(&k) && pairs->Get(ctx, 2 * i + 1).ToLocal(&val) &&
         wire_from_js(iso, k, &keys[i], depth + 1) &&
         wire_from_js(iso, val, &vals[i], depth + 1);
  }
  int rc = XF_OK;
  if (ok)
    rc = xf_value_new_map(keys.data(), vals.data(), n, out);
  for (uint32_t i = 0; i < n; i++) {
    xf_value_unref(keys[i]);
    xf_value_unref(vals[i]);
  }
  if (!ok)
    return false;
  if (rc != XF_OK) {
    throw_code(rc, "cannot convert the value");
    return false;
  }
  return true;
}

/* A map as JavaScript, its keys and values converted by item: a plain
 * object when every key is a string or a number (an ordinary {}), a Map
 * otherwise. Shared by to_js and the wire. On failure a JavaScript exception
 * is pending. */
static bool map_to_js(v8::Isolate *iso, xf_value_t *v, map_item_fn item,
                      v8::Local<v8::Value> *out) {
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  size_t n = 0;
  xf_value_map_len(v, &n);
  bool plain = true;
  for (size_t i = 0; i < n && plain; i++) {
    xf_value_t *k = NULL, *val = NULL;
    xf_value_map_get(v, i, &k, &val);
    int kind = xf_value_kind(k);
    plain = kind == XF_KIND_STRING || kind == XF_KIND_INT;
  }
  v8::Local<v8::Object> obj = v8::Object::New(iso);
  v8::Local<v8::Map> map = v8::Map::New(iso);
  for (size_t i = 0; i < n; i++) {
    xf_value_t *k = NULL, *val = NULL;
    v8::Local<v8::Value> jk, jv;
    xf_value_map_get(v, i, &k, &val);
    if (!item(iso, k, &jk) || !item(iso, val, &jv))
      return false;
    if (plain) {
      v8::Local<v8::String> name;
      if (!jk->ToString(ctx).ToLocal(&name))
        return false;
      /* CreateDataProperty: a key "__proto__" is an own property, never
       * the prototype. */
      if (obj->CreateDataProperty(ctx, name, jv).IsNothing())
        return false;
    } else if (map->Set(ctx, jk, jv).IsEmpty()) {
      return false;
    }
  }
  *out = plain ? v8::Local<v8::Value>(obj) : v8::Local<v8::Value>(map);
  return true;
}

/* A core value as JavaScript, the inverse of wire_from_js: void is
 * undefined, a map as map_to_js makes it, an error an Error of the
 * binding's classes, an opaque payload { runtime, data }. On failure a JavaScript exception is pending and the
 * result is empty. */
static bool wire_to_js(v8::Isolate *iso, xf_value_t *v, v8::Local<v8::Value> *out) {
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  switch (xf_value_kind(v)) {
  case XF_KIND_LIST: {
    size_t n = 0;
    xf_value_list_len(v, &n);
    v8::Local<v8::Array> a = v8::Array::New(iso, (int) n);
    for (size_t i = 0; i < n; i++) {
      xf_value_t *item = NULL;
      v8::Local<v8::Value> js;
      xf_value_list_get(v, i, &item);
      if (!wire_to_js(iso, item, &js))
        return false;
      a->Set(ctx, (uint32_t) i, js).FromMaybe(false);
    }
    *out = a;
    return true;
  }
  case XF_KIND_MAP:
    return map_to_js(iso, v, wire_to_js, out);
  case XF_KIND_ERROR: {
    xf_error_t *e = NULL;
    xf_value_get_error(v, &e);
    *out = make_error(iso, xf_error_type(e), xf_error_message(e), xf_error_traceback(e),
                      xf_error_code(e));
    return true;
  }
  case XF_KIND_OBJECT: {
    const char *runtime = NULL;
    const void *data = NULL;
    size_t len = 0;
    if (xf_value_get_opaque(v, &runtime, &data, &len) == XF_OK) {
      v8::Local<v8::Object> o = v8::Object::New(iso);
      o->Set(ctx, str(iso, "runtime"), str(iso, runtime)).FromMaybe(false);
      o->Set(ctx, str(iso, "data"),
             node::Buffer::Copy(iso, static_cast<const char *>(data), len).ToLocalChecked())
          .FromMaybe(false);
      *out = o;
      return true;
    }
    break;
  }
  case XF_KIND_POINTER:
    break;
  default:
    *out = to_js(iso, v);
    return true;
  }
  throw_type("a value with no wire encoding");
  return false;
}

/* A JavaScript array of strings as a NULL-terminated argv whose strings
 * live in store. */
static bool wire_argv(v8::Isolate *iso, v8::Local<v8::Value> a, std::vector<std::string> *store) {
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  if (!a->IsArray() || a.As<v8::Array>()->Length() == 0) {
    throw_type("ProcessPool: argv must be a non-empty array of strings");
    return false;
  }
  for (uint32_t i = 0; i < a.As<v8::Array>()->Length(); i++) {
    v8::Local<v8::Value> s;
    if (!a.As<v8::Array>()->Get(ctx, i).ToLocal(&s) || !s->IsString()) {
      throw_type("ProcessPool: argv must be a non-empty array of strings");
      return false;
    }
    v8::String::Utf8Value u(iso, s);
    store->push_back(*u ? std::string(*u, u.length()) : std::string());
  }
  return true;
}

} // namespace xfjs
%}

%inline %{
/* One frame item as the core's CBOR bytes (xf_value_encode), a Buffer. */
v8::Local<v8::Value> xf_js_wire_encode(v8::Local<v8::Value> v) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  xf_value_t *value = NULL;
  if (!wire_from_js(iso, v, &value, 0))
    return v8::Undefined(iso);
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = xf_value_encode(value, &buf, &len);
  xf_value_unref(value);
  if (rc != XF_OK) {
    throw_code(rc, "cannot encode the value");
    return v8::Undefined(iso);
  }
  v8::Local<v8::Value> b =
      node::Buffer::Copy(iso, reinterpret_cast<const char *>(buf), len).ToLocalChecked();
  xf_codec_free(buf);
  return b;
}

/* An Error (any thrown value) as the bytes of a wire error (xf_error_encode):
 * its name, message and stack. */
v8::Local<v8::Value> xf_js_wire_encode_error(v8::Local<v8::Value> e) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  xf_error_t *err = NULL;
  if (!wire_error_from_js(iso, e, &err))
    return v8::Undefined(iso);
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = xf_error_encode(err, &buf, &len);
  xf_error_unref(err);
  if (rc != XF_OK) {
    throw_code(rc, "cannot encode the error");
    return v8::Undefined(iso);
  }
  v8::Local<v8::Value> b =
      node::Buffer::Copy(iso, reinterpret_cast<const char *>(buf), len).ToLocalChecked();
  xf_codec_free(buf);
  return b;
}

/* The item of the CBOR bytes of an ArrayBufferView (xf_value_decode); a
 * ValueError-typed error when they are malformed. */
v8::Local<v8::Value> xf_js_wire_decode(v8::Local<v8::Value> data) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  if (!data->IsArrayBufferView()) {
    throw_type("wireDecode expects a Buffer");
    return v8::Undefined(iso);
  }
  v8::Local<v8::ArrayBufferView> view = data.As<v8::ArrayBufferView>();
  std::vector<uint8_t> buf(view->ByteLength());
  if (!buf.empty())
    view->CopyContents(buf.data(), buf.size());
  xf_value_t *v = NULL;
  int rc = xf_value_decode(buf.data(), buf.size(), &v);
  if (rc != XF_OK) {
    throw_code(rc, "malformed frame");
    return v8::Undefined(iso);
  }
  v8::Local<v8::Value> js;
  bool ok = wire_to_js(iso, v, &js);
  xf_value_unref(v);
  return ok ? js : v8::Local<v8::Value>(v8::Undefined(iso));
}

/* What a worker does first: ask for SIGKILL when the parent goes (the
 * thread that spawned it, the pool's manager, which outlives every worker),
 * and say whether the parent is still the pool (XF_PARENT_PID). */
bool xf_js_worker_setup(void) {
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  const char *parent = getenv("XF_PARENT_PID");
  if (parent && *parent && atol(parent) != (long) getppid())
    return false;
  return true;
}

/* A process pool running argv (an array of strings, argv[0] the program):
 * max_workers 0 for the number of CPUs, max_tasks_per_child 0 for
 * unlimited, on_death an xf_worker_death_t, init undefined or the "node"
 * initializer [module, name, [args...]]. */
xf_executor_t *xf_js_process_pool_new(int max_workers, v8::Local<v8::Value> argv,
                                      int max_tasks_per_child, int on_death,
                                      v8::Local<v8::Value> init) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  if (max_workers < 0 || max_tasks_per_child < 0) {
    throw_code(XF_EINVAL, "ProcessPool: maxWorkers and maxTasksPerChild must be 0 or more");
    return NULL;
  }
  std::vector<std::string> store;
  if (!wire_argv(iso, argv, &store))
    return NULL;
  std::vector<const char *> av;
  for (const std::string &s : store)
    av.push_back(s.c_str());
  av.push_back(NULL);
  xf_value_t *payload = NULL;
  if (!init->IsUndefined() && !wire_from_js(iso, init, &payload, 0))
    return NULL;
  xf_process_pool_options_t o = XF_PROCESS_POOL_OPTIONS_INIT;
  o.max_workers = (uint32_t) max_workers;
  o.worker_path = av[0];
  o.worker_argv = av.data();
  o.max_tasks_per_child = (uint32_t) max_tasks_per_child;
  o.on_worker_death = on_death;
  o.init_language = payload ? "node" : NULL;
  o.init_payload = payload;
  xf_executor_t *ex = NULL;
  int rc = xf_process_pool_new(&o, &ex);
  xf_value_unref(payload);
  if (rc != XF_OK)
    throw_code(rc, "ProcessPool");
  return ex;
}

/* Submit the "node" task [module, name, [args...]]; timeout_ms negative for
 * none. Throws (TypeError) when an argument cannot cross, and the core's
 * error when the pool refuses the task. */
xf_future_t *xf_js_process_pool_submit(xf_executor_t *ex, const char *module, const char *name,
                                       v8::Local<v8::Value> args, double timeout_ms) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  if (!xf__js_check(ex, "submit"))
    return NULL;
  if (!args->IsArray() || std::isnan(timeout_ms)) {
    throw_type("submit: args must be an array and timeout a number");
    return NULL;
  }
  v8::Local<v8::Array> task = v8::Array::New(iso, 3);
  task->Set(ctx, 0, str(iso, module)).FromMaybe(false);
  task->Set(ctx, 1, str(iso, name)).FromMaybe(false);
  task->Set(ctx, 2, args).FromMaybe(false);
  xf_value_t *payload = NULL;
  if (!wire_from_js(iso, task, &payload, 0))
    return NULL;
  int64_t ns = timeout_ms < 0 || std::isinf(timeout_ms) ? -1 : (int64_t) (timeout_ms * 1e6);
  xf_future_t *f = NULL;
  int rc = xf_process_pool_submit_payload(ex, "node", payload, ns, &f);
  xf_value_unref(payload);
  if (rc != XF_OK)
    throw_code(rc, "submit");
  return f;
}

/* The value of a done task future, converted as the wire converts (a map
 * is a plain object); throws its error, and refuses a pending future as
 * js_future_result does. */
v8::Local<v8::Value> xf_js_process_future_result(xf_future_t *f) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  if (!xf__js_check(f, "result"))
    return v8::Undefined(iso);
  xf_value_t *v = NULL;
  xf_error_t *e = NULL;
  if (!read_outcome(f, &v, &e, "result"))
    return v8::Undefined(iso);
  if (e) {
    throw_error(e);
    xf_error_unref(e);
    return v8::Undefined(iso);
  }
  v8::Local<v8::Value> js;
  bool ok = wire_to_js(iso, v, &js);
  xf_value_unref(v);
  return ok ? js : v8::Local<v8::Value>(v8::Undefined(iso));
}

/* xf_process_pool_terminate (grace_ms negative: the core's default) and
 * xf_process_pool_kill: both wait for the workers to be gone. */
void xf_js_process_pool_terminate(xf_executor_t *ex, double grace_ms) {
  if (!xf__js_check(ex, "terminate"))
    return;
  int64_t ns = !(grace_ms >= 0) || std::isinf(grace_ms) ? -1 : (int64_t) (grace_ms * 1e6);
  int rc = xf_process_pool_terminate(ex, ns);
  rearm();
  if (rc != XF_OK)
    throw_code(rc, "terminate");
}

void xf_js_process_pool_kill(xf_executor_t *ex) {
  if (!xf__js_check(ex, "kill"))
    return;
  int rc = xf_process_pool_kill(ex);
  rearm();
  if (rc != XF_OK)
    throw_code(rc, "kill");
}

/* The executor's counters and the pool's own, in one object. */
v8::Local<v8::Value> xf_js_process_pool_stats(xf_executor_t *ex) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  v8::Local<v8::Context> ctx = iso->GetCurrentContext();
  v8::Local<v8::Value> o = xf_js_executor_stats(ex);
  if (!o->IsObject())
    return o;
  xf_process_pool_stats_t s = XF_PROCESS_POOL_STATS_INIT;
  int rc = xf_process_pool_stats(ex, &s);
  if (rc != XF_OK) {
    throw_code(rc, "stats");
    return v8::Undefined(iso);
  }
  v8::Local<v8::Object> obj = o.As<v8::Object>();
  obj->Set(ctx, str(iso, "workers"), v8::Number::New(iso, s.workers)).FromMaybe(false);
  obj->Set(ctx, str(iso, "spawned"), v8::Number::New(iso, (double) s.spawned)).FromMaybe(false);
  obj->Set(ctx, str(iso, "deaths"), v8::Number::New(iso, (double) s.deaths)).FromMaybe(false);
  obj->Set(ctx, str(iso, "retired"), v8::Number::New(iso, (double) s.retired)).FromMaybe(false);
  obj->Set(ctx, str(iso, "timeouts"), v8::Number::New(iso, (double) s.timeouts)).FromMaybe(false);
  obj->Set(ctx, str(iso, "broken"), v8::Boolean::New(iso, s.broken)).FromMaybe(false);
  /* perWorker: one object per live worker, { pid, tasksDone, running }; as
   * many as maxWorkers at the most. */
  std::vector<xf_process_worker_t> w(s.max_workers ? s.max_workers : 1);
  size_t n = 0;
  if ((rc = xf_process_pool_workers(ex, w.data(), s.max_workers, &n)) != XF_OK) {
    throw_code(rc, "stats");
    return v8::Undefined(iso);
  }
  if (n > s.max_workers)
    n = s.max_workers;
  v8::Local<v8::Array> per = v8::Array::New(iso, (int) n);
  for (size_t i = 0; i < n; i++) {
    v8::Local<v8::Object> e = v8::Object::New(iso);
    e->Set(ctx, str(iso, "pid"), v8::Number::New(iso, (double) w[i].pid)).FromMaybe(false);
    e->Set(ctx, str(iso, "tasksDone"), v8::Number::New(iso, (double) w[i].tasks_done))
        .FromMaybe(false);
    e->Set(ctx, str(iso, "running"), v8::Number::New(iso, w[i].running)).FromMaybe(false);
    per->Set(ctx, (uint32_t) i, e).FromMaybe(false);
  }
  obj->Set(ctx, str(iso, "perWorker"), per).FromMaybe(false);
  return obj;
}
%}
/* ==== End of the process pool ============================================= */

/* ==== The MPI executor (xf.MPIPool, process.js) ============================
 *
 * The core's MPI executor (xf/mpi.h) runs the process pool's "node" tasks
 * on the ranks of an MPI job; submit, the futures' values, shutdown and
 * stats are the process pool's functions above. What is MPI's own is here:
 * the world, the two ways of making the executor, and the serving side for
 * the worker program (worker.js). The calls that wait on MPI (making the
 * executor, serving) are made only where JavaScript has nothing else to do
 * meanwhile: a serving rank, or the collective start of a job. */
%{
#include <xf/mpi.h>

namespace xfjs {

/* The options shared by both modes: max_in_flight and the "node"
 * initializer (undefined, or [module, name, [args...]]); *payload is the
 * caller's to drop. False with an exception pending. */
static bool mpi_options(v8::Isolate *iso, double max_in_flight, v8::Local<v8::Value> init,
                        xf_mpi_options_t *o, xf_value_t **payload) {
  *payload = NULL;
  if (!(max_in_flight >= 1) || max_in_flight > 1e6) {
    throw_code(XF_EINVAL, "MPIPool: maxInFlight must be an integer of 1 or more");
    return false;
  }
  o->max_in_flight = (uint32_t) max_in_flight;
  if (!init->IsUndefined() && !wire_from_js(iso, init, payload, 0))
    return false;
  o->init_language = *payload ? "node" : NULL;
  o->init_payload = *payload;
  return true;
}

} // namespace xfjs
%}

%inline %{
/* Whether the library was built with MPI (no MPI call). */
bool xf_js_mpi_available(void) {
  return xf_mpi_available();
}

/* [rank, size] of MPI_COMM_WORLD, initializing MPI if nobody has. */
v8::Local<v8::Value> xf_js_mpi_world(void) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  int rank = 0, size = 0;
  int rc = xf_mpi_world(&rank, &size);
  if (rc != XF_OK) {
    throw_code(rc, "MPIPool");
    return v8::Undefined(iso);
  }
  v8::Local<v8::Array> a = v8::Array::New(iso, 2);
  a->Set(iso->GetCurrentContext(), 0, v8::Integer::New(iso, rank)).FromMaybe(false);
  a->Set(iso->GetCurrentContext(), 1, v8::Integer::New(iso, size)).FromMaybe(false);
  return a;
}

/* SPMD over MPI_COMM_WORLD on the root rank: collective with the other
 * ranks' js_mpi_serve_open. */
xf_executor_t *xf_js_mpi_executor_new(int root, double max_in_flight, v8::Local<v8::Value> init) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  xf_mpi_options_t o = XF_MPI_OPTIONS_INIT;
  xf_value_t *payload = NULL;
  if (!mpi_options(iso, max_in_flight, init, &o, &payload))
    return NULL;
  xf_executor_t *ex = NULL;
  int rc = xf_mpi_world_executor_new(root, &o, &ex);
  xf_value_unref(payload);
  if (rc != XF_OK)
    throw_code(rc, "MPIPool");
  return ex;
}

/* Spawn mode: max_workers processes running argv (argv[0] the program). */
xf_executor_t *xf_js_mpi_pool_new(int max_workers, v8::Local<v8::Value> argv,
                                  double max_in_flight, v8::Local<v8::Value> init) {
  v8::Isolate *iso = v8::Isolate::GetCurrent();
  if (max_workers < 0) {
    throw_code(XF_EINVAL, "MPIPool: maxWorkers must be 0 or more");
    return NULL;
  }
  std::vector<std::string> store;
  if (!wire_argv(iso, argv, &store))
    return NULL;
  std::vector<const char *> av;
  for (const std::string &s : store)
    av.push_back(s.c_str());
  av.push_back(NULL);
  xf_mpi_options_t o = XF_MPI_OPTIONS_INIT;
  xf_value_t *payload = NULL;
  if (!mpi_options(iso, max_in_flight, init, &o, &payload))
    return NULL;
  o.max_workers = (uint32_t) max_workers;
  o.worker_path = av[0];
  o.worker_argv = av.data();
  xf_executor_t *ex = NULL;
  int rc = xf_mpi_pool_new(&o, &ex);
  xf_value_unref(payload);
  if (rc != XF_OK)
    throw_code(rc, "MPIPool");
  return ex;
}

/* The serving side: the descriptor on which the worker loop speaks (root
 * >= 0: SPMD, that rank's executors; -1: the parent that spawned us). */
int xf_js_mpi_serve_open(int root) {
  int fd = -1;
  int rc = xf_mpi_serve_open(root, &fd);
  if (rc != XF_OK) {
    throw_code(rc, "MPIPool: serve");
    return -1;
  }
  return fd;
}

/* Once the worker loop is done: XF_OK, or XF_ESHUTDOWN when the root
 * released the ranks rather than start an executor; other codes throw. */
int xf_js_mpi_serve_wait(void) {
  int rc = xf_mpi_serve_wait();
  if (rc != XF_OK && rc != XF_ESHUTDOWN)
    throw_code(rc, "MPIPool: serve");
  return rc;
}

/* On the root: no executor comes any more; the serving ranks return. */
void xf_js_mpi_world_release(int root) {
  int rc = xf_mpi_world_release(root);
  if (rc != XF_OK)
    throw_code(rc, "MPIPool: release");
}
%}
/* ==== End of the MPI executor ============================================== */

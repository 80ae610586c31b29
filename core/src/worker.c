/* The worker's side of the process pool's protocol, for C tasks: the loop
 * that xfworker runs on its socket, and that a rank of an MPI executor runs
 * on the socket its MPI thread relays (mpi.c).
 *
 * Design notes
 * ------------
 * The loop speaks the protocol of docs/wire-protocol.md on one stream
 * socket, one frame at a time and with blocking I/O, since it does one
 * thing at a time:
 *
 *   -> HELLO      version, pid, the languages it runs ("c")
 *   <- INIT       the initializer, if any
 *   -> READY      null, or the initializer's error
 *   <- TASK ...   -> RESULT or ERROR, in the order the tasks came
 *   <- SHUTDOWN   (or end of file): return 0
 *
 * A C task names a shared library, a symbol and a signature; the library
 * is opened with dlopen (and stays open: a library's constructors and
 * globals are the state a user expects to persist between tasks, as a
 * Python worker keeps its imported modules), the function is called
 * through libffi with the arguments converted by the core's own
 * converters, and its return value is sent back. A result with no encoding
 * (a pointer) becomes an error for that task alone.
 *
 * The socket is a parameter of the loop, not a global of the process: the
 * loop is called by one thread at a time (xfworker's main thread, or the
 * thread that serves an MPI rank).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "closure_internal.h"
#include "codec_internal.h"
#include "worker_internal.h"

/* The socket of the loop that runs now (one at a time, see above). */
static int xfw_fd = XF__WORKER_FD;

#define XFW_RCHUNK 65536

static bool xfw_write_all(const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t k = send(xfw_fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return false;
    p += k;
    n -= (size_t) k;
  }
  return true;
}

/* Bytes read from the socket and not consumed yet: [pos, len) of buf. One
 * read takes whatever is queued (the next frame often is there whole), so
 * a frame costs one system call rather than one for its length and one for
 * its body, and the body is decoded where it was read. */
static xf__cbuf_t xfw_in;
static size_t xfw_pos;

/* Make n bytes available from xfw_pos on; false at end of file, on an
 * error or without memory. */
static bool xfw_fill(size_t n) {
  if (xfw_in.len - xfw_pos >= n)
    return true;
  if (xfw_pos > 0) {
    memmove(xfw_in.p, xfw_in.p + xfw_pos, xfw_in.len - xfw_pos);
    xfw_in.len -= xfw_pos;
    xfw_pos = 0;
  }
  size_t want = n < XFW_RCHUNK ? XFW_RCHUNK : n;
  if (xfw_in.cap < want && xf__cbuf_reserve(&xfw_in, want - xfw_in.len) != XF_OK)
    return false;
  while (xfw_in.len < n) {
    ssize_t k = read(xfw_fd, xfw_in.p + xfw_in.len, xfw_in.cap - xfw_in.len);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return false;
    xfw_in.len += (size_t) k;
  }
  return true;
}

/* Read one frame; NULL at end of file or on a malformed frame (either way
 * the conversation is over). */
static xf_value_t *xfw_read_frame(void) {
  if (!xfw_fill(4))
    return NULL;
  uint32_t n = xf__frame_len(xfw_in.p + xfw_pos);
  if (n == 0 || n > XF__FRAME_MAX || !xfw_fill(4 + (size_t) n))
    return NULL;
  xf_value_t *frame = NULL;
  xf__cbor_decode(xfw_in.p + xfw_pos + 4, n, XF__FRAME_DEPTH, &frame);
  xfw_pos += 4 + (size_t) n;
  if (xfw_pos == xfw_in.len)
    xfw_pos = xfw_in.len = 0;
  /* A large frame passed: do not keep its room. */
  if (xfw_in.len == 0 && xfw_in.cap > 16 * XFW_RCHUNK)
    xf__cbuf_free(&xfw_in);
  return frame;
}

static bool xfw_send(xf__cbuf_t *b) {
  bool ok = xfw_write_all(b->p, b->len);
  xf__cbuf_free(b);
  return ok;
}

/* The item i of a frame, or NULL. */
static xf_value_t *xfw_item(const xf_value_t *list, size_t i) {
  xf_value_t *v = NULL;
  return xf_value_list_get(list, i, &v) == XF_OK ? v : NULL;
}

static const char *xfw_text(const xf_value_t *v) {
  const char *s;
  size_t len;
  return v && xf_value_get_string(v, &s, &len) == XF_OK && strlen(s) == len ? s : NULL;
}

static xf_error_t *xfw_error(int code, const char *type, const char *fmt, const char *a,
                             const char *b) {
  char msg[1024];
  snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
  xf_error_t *err = NULL;
  if (xf_error_new(code, type, msg, &err) != XF_OK)
    return xf_error_ref(xf__error_oom());
  return err;
}

/* Call the C function a payload [library, symbol, signature, [args]] names.
 * On success *out is the return value; else *err the reason. */
static int xfw_call_c(const xf_value_t *payload, xf_value_t **out, xf_error_t **err) {
  *out = NULL;
  *err = NULL;
  size_t n = 0, nargs = 0;
  xf_value_t *args = xfw_item(payload, 3);
  const char *library = xfw_text(xfw_item(payload, 0));
  const char *symbol = xfw_text(xfw_item(payload, 1));
  const char *text = xfw_text(xfw_item(payload, 2));
  if (xf_value_list_len(payload, &n) != XF_OK || n < 4 || !library || !symbol || !text ||
      xf_value_list_len(args, &nargs) != XF_OK) {
    *err = xfw_error(XF_EINVAL, "ValueError",
                     "a C task is [library, symbol, signature, [arguments]]%s%s", NULL,
                     NULL);
    return XF_EINVAL;
  }
  char why[256];
  xf_signature_t *sig;
  int rc = xf_signature_parse(text, why, sizeof why, &sig);
  if (rc != XF_OK) {
    *err = xfw_error(rc, NULL, "bad signature: %s%s", why, NULL);
    return rc;
  }
  if (nargs != sig->nargs) {
    xf_signature_unref(sig);
    *err = xfw_error(XF_EINVAL, "TypeError", "%s takes as many arguments as %s says",
                     symbol, text);
    return XF_EINVAL;
  }
  /* "" names the worker's own global namespace (libc, libm, ...). */
  void *lib = dlopen(*library ? library : NULL, RTLD_NOW | RTLD_LOCAL);
  void *fn = lib ? dlsym(lib, symbol) : NULL;
  if (!fn) {
    xf_signature_unref(sig);
    const char *why_dl = dlerror();
    *err = xfw_error(XF_EINVAL, lib ? "AttributeError" : "ImportError", "%s%s",
                     why_dl ? why_dl : "symbol not found: ", why_dl ? NULL : symbol);
    return XF_EINVAL;
  }
  xf__cslot_t slots[XF_SIGNATURE_MAX_ARGS];
  void *avalues[XF_SIGNATURE_MAX_ARGS];
  for (size_t i = 0; i < nargs; i++) {
    /* A string slot borrows the argument's bytes; args stays alive. */
    rc = xf__cvalue_from(sig->args[i], xfw_item(args, i), &slots[i]);
    if (rc != XF_OK) {
      char pos[32];
      snprintf(pos, sizeof pos, "%zu", i + 1);
      *err = xfw_error(rc, NULL, "argument %s does not fit the signature %s", pos, text);
      xf_signature_unref(sig);
      return rc;
    }
    avalues[i] = &slots[i];
  }
  xf__cret_t ret;
  memset(&ret, 0, sizeof ret);
  ffi_call(&sig->cif, FFI_FN(fn), &ret, nargs ? avalues : NULL);
  xf__cslot_t slot;
  xf__cret_load(sig->ret, &ret, &slot);
  rc = xf__cvalue_to(sig->ret, &slot, out);
  xf_signature_unref(sig);
  if (rc != XF_OK)
    *err = xf_error_ref(xf__error_oom());
  return rc;
}

/* Run a task of language with payload; exactly one of *out and *err is set. */
static void xfw_run(const char *language, const xf_value_t *payload, xf_value_t **out,
                    xf_error_t **err) {
  *out = NULL;
  *err = NULL;
  if (!language || strcmp(language, "c") != 0) {
    *err = xfw_error(XF_EINVAL, "ValueError",
                     "xfworker runs tasks of language \"c\" only, not \"%s\"%s",
                     language ? language : "?", NULL);
    return;
  }
  xfw_call_c(payload, out, err);
}

/* [4, id, value], or [5, id, error] for an error or for a value with no
 * encoding. */
static bool xfw_answer(int64_t id, const xf_value_t *value, xf_error_t *error) {
  xf_error_t *err = error ? xf_error_ref(error) : NULL;
  xf__cbuf_t b = {NULL, 0, 0};
  size_t at;
  int rc = xf__frame_begin(&b, &at);
  if (rc == XF_OK && !err) {
    size_t save = b.len;
    if ((rc = xf__cbor_put_array(&b, 3)) == XF_OK &&
        (rc = xf__cbor_put_int(&b, XF__MSG_RESULT)) == XF_OK &&
        (rc = xf__cbor_put_int(&b, id)) == XF_OK)
      rc = xf__cbor_put_value(&b, value);
    bool too_big = rc == XF_OK && b.len - at - 4 > XF__FRAME_MAX;
    if (rc == XF_ETYPE || rc == XF_ERANGE || too_big) {
      b.len = save;
      err =
          xfw_error(too_big ? XF_ERANGE : rc, NULL,
                    rc == XF_ETYPE ? "the task's result has no encoding (a pointer or an "
                                     "object cannot leave the worker)%s%s"
                    : too_big ? "the task's result is larger than a frame (1 GiB)%s%s"
                              : "the task's result nests too deeply to be encoded%s%s",
                    NULL, NULL);
      rc = XF_OK;
    }
  }
  if (rc == XF_OK && err) {
    if ((rc = xf__cbor_put_array(&b, 3)) == XF_OK &&
        (rc = xf__cbor_put_int(&b, XF__MSG_ERROR)) == XF_OK &&
        (rc = xf__cbor_put_int(&b, id)) == XF_OK)
      rc = xf__cbor_put_error(&b, err);
  }
  xf_error_unref(err);
  if (rc == XF_OK)
    rc = xf__frame_end(&b, at);
  if (rc != XF_OK) {
    xf__cbuf_free(&b);
    return false;
  }
  return xfw_send(&b);
}

static bool xfw_hello(void) {
  xf__cbuf_t b = {NULL, 0, 0};
  size_t at;
  int rc;
  if ((rc = xf__frame_begin(&b, &at)) != XF_OK ||
      (rc = xf__cbor_put_array(&b, 5)) != XF_OK ||
      (rc = xf__cbor_put_int(&b, XF__MSG_HELLO)) != XF_OK ||
      (rc = xf__cbor_put_int(&b, XF__WIRE_VERSION)) != XF_OK ||
      (rc = xf__cbor_put_int(&b, getpid())) != XF_OK ||
      (rc = xf__cbor_put_array(&b, 1)) != XF_OK ||
      (rc = xf__cbor_put_text(&b, "c", 1)) != XF_OK ||
      (rc = xf__cbor_put_text(&b, "xfworker", 8)) != XF_OK ||
      (rc = xf__frame_end(&b, at)) != XF_OK) {
    xf__cbuf_free(&b);
    return false;
  }
  return xfw_send(&b);
}

/* Run the initializer of an INIT frame and answer READY. */
static bool xfw_init(const xf_value_t *frame) {
  xf_value_t *init = xfw_item(frame, 2);
  xf_error_t *err = NULL;
  int64_t version = 0;
  if (xf_value_get_int(xfw_item(frame, 1), &version) != XF_OK ||
      version != XF__WIRE_VERSION) {
    err = xfw_error(XF_EINVAL, "ValueError", "unsupported protocol version%s%s", NULL,
                    NULL);
  } else if (init && xf_value_kind(init) != XF_KIND_VOID) {
    xf_value_t *result = NULL;
    xfw_run(xfw_text(xfw_item(init, 0)), xfw_item(init, 1), &result, &err);
    int64_t status = 0;
    if (!err && xf_value_get_int(result, &status) == XF_OK && status != 0) {
      char num[32];
      snprintf(num, sizeof num, "%lld", (long long) status);
      err = xfw_error(XF_EFAILED, "InitializerError", "the initializer returned %s%s",
                      num, NULL);
    }
    xf_value_unref(result);
  }
  xf__cbuf_t b = {NULL, 0, 0};
  size_t at;
  int rc;
  if ((rc = xf__frame_begin(&b, &at)) == XF_OK &&
      (rc = xf__cbor_put_array(&b, 2)) == XF_OK &&
      (rc = xf__cbor_put_int(&b, XF__MSG_READY)) == XF_OK)
    rc = err ? xf__cbor_put_error(&b, err) : xf__cbor_put_null(&b);
  if (rc == XF_OK)
    rc = xf__frame_end(&b, at);
  bool ok = err == NULL;
  xf_error_unref(err);
  if (rc != XF_OK) {
    xf__cbuf_free(&b);
    return false;
  }
  return xfw_send(&b) && ok;
}

static int xfw_serve(void);

int xf__worker_serve(int fd) {
  xfw_fd = fd;
  xfw_pos = 0;
  int rc = xfw_serve();
  xf__cbuf_free(&xfw_in);
  xfw_pos = 0;
  return rc;
}

static int xfw_serve(void) {
  if (!xfw_hello())
    return 1;
  xf_value_t *frame = xfw_read_frame();
  int64_t type = -1;
  if (!frame || xf_value_get_int(xfw_item(frame, 0), &type) != XF_OK ||
      type != XF__MSG_INIT || !xfw_init(frame)) {
    xf_value_unref(frame);
    return 1; /* a failed initializer: the pool has its error */
  }
  xf_value_unref(frame);

  for (;;) {
    frame = xfw_read_frame();
    if (!frame || xf_value_get_int(xfw_item(frame, 0), &type) != XF_OK ||
        type == XF__MSG_SHUTDOWN)
      break;
    int64_t id;
    if (type != XF__MSG_TASK || xf_value_get_int(xfw_item(frame, 1), &id) != XF_OK)
      break; /* not a frame this version knows: the pool will see us leave */
    xf_value_t *value;
    xf_error_t *err;
    xfw_run(xfw_text(xfw_item(frame, 2)), xfw_item(frame, 3), &value, &err);
    bool ok = xfw_answer(id, value, err);
    xf_value_unref(value);
    xf_error_unref(err);
    xf_value_unref(frame);
    frame = NULL;
    if (!ok)
      break;
  }
  xf_value_unref(frame);
  return 0;
}

/* What codec.c shares with the process pool and its worker: a growable
 * output buffer with CBOR writers, and decoding with a nesting bound of the
 * caller's choice (a protocol frame wraps a value in a few arrays). Nothing
 * here is published. */
#ifndef XF_CODEC_INTERNAL_H
#define XF_CODEC_INTERNAL_H

#include "internal.h"
#include "xf/codec.h"

/* A growable buffer through the allocation hook. */
typedef struct xf__cbuf {
  uint8_t *p;
  size_t len, cap;
} xf__cbuf_t;

/* Make room for n more bytes; XF_ENOMEM (the buffer is left as it was). */
XF__HIDDEN int xf__cbuf_reserve(xf__cbuf_t *b, size_t n);
XF__HIDDEN void xf__cbuf_free(xf__cbuf_t *b);

/* CBOR heads and atoms; XF_ENOMEM. */
XF__HIDDEN int xf__cbor_put_array(xf__cbuf_t *b, size_t n);
XF__HIDDEN int xf__cbor_put_int(xf__cbuf_t *b, int64_t i);
XF__HIDDEN int xf__cbor_put_text(xf__cbuf_t *b, const char *s, size_t len);
XF__HIDDEN int xf__cbor_put_null(xf__cbuf_t *b);

/* Append the encoding of v or err: the errors of xf_value_encode. On error
 * the buffer is back at the length it had. */
XF__HIDDEN int xf__cbor_put_value(xf__cbuf_t *b, const xf_value_t *v);
XF__HIDDEN int xf__cbor_put_error(xf__cbuf_t *b, const xf_error_t *err);

/* xf_value_decode with another nesting bound. */
XF__HIDDEN int xf__cbor_decode(const uint8_t *buf, size_t len, size_t max_depth,
                               xf_value_t **out);

/* ---- The process pool's wire protocol (docs/wire-protocol.md) ---------- */

/* A frame is a four-byte big-endian length and then one CBOR array whose
 * first item is one of these message types. */
#define XF__WIRE_VERSION 1
enum {
  XF__MSG_HELLO = 0,   /* worker: [0, version, pid, [languages], name] */
  XF__MSG_INIT = 1,    /* pool: [1, version, null | [language, payload]] */
  XF__MSG_READY = 2,   /* worker: [2, null | error] */
  XF__MSG_TASK = 3,    /* pool: [3, id, language, payload] */
  XF__MSG_RESULT = 4,  /* worker: [4, id, value] */
  XF__MSG_ERROR = 5,   /* worker: [5, id, error] */
  XF__MSG_SHUTDOWN = 6 /* pool: [6] */
};
#define XF__FRAME_MAX   (1u << 30) /* bytes after the length prefix */
#define XF__FRAME_DEPTH (XF_CODEC_MAX_DEPTH + 4)
/* The file descriptor of the socket in a worker. */
#define XF__WORKER_FD   3

/* Begin a frame: room for the length prefix; returns its offset in *at. */
XF__HIDDEN int xf__frame_begin(xf__cbuf_t *b, size_t *at);
/* End the frame begun at at: write its length. XF_ERANGE past
 * XF__FRAME_MAX. */
XF__HIDDEN int xf__frame_end(xf__cbuf_t *b, size_t at);
/* The length announced by a prefix. */
static inline uint32_t xf__frame_len(const uint8_t *p) {
  return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* The C task payload [library, symbol, signature, [args]]: encode it after
 * checking that the signature parses and fits the arguments (XF_EINVAL,
 * XF_ETYPE for an argument with no encoding). */
XF__HIDDEN int xf__cbor_put_c_call(xf__cbuf_t *b, const char *library, const char *symbol,
                                   const char *signature, xf_value_t *const *args,
                                   size_t nargs);

#endif /* XF_CODEC_INTERNAL_H */

/* xfutures — the standard encoding of values and errors.
 *
 * Every value kind but pointer and object has a standard encoding, so that
 * values can cross a process boundary (the process pool) or a network (the
 * MPI executor). The encoding is CBOR (RFC 8949); docs/wire-protocol.md
 * describes it byte by byte so that a worker written in any language can
 * read and write it with its own CBOR library:
 *
 *   void            null (undefined is read as void too)
 *   bool            false / true
 *   int             an integer (major type 0 or 1), int64 range
 *   double          a float64 (half and single floats are read too)
 *   string          a text string (UTF-8; may contain NUL)
 *   bytes           a byte string
 *   list            an array of definite length
 *   map             a map of definite length, pairs in their order
 *   error           tag 2019950593 over [code, type, message, traceback|null
 *                   (, payload)]
 *   opaque payload  tag 2019950594 over [runtime, bytes]: a runtime's own
 *                   serialization of one of its objects (a pickle), which
 *                   comes back to that runtime as the object it stood for
 *
 * Decoding accepts untrusted bytes: it never reads past the buffer, never
 * allocates more than the input can justify, nests at most
 * XF_CODEC_MAX_DEPTH containers and tags, and reports malformed input as
 * XF_EINVAL. Every allocation goes through the allocation hook; when one
 * fails the call returns XF_ENOMEM and keeps nothing.
 */
#ifndef XF_CODEC_H
#define XF_CODEC_H

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The deepest nesting that the codec encodes or decodes, counting a list or
 * a map as one level and an error or an opaque payload as two (a tag and
 * its array). A value nested deeper is XF_ERANGE to encode; input nested
 * deeper is XF_EINVAL to decode. */
#define XF_CODEC_MAX_DEPTH 128

/* The CBOR tags of the encoding. Both lie in the first-come-first-served
 * range of the IANA registry ("xf" in their high half). */
#define XF_CBOR_TAG_ERROR  2019950593u /* 0x78660001 */
#define XF_CBOR_TAG_OPAQUE 2019950594u /* 0x78660002 */

/* Encode v into a new buffer. On XF_OK *buf and *len receive the bytes,
 * which the caller owns and releases with xf_codec_free. Errors: XF_EINVAL
 * for NULL arguments, XF_ETYPE when v is or contains a pointer or a foreign
 * object (opaque payloads are fine), XF_ERANGE when it nests deeper than
 * XF_CODEC_MAX_DEPTH, XF_ENOMEM. On error *buf is NULL and *len 0. An
 * error's payload crosses when it has an encoding itself and is left out
 * otherwise (a foreign exception object stays behind; the error crosses
 * with its code, type, message and traceback). */
XF_API int xf_value_encode(const xf_value_t *v, uint8_t **buf, size_t *len);

/* Decode exactly one encoded value that fills all len bytes of buf. On
 * XF_OK *out is a new reference the caller owns. Errors: XF_EINVAL for NULL
 * arguments or malformed input (truncated, trailing bytes, indefinite
 * lengths, invalid UTF-8 in a text string, unassigned simple values, a
 * malformed error or opaque payload, nesting past XF_CODEC_MAX_DEPTH);
 * XF_ERANGE for an integer outside int64 (bignums included); XF_ETYPE for a
 * well-formed item the core has no kind for (another tag); XF_ENOMEM. On
 * error *out is NULL. */
XF_API int xf_value_decode(const uint8_t *buf, size_t len, xf_value_t **out);

/* Encode and decode an error on its own: the same bytes as an error value
 * (xf_value_new_error) gets. xf_error_decode of anything but an encoded
 * error is XF_ETYPE. Ownership as for values. */
XF_API int xf_error_encode(const xf_error_t *err, uint8_t **buf, size_t *len);
XF_API int xf_error_decode(const uint8_t *buf, size_t len, xf_error_t **out);

/* Free a buffer returned by xf_value_encode or xf_error_encode (through the
 * allocation hook). NULL is a no-op. */
XF_API void xf_codec_free(void *buf);

/* An opaque payload: len bytes (copied) that runtime (copied; a non-empty
 * name such as "python") produced by serializing one of its objects. It is
 * an object value whose hooks are named "xf.opaque" (never the runtime's
 * own name, so no runtime mistakes it for a live object of its own); the
 * codec encodes it as itself, and a binding that receives one for its own
 * runtime deserializes it. The caller owns the reference in *out. Errors:
 * XF_EINVAL (NULL or empty runtime, NULL data with len > 0), XF_ENOMEM. */
XF_API int xf_value_new_opaque(const char *runtime, const void *data, size_t len,
                               xf_value_t **out);

/* The parts of an opaque payload, borrowed for as long as the caller holds
 * v. XF_ETYPE for any other value (objects of a runtime included), XF_EINVAL
 * for NULL arguments. */
XF_API int xf_value_get_opaque(const xf_value_t *v, const char **runtime,
                               const void **data, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* XF_CODEC_H */

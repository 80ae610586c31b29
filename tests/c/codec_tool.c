/* A small driver of the codec for the cross-check with Python's cbor2
 * (tests/python/codec_interop.py):
 *
 *   codec_tool samples DIR    write DIR/NAME.cbor, the core's encoding of
 *                             each sample value named in the script
 *   codec_tool reencode IN OUT
 *                             decode IN, print the value's repr, and write
 *                             its encoding by the core to OUT; on a decoding
 *                             error print "error XF_..." and write nothing
 *
 * The exit status is 0 unless the tool itself fails (bad usage, I/O). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xf/xf.h>

static int write_file(const char *path, const uint8_t *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n) {
    perror(path);
    if (f)
      fclose(f);
    return 1;
  }
  return fclose(f) != 0;
}

static int write_sample(const char *dir, const char *name, xf_value_t *v) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.cbor", dir, name);
  uint8_t *buf;
  size_t len;
  int rc = xf_value_encode(v, &buf, &len);
  xf_value_unref(v);
  if (rc != XF_OK) {
    fprintf(stderr, "%s: %s\n", name, xf_err_name(rc));
    return 1;
  }
  rc = write_file(path, buf, len);
  xf_codec_free(buf);
  return rc;
}

static xf_value_t *num(int64_t i) {
  xf_value_t *v = NULL;
  xf_value_new_int(i, &v);
  return v;
}

static xf_value_t *dbl(double d) {
  xf_value_t *v = NULL;
  xf_value_new_double(d, &v);
  return v;
}

static xf_value_t *text(const char *s, size_t n) {
  xf_value_t *v = NULL;
  xf_value_new_string(s, n, &v);
  return v;
}

static xf_value_t *list(xf_value_t **items, size_t n) {
  xf_value_t *v = NULL;
  xf_value_new_list(items, n, &v);
  for (size_t i = 0; i < n; i++)
    xf_value_unref(items[i]);
  return v;
}

static int samples(const char *dir) {
  int bad = 0;
  bad |= write_sample(dir, "void", xf_value_void());
  bad |= write_sample(dir, "true", xf_value_bool(true));
  bad |= write_sample(dir, "zero", num(0));
  bad |= write_sample(dir, "neg1000", num(-1000));
  bad |= write_sample(dir, "int_max", num(INT64_MAX));
  bad |= write_sample(dir, "int_min", num(INT64_MIN));
  bad |= write_sample(dir, "one_and_half", dbl(1.5));
  bad |= write_sample(dir, "neg_zero", dbl(-0.0));
  bad |= write_sample(dir, "nan", dbl(NAN));
  bad |= write_sample(dir, "neg_inf", dbl(-INFINITY));
  bad |= write_sample(dir, "text", text("h\xc3\xa9llo\0w", 8));
  xf_value_t *b = NULL;
  xf_value_new_bytes("\0\1\xff", 3, &b);
  bad |= write_sample(dir, "bytes", b);
  xf_value_t *inner[] = {num(2), text("x", 1)};
  xf_value_t *items[] = {num(1), list(inner, 2), xf_value_void(), xf_value_bool(true)};
  bad |= write_sample(dir, "list", list(items, 4));
  xf_value_t *keys[] = {text("k", 1), num(7)}, *vals[] = {dbl(2.5), xf_value_bool(true)};
  xf_value_t *m = NULL;
  xf_value_new_map(keys, vals, 2, &m);
  for (int i = 0; i < 2; i++) {
    xf_value_unref(keys[i]);
    xf_value_unref(vals[i]);
  }
  bad |= write_sample(dir, "map", m);
  xf_error_t *err = NULL;
  xf_error_new_full(XF_EINVAL, "ValueError", "bad", "Traceback: here", NULL, &err);
  xf_value_t *ev = NULL;
  xf_value_new_error(err, &ev);
  xf_error_unref(err);
  bad |= write_sample(dir, "error", ev);
  xf_value_t *op = NULL;
  xf_value_new_opaque("python", "\x80\x04N.", 4, &op);
  bad |= write_sample(dir, "opaque", op);
  return bad;
}

static int reencode(const char *in, const char *out) {
  FILE *f = fopen(in, "rb");
  if (!f) {
    perror(in);
    return 2;
  }
  static uint8_t data[1 << 20];
  size_t n = fread(data, 1, sizeof data, f);
  fclose(f);
  xf_value_t *v;
  int rc = xf_value_decode(data, n, &v);
  if (rc != XF_OK) {
    printf("error %s\n", xf_err_name(rc));
    return 0;
  }
  char repr[4096];
  xf_value_repr(v, repr, sizeof repr);
  printf("%s\n", repr);
  uint8_t *buf;
  size_t len;
  rc = xf_value_encode(v, &buf, &len);
  xf_value_unref(v);
  if (rc != XF_OK) {
    fprintf(stderr, "re-encoding: %s\n", xf_err_name(rc));
    return 2;
  }
  rc = write_file(out, buf, len);
  xf_codec_free(buf);
  return rc ? 2 : 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "samples") == 0)
    return samples(argv[2]);
  if (argc == 4 && strcmp(argv[1], "reencode") == 0)
    return reencode(argv[2], argv[3]);
  fprintf(stderr, "usage: codec_tool samples DIR | reencode IN OUT\n");
  return 2;
}

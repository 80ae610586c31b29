/* Uses an installed xfutures: completes a future with an int and reads it
 * back. Exits non-zero if any step fails. */
#include <inttypes.h>
#include <stdio.h>

#include <xf/xf.h>

int main(void) {
  xf_future_t *f = NULL;
  xf_value_t *v = NULL;
  xf_value_t *out = NULL;
  int64_t i = 0;

  if (xf_future_new(&f) != XF_OK || xf_value_new_int(42, &v) != XF_OK) {
    fprintf(stderr, "consumer: cannot create a future and a value\n");
    return 1;
  }
  /* set_result takes over the reference to v. */
  if (xf_future_set_result(f, v) != XF_OK || xf_future_result(f, -1, &out) != XF_OK ||
      xf_value_get_int(out, &i) != XF_OK) {
    fprintf(stderr, "consumer: cannot complete the future and read it back\n");
    return 1;
  }
  xf_value_unref(out);
  xf_future_unref(f);
  if (i != 42) {
    fprintf(stderr, "consumer: expected 42, got %" PRId64 "\n", i);
    return 1;
  }
  printf("xfutures %s: result %" PRId64 "\n", xf_version(), i);
  return 0;
}

/* Nested futures (seed 003): the outer future's result is the inner future
 * (a pointer value that holds a reference to it). Nothing unwraps it by
 * itself, so the program waits twice. */
#include <stdio.h>

#include <xf/xf.h>

#define MS 1000000LL

static void unref_future(void *p) {
  xf_future_unref(p);
}

static void set_nested(void *data) {
  xf_value_t *v;
  if (xf_value_new_cstring("Nested result", &v) == XF_OK)
    xf_future_set_result(data, v);
}

int main(void) {
  xf_loop_t *loop;
  xf_future_t *outer, *inner;
  xf_value_t *holder;
  if (xf_loop_new(&loop) != XF_OK || xf_loop_create_future(loop, &outer) != XF_OK ||
      xf_loop_create_future(loop, &inner) != XF_OK ||
      xf_value_new_pointer(xf_future_ref(inner), unref_future, &holder) != XF_OK ||
      xf_future_set_result(outer, holder) != XF_OK)
    return 1;
  xf_value_t *v;
  void *p = NULL;
  if (xf_future_result(outer, 0, &v) != XF_OK)
    return 1;
  printf("outer result is a future: %s\n",
         xf_value_get_pointer(v, &p) == XF_OK && p == inner ? "True" : "False");
  xf_value_unref(v);
  xf_loop_call_later(loop, 50 * MS, set_nested, inner, NULL, NULL);

  xf_value_t *result;
  if (xf_loop_run_until_complete(loop, outer, &result) != XF_OK)
    return 1;
  if (xf_value_get_pointer(result, &p) == XF_OK) { /* a future: wait for it too */
    xf_value_t *nested;
    if (xf_loop_run_until_complete(loop, p, &nested) != XF_OK)
      return 1;
    xf_value_unref(result);
    result = nested;
  }
  const char *text;
  size_t len;
  if (xf_value_get_string(result, &text, &len) == XF_OK)
    printf("%.*s\n", (int) len, text);
  xf_value_unref(result);
  xf_future_unref(outer);
  xf_future_unref(inner);
  xf_loop_close(loop);
  xf_loop_unref(loop);
  return 0;
}

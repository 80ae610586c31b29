/* Future chaining (seed 003): each future's done callback resolves the next. */
#include <stdio.h>

#include <xf/xf.h>

typedef struct link {
  xf_future_t *next;
  int number;
} link_t;

/* lambda f: next.set_result(f.result() + " -> Future N") */
static void append(xf_future_t *done, void *data) {
  link_t *link = data;
  xf_value_t *v, *out;
  const char *text;
  size_t len;
  char buf[128];
  if (xf_future_result(done, 0, &v) != XF_OK)
    return;
  if (xf_value_get_string(v, &text, &len) == XF_OK) {
    snprintf(buf, sizeof buf, "%.*s -> Future %d", (int) len, text, link->number);
    if (xf_value_new_cstring(buf, &out) == XF_OK)
      xf_future_set_result(link->next, out);
  }
  xf_value_unref(v);
}

int main(void) {
  xf_future_t *f[3];
  for (int i = 0; i < 3; i++)
    if (xf_future_new(&f[i]) != XF_OK)
      return 1;
  link_t links[2] = {{f[1], 2}, {f[2], 3}};
  /* loop NULL: a callback runs inline in the thread that finishes the future */
  xf_future_add_done_callback(f[0], append, &links[0], NULL, NULL);
  xf_future_add_done_callback(f[1], append, &links[1], NULL, NULL);
  xf_value_t *v;
  if (xf_value_new_cstring("Future 1", &v) != XF_OK ||
      xf_future_set_result(f[0], v) != XF_OK)
    return 1;
  const char *text;
  size_t len;
  if (xf_future_result(f[2], -1, &v) == XF_OK &&
      xf_value_get_string(v, &text, &len) == XF_OK)
    printf("%.*s\n", (int) len, text);
  xf_value_unref(v);
  for (int i = 0; i < 3; i++)
    xf_future_unref(f[i]);
  return 0;
}

/* Offloading blocking work to threads and gathering the results (seed 000,
 * asyncio.to_thread + gather): run_in_executor on the loop's default pool,
 * then one future of the list of results. */
#include <stdio.h>

#include <xf/xf.h>

static int parallelize(void *data, xf_future_t *self) {
  int64_t x = (int64_t) (intptr_t) data, total = 0;
  for (int64_t i = 0; i < x; i++)
    for (int64_t j = 0; j < x; j++)
      total += i + j;
  xf_value_t *v;
  int rc = xf_value_new_int(total, &v);
  return rc == XF_OK ? xf_future_set_result(self, v) : rc;
}

int main(void) {
  xf_loop_t *loop;
  if (xf_loop_new(&loop) != XF_OK)
    return 1;
  intptr_t nums[3] = {1, 10, 100};
  xf_future_t *fs[3], *gathered;
  for (int i = 0; i < 3; i++)
    if (xf_loop_run_in_executor(loop, NULL, parallelize, (void *) nums[i], NULL,
                                &fs[i]) != XF_OK)
      return 1;
  xf_value_t *list;
  if (xf_future_all(fs, 3, 0, &gathered) != XF_OK ||
      xf_loop_run_until_complete(loop, gathered, &list) != XF_OK)
    return 1;
  size_t n = 0;
  xf_value_list_len(list, &n);
  printf("[");
  for (size_t i = 0; i < n; i++) {
    xf_value_t *item;
    int64_t r = 0;
    if (xf_value_list_get(list, i, &item) == XF_OK)
      xf_value_get_int(item, &r);
    printf("%s%lld", i ? ", " : "", (long long) r);
  }
  printf("]\n");
  xf_value_unref(list);
  xf_future_unref(gathered);
  for (int i = 0; i < 3; i++)
    xf_future_unref(fs[i]);
  xf_loop_close(loop);
  xf_loop_unref(loop);
  return 0;
}

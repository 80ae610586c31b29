/* A program that exits with a task of its MPI executor still running, run
 * under mpirun with 3 ranks: the task's future must fail, with a clear
 * error, as the process exits (and the job must end, not hang). A done
 * callback prints what the future holds; CTest matches the line
 *   pending: BrokenExecutor: the MPI job is being torn down: ...
 * The worker ranks finish the task they run and leave. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "xf/mpi.h"
#include "xf/xf.h"

static void on_done(xf_future_t *f, void *data) {
  (void) data;
  xf_error_t *err = NULL;
  if (xf_future_error(f, 0, &err) == XF_OK && err)
    printf("pending: %s: %s\n", xf_error_type(err), xf_error_message(err));
  else
    printf("pending: finished without an error\n");
  fflush(stdout);
  xf_error_unref(err);
}

/* Held to the end, so that what the exit leaves is no leak of the test's. */
static xf_executor_t *ex;
static xf_future_t *f;

int main(void) {
  int rc = xf_mpi_world_executor_new(0, NULL, &ex);
  /* A worker rank is done when it served, and also when rank 0 exited
   * before the rank said HELLO (which is as good as a release). */
  if (rc != XF_OK || !ex)
    return rc == XF_OK || rc == XF_ESHUTDOWN ? 0 : 1;
  xf_value_t *n;
  if (xf_value_new_int(300000000LL, &n) != XF_OK ||
      xf_process_pool_submit_symbol(ex, XFT_MPI_TASKS, "xft_mpi_spin", "double(int64)",
                                    &n, 1, -1, &f) != XF_OK ||
      xf_future_add_done_callback(f, on_done, NULL, NULL, NULL) != XF_OK)
    return 1;
  xf_value_unref(n);
  /* Once a worker rank runs it, exit, with the executor never shut down. */
  while (!xf_future_running(f) && !xf_future_done(f))
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  printf("running: %s\n", xf_future_running(f) ? "yes" : "no");
  fflush(stdout);
  return 0;
}

/* xfworker: the worker program of the process pool, for C tasks.
 *
 * Design notes
 * ------------
 * The pool spawns this program with its end of a socketpair as file
 * descriptor 3, stdin on /dev/null, stderr on a pipe the pool reads, and
 * XF_PARENT_PID in the environment. The program speaks the protocol of
 * docs/wire-protocol.md, one frame at a time and with blocking I/O, since
 * it does one thing at a time:
 *
 *   -> HELLO      version, pid, the languages it runs ("c")
 *   <- INIT       the initializer, if any
 *   -> READY      null, or the initializer's error
 *   <- TASK ...   -> RESULT or ERROR, in the order the tasks came
 *   <- SHUTDOWN   (or end of file): leave with status 0
 *
 * The loop itself lives in the library (core/src/worker.c), since a rank
 * of an MPI executor runs it too. With the argument --mpi the program is a
 * worker that an MPI executor spawned (MPI_Comm_spawn, xf_mpi_pool_new):
 * the library's MPI thread relays the parent's messages to a socket, and
 * the same loop runs on that socket.
 *
 * The worker must never outlive the pool: PR_SET_PDEATHSIG delivers SIGKILL
 * when the pool's manager thread is gone, and a parent that is already gone
 * by the time that is set is caught by comparing getppid() with
 * XF_PARENT_PID. SIGINT is ignored, so that Ctrl-C in a terminal reaches the
 * pool's process, which decides, and not every worker at once.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "codec_internal.h"
#include "worker_internal.h"
#include "xf/mpi.h"

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const char *parent = getenv("XF_PARENT_PID");
  if (parent && atol(parent) != (long) getppid())
    return 1; /* the pool is gone already */
  signal(SIGINT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);

  /* Spawned by an MPI executor (xf_mpi_pool_new): the same loop, on a
   * socket that the library relays to the parent's MPI messages. */
  if (argc > 1 && strcmp(argv[1], "--mpi") == 0) {
    int fd = -1;
    int rc = xf_mpi_serve_open(-1, &fd);
    if (rc != XF_OK)
      return 1;
    /* A loop that broke off (a failed initializer) has told the parent;
     * a non-zero status would make mpirun end the whole job. */
    xf__worker_serve(fd);
    close(fd);
    return xf_mpi_serve_wait() == XF_OK ? 0 : 1;
  }
  return xf__worker_serve(XF__WORKER_FD);
}

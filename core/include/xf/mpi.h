/* xfutures — the MPI executor: the process pool's tasks, run by the ranks
 * of an MPI job (mpi4py.futures' MPIPoolExecutor and MPICommExecutor).
 *
 * It is how a program outgrows one machine without a cluster protocol of
 * its own: MPI is what clusters already schedule (mpirun, Slurm's srun,
 * PBS). Tasks are named and encoded exactly as for the process pool
 * (xf/process.h): submit them with xf_process_pool_submit_symbol or
 * xf_process_pool_submit_payload, which take an MPI executor as they take
 * a process pool. Each frame of docs/wire-protocol.md travels as one MPI
 * message, and a serving rank runs the same worker loop as a process-pool
 * worker (xfworker's for C tasks, the binding's worker module for its
 * language). Everything else of the executor interface works: shutdown,
 * stats (threads: the ranks that serve), reference counting; the futures
 * are ordinary free-standing futures, finished by the library's MPI thread
 * (so inline done callbacks run there).
 *
 * Two modes:
 *  - SPMD: every rank of a communicator calls xf_mpi_executor_new (or
 *    xf_mpi_world_executor_new); the root gets the executor and every
 *    other rank serves tasks until the root shuts it down, then returns.
 *    This is `mpirun -n N prog`, the mode every cluster allows.
 *  - Spawn: xf_mpi_pool_new starts its workers with MPI_Comm_spawn (Open
 *    MPI allows it; some MPI builds do not).
 *
 * Threads. One thread of the library, the MPI thread, makes every MPI call
 * of the process, so MPI_THREAD_FUNNELED is enough: when MPI is not
 * initialized yet, that thread initializes it (and is thereby MPI's main
 * thread) and finalizes it when the process exits. When the program
 * initialized MPI itself, it must have asked for MPI_THREAD_SERIALIZED or
 * more, must not call MPI while an executor or a serving rank of this
 * module is active, and must shut them down before MPI_Finalize. The MPI
 * thread waits adaptively for messages: it spins briefly, then polls while
 * yielding the CPU, then backs off to sleeps of growing length (up to 1
 * ms), and blocks when nothing is in flight.
 *
 * Faults. MPI gives no crash isolation: a rank that crashes, is killed or
 * calls exit while it runs a task takes the whole job down (mpirun
 * terminates every rank, the root included). Use the process pool when a
 * task may crash. What the library does promise: a failed MPI call breaks
 * the executor, and every future not finished yet fails with XF_EBROKEN
 * (type "BrokenExecutor", the message says the MPI job is being torn
 * down), as does every future still pending when the process exits;
 * shutdown of a healthy executor always returns.
 *
 * In a build without MPI (the XF_MPI build option off), xf_mpi_available
 * is false and every other function here returns XF_ESTATE.
 */
#ifndef XF_MPI_H
#define XF_MPI_H

#include "executor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xf_mpi_options {
  size_t sz; /* sizeof(xf_mpi_options_t) */
  /* Tasks sent to one rank before its answers come; 0: 1, so that a rank
   * works on one task at a time and a long task does not hold others up. */
  uint32_t max_in_flight;
  /* Spawn mode only: the number of worker processes (0: the CPUs of this
   * machine), the program (NULL: the environment variable XF_WORKER, else
   * the xfworker installed with the library) and its whole argv, argv[0]
   * included, NULL-terminated (NULL: { worker_path, "--mpi", NULL }). A
   * worker program serves with xf_mpi_serve_open(-1, ...). */
  uint32_t max_workers;
  const char *worker_path;
  const char *const *worker_argv;
  /* An initializer each worker rank runs before its first task, as the
   * process pool's init_language and init_payload (xf/process.h): encoded
   * when the executor is made; the caller keeps its reference. A failing
   * initializer breaks the executor with its error. NULL: none. */
  const char *init_language;
  xf_value_t *init_payload;
} xf_mpi_options_t;
#define XF_MPI_OPTIONS_INIT                                                              \
  { sizeof(xf_mpi_options_t), 1, 0, NULL, NULL, NULL, NULL }

/* Whether the library was built with MPI. Any thread; never initializes
 * MPI. */
XF_API bool xf_mpi_available(void);

/* The rank of this process in MPI_COMM_WORLD and the size of the world,
 * initializing MPI (on the MPI thread) if nobody has. Either pointer may be
 * NULL. Errors: XF_ESTATE (no MPI in this build; MPI finalized already, or
 * initialized below MPI_THREAD_SERIALIZED by someone else), XF_ESYS (an MPI
 * call failed), XF_ENOMEM. */
XF_API int xf_mpi_world(int *rank, int *size);

/* SPMD mode over a communicator, given as a pointer to an MPI_Comm and
 * sizeof(MPI_Comm) (which is checked against the MPI the library was built
 * with); a NULL comm means MPI_COMM_WORLD. Every rank of the communicator
 * must call it, with the same root (collective: it duplicates the
 * communicator, so the executor's messages never meet the program's own).
 * On the root, *out receives a new executor (the caller owns the
 * reference), whose workers are the other ranks. On any other rank the
 * call serves C tasks, as xfworker does, until the root shuts the executor
 * down (or its process exits), and then returns XF_OK with *out NULL; or
 * XF_ESHUTDOWN, with *out NULL, when the root called xf_mpi_comm_release
 * instead of making an executor (a worker rank loops until then).
 * opts may be NULL; its spawn fields are ignored. Errors: XF_EINVAL (NULL
 * out, a bad sz, a root outside the communicator, a communicator of one
 * rank), XF_ESTATE (see xf_mpi_world), XF_ESYS (an MPI call failed),
 * XF_ENOMEM. */
XF_API int xf_mpi_comm_executor_new(const void *comm, size_t comm_size, int root,
                                    const xf_mpi_options_t *opts, xf_executor_t **out);

/* xf_mpi_comm_executor_new over MPI_COMM_WORLD: for code that does not
 * include <mpi.h> (the bindings). */
XF_API int xf_mpi_world_executor_new(int root, const xf_mpi_options_t *opts,
                                     xf_executor_t **out);

/* On the root: tell the other ranks of the communicator, which wait in
 * xf_mpi_comm_executor_new or serve with xf_mpi_serve_open, that no
 * executor comes any more; their call (xf_mpi_serve_wait) returns
 * XF_ESHUTDOWN. Collective like xf_mpi_comm_executor_new; comm as there.
 * Errors: XF_EINVAL (a bad comm_size, called on another rank than root),
 * XF_ESTATE (see xf_mpi_world), XF_ESYS, XF_ENOMEM. */
XF_API int xf_mpi_comm_release(const void *comm, size_t comm_size, int root);
XF_API int xf_mpi_world_release(int root);

/* Spawn mode: start opts->max_workers worker processes with
 * MPI_Comm_spawn and return an executor over them (the caller owns the
 * reference). Collective over this process only. The workers start before
 * this returns; they say HELLO and become ready while the first tasks
 * queue. Errors: XF_EINVAL (a bad sz; no worker program to be found),
 * XF_ESTATE (see xf_mpi_world), XF_ESYS (the spawn failed, for example
 * because this MPI cannot spawn), XF_ENOMEM. */
XF_API int xf_mpi_pool_new(const xf_mpi_options_t *opts, xf_executor_t **out);

/* The serving side, for a rank that runs another language's worker loop
 * (the bindings' worker modules): connect to the client, root rank of
 * MPI_COMM_WORLD (root >= 0, SPMD), or the parent that spawned this
 * process (root < 0, spawn mode), and return in *fd a stream socket on
 * which the worker speaks the protocol exactly as on a process-pool
 * worker's descriptor 3 (HELLO first). The MPI thread relays the frames
 * between that socket and MPI messages. The caller owns *fd. Once its loop
 * is done (after SHUTDOWN or at the end of the socket) it calls
 * xf_mpi_serve_wait, which ends the relay (what the loop wrote before is
 * still sent) and returns once the relay has sent everything and let go of
 * the communicator (XF_OK), or XF_ESHUTDOWN when the root released the
 * ranks (xf_mpi_comm_release) rather than start an executor; the caller
 * closes *fd before or after. One serving connection per
 * process at a time. Errors: XF_EINVAL (NULL fd, a root outside the world
 * or this rank itself, root < 0 in a process nobody spawned), XF_EBUSY (a
 * connection is open already), and those of xf_mpi_world. */
XF_API int xf_mpi_serve_open(int root, int *fd);
XF_API int xf_mpi_serve_wait(void);

#ifdef __cplusplus
}
#endif

/* With <mpi.h> included first: the SPMD constructor over an MPI_Comm. */
#if defined(MPI_VERSION) && !defined(SWIG)
static inline int xf_mpi_executor_new(MPI_Comm comm, int root,
                                      const xf_mpi_options_t *opts, xf_executor_t **out) {
  return xf_mpi_comm_executor_new(&comm, sizeof comm, root, opts, out);
}
static inline int xf_mpi_release(MPI_Comm comm, int root) {
  return xf_mpi_comm_release(&comm, sizeof comm, root);
}
#endif

#endif /* XF_MPI_H */

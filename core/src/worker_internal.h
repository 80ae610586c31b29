/* The C worker's serving loop (worker.c), shared by the worker program
 * xfworker and the ranks of an MPI executor. Nothing here is published. */
#ifndef XF_WORKER_INTERNAL_H
#define XF_WORKER_INTERNAL_H

#include "internal.h"

/* Speak the worker's side of the protocol (docs/wire-protocol.md) on the
 * stream socket fd until SHUTDOWN or the end of the socket, running the C
 * tasks that come. Returns 0 after a SHUTDOWN or the end of the socket, 1
 * when the conversation broke off (a failed initializer, a frame of
 * another version, a socket error). The caller keeps fd. One thread at a
 * time. */
XF__HIDDEN int xf__worker_serve(int fd);

#endif /* XF_WORKER_INTERNAL_H */

/* The named tasks of the matrix's process-pool scenarios, in C: a shared
 * library whose functions the C runner submits to the process pool by path,
 * symbol and signature (xf_process_pool_submit_symbol). Every language's
 * runner provides the same tasks in its own form (README.md, "Process
 * pools"). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

int64_t xfm_add(int64_t a, int64_t b) {
  return a + b;
}

int64_t xfm_pid(void) {
  return (int64_t) getpid();
}

/* The rendezvous of a blocked task: write the worker's pid into the FIFO
 * ready (so the runner knows the task runs, and in which process), then wait
 * until the runner writes to the FIFO go and closes it. The value is 0; a
 * FIFO that cannot be used is -1. */
int64_t xfm_block(const char *ready, const char *go) {
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%ld", (long) getpid());
  int fd = open(ready, O_WRONLY);
  if (fd < 0)
    return -1;
  ssize_t w = write(fd, buf, (size_t) n);
  close(fd);
  if (w != n)
    return -1;
  if ((fd = open(go, O_RDONLY)) < 0)
    return -1;
  while (read(fd, buf, sizeof buf) > 0)
    continue;
  close(fd);
  return 0;
}

/* Functions that the process pool's suite runs in its worker processes:
 * arithmetic, the worker's pid, blocking, crashes, exits, large results,
 * results with no encoding and initializers that succeed or fail. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int64_t xft_add(int64_t a, int64_t b) {
  return a + b;
}

double xft_scale(double x, int32_t k) {
  return x * k;
}

int64_t xft_pid(void) {
  return (int64_t) getpid();
}

/* The number of times this process ran it: the library's globals live as
 * long as the worker. */
static int64_t xft_calls;
int64_t xft_count(void) {
  return ++xft_calls;
}

/* Write the worker's pid into the FIFO at path (the test's rendezvous: the
 * task is running now) and then block until killed. */
int64_t xft_announce_and_block(const char *path) {
  int fd = open(path, O_WRONLY);
  if (fd >= 0) {
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long) getpid());
    if (write(fd, buf, (size_t) n) != n)
      _exit(99);
    close(fd);
  }
  for (;;)
    pause();
}

/* Block forever (the timeout tests). */
void xft_block(void) {
  for (;;)
    pause();
}

/* A real segmentation fault with the default disposition, whatever handler
 * a sanitizer runtime installed. */
void xft_segfault(void) {
  signal(SIGSEGV, SIG_DFL);
  volatile int *volatile p = NULL;
  *p = 1;
}

void xft_exit(int32_t status) {
  fputs("xft_exit: leaving on purpose\n", stderr);
  exit(status);
}

/* A string of n bytes 'a' + i % 26 (one static buffer per worker). */
const char *xft_big_string(int64_t n) {
  static char *buf;
  free(buf);
  buf = malloc((size_t) n + 1);
  if (!buf)
    return NULL;
  for (int64_t i = 0; i < n; i++)
    buf[i] = (char) ('a' + i % 26);
  buf[n] = '\0';
  return buf;
}

size_t xft_strlen(const char *s) {
  return strlen(s);
}

/* A pointer result, which has no encoding. */
void *xft_pointer(void) {
  static int x;
  return &x;
}

/* Initializers: the first sets a global the tasks read, the second fails. */
static int32_t xft_init_value;
int32_t xft_init_ok(int32_t v) {
  xft_init_value = v;
  return 0;
}
int32_t xft_init_value_get(void) {
  return xft_init_value;
}
int32_t xft_init_fail(void) {
  fputs("xft_init_fail: the initializer refuses\n", stderr);
  return 7;
}

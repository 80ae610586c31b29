/* Functions that the MPI executor's suite runs on its worker ranks:
 * arithmetic, the rank's pid, a result with no encoding and a CPU-bound
 * loop. */
#include <stdint.h>
#include <unistd.h>

__attribute__((visibility("default"))) int64_t xft_mpi_add(int64_t a, int64_t b) {
  return a + b;
}

__attribute__((visibility("default"))) int64_t xft_mpi_pid(void) {
  return (int64_t) getpid();
}

__attribute__((visibility("default"))) void *xft_mpi_pointer(void) {
  static int x;
  return &x;
}

/* Burn CPU for n rounds (the example's and the bench's workload too). */
__attribute__((visibility("default"))) double xft_mpi_spin(int64_t n) {
  double x = 0;
  for (int64_t i = 0; i < n; i++)
    x += (double) (i % 7) * 0.5;
  return x;
}

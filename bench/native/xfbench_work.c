/* The native work of the binding benchmarks (workloads 6-9): a plain shared
 * library, loaded with ctypes (Python), xf.dlsym (Lua) or xf.symbol (Node).
 *
 *   xfb_spin(n)  n rounds of a xorshift mix; CPU-bound, touches no memory,
 *                the same work whichever thread or language calls it.
 *   xfb_noop(x)  returns x: a completion with no work, for delivery costs.
 */
#include <stdint.h>

__attribute__((visibility("default"))) uint64_t xfb_spin(uint64_t n) {
  uint64_t x = 0x9E3779B97F4A7C15u ^ n;
  for (uint64_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    __asm__ volatile("" : "+r"(x));
  }
  return x;
}

__attribute__((visibility("default"))) int64_t xfb_noop(int64_t x) {
  return x;
}

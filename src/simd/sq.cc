// SQ encoding: the start == end case is decided here, before any kernel runs.
#include "simd/sq.h"

#include <cstring>

#include "simd/kernels.h"

namespace lancer::simd {

void sq_encode(const float* x, size_t n, double start, double end, uint8_t* out, SimdLevel level) {
  const double range = end - start;
  if (range == 0.0) {
    std::memset(out, 0, n);
    return;
  }
  kernels_for(level).sq_encode(x, n, start, range, out);
}

}  // namespace lancer::simd

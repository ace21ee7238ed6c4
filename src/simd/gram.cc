// The scalar reference of gram.h (and the dispatch): a row's 16 chains advanced
// together, std::fma per step.
#include "simd/gram.h"

#include <algorithm>
#include <cmath>

#include "simd/kernels.h"

namespace lancer::simd {
namespace {

[[gnu::always_inline]] inline void gram_body(const float* rows, const float* cols, size_t dim, float* out, size_t ld) {
  constexpr size_t w = kCodewordBlock;
  for (size_t r = 0; r < w; ++r) {
    float v[w] = {};
    for (size_t j = 0; j < dim; ++j) {
      const float x = rows[j * w + r];
      for (size_t c = 0; c < w; ++c) v[c] = std::fma(x, cols[j * w + c], v[c]);
    }
    std::copy_n(v, w, out + r * ld);
  }
}

// std::fma is one instruction where the compiler may use FMA, a library call otherwise.
__attribute__((target("fma"))) void gram_fma(const float* rows, const float* cols, size_t dim, float* out, size_t ld) {
  gram_body(rows, cols, dim, out, ld);
}
void gram_call(const float* rows, const float* cols, size_t dim, float* out, size_t ld) {
  gram_body(rows, cols, dim, out, ld);
}

}  // namespace

GramTileFn gram_tile(SimdLevel level) {
  switch (std::min(level, cpu_simd_level())) {
    case SimdLevel::kAvx512: return detail::gram_tile_avx512;
    case SimdLevel::kAvx2: return detail::gram_tile_avx2;
    case SimdLevel::kScalar: break;
  }
  return __builtin_cpu_supports("fma") ? gram_fma : gram_call;
}

}  // namespace lancer::simd

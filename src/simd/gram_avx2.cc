// gram.h with AVX2 + FMA: columns 0-7 and 8-15 in two registers, 6 rows' chains
// at once (12 accumulators; 16 registers in all).
#include <immintrin.h>

#include "simd/gram.h"

namespace lancer::simd::detail {
namespace {

template <size_t G>
inline void rows_of(const float* rows, const float* cols, size_t dim, float* out, size_t ld) {
  __m256 lo[G], hi[G];
#pragma GCC unroll 8
  for (size_t g = 0; g < G; ++g) lo[g] = hi[g] = _mm256_setzero_ps();
  for (size_t j = 0; j < dim; ++j) {
    const __m256 cl = _mm256_loadu_ps(cols + j * 16), ch = _mm256_loadu_ps(cols + j * 16 + 8);
#pragma GCC unroll 8
    for (size_t g = 0; g < G; ++g) {
      const __m256 x = _mm256_broadcast_ss(rows + j * 16 + g);
      lo[g] = _mm256_fmadd_ps(x, cl, lo[g]);
      hi[g] = _mm256_fmadd_ps(x, ch, hi[g]);
    }
  }
#pragma GCC unroll 8
  for (size_t g = 0; g < G; ++g) {
    _mm256_storeu_ps(out + g * ld, lo[g]);
    _mm256_storeu_ps(out + g * ld + 8, hi[g]);
  }
}

}  // namespace

void gram_tile_avx2(const float* rows, const float* cols, size_t dim, float* out, size_t ld) {
  rows_of<6>(rows, cols, dim, out, ld);
  rows_of<6>(rows + 6, cols, dim, out + 6 * ld, ld);
  rows_of<4>(rows + 12, cols, dim, out + 12 * ld, ld);
}

}  // namespace lancer::simd::detail

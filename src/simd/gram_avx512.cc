// gram.h with AVX-512F: the 16 columns in one register, 16 rows' chains at
// once; a row's component is a broadcast from the cache line that holds
// component j of all 16 rows.
#include <immintrin.h>

#include "simd/gram.h"

namespace lancer::simd::detail {

void gram_tile_avx512(const float* rows, const float* cols, size_t dim, float* out, size_t ld) {
  __m512 v[16];
#pragma GCC unroll 16
  for (size_t r = 0; r < 16; ++r) v[r] = _mm512_setzero_ps();
  for (size_t j = 0; j < dim; ++j) {
    const __m512 c = _mm512_loadu_ps(cols + j * 16);
    const float* x = rows + j * 16;
#pragma GCC unroll 16
    for (size_t r = 0; r < 16; ++r) v[r] = _mm512_fmadd_ps(_mm512_set1_ps(x[r]), c, v[r]);
  }
#pragma GCC unroll 16
  for (size_t r = 0; r < 16; ++r) _mm512_storeu_ps(out + r * ld, v[r]);
}

}  // namespace lancer::simd::detail

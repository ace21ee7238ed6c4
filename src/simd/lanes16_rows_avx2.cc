// lanes16_rows with AVX2: lanes 0-7 and 8-15 of a row in two registers.
#include <immintrin.h>

#include "simd/lanes16_rows.h"

namespace lancer::simd::detail {
namespace {

template <bool kL2>
inline __m256 term(__m256 x, __m256 y) {
  if constexpr (kL2) {
    const __m256 diff = _mm256_sub_ps(x, y);
    return _mm256_mul_ps(diff, diff);
  } else {
    return _mm256_mul_ps(x, y);
  }
}

// The tail (element j into lane j % 16) and lanes16's pairwise fold, in plain code.
template <bool kL2>
inline float finish(__m256 lo, __m256 hi, const float* a, const float* b, size_t j, size_t d) {
  alignas(32) float lanes[16];
  _mm256_store_ps(lanes, lo);
  _mm256_store_ps(lanes + 8, hi);
  for (size_t l = 0; j + l < d; ++l) {
    if constexpr (kL2) {
      const float diff = a[j + l] - b[j + l];
      lanes[l] += diff * diff;
    } else {
      lanes[l] += a[j + l] * b[j + l];
    }
  }
  for (size_t w = 8; w >= 1; w /= 2) {
    for (size_t l = 0; l < w; ++l) lanes[l] += lanes[l + w];
  }
  return lanes[0];
}

template <bool kL2>
void rows(const float* q, const float* base, size_t dim, const uint32_t* ids, size_t n, float* out) {
  const size_t full = dim / 16 * 16;
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    const float* b0 = base + size_t{ids[i]} * dim;
    const float* b1 = base + size_t{ids[i + 1]} * dim;
    __m256 l0 = _mm256_setzero_ps(), h0 = l0, l1 = l0, h1 = l0;
    for (size_t j = 0; j < full; j += 16) {
      const __m256 xl = _mm256_loadu_ps(q + j), xh = _mm256_loadu_ps(q + j + 8);
      l0 = _mm256_add_ps(l0, term<kL2>(xl, _mm256_loadu_ps(b0 + j)));
      h0 = _mm256_add_ps(h0, term<kL2>(xh, _mm256_loadu_ps(b0 + j + 8)));
      l1 = _mm256_add_ps(l1, term<kL2>(xl, _mm256_loadu_ps(b1 + j)));
      h1 = _mm256_add_ps(h1, term<kL2>(xh, _mm256_loadu_ps(b1 + j + 8)));
    }
    out[i] = finish<kL2>(l0, h0, q, b0, full, dim);
    out[i + 1] = finish<kL2>(l1, h1, q, b1, full, dim);
  }
  for (; i < n; ++i) {
    const float* b0 = base + size_t{ids[i]} * dim;
    __m256 l0 = _mm256_setzero_ps(), h0 = l0;
    for (size_t j = 0; j < full; j += 16) {
      l0 = _mm256_add_ps(l0, term<kL2>(_mm256_loadu_ps(q + j), _mm256_loadu_ps(b0 + j)));
      h0 = _mm256_add_ps(h0, term<kL2>(_mm256_loadu_ps(q + j + 8), _mm256_loadu_ps(b0 + j + 8)));
    }
    out[i] = finish<kL2>(l0, h0, q, b0, full, dim);
  }
}

}  // namespace

void lanes16_rows_l2_avx2(const float* q, const float* base, size_t dim, const uint32_t* ids, size_t n, float* out) {
  rows<true>(q, base, dim, ids, n, out);
}
void lanes16_rows_dot_avx2(const float* q, const float* base, size_t dim, const uint32_t* ids, size_t n, float* out) {
  rows<false>(q, base, dim, ids, n, out);
}

}  // namespace lancer::simd::detail

// lanes16_rows with AVX-512F: a row's 16 lanes in one register, the tail by a
// masked add (lanes past the tail keep their bits), lanes16's fold in registers.
#include <immintrin.h>

#include "simd/lanes16_rows.h"

namespace lancer::simd::detail {
namespace {

template <bool kL2>
inline __m512 term(__m512 x, __m512 y) {
  if constexpr (kL2) {
    const __m512 diff = _mm512_sub_ps(x, y);
    return _mm512_mul_ps(diff, diff);
  } else {
    return _mm512_mul_ps(x, y);
  }
}

// lanes[l] += lanes[l + w] for w = 8, 4, 2, 1: lane 0 is the sum.
inline float fold(__m512 v) {
  const __m256 lo = _mm512_castps512_ps256(v);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  const __m256 s8 = _mm256_add_ps(lo, hi);
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  const __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

template <bool kL2, int kRows>
inline void block(const float* q, const float* const* b, size_t full, size_t dim, __mmask16 tail, float* out) {
  __m512 acc[kRows];
  for (int r = 0; r < kRows; ++r) acc[r] = _mm512_setzero_ps();
  for (size_t j = 0; j < full; j += 16) {
    const __m512 x = _mm512_loadu_ps(q + j);
    for (int r = 0; r < kRows; ++r) acc[r] = _mm512_add_ps(acc[r], term<kL2>(x, _mm512_loadu_ps(b[r] + j)));
  }
  if (full < dim) {
    const __m512 x = _mm512_maskz_loadu_ps(tail, q + full);
    for (int r = 0; r < kRows; ++r) {
      acc[r] = _mm512_mask_add_ps(acc[r], tail, acc[r], term<kL2>(x, _mm512_maskz_loadu_ps(tail, b[r] + full)));
    }
  }
  for (int r = 0; r < kRows; ++r) out[r] = fold(acc[r]);
}

template <bool kL2>
void rows(const float* q, const float* base, size_t dim, const uint32_t* ids, size_t n, float* out) {
  const size_t full = dim / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (dim - full)) - 1u);
  size_t i = 0;
  const float* b[8];
  for (; i + 8 <= n; i += 8) {
    for (int r = 0; r < 8; ++r) b[r] = base + size_t{ids[i + r]} * dim;
    block<kL2, 8>(q, b, full, dim, tail, out + i);
  }
  for (; i + 4 <= n; i += 4) {
    for (int r = 0; r < 4; ++r) b[r] = base + size_t{ids[i + r]} * dim;
    block<kL2, 4>(q, b, full, dim, tail, out + i);
  }
  for (; i < n; ++i) {
    b[0] = base + size_t{ids[i]} * dim;
    block<kL2, 1>(q, b, full, dim, tail, out + i);
  }
}

}  // namespace

void lanes16_rows_l2_avx512(const float* q, const float* base, size_t dim, const uint32_t* ids, size_t n, float* out) {
  rows<true>(q, base, dim, ids, n, out);
}
void lanes16_rows_dot_avx512(const float* q, const float* base, size_t dim, const uint32_t* ids, size_t n, float* out) {
  rows<false>(q, base, dim, ids, n, out);
}

}  // namespace lancer::simd::detail

// The sums of linalg::portable_l2_sqr / portable_dot (linalg/norms.cc), the
// same bits, inline and faster: element j into lane j % 16 of 16 partial sums,
// the tail into the first lanes, then the pairwise fold. On x86-64 the lanes
// are four SSE2 registers (the baseline ISA, so no dispatch); elsewhere plain
// scalar code in the same order. Plain multiplies and adds, never fused.
// For hot loops that must give the portable bits (the HNSW graph build).
#pragma once

#include <cstddef>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace lancer::simd {

namespace detail {

template <bool kL2>
inline float lanes16_term(const float* a, const float* b, size_t j) {
  if constexpr (kL2) {
    const float diff = a[j] - b[j];
    return diff * diff;
  } else {
    return a[j] * b[j];
  }
}

template <bool kL2>
inline float lanes16_sum(const float* a, const float* b, size_t d) {
  alignas(16) float lanes[16] = {};
  size_t j = 0;
#if defined(__SSE2__)
  __m128 acc[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
  for (; j + 16 <= d; j += 16) {
    for (int r = 0; r < 4; ++r) {
      const __m128 x = _mm_loadu_ps(a + j + 4 * r), y = _mm_loadu_ps(b + j + 4 * r);
      __m128 t;
      if constexpr (kL2) {
        const __m128 diff = _mm_sub_ps(x, y);
        t = _mm_mul_ps(diff, diff);
      } else {
        t = _mm_mul_ps(x, y);
      }
      acc[r] = _mm_add_ps(acc[r], t);
    }
  }
  for (int r = 0; r < 4; ++r) _mm_store_ps(lanes + 4 * r, acc[r]);
#else
  for (; j + 16 <= d; j += 16) {
    for (size_t l = 0; l < 16; ++l) lanes[l] += lanes16_term<kL2>(a, b, j + l);
  }
#endif
  for (size_t l = 0; j + l < d; ++l) lanes[l] += lanes16_term<kL2>(a, b, j + l);
  for (size_t w = 8; w >= 1; w /= 2) {
    for (size_t l = 0; l < w; ++l) lanes[l] += lanes[l + w];
  }
  return lanes[0];
}

}  // namespace detail

inline float lanes16_l2_sqr(const float* a, const float* b, size_t d) {
  return detail::lanes16_sum<true>(a, b, d);
}
inline float lanes16_dot(const float* a, const float* b, size_t d) {
  return detail::lanes16_sum<false>(a, b, d);
}

}  // namespace lancer::simd

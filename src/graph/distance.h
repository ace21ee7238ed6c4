// linalg::portable_l2_sqr / portable_dot, the same bits, faster: 16 lanes as
// four SSE2 registers (x86-64's baseline, so no dispatch), element j into lane
// j % 16, the tail and the pairwise fold exactly as linalg/norms.cc orders them.
// Plain multiplies and adds, never fused. Elsewhere the linalg functions are used.
#pragma once

#include <cstddef>

#include "linalg/norms.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace lancer::graph {

#if defined(__SSE2__)
namespace detail {

template <bool kL2>
inline float lane_sum(const float* a, const float* b, size_t d) {
  __m128 acc[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
  size_t j = 0;
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
  alignas(16) float lanes[16];
  for (int r = 0; r < 4; ++r) _mm_store_ps(lanes + 4 * r, acc[r]);
  for (size_t l = 0; j + l < d; ++l) {
    float t;
    if constexpr (kL2) {
      const float diff = a[j + l] - b[j + l];
      t = diff * diff;
    } else {
      t = a[j + l] * b[j + l];
    }
    lanes[l] += t;
  }
  for (size_t w = 8; w >= 1; w /= 2) {
    for (size_t l = 0; l < w; ++l) lanes[l] += lanes[l + w];
  }
  return lanes[0];
}

}  // namespace detail

inline float graph_l2_sqr(const float* a, const float* b, size_t d) { return detail::lane_sum<true>(a, b, d); }
inline float graph_dot(const float* a, const float* b, size_t d) { return detail::lane_sum<false>(a, b, d); }
#else
inline float graph_l2_sqr(const float* a, const float* b, size_t d) { return linalg::portable_l2_sqr(a, b, d); }
inline float graph_dot(const float* a, const float* b, size_t d) { return linalg::portable_dot(a, b, d); }
#endif

}  // namespace lancer::graph

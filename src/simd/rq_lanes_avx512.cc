// RqLanesKernels with AVX-512F: 16 vectors side by side, one per lane of a zmm register.
#include <immintrin.h>

#include "simd/rq_lanes.h"

namespace lancer::simd {
namespace {

constexpr size_t kWidth = 16;
using VF = float __attribute__((vector_size(64)));
using VI = int32_t __attribute__((vector_size(64)));

inline VF sqrt_lanes(VF x) {
  return reinterpret_cast<VF>(_mm512_sqrt_ps(reinterpret_cast<__m512>(x)));
}
inline VF floor_lanes(VF x) {
  return reinterpret_cast<VF>(
      _mm512_roundscale_ps(reinterpret_cast<__m512>(x), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
}

size_t rescale_events(const float* a, size_t d, uint32_t max_code, float t_start, float t_end, uint64_t* keys,
                      size_t capacity);
constexpr auto kRescaleEvents = rescale_events;

#include "simd/rq_lanes_impl.h"

// quant/rq_model.cc's sorted_events loop (the emission, not the sort), 16 dimensions per register rather
// than one: each round tries the next code of every dimension still below t_end and compresses the keys
// of those that pass, so a dimension costs its share of a division rather than a division of its own.
// (The scalar loop spent about 60 instructions per dimension.) The same operations per event: the
// start code as mul, add, floor, clamp; the threshold as the exact division; so the same keys.
size_t rescale_events(const float* a, size_t d, uint32_t max_code, float t_start, float t_end, uint64_t* keys,
                      size_t capacity) {
  const __m512 start = _mm512_set1_ps(t_start), end = _mm512_set1_ps(t_end), epsilon = _mm512_set1_ps(kExEpsilon);
  const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(static_cast<float>(max_code));
  const __m512 infinity = _mm512_set1_ps(__builtin_inff());
  const __m512i last_code = _mm512_set1_epi32(static_cast<int32_t>(max_code)), one = _mm512_set1_epi32(1);
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  size_t n = 0;
  for (size_t j = 0; j < d; j += 16) {
    const __mmask16 in = d - j >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << (d - j)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(in, a + j);
    // v > 0 and finite (ordered comparisons: NaN fails both).
    __mmask16 live = in & _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ) & _mm512_cmp_ps_mask(v, infinity, _CMP_LT_OQ);
    if (live == 0) continue;
    const __m512 x = _mm512_roundscale_ps(_mm512_add_ps(_mm512_mul_ps(start, v), epsilon),
                                          _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512i next = _mm512_add_epi32(_mm512_cvttps_epi32(_mm512_min_ps(top, _mm512_max_ps(x, zero))), one);
    const __m512i dim = _mm512_slli_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int32_t>(j))), 8);
    for (;;) {
      const __m512 threshold = _mm512_div_ps(_mm512_cvtepi32_ps(next), v);
      // A dimension's thresholds grow with next: once one fails, the rest do.
      live &= _mm512_cmp_epi32_mask(next, last_code, _MM_CMPINT_LE) & _mm512_cmp_ps_mask(threshold, end, _CMP_LT_OQ);
      if (live == 0) break;
      const __m512i low = _mm512_or_si512(dim, _mm512_and_si512(next, _mm512_set1_epi32(0xff)));
      const __m512i high = _mm512_castps_si512(threshold);
      const __m512i key0 = _mm512_or_si512(_mm512_cvtepu32_epi64(_mm512_castsi512_si256(low)),
                                           _mm512_slli_epi64(_mm512_cvtepu32_epi64(_mm512_castsi512_si256(high)), 32));
      const __m512i key1 =
          _mm512_or_si512(_mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(low, 1)),
                          _mm512_slli_epi64(_mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(high, 1)), 32));
      const __mmask8 m0 = static_cast<__mmask8>(live), m1 = static_cast<__mmask8>(live >> 8);
      if (n + 16 <= capacity) {
        _mm512_storeu_si512(keys + n, _mm512_maskz_compress_epi64(m0, key0));
        n += static_cast<size_t>(__builtin_popcount(m0));
        _mm512_storeu_si512(keys + n, _mm512_maskz_compress_epi64(m1, key1));
        n += static_cast<size_t>(__builtin_popcount(m1));
      } else {
        n += static_cast<size_t>(__builtin_popcount(live));
      }
      next = _mm512_add_epi32(next, one);
    }
  }
  return n;
}

}  // namespace

const RqLanesKernels* detail::rq_lanes_avx512() {
  return &kKernels;
}

}  // namespace lancer::simd

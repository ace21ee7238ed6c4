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

#include "simd/rq_lanes_impl.h"

}  // namespace

const RqLanesKernels* detail::rq_lanes_avx512() {
  return &kKernels;
}

}  // namespace lancer::simd

// RqLanesKernels with AVX2: 8 vectors side by side, one per lane of a ymm register.
#include <immintrin.h>

#include "simd/rq_lanes.h"

namespace lancer::simd {
namespace {

constexpr size_t kWidth = 8;
using VF = float __attribute__((vector_size(32)));
using VI = int32_t __attribute__((vector_size(32)));

inline VF sqrt_lanes(VF x) {
  return reinterpret_cast<VF>(_mm256_sqrt_ps(reinterpret_cast<__m256>(x)));
}
inline VF floor_lanes(VF x) {
  return reinterpret_cast<VF>(_mm256_floor_ps(reinterpret_cast<__m256>(x)));
}

// No compress instruction: quant generates the rescale events itself.
constexpr size_t (*kRescaleEvents)(const float*, size_t, uint32_t, float, float, uint64_t*, size_t) = nullptr;

#include "simd/rq_lanes_impl.h"

}  // namespace

const RqLanesKernels* detail::rq_lanes_avx2() {
  return &kKernels;
}

}  // namespace lancer::simd

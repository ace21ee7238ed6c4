#include "simd/rq_lanes.h"

#include <algorithm>

namespace lancer::simd {

const RqLanesKernels* rq_lanes_kernels(SimdLevel level) {
  switch (std::min(level, cpu_simd_level())) {
    case SimdLevel::kAvx512: return detail::rq_lanes_avx512();
    case SimdLevel::kAvx2: return detail::rq_lanes_avx2();
    case SimdLevel::kScalar: break;
  }
  return nullptr;
}

}  // namespace lancer::simd

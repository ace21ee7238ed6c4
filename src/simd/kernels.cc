// Run-time dispatch: the kernel table of the best level the CPU has, capped by the
// level asked for (LANCER_SIMD caps best_simd_level()).
#include "simd/kernels.h"

namespace lancer::simd {

const Kernels& kernels_for(SimdLevel level) {
  if (level > cpu_simd_level()) level = cpu_simd_level();
  switch (level) {
    case SimdLevel::kAvx512: return avx512_kernels();
    case SimdLevel::kAvx2: return avx2_kernels();
    case SimdLevel::kScalar: break;
  }
  return scalar_kernels();
}

}  // namespace lancer::simd

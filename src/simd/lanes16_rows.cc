#include "simd/lanes16_rows.h"

#include <algorithm>

#include "simd/lanes16.h"

namespace lancer::simd {
namespace {

template <bool kL2>
void rows_scalar(const float* q, const float* base, size_t dim, const uint32_t* ids, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = detail::lanes16_sum<kL2>(q, base + size_t{ids[i]} * dim, dim);
}

}  // namespace

Lanes16RowsFn lanes16_rows(bool l2, SimdLevel level) {
  level = std::min(level, cpu_simd_level());
  switch (level) {
    case SimdLevel::kAvx512: return l2 ? detail::lanes16_rows_l2_avx512 : detail::lanes16_rows_dot_avx512;
    case SimdLevel::kAvx2: return l2 ? detail::lanes16_rows_l2_avx2 : detail::lanes16_rows_dot_avx2;
    case SimdLevel::kScalar: break;
  }
  return l2 ? rows_scalar<true> : rows_scalar<false>;
}

}  // namespace lancer::simd

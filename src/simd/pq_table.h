// PQ distance tables for asymmetric (ADC) distances. The codebook is laid
// out sub-vector-major [m][ksub][dsub], exactly as Lance stores it.
//   l2:  table[s * ksub + k] = |q_s - c_{s,k}|^2
//   dot: table[s * ksub + k] = q_s . c_{s,k}
// Thread-safe; buffers are borrowed.
#pragma once

#include <cstddef>

#include "simd/kernels.h"
#include "simd/level.h"

namespace lancer::simd {

inline void pq_l2_table(const float* q, const float* codebook, size_t m, size_t ksub, size_t dsub, float* table,
                        SimdLevel level = best_simd_level()) {
  kernels_for(level).pq_l2_table(q, codebook, m, ksub, dsub, table);
}
inline void pq_dot_table(const float* q, const float* codebook, size_t m, size_t ksub, size_t dsub, float* table,
                         SimdLevel level = best_simd_level()) {
  kernels_for(level).pq_dot_table(q, codebook, m, ksub, dsub, table);
}

}  // namespace lancer::simd

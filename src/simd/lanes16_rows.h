// lanes16 distances from one query to many rows: out[i] = lanes16_l2_sqr(q,
// base + ids[i] * dim, dim) (or lanes16_dot), the same bits at every SIMD
// level. AVX2 holds a row's 16 lanes in two registers, AVX-512 in one; each
// lane still sums its elements in index order and the fold is the same
// pairwise one, with plain multiplies and adds (never fused). Several rows are
// scored at once only to overlap their addition chains.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/level.h"

namespace lancer::simd {

using Lanes16RowsFn = void (*)(const float* q, const float* base, size_t dim, const uint32_t* ids, size_t n,
                               float* out);

// The kernel for `level` (capped at what the CPU supports), kL2 = true for lanes16_l2_sqr, false for lanes16_dot.
Lanes16RowsFn lanes16_rows(bool l2, SimdLevel level);
inline Lanes16RowsFn lanes16_rows(bool l2) {
  return lanes16_rows(l2, best_simd_level());
}

namespace detail {
void lanes16_rows_l2_avx2(const float*, const float*, size_t, const uint32_t*, size_t, float*);
void lanes16_rows_dot_avx2(const float*, const float*, size_t, const uint32_t*, size_t, float*);
void lanes16_rows_l2_avx512(const float*, const float*, size_t, const uint32_t*, size_t, float*);
void lanes16_rows_dot_avx512(const float*, const float*, size_t, const uint32_t*, size_t, float*);
}  // namespace detail

}  // namespace lancer::simd

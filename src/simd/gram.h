// Dot products between two packed blocks of 16 points (simd::pack_blocks:
// component j of point p at xt[j * 16 + p]), each one fused-multiply-add chain
// in index order — the HNSW graph build's distance matrix:
//   out[r * ld + c] = v,  v = 0; for j in 0..dim-1: v = fma(rows_r[j], cols_c[j], v)
// for r, c < 16. A fused multiply-add rounds once, so every level performs the
// same operations per pair and gives the same bits on any CPU; and fma(a, b,
// v) = fma(b, a, v), so the value of (x, y) equals that of (y, x). How many
// chains a kernel advances at once changes no operation. Thread-safe.
#pragma once

#include <cstddef>

#include "simd/level.h"

namespace lancer::simd {

using GramTileFn = void (*)(const float* rows, const float* cols, size_t dim, float* out, size_t ld);

// The kernel for `level` (capped at what the CPU supports).
GramTileFn gram_tile(SimdLevel level);
inline GramTileFn gram_tile() {
  return gram_tile(best_simd_level());
}

namespace detail {
void gram_tile_avx2(const float* rows, const float* cols, size_t dim, float* out, size_t ld);
void gram_tile_avx512(const float* rows, const float* cols, size_t dim, float* out, size_t ld);
}  // namespace detail

}  // namespace lancer::simd

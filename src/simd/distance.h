// Distance kernels over f32 vectors, and f16 / u8 -> f32 conversion.
// Every function picks its kernel once per call from `level` (default: the
// detected level, see level.h); the scalar level is the reference the others
// are tested against. Arrays are borrowed, row-major, `d` floats per row.
// All functions are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/kernels.h"
#include "simd/level.h"

namespace lancer::simd {

// |a - b|^2
inline float l2_sqr(const float* a, const float* b, size_t d, SimdLevel level = best_simd_level()) {
  return kernels_for(level).l2_sqr(a, b, d);
}
// a . b
inline float dot(const float* a, const float* b, size_t d, SimdLevel level = best_simd_level()) {
  return kernels_for(level).dot(a, b, d);
}
// 1 - a.b / (|a| |b|); NaN when either vector is zero (as Lance).
inline float cosine_distance(const float* a, const float* b, size_t d, SimdLevel level = best_simd_level()) {
  float out;
  kernels_for(level).cosine_batch(a, b, 1, d, &out);
  return out;
}

// out[i] = distance(q, x[i]) for the n rows of x.
inline void l2_sqr_batch(const float* q, const float* x, size_t n, size_t d, float* out,
                         SimdLevel level = best_simd_level()) {
  kernels_for(level).l2_sqr_batch(q, x, n, d, out);
}
inline void dot_batch(const float* q, const float* x, size_t n, size_t d, float* out,
                      SimdLevel level = best_simd_level()) {
  kernels_for(level).dot_batch(q, x, n, d, out);
}
inline void cosine_batch(const float* q, const float* x, size_t n, size_t d, float* out,
                         SimdLevel level = best_simd_level()) {
  kernels_for(level).cosine_batch(q, x, n, d, out);
}
// out[i] = |x[i]|^2
inline void norm_sqr_batch(const float* x, size_t n, size_t d, float* out, SimdLevel level = best_simd_level()) {
  kernels_for(level).norm_sqr_batch(x, n, d, out);
}

// Element-wise conversions of n values (exact).
inline void f16_to_f32(const uint16_t* in, size_t n, float* out, SimdLevel level = best_simd_level()) {
  kernels_for(level).f16_to_f32(in, n, out);
}
inline void u8_to_f32(const uint8_t* in, size_t n, float* out, SimdLevel level = best_simd_level()) {
  kernels_for(level).u8_to_f32(in, n, out);
}

// Fused arg-min over a block of scores (e.g. a GEMM output), see Kernels::argmin_update.
inline void argmin_update(const float* block, size_t rows, size_t cols, size_t ld, const float* bias, uint32_t col0,
                          float* best, uint32_t* best_idx, SimdLevel level = best_simd_level()) {
  kernels_for(level).argmin_update(block, rows, cols, ld, bias, col0, best, best_idx);
}

}  // namespace lancer::simd

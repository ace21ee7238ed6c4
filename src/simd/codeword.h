// Nearest-codeword search for short sub-vectors (PQ sub-quantizers, small-d
// k-means): points are packed into transposed blocks of 16 (see
// CodewordSearch in kernels.h) so one register holds one component of 16
// points; codewords are pre-scaled by -2 and paired with their squared norms.
// Thread-safe; buffers are borrowed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/kernels.h"
#include "simd/level.h"

namespace lancer::simd {

// Number of floats pack_blocks writes for n points of width dsub.
inline size_t packed_size(size_t n, size_t dsub) {
  return (n + kCodewordBlock - 1) / kCodewordBlock * kCodewordBlock * dsub;
}

// Copies x[i][0..dsub) of n rows (row stride `stride` floats) into transposed
// blocks, less offset[0..dsub) when given (one subtraction per value); the
// padding lanes of the last block are zero.
void pack_blocks(const float* x, size_t n, size_t stride, size_t dsub, float* xt, const float* offset = nullptr);
// pack_blocks' AVX-512 half (kernels_avx512.cc): n a multiple of 16, dsub 8 or a multiple of 16.
void pack_blocks_avx512(const float* x, size_t n, size_t stride, size_t dsub, float* xt, const float* offset);

// Packs the points idx[0..count) of packed blocks xt into blocks of their own
// (out: room for packed_size(count, dsub) floats; padding lanes zero).
void pack_selected(const float* xt, size_t dsub, const uint32_t* idx, size_t count, float* out);

// cb2[k][j] = -2 * codebook[k][j], cnorm[k] = |codebook[k]|^2 (exact for the
// same inputs at every level).
void prepare_codewords(const float* codebook, size_t ksub, size_t dsub, float* cb2, float* cnorm);

// out[i] = |x_i|^2 for the points of num_blocks packed blocks (16 per block):
// per point a sum of products in j order, plain IEEE multiplies and adds. Like
// the rest of this file it is compiled once, without SIMD dispatch: the same
// bits on every CPU.
void packed_norms(const float* xt, size_t num_blocks, size_t dsub, float* out);

inline void nearest_codewords(const CodewordSearch& args, SimdLevel level = best_simd_level()) {
  kernels_for(level).nearest_codeword(args);
}

}  // namespace lancer::simd

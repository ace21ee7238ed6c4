// Internal: the per-ISA kernel table. One table per instruction set
// (kernels_scalar.cc, kernels_avx2.cc, kernels_avx512.cc); the entry points in
// distance.h, codeword.h, pq_table.h and sq.h pick a table once per batch. Every entry
// is a pure function of its arguments; all are thread-safe.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "simd/level.h"

namespace lancer::simd {

// Points to search, in blocks of kCodewordBlock points stored transposed:
// the value of component j of point (b * 16 + lane) is at xt[(b * dsub + j) * 16 + lane].
// For every point the kernel finds the codeword k minimising
//   v_k = cnorm[k] + sum_j x_j * cb[k * dsub + j]      (j in order, one fused multiply-add each)
// where cb holds the codewords scaled by -2, so v_k = |x - c_k|^2 - |x|^2.
// Ties go to the lowest k. `second` (optional) receives the second-smallest v.
inline constexpr size_t kCodewordBlock = 16;
struct CodewordSearch {
  const float* xt = nullptr;
  size_t num_blocks = 0;
  const float* cb = nullptr;     // [ksub][dsub], scaled by -2
  const float* cnorm = nullptr;  // [ksub]
  size_t ksub = 0;
  size_t dsub = 0;
  uint32_t* best_idx = nullptr;  // [num_blocks * 16]
  float* best = nullptr;         // [num_blocks * 16]
  float* second = nullptr;       // [num_blocks * 16] or null
  // Bounds suffice for best and second (k-means' bounds): best >= the real |x - c|^2 - |x|^2 of
  // the codeword returned, second <= that of every other. The integer kernel (codeword_i8.h) then
  // skips the canonical scores of points whose nearest codeword its proposals prove.
  bool bounds_suffice = false;
};

// One pass of Hamerly's bounds over n packed points (k-means for short
// vectors). For each point i with centroid a = label[i]:
//   u = upper[i] + drift[a];  l = lower[i] - (a == drift_argmax ? drift_second : drift_max)
//   lower[i] = l;  m = max(half_gap[a], l)
//   if u > m: u = sqrt(sum_j fma-chain (x_j - c_aj)^2) * kBoundsSlack, and if still u > m the
//   point needs a full search: its index is appended to `todo`.
//   upper[i] = u
// Returns the number of indices written to todo (in increasing order).
// With todo_xt set, the points of todo are also packed there in blocks of 16 like xt
// (room for packed_size(n, dsub) floats; the last block's padding lanes zero): the
// AVX-512 kernel writes them from the components it already loaded, the others copy.
inline constexpr float kBoundsSlack = 1.0f + 1e-5f;
// BoundsPass' threshold with room for two canonical errors, sqrt(m^2 - 2 err) lowered for its own
// roundings, or -1 (never kept out) when m^2 <= 2 err. Every level computes these same operations.
inline float bounds_room(float m, float xn, float err_slack, float cmax) {
  const float e2 = 2.0f * err_slack * (xn + cmax) * (1 + 0x1p-10f);
  const float t = m * m - e2;
  return t > 0 ? std::sqrt(t) * (1 - 0x1p-20f) : -1.0f;
}
struct BoundsPass {
  const float* xt = nullptr;  // packed like CodewordSearch::xt
  size_t n = 0;
  size_t dsub = 0;
  const uint32_t* label = nullptr;
  float* upper = nullptr;
  float* lower = nullptr;
  const float* drift = nullptr;
  const float* half_gap = nullptr;
  float drift_max = 0;
  float drift_second = 0;
  uint32_t drift_argmax = 0;
  const float* centroids = nullptr;  // [k][dsub]
  uint32_t* todo = nullptr;          // room for n indices
  float* todo_xt = nullptr;          // optional, see above
  // With xn ([n]: |x|^2): a point is kept out only if u^2 + 2 err <= m^2, err = err_slack (xn + cmax)
  // the canonical score's error, so that the label it keeps is the canonical kernel's winner.
  const float* xn = nullptr;
  float err_slack = 0, cmax = 0;
};

struct Kernels {
  SimdLevel level;
  float (*l2_sqr)(const float* a, const float* b, size_t d);
  float (*dot)(const float* a, const float* b, size_t d);
  float (*norm_sqr)(const float* a, size_t d);
  // One query against n row-major rows of x (stride d).
  void (*l2_sqr_batch)(const float* q, const float* x, size_t n, size_t d, float* out);
  void (*dot_batch)(const float* q, const float* x, size_t n, size_t d, float* out);
  void (*cosine_batch)(const float* q, const float* x, size_t n, size_t d, float* out);
  void (*norm_sqr_batch)(const float* x, size_t n, size_t d, float* out);
  void (*f16_to_f32)(const uint16_t* in, size_t n, float* out);
  void (*u8_to_f32)(const uint8_t* in, size_t n, float* out);
  // For each row i < rows, v_j = block[i * ld + j] + (bias ? bias[j] : 0) over
  // j < cols; if the smallest v (first on ties, NaN never wins) is below
  // best[i], best[i] = v and best_idx[i] = col0 + j.
  void (*argmin_update)(const float* block, size_t rows, size_t cols, size_t ld, const float* bias, uint32_t col0,
                        float* best, uint32_t* best_idx);
  void (*nearest_codeword)(const CodewordSearch& args);
  size_t (*bounds_pass)(const BoundsPass& args);
  // acc[j] += x[rows[r] * d + j] for r = 0, 1, ... in order (f32 widened to
  // f64: the same bits at every level). Used for centroid means.
  void (*add_rows_f64)(const float* x, size_t d, const uint32_t* rows, size_t count, double* acc);
  // Fixed-point sums by label: acc[dest[i] * d + j] += q(x[i * ld + j]) for
  // i < count, j < d, where q(v) = double(v) * scale rounded to the nearest
  // integer (ties to even). scale must be plus or minus a power of two and
  // |v * scale| < 2^51 (the rounding adds 1.5 * 2^52 in f64; a power of two
  // keeps the product exact, fused or not; ties to even is symmetric, so -scale
  // gives exactly minus the terms of scale). Integer sums do not depend on the order rows are
  // added in, which is what lets k-means split them over threads and ranks.
  void (*add_rows_fixed)(const float* x, size_t ld, size_t d, size_t count, const uint32_t* dest, double scale,
                         int64_t* acc);
  // code = saturate_u8(trunc((double(x) - start) * 255.0 / range)), NaN -> 0.
  // range != 0 (the caller handles start == end).
  void (*sq_encode)(const float* x, size_t n, double start, double range, uint8_t* out);
  // table[s * ksub + k] = |q_s - c_{s,k}|^2 (l2) or q_s . c_{s,k} (dot);
  // codebook laid out [m][ksub][dsub].
  void (*pq_l2_table)(const float* q, const float* codebook, size_t m, size_t ksub, size_t dsub, float* table);
  void (*pq_dot_table)(const float* q, const float* codebook, size_t m, size_t ksub, size_t dsub, float* table);
};

const Kernels& scalar_kernels();
const Kernels& avx2_kernels();
const Kernels& avx512_kernels();
// The table for `level`; a level above what the CPU supports is lowered to it.
const Kernels& kernels_for(SimdLevel level);
inline const Kernels& best_kernels() {
  return kernels_for(best_simd_level());
}

}  // namespace lancer::simd

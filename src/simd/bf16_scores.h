// Approximate inner products in bfloat16 (AVX512-BF16), used only to propose
// candidates: an exact rule then decides (linalg/nearest.cc). Never part of a
// result's definition, so machines without BF16 give the same bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lancer::simd {

// True when this CPU has AVX512-BF16, the SIMD level is AVX-512 and
// LANCER_BF16 is not "0".
bool bf16_scores_available();

// Rows tile and centroid panel sizes of the kernel: rows and centroids are padded to them.
inline constexpr size_t kBf16RowTile = 8;
inline constexpr size_t kBf16Panel = 16;

// Pairs of bfloat16 (round to nearest even) per vector: (d + 1) / 2.
inline size_t bf16_pairs(size_t d) {
  return (d + 1) / 2;
}
inline size_t bf16_round_up(size_t n, size_t m) {
  return (n + m - 1) / m * m;
}

// Centroids (minus `shift`, if given) as panels of 16: pair j of centroid
// p * 16 + l at out[(p * pairs + j) * 16 + l]; kp = bf16_round_up(k, kBf16Panel)
// centroids, the padding ones zero. out: kp * pairs uint32.
void bf16_pack_panels(const float* c, size_t k, size_t d, const float* shift, uint32_t* out);

// Rows (minus `shift`, if given) row-major as pairs: out[r * pairs + j];
// n rounded up to kBf16RowTile, the padding rows zero.
void bf16_pack_rows(const float* x, size_t n, size_t stride, size_t d, const float* shift, uint32_t* out);

// out[r * kp + c] = sum over pairs of rows[r] . panels[c] (bfloat16 products,
// float32 sums in an order of the hardware's choosing). n, kp padded as above.
void bf16_scores(const uint32_t* rows, size_t n, const uint32_t* panels, size_t kp, size_t pairs, float* out);

// The candidates of m rows: for row r with proposal a_c (l2: cn[c] - 2 p_c,
// dot: -p_c, p = scores[r * kp + c]) and margin
//   M_c = alpha[c] * |x_r - shift| + beta[c] * |x_r| + eta[c]   (l2; dot: |x_r| for both norms)
// (norms rounded up), every c < k with a_c - M_c <= min_c' (a_c' + M_c') is
// appended as (r, c), rows in order, c increasing. Returns the number
// appended, or SIZE_MAX when some value is not finite or more than `cap`
// candidates would be needed.
size_t bf16_candidates(const float* x, size_t m, size_t d, const float* shift, const float* scores, size_t kp,
                       size_t k, const float* cn, const float* alpha, const float* beta, const float* eta,
                       uint32_t* rows, uint32_t* cols, size_t cap);

// Canonical scores for (row, centroid) pairs, the codeword kernel's exact
// sequence: v = cnorm[c]; for j in order: v = fma(x[row][j], cb[c][j], v).
void canonical_pair_scores(const float* x, size_t stride, size_t d, const float* cb, const float* cnorm,
                           const uint32_t* rows, const uint32_t* cols, size_t count, float* out);

// The same scores from points packed by pack_blocks (simd/codeword.h; value j
// of point p at [(p / 16) * 16 * d + j * 16 + p % 16]): at most 64 rows
// (xt) and 64 centroids (cbt), 16 pairs to a register, each lane the same
// FMA sequence as canonical_pair_scores. For k-means' small groups, where
// every row's candidates are scored.
inline constexpr size_t kPackedPairsMax = 64;
void canonical_pair_scores_packed(const float* xt, size_t m, const float* cbt, size_t k, size_t d, const float* cnorm,
                                  const uint32_t* rows, const uint32_t* cols, size_t count, float* out);

// out[i] = |x_i|^2 of m row-major rows, exactly as simd::packed_norms computes
// it (one chain of multiplies and adds per row, j in order).
void canonical_row_norms(const float* x, size_t m, size_t d, float* out);

// The pivot search (linalg/nearest_bf16.cc), AVX-512 only: per row r of m,
// out[r] = the c < k with the smallest cn[c] - 2 scores[r * kp + c] (lowest c
// on ties; 0 if every value is NaN).
void bf16_pivots(const float* scores, size_t m, size_t kp, size_t k, const float* cn, uint32_t* out);

// The c < k with v[c] <= limit, increasing, written to out; their number, or
// cap + 1 (and out in part) when there are more than cap.
size_t indices_at_most(const float* v, size_t k, float limit, uint32_t* out, size_t cap);

}  // namespace lancer::simd

// Internal to nearest.cc: the nearest centroid proposed by bfloat16 products
// and decided exactly. Every centroid whose canonical score (nearest.h) could
// be the smallest is a candidate; the candidates are scored canonically, so
// the labels and scores equal the codeword kernel's bit for bit
// (docs/decisions/same-bytes-any-hardware.md, "Reduced precision").
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/buffer.h"
#include "linalg/matrix.h"
#include "linalg/nearest.h"

namespace lancer::linalg {

class Bf16Proposal {
 public:
  // cb, cnorm: the canonical kernel's prepared centroids (kept borrowed).
  Bf16Proposal(MatrixView<const float> centroids, bool l2, const float* cb, const float* cnorm);

  // Whether the proposal is worth its packing for this shape.
  static bool worthwhile(size_t k, size_t d);

  // Nearest centroid and (if best is not null) canonical score of m rows
  // (row-major, stride d). False when the bound cannot be used (non-finite
  // values) or prunes too little: the caller then runs the canonical kernel
  // (labels and best may have been written in part).
  bool assign(const float* x, size_t m, NearestScratch::Buffers& buffers, uint32_t* labels, float* best) const;

 private:
  // The pivot search (l2, many centroids, d >= 512): a nearby centroid c0 from
  // bfloat16 products over the first low_d_ dimensions, then every centroid
  // that the triangle inequality, through c0, cannot exclude becomes a
  // candidate. Appends the candidates to buffers.cand_rows / cand_cols and
  // returns their number, or SIZE_MAX (non-finite values, too many rows it
  // cannot prune for). Rows with too many candidates are left out of the
  // candidates and listed in buffers.pivot_hard.
  size_t pivot_candidates(const float* x, size_t m, NearestScratch::Buffers& buffers) const;
  // The full proposal's candidates of m rows (simd::bf16_candidates).
  size_t full_candidates(const float* x, size_t m, NearestScratch::Buffers& buffers, uint32_t* rows, uint32_t* cols,
                         size_t cap) const;
  void init_pivot(MatrixView<const float> centroids, const std::vector<double>& shifted_norms, double rho);
  // Whether the pivot search has been pruning enough on this data to be tried.
  bool pivot_live() const;

  size_t k_, d_, kp_, pairs_;
  bool l2_;
  const float* cb_;
  const float* cnorm_;
  std::vector<float> shift_;      // mean of the centroids
  core::UninitVector<uint32_t> panels_;  // centroids - shift in bfloat16
  core::UninitVector<float> cbt_;        // cb packed in blocks of 16 (simd::pack_blocks), when k <= 64
  std::vector<float> cn_;         // |c - shift|^2 (l2)
  // Error margin of centroid c for a row x: alpha[c] |x - shift| + beta[c] |x| + eta[c].
  std::vector<float> alpha_, beta_, eta_;
  // The pivot search: low-dimensional panels and |c_low - shift_low|^2, a copy
  // of the centroids, lower bounds on every |c - c'| (k x k), and the largest
  // |c|^2 (rounded up).
  bool pivot_ = false;
  size_t low_d_ = 0;
  core::UninitVector<uint32_t> low_panels_;
  std::vector<float> low_cn_;
  core::UninitVector<float> centroids_;
  core::UninitVector<float> apart_;
  double cmax2_ = 0;
  mutable std::atomic<uint32_t> pivot_ok_{0}, pivot_failed_{0};
};

}  // namespace lancer::linalg

// Internal to nearest.cc: the nearest centroid proposed by bfloat16 products
// and decided exactly. Every centroid whose canonical score (nearest.h) could
// be the smallest is a candidate; the candidates are scored canonically, so
// the labels and scores equal the codeword kernel's bit for bit
// (docs/decisions/same-bytes-any-hardware.md, "Reduced precision").
#pragma once

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
};

}  // namespace lancer::linalg

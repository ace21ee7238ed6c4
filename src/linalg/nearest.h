// Nearest centroid of every row: the IVF assignment and the k-means inner loop.
// Rows are cut into fixed blocks (their size depends only on the number of
// centroids, see nearest_row_block) that run on the executor; within a block,
// rows are packed 16 at a time and scored against every centroid by the
// codeword kernel (simd/codeword.h), which keeps the best while it goes. No
// BLAS: every score is one fixed sequence of IEEE operations
//   v = |c|^2 + sum_j x_j * (-2 c_j)   (j in order, one fused multiply-add each)
// that every SIMD level reproduces bit for bit, so labels and distances are the
// same on any CPU, at any SIMD level, for any thread or rank count
// (docs/decisions/same-bytes-any-hardware.md).
//
// Scores (ties go to the lowest centroid index):
//   kL2, kCosine: |x - c|^2 (the caller L2-normalises x for cosine)
//   kDot:         1 - x.c   (largest inner product wins, as Lance ranks)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "core/buffer.h"
#include "core/executor.h"
#include "lancer/status.h"
#include "linalg/matrix.h"
#include "simd/level.h"
#include "simd/metric.h"

namespace lancer::linalg {

// Rows per block (the unit of work, and of k-means' per-block sums): 512 to
// 2048, fewer for more centroids so that a block's work stays near constant.
// Part of the result's definition only through k-means' loss, which is summed
// block by block (docs/decisions/kmeans-iteration.md).
inline constexpr size_t kNearestColBlock = 1024;
inline size_t nearest_row_block(size_t k) {
  const size_t cols = k < kNearestColBlock ? k : kNearestColBlock;
  size_t rows = (size_t{1} << 17) / (cols ? cols : 1);
  return rows < 512 ? 512 : rows > 2048 ? 2048 : rows;
}

// Buffers of nearest_centroids kept across calls: k-means calls it once per
// iteration, and fresh score blocks would be mapped and page-faulted each time.
// Thread-safe; holds at most one block's buffers per concurrent thread.
class NearestScratch {
 public:
  struct Buffers {
    core::UninitVector<float> packed, best, norms;
    core::UninitVector<uint32_t> labels;
    // The bfloat16 proposal (nearest.cc): packed rows, scores, candidates.
    core::UninitVector<uint32_t> bf16_rows, cand_rows, cand_cols;
    core::UninitVector<float> bf16_scores, cand_scores;
    // The pivot search: |x|^2 of the rows, their pivots; rows it left to the full proposal, their values and
    // candidates.
    core::UninitVector<float> pivot_norms, hard_x;
    core::UninitVector<uint32_t> pivot_rows, pivot_hard, hard_rows, hard_cols;
  };
  Buffers* acquire();
  void release(Buffers* buffers);

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Buffers>> all_;
  std::vector<Buffers*> free_;
};

// Optional inputs. on_block: called with each block's rows [begin, end) on the
// thread that finished it, while they are still in cache (k-means sums them
// there); calls for different blocks may overlap. scratch: reused buffers.
// level: the kernels to run (tests compare levels; the result is the same).
// bf16: propose candidates with bfloat16 products where the CPU has them
// (default: when available and no level is forced); the result is the same.
// row_norms: |x_i|^2 of every row as nearest_row_norms computes them, for a
// caller that assigns the same rows again and again (k-means); l2 distances
// then use them instead of computing them per call.
// packed: x already packed (NearestPackedRows, built for this x and k).
using NearestBlockFn = std::function<void(size_t begin, size_t end)>;
class NearestPackedRows;
struct NearestOptions {
  NearestBlockFn on_block;
  NearestScratch* scratch = nullptr;
  std::optional<simd::SimdLevel> level;
  std::optional<bool> bf16;
  const float* row_norms = nullptr;
  const NearestPackedRows* packed = nullptr;
};

// Whether nearest_centroids scores every row with the exact kernel (no
// bfloat16 proposal) for k centroids of dimension d.
bool nearest_exact_only(size_t k, size_t d, const NearestOptions& options);

// The rows of x packed as nearest_centroids packs them for the exact kernel,
// with their norms. k-means scores the same rows against new centroids every
// iteration; with few centroids (the two-level training's top level and
// groups, about 21 each) repacking them every time cost about as much as the
// scores. A copy of x (bits unchanged), so the results are the same.
class NearestPackedRows {
 public:
  // Up to this many bytes a k-means run keeps its rows packed.
  static constexpr size_t kBudgetBytes = size_t{64} << 20;
  // Worth keeping for k-means over x: the exact kernel runs and the copy fits the budget.
  static bool worthwhile(MatrixView<const float> x, size_t k, const NearestOptions& options);

  NearestPackedRows(MatrixView<const float> x, size_t k, core::Executor& executor);
  size_t rows() const { return rows_; }
  size_t centroids() const { return k_; }
  // Rows [r, r + m) of one piece nearest_centroids packs: r = block start + a multiple of 64.
  const float* blocks(size_t r) const { return blocks_.data() + group_of(r) * 16 * dim_; }
  const float* norms(size_t r) const { return norms_.data() + group_of(r) * 16; }

 private:
  size_t group_of(size_t r) const;
  size_t rows_, dim_, k_, row_block_, groups_per_block_;
  core::UninitVector<float> blocks_, norms_;
};

// out[i] = |x_i|^2, the sequence the l2 distances of nearest_centroids use
// (one multiply and one add per element, in order); out.size() == x.rows.
void nearest_row_norms(MatrixView<const float> x, std::span<float> out, core::Executor& executor);

class Bf16Proposal;

// The centroids as the kernels read them (scaled, with norms; bfloat16 panels
// and the proposal's margins where the CPU has BF16): preparing them costs
// about as much as assigning a thousand rows at 2,048-d, so a caller that
// assigns batch after batch against the same centroids prepares them once.
// level and bf16 as in NearestOptions; the centroids are copied.
class PreparedCentroids {
 public:
  PreparedCentroids(MatrixView<const float> centroids, simd::Metric metric,
                    std::optional<simd::SimdLevel> level = std::nullopt, std::optional<bool> bf16 = std::nullopt);
  ~PreparedCentroids();
  PreparedCentroids(const PreparedCentroids&) = delete;
  PreparedCentroids& operator=(const PreparedCentroids&) = delete;

  size_t k() const { return k_; }
  size_t dim() const { return d_; }
  simd::Metric metric() const { return metric_; }
  std::optional<simd::SimdLevel> level() const { return level_; }
  const float* cb() const { return cb_.data(); }
  const float* cnorm() const { return cnorm_.data(); }
  const Bf16Proposal* proposal() const { return proposal_.get(); }

 private:
  size_t k_, d_;
  simd::Metric metric_;
  std::optional<simd::SimdLevel> level_;
  core::UninitVector<float> cb_;
  std::vector<float> cnorm_;
  std::unique_ptr<Bf16Proposal> proposal_;
};

// labels[i] = the nearest centroid of row i; distances[i] (if not empty) its
// score (l2 clamped at 0). Errors: InvalidArgument on shape mismatch.
Status nearest_centroids(MatrixView<const float> x, MatrixView<const float> centroids, simd::Metric metric,
                         std::span<uint32_t> labels, std::span<float> distances, core::Executor& executor,
                         const NearestOptions& options = {});

// The same against centroids prepared once (options.level and options.bf16
// are the prepared ones').
Status nearest_centroids(MatrixView<const float> x, const PreparedCentroids& centroids, std::span<uint32_t> labels,
                         std::span<float> distances, core::Executor& executor, const NearestOptions& options = {});

}  // namespace lancer::linalg

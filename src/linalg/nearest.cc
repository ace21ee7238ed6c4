#include "linalg/nearest.h"

#include <algorithm>
#include <string>
#include <vector>

#include "linalg/nearest_bf16.h"
#include "simd/bf16_scores.h"
#include "simd/codeword.h"
#include "simd/kernels.h"

namespace lancer::linalg {
namespace {

// Rows packed and searched at once within a block: a few 16-row groups, so
// that the packed rows stay in L1/L2 while every centroid streams past them.
constexpr size_t kPackRows = 64;

}  // namespace

bool nearest_exact_only(size_t k, size_t d, const NearestOptions& options) {
  return !(options.bf16.value_or(!options.level.has_value()) && Bf16Proposal::worthwhile(k, d));
}

bool NearestPackedRows::worthwhile(MatrixView<const float> x, size_t k, const NearestOptions& options) {
  const size_t row_block = nearest_row_block(k);
  const size_t groups =
      (x.rows + row_block - 1) / row_block * ((row_block + simd::kCodewordBlock - 1) / simd::kCodewordBlock);
  return nearest_exact_only(k, x.dim, options) && x.rows > 0 &&
         groups * simd::kCodewordBlock * (x.dim + 1) * sizeof(float) <= kBudgetBytes;
}

// Each row block's pieces packed back to back, 16-row groups (the last of a block padded):
// the layout nearest_centroids' per-piece packing gives, whatever the block size.
NearestPackedRows::NearestPackedRows(MatrixView<const float> x, size_t k, core::Executor& executor)
    : rows_(x.rows),
      dim_(x.dim),
      k_(k),
      row_block_(nearest_row_block(k)),
      groups_per_block_((row_block_ + simd::kCodewordBlock - 1) / simd::kCodewordBlock) {
  const size_t blocks = (rows_ + row_block_ - 1) / row_block_;
  const size_t groups = blocks * groups_per_block_;
  blocks_.resize(groups * 16 * dim_);
  norms_.resize(groups * 16);
  executor.parallel_for(blocks, 1, [&](size_t b0, size_t b1) {
    for (size_t blk = b0; blk < b1; ++blk) {
      const size_t r0 = blk * row_block_, rows = std::min(row_block_, rows_ - r0);
      for (size_t p0 = 0; p0 < rows; p0 += kPackRows) {
        const size_t m = std::min(kPackRows, rows - p0);
        float* out = blocks_.data() + group_of(r0 + p0) * 16 * dim_;
        simd::pack_blocks(x.row(r0 + p0), m, dim_, dim_, out);
        simd::packed_norms(out, (m + simd::kCodewordBlock - 1) / simd::kCodewordBlock, dim_,
                           norms_.data() + group_of(r0 + p0) * 16);
      }
    }
  });
}

size_t NearestPackedRows::group_of(size_t r) const {
  return r / row_block_ * groups_per_block_ + r % row_block_ / simd::kCodewordBlock;
}

NearestScratch::Buffers* NearestScratch::acquire() {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_.empty()) {
    all_.push_back(std::make_unique<Buffers>());
    return all_.back().get();
  }
  Buffers* b = free_.back();
  free_.pop_back();
  return b;
}

void NearestScratch::release(Buffers* buffers) {
  std::lock_guard<std::mutex> lock(mu_);
  free_.push_back(buffers);
}

PreparedCentroids::PreparedCentroids(MatrixView<const float> centroids, simd::Metric metric,
                                     std::optional<simd::SimdLevel> level, std::optional<bool> bf16)
    : k_(centroids.rows), d_(centroids.dim), metric_(metric), level_(level), cb_(k_ * d_), cnorm_(k_, 0.0f) {
  // Centroids scaled by -2 with their squared norms (l2, cosine), or negated
  // with zero norms (dot): the kernel's score is then |x - c|^2 - |x|^2 or -x.c.
  const bool l2 = metric != simd::Metric::kDot;
  if (l2) {
    simd::prepare_codewords(centroids.data, k_, d_, cb_.data(), cnorm_.data());
  } else {
    for (size_t i = 0; i < k_ * d_; ++i) cb_[i] = -centroids.data[i];
  }
  if (k_ > 0 && bf16.value_or(!level.has_value()) && Bf16Proposal::worthwhile(k_, d_))
    proposal_ = std::make_unique<Bf16Proposal>(centroids, l2, cb_.data(), cnorm_.data());
}

PreparedCentroids::~PreparedCentroids() = default;

Status nearest_centroids(MatrixView<const float> x, MatrixView<const float> centroids, simd::Metric metric,
                         std::span<uint32_t> labels, std::span<float> distances, core::Executor& executor,
                         const NearestOptions& options) {
  if (centroids.dim != x.dim)
    return Status::InvalidArgument("nearest_centroids: vectors have dimension " + std::to_string(x.dim) +
                                   " but centroids " + std::to_string(centroids.dim));
  if (centroids.rows == 0) return Status::InvalidArgument("nearest_centroids: no centroids");
  if (labels.size() != x.rows || (!distances.empty() && distances.size() != x.rows))
    return Status::InvalidArgument("nearest_centroids: output size does not match the number of vectors");
  if (x.rows == 0) return Status::OK();
  const PreparedCentroids prepared(centroids, metric, options.level, options.bf16);
  return nearest_centroids(x, prepared, labels, distances, executor, options);
}

Status nearest_centroids(MatrixView<const float> x, const PreparedCentroids& centroids, std::span<uint32_t> labels,
                         std::span<float> distances, core::Executor& executor, const NearestOptions& options) {
  const size_t n = x.rows, d = x.dim, k = centroids.k();
  if (centroids.dim() != d)
    return Status::InvalidArgument("nearest_centroids: vectors have dimension " + std::to_string(d) +
                                   " but centroids " + std::to_string(centroids.dim()));
  if (k == 0) return Status::InvalidArgument("nearest_centroids: no centroids");
  if (labels.size() != n || (!distances.empty() && distances.size() != n))
    return Status::InvalidArgument("nearest_centroids: output size does not match the number of vectors");
  if (n == 0) return Status::OK();

  const bool l2 = centroids.metric() != simd::Metric::kDot;
  const float* cb = centroids.cb();
  const float* cnorm = centroids.cnorm();
  const size_t row_block = nearest_row_block(k);
  const size_t blocks = (n + row_block - 1) / row_block;
  const size_t threads = static_cast<size_t>(std::max(1, executor.num_threads()));
  const size_t grain = std::max<size_t>(1, blocks / (threads * 4));
  const simd::Kernels& kern = centroids.level() ? simd::kernels_for(*centroids.level()) : simd::best_kernels();
  const Bf16Proposal* proposal = centroids.proposal();
  const NearestPackedRows* packed = options.packed;
  if (packed != nullptr && (packed->rows() != n || packed->centroids() != k))
    return Status::InvalidArgument("nearest_centroids: rows packed for another shape");

  NearestScratch own_scratch;
  NearestScratch& scratch = options.scratch ? *options.scratch : own_scratch;
  const size_t packed_floats = simd::packed_size(kPackRows, d);
  executor.parallel_for(blocks, grain, [&](size_t b0, size_t b1) {
    NearestScratch::Buffers* buffers = scratch.acquire();
    if (buffers->packed.size() < packed_floats) buffers->packed.resize(packed_floats);
    buffers->best.resize(kPackRows);
    buffers->norms.resize(kPackRows);
    buffers->labels.resize(kPackRows);
    for (size_t blk = b0; blk < b1; ++blk) {
      const size_t r0 = blk * row_block;
      const size_t rows = std::min(row_block, n - r0);
      for (size_t p0 = 0; p0 < rows; p0 += kPackRows) {
        const size_t m = std::min(kPackRows, rows - p0);
        const size_t num_blocks = (m + simd::kCodewordBlock - 1) / simd::kCodewordBlock;
        const bool want = !distances.empty();
        const bool proposed =
            proposal && proposal->assign(x.row(r0 + p0), m, *buffers, buffers->labels.data(),
                                         want ? buffers->best.data() : nullptr);
        const float* xt = packed ? packed->blocks(r0 + p0) : buffers->packed.data();
        if (!proposed && !packed) simd::pack_blocks(x.row(r0 + p0), m, d, d, buffers->packed.data());
        if (!proposed) {
          simd::CodewordSearch search;
          search.xt = xt;
          search.num_blocks = num_blocks;
          search.cb = cb;
          search.cnorm = cnorm;
          search.ksub = k;
          search.dsub = d;
          search.best_idx = buffers->labels.data();
          search.best = buffers->best.data();
          kern.nearest_codeword(search);
        }
        std::copy_n(buffers->labels.data(), m, labels.data() + r0 + p0);
        if (distances.empty()) continue;
        float* dist = distances.data() + r0 + p0;
        const float* best = buffers->best.data();
        if (l2) {
          const float* norms = buffers->norms.data();
          if (options.row_norms) {
            norms = options.row_norms + r0 + p0;
          } else if (proposed) {
            simd::canonical_row_norms(x.row(r0 + p0), m, d, buffers->norms.data());
          } else if (packed) {
            norms = packed->norms(r0 + p0);
          } else {
            simd::packed_norms(buffers->packed.data(), num_blocks, d, buffers->norms.data());
          }
          for (size_t i = 0; i < m; ++i) dist[i] = std::max(0.0f, norms[i] + best[i]);
        } else {
          for (size_t i = 0; i < m; ++i) dist[i] = 1.0f + best[i];
        }
      }
      if (options.on_block) options.on_block(r0, r0 + rows);
    }
    scratch.release(buffers);
  });
  return Status::OK();
}

void nearest_row_norms(MatrixView<const float> x, std::span<float> out, core::Executor& executor) {
  const size_t n = x.rows, d = x.dim;
  const size_t blocks = (n + kPackRows - 1) / kPackRows;
  executor.parallel_for(blocks, 1, [&](size_t b0, size_t b1) {
    std::vector<float> packed(simd::packed_size(kPackRows, d)), norms(kPackRows);  // whole 16-row groups
    for (size_t b = b0; b < b1; ++b) {
      const size_t r0 = b * kPackRows, m = std::min(kPackRows, n - r0);
      simd::pack_blocks(x.row(r0), m, d, d, packed.data());
      simd::packed_norms(packed.data(), (m + simd::kCodewordBlock - 1) / simd::kCodewordBlock, d, norms.data());
      std::copy_n(norms.data(), m, out.data() + r0);
    }
  });
}

}  // namespace lancer::linalg

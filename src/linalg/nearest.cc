#include "linalg/nearest.h"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "linalg/blas.h"
#include "simd/distance.h"

namespace lancer::linalg {

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

Status nearest_centroids(MatrixView<const float> x, MatrixView<const float> centroids,
                         std::span<const float> centroid_norms, simd::Metric metric, std::span<uint32_t> labels,
                         std::span<float> distances, core::Executor& executor, const NearestOptions& options) {
  const std::span<const float> x_norms = options.x_norms;
  const size_t n = x.rows, d = x.dim, k = centroids.rows;
  if (centroids.dim != d)
    return Status::InvalidArgument("nearest_centroids: vectors have dimension " + std::to_string(d) +
                                   " but centroids " + std::to_string(centroids.dim));
  if (k == 0) return Status::InvalidArgument("nearest_centroids: no centroids");
  if (labels.size() != n || (!distances.empty() && distances.size() != n))
    return Status::InvalidArgument("nearest_centroids: output size does not match the number of vectors");
  const bool l2 = metric != simd::Metric::kDot;
  std::vector<float> own_norms;
  if (l2 && centroid_norms.empty()) {
    own_norms.resize(k);
    simd::norm_sqr_batch(centroids.data, k, d, own_norms.data());
    centroid_norms = own_norms;
  }
  if (l2 && centroid_norms.size() != k)
    return Status::InvalidArgument("nearest_centroids: centroid_norms must hold one value per centroid");
  if (!x_norms.empty() && x_norms.size() != n)
    return Status::InvalidArgument("nearest_centroids: x_norms must hold one value per vector");
  if (n == 0) return Status::OK();

  const size_t col_block = std::min(k, kNearestColBlock);
  const size_t row_block = nearest_row_block(k);
  const size_t blocks = (n + row_block - 1) / row_block;
  const size_t threads = static_cast<size_t>(std::max(1, executor.num_threads()));
  const size_t grain = std::max<size_t>(1, blocks / (threads * 4));
  const float alpha = l2 ? -2.0f : -1.0f;
  const simd::Kernels& kern = simd::best_kernels();

  NearestScratch own_scratch;
  NearestScratch& scratch = options.scratch ? *options.scratch : own_scratch;
  executor.parallel_for(blocks, grain, [&](size_t b0, size_t b1) {
    NearestScratch::Buffers* buffers = scratch.acquire();
    auto& scores = buffers->scores;
    auto& best = buffers->best;
    if (scores.size() < row_block * col_block) scores.resize(row_block * col_block);
    if (best.size() < row_block) best.resize(row_block);
    for (size_t blk = b0; blk < b1; ++blk) {
      const size_t r0 = blk * row_block;
      const size_t rows = std::min(row_block, n - r0);
      std::fill(best.begin(), best.begin() + rows, std::numeric_limits<float>::infinity());
      uint32_t* lab = labels.data() + r0;
      std::fill(lab, lab + rows, 0u);
      for (size_t c0 = 0; c0 < k; c0 += col_block) {
        const size_t cols = std::min(col_block, k - c0);
        sgemm_nt(rows, cols, d, alpha, x.row(r0), d, centroids.row(c0), d, 0.0f, scores.data(), cols);
        kern.argmin_update(scores.data(), rows, cols, cols, l2 ? centroid_norms.data() + c0 : nullptr,
                           static_cast<uint32_t>(c0), best.data(), lab);
      }
      if (!distances.empty()) {
        float* dist = distances.data() + r0;
        if (l2) {
          if (x_norms.empty()) {
            kern.norm_sqr_batch(x.row(r0), rows, d, dist);
          } else {
            std::copy_n(x_norms.data() + r0, rows, dist);
          }
          for (size_t i = 0; i < rows; ++i) dist[i] = std::max(0.0f, dist[i] + best[i]);
        } else {
          for (size_t i = 0; i < rows; ++i) dist[i] = 1.0f + best[i];
        }
      }
      if (options.on_block) options.on_block(r0, r0 + rows);
    }
    scratch.release(buffers);
  });
  return Status::OK();
}

}  // namespace lancer::linalg

// Fused block distance + arg-min: the IVF assignment and k-means inner loop.
// Rows of x are cut into fixed blocks (their size depends only on the number
// of centroids, see nearest_row_block); for each block one
// single-threaded SGEMM per chunk of centroids computes the inner products and
// a SIMD pass keeps the best centroid while the block is still in cache. The
// n x k distance matrix is never materialised. Blocks run on the executor and
// never depend on the thread count, so results are identical for any executor.
//
// Scores (ties go to the lowest centroid index):
//   kL2, kCosine: |x - c|^2 (the caller L2-normalises x for cosine)
//   kDot:         1 - x.c   (largest inner product wins, as Lance ranks)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/buffer.h"
#include "core/executor.h"
#include "lancer/status.h"
#include "linalg/matrix.h"
#include "simd/metric.h"

namespace lancer::linalg {

inline constexpr size_t kNearestColBlock = 1024;
// Rows per block: 512 to 2048, and the block's scores (rows x min(k,
// kNearestColBlock) floats) within 512 KiB where 512 rows allow it. Blocks of
// 2 MiB of scores pushed the block's rows out of a 2 MiB L2 before k-means
// summed them and made the zeroing and arg-min passes miss L2; 512 KiB was
// 1-2 points of time better at k = 256 (docs/decisions/kmeans-iteration.md).
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
    core::UninitVector<float> scores, best;
  };
  Buffers* acquire();
  void release(Buffers* buffers);

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<Buffers>> all_;
  std::vector<Buffers*> free_;
};

// Optional inputs. x_norms: |x_i|^2, only read for l2 distances; computed here
// when empty. on_block: called with each block's rows [begin, end) on the
// thread that finished it, while they are still in cache (k-means sums them
// there); calls for different blocks may overlap. scratch: reused buffers.
using NearestBlockFn = std::function<void(size_t begin, size_t end)>;
struct NearestOptions {
  std::span<const float> x_norms;
  NearestBlockFn on_block;
  NearestScratch* scratch = nullptr;
};

// labels[i] = the nearest centroid of row i; distances[i] (if not empty) its
// score (l2 clamped at 0). centroid_norms: |c|^2 per centroid (l2 / cosine);
// computed here when empty. Errors: InvalidArgument on shape mismatch.
Status nearest_centroids(MatrixView<const float> x, MatrixView<const float> centroids,
                         std::span<const float> centroid_norms, simd::Metric metric, std::span<uint32_t> labels,
                         std::span<float> distances, core::Executor& executor, const NearestOptions& options = {});

}  // namespace lancer::linalg

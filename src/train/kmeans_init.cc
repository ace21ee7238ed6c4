#include "train/kmeans_init.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "simd/lanes16_rows.h"
#include "train/random.h"

namespace lancer::train {
namespace {

std::vector<float> init_random(MatrixView<const float> data, size_t k, uint64_t seed) {
  Random rng(seed);
  const std::vector<uint32_t> rows = sample_distinct(data.rows, k, rng);
  std::vector<float> centroids(k * data.dim);
  for (size_t c = 0; c < k; ++c) std::copy_n(data.row(rows[c]), data.dim, centroids.data() + c * data.dim);
  return centroids;
}

// k-means++ (D^2 sampling with squared L2). Block sums are reduced in block
// order so the draw is the same for any thread count.
// k-means++ over the rows `ids` of data (ascending), or over every row when ids is empty. The
// rows are read in place: no copy of a subset (30 MB for a 2,048-d group of 117 centroids).
std::vector<float> init_kmeanspp(MatrixView<const float> data, const std::vector<uint32_t>& ids, size_t k,
                                 uint64_t seed, core::Executor& executor) {
  const size_t n = ids.empty() ? data.rows : ids.size(), d = data.dim;
  constexpr size_t kBlock = 4096;
  const size_t blocks = (n + kBlock - 1) / kBlock;
  Random rng(seed);
  std::vector<float> centroids(k * d);
  std::vector<float> mind(n, std::numeric_limits<float>::infinity());
  std::vector<double> block_sum(blocks);
  std::vector<uint32_t> offsets(kBlock);
  std::iota(offsets.begin(), offsets.end(), 0u);
  auto row = [&](size_t i) { return data.row(ids.empty() ? i : ids[i]); };
  // linalg::portable_l2_sqr's bits, several rows at a time at the CPU's SIMD level.
  const simd::Lanes16RowsFn l2_rows = simd::lanes16_rows(true);
  size_t pick = rng.uniform(n);
  for (size_t c = 0; c < k; ++c) {
    std::copy_n(row(pick), d, centroids.data() + c * d);
    if (c + 1 == k) break;
    const float* centre = centroids.data() + c * d;
    executor.parallel_for(blocks, 1, [&](size_t b0, size_t b1) {
      std::vector<float> dist(kBlock);
      for (size_t b = b0; b < b1; ++b) {
        const size_t r0 = b * kBlock, rows = std::min(kBlock, n - r0);
        if (ids.empty()) {
          l2_rows(centre, data.row(r0), d, offsets.data(), rows, dist.data());
        } else {
          l2_rows(centre, data.data, d, ids.data() + r0, rows, dist.data());
        }
        double s = 0;
        for (size_t i = 0; i < rows; ++i) {
          mind[r0 + i] = std::min(mind[r0 + i], dist[i]);
          s += mind[r0 + i];
        }
        block_sum[b] = s;
      }
    });
    double total = 0;
    for (double s : block_sum) total += s;
    if (!(total > 0)) {  // every row already is a centroid: fall back to uniform
      pick = rng.uniform(n);
      continue;
    }
    double r = rng.uniform01() * total;
    size_t b = 0;
    while (b + 1 < blocks && r >= block_sum[b]) r -= block_sum[b++];
    const size_t r0 = b * kBlock, rows = std::min(kBlock, n - r0);
    pick = r0 + rows - 1;
    for (size_t i = 0; i < rows; ++i) {
      r -= mind[r0 + i];
      if (r < 0) {
        pick = r0 + i;
        break;
      }
    }
  }
  return centroids;
}

// k-means++ runs on a random subset of at most kPlusPlusRowsPerCentroid * k
// rows: the D^2 draw is sequential in k, so on the whole sample it would cost
// k passes over n rows (docs/decisions/kmeans-init.md).
constexpr size_t kPlusPlusRowsPerCentroid = 32;

}  // namespace

std::vector<uint32_t> random_subset_rows(size_t n, size_t count, uint64_t seed) {
  Random rng(seed);
  std::vector<uint32_t> rows = sample_distinct(n, count, rng);
  std::sort(rows.begin(), rows.end());
  return rows;
}

core::UninitVector<float> random_subset(MatrixView<const float> data, size_t count, uint64_t seed) {
  const std::vector<uint32_t> rows = random_subset_rows(data.rows, count, seed);
  core::UninitVector<float> subset(count * data.dim);  // every row copied in: no zero fill first
  for (size_t i = 0; i < count; ++i) std::copy_n(data.row(rows[i]), data.dim, subset.data() + i * data.dim);
  return subset;
}

std::vector<uint32_t> initial_centroid_rows(size_t n, size_t k, const KMeansParams& p) {
  std::vector<uint32_t> rows;
  if (p.init != KMeansInit::kKMeansPlusPlus) {
    rows = random_subset_rows(n, k, p.seed);  // the rows init_random draws, in row order
  } else if (n <= kPlusPlusRowsPerCentroid * k) {
    rows.resize(n);
    std::iota(rows.begin(), rows.end(), 0u);
  } else {
    rows = random_subset_rows(n, kPlusPlusRowsPerCentroid * k, derive_seed(p.seed, 0x5EED));
  }
  return rows;
}

std::vector<float> initial_centroids(MatrixView<const float> data, size_t k, const KMeansParams& p,
                                     core::Executor& executor) {
  if (p.init != KMeansInit::kKMeansPlusPlus) return init_random(data, k, p.seed);
  const size_t limit = kPlusPlusRowsPerCentroid * k;
  if (data.rows <= limit) return init_kmeanspp(data, {}, k, p.seed, executor);
  return init_kmeanspp(data, random_subset_rows(data.rows, limit, derive_seed(p.seed, 0x5EED)), k, p.seed, executor);
}

}  // namespace lancer::train

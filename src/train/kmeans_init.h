// Initial centroids for k-means, internal to train/ (the public API is
// train/kmeans.h): k distinct sample rows, or k-means++ on a random subset.
// Pure functions of (data, k, params.init, params.seed): the same rows for any
// executor or thread count. data: n x d row-major f32, borrowed for the call;
// results are row-major f32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/buffer.h"
#include "core/executor.h"
#include "train/kmeans.h"

namespace lancer::train {

// `count` distinct rows of data drawn with `seed`, in row order.
core::UninitVector<float> random_subset(MatrixView<const float> data, size_t count, uint64_t seed);
// Which rows random_subset copies from `n` rows, ascending.
std::vector<uint32_t> random_subset_rows(size_t n, size_t count, uint64_t seed);
// Which rows of `n` initial_centroids(data, k, p, ...) reads, ascending: a caller that
// holds only some rows (a rank's) knows which others it must supply.
std::vector<uint32_t> initial_centroid_rows(size_t n, size_t k, const KMeansParams& p);

// k initial centroids (k x d) as p.init and p.seed say.
std::vector<float> initial_centroids(MatrixView<const float> data, size_t k, const KMeansParams& p,
                                     core::Executor& executor);

}  // namespace lancer::train

// IVF k-means: phase 1 of an index build. A pure function of (sample,
// params, executor) -> an immutable KMeansModel, shared as
// shared_ptr<const KMeansModel>. The same seed and sample give bit-identical
// centroids for any executor / thread count (fixed blocks, fixed reduction
// order). Sample: n x dim row-major f32, borrowed for the call only.
//
// Metrics, as Lance ranks partitions (lance-format.md 5.3):
//   l2:     nearest centroid by squared L2;
//   cosine: l2 on L2-normalised vectors (train_kmeans normalises a copy of the
//           sample; assign_partitions expects normalised vectors);
//   dot:    largest inner product; centroids are kept on the unit sphere
//           (spherical k-means, as Lance's trainer does).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/collective.h"
#include "core/executor.h"
#include "lancer/status.h"
#include "linalg/matrix.h"
#include "linalg/nearest.h"
#include "simd/metric.h"

namespace lancer::train {

using linalg::MatrixView;
using simd::Metric;

enum class KMeansInit {
  kRandom,          // k distinct sample rows (Lance's and FAISS's default)
  kKMeansPlusPlus,  // D^2 sampling on at most 32 * k sample rows
};

// hierarchical_fanout value: two-level training with round(sqrt(k)) groups
// when k > kAutoHierarchicalAbove, flat otherwise.
inline constexpr int kAutoFanout = -1;
inline constexpr int kAutoHierarchicalAbove = 256;

// Defaults chosen by measurement: docs/decisions/kmeans-init.md and
// docs/decisions/hierarchical-kmeans.md.
struct KMeansParams {
  int num_clusters = 0;
  int max_iters = 50;  // Lance's default
  // Stop once |loss_prev - loss| < tolerance * loss (Lance's rule and default);
  // 0 runs max_iters (or until no vector changes cluster).
  double tolerance = 1e-4;
  uint64_t seed = 0;
  Metric metric = Metric::kL2;
  KMeansInit init = KMeansInit::kKMeansPlusPlus;
  // 0 = flat; f > 1 = two-level: the sample is clustered into f groups, each
  // group's share of the k centroids (proportional to its size) is trained on
  // its own rows, then `refine_iters` Lloyd iterations run over all k.
  int hierarchical_fanout = kAutoFanout;
  int refine_iters = 2;
  // The top level trains on at most this many rows per group (a random subset),
  // then labels every row once: it only sorts rows into groups.
  int top_rows_per_group = 2048;
};

struct KMeansModel {
  int k = 0;
  int dim = 0;
  Metric metric = Metric::kL2;
  std::vector<float> centroids;  // [k][dim] row-major
  // Sum over the sample of the distance to its centroid at the last assignment
  // (squared L2; 1 - x.c for dot); for two-level training without refinement,
  // the sum of each group's loss against its own centroids. 0 if supplied.
  double loss = 0;
  int iterations = 0;  // Lloyd iterations run, summed over sub-problems (0 if supplied)

  MatrixView<const float> view() const { return {centroids.data(), static_cast<size_t>(k), static_cast<size_t>(dim)}; }
};

// Errors: InvalidArgument for k < 1, fewer sample rows than k, dim 0,
// max_iters < 1, or a non-finite value in the sample.
// Distributed (collective not null): every rank passes the same sample and
// params and gets the same model, bit-identical to one process's. The Lloyd
// assignments are split over ranks by row blocks, the groups of two-level
// training by group; see docs/decisions/distributed-training.md.
Result<std::shared_ptr<const KMeansModel>> train_kmeans(MatrixView<const float> sample, const KMeansParams& params,
                                                        core::Executor& executor,
                                                        core::Collective* collective = nullptr);

// User-supplied centroids ([k][dim]) skip training.
Result<std::shared_ptr<const KMeansModel>> kmeans_from_centroids(std::vector<float> centroids, int dim, Metric metric);

// Partition of each row of x (labels.size() == x.rows); distances optional
// (empty span) or x.rows long. For cosine, x must already be normalised.
Status assign_partitions(const KMeansModel& model, MatrixView<const float> x, std::span<uint32_t> labels,
                         std::span<float> distances, core::Executor& executor);

// The same against the model's centroids prepared once (linalg::PreparedCentroids,
// built from model.view() and model.metric): for callers that assign batch after batch.
Status assign_partitions(const linalg::PreparedCentroids& prepared, MatrixView<const float> x,
                         std::span<uint32_t> labels, std::span<float> distances, core::Executor& executor);

// out[i] = x[i] - centroid[labels[i]] (the PQ input for l2 / cosine); out may alias x.
Status compute_residuals(const KMeansModel& model, MatrixView<const float> x, std::span<const uint32_t> labels,
                         MatrixView<float> out, core::Executor& executor);

}  // namespace lancer::train

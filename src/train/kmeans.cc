#include "train/kmeans.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>

#include "linalg/nearest.h"
#include "linalg/norms.h"
#include "train/exchange.h"
#include "train/kmeans_init.h"
#include "train/kmeans_lloyd.h"
#include "train/kmeans_two_level.h"

namespace lancer::train {
namespace {

// One pass over the sample: every value finite, and the largest magnitude
// (it sets the fixed-point scale of the centroid sums). With several ranks,
// each scans a run of rows and the flags and maxima are exchanged (a maximum
// does not depend on the order it is taken in).
Result<float> scan_sample(MatrixView<const float> x, core::Executor& executor, core::Collective* collective) {
  // Not a structured binding: the lambda below captures r0, which clang before 16 refuses.
  const auto range = collective ? core::owned_range(x.rows, collective->rank(), collective->size())
                                : std::pair<size_t, size_t>{0, x.rows};
  const size_t r0 = range.first, r1 = range.second;
  std::mutex mu;
  bool ok = true;
  float max_abs = 0;
  executor.parallel_for(r1 - r0, 16384, [&](size_t b, size_t e) {
    const float* p = x.row(r0 + b);
    const size_t count = (e - b) * x.dim;
    // The largest |v| as bits: for non-negative floats the bit patterns order as the values,
    // and every NaN and infinity lies above the largest finite one; an integer maximum
    // vectorises, where the float comparisons ran one element at a time (3 % of IVF training
    // at 2,048-d). The same maximum when every value is finite.
    uint32_t top = 0;
    for (size_t i = 0; i < count; ++i) {
      uint32_t bits;
      std::memcpy(&bits, p + i, sizeof bits);
      bits &= 0x7fffffffu;
      top = bits > top ? bits : top;
    }
    const bool finite = top < 0x7f800000u;
    const float m = std::bit_cast<float>(top);
    std::lock_guard<std::mutex> lock(mu);
    ok &= finite;
    max_abs = std::max(max_abs, m);
  });
  if (collective && collective->size() > 1) {
    std::string mine(1, ok ? '1' : '0');
    exchange::put(mine, &max_abs, 1);
    LANCER_ASSIGN_OR_RETURN(auto all, exchange::all_gather(*collective, std::move(mine)));
    for (size_t r = 0; r < all.size(); ++r) {
      float m = 0;
      exchange::Reader in(all[r]);
      const char* flag = in.take(1);
      if (flag == nullptr || !in.get(&m, 1) || !in.done()) return exchange::malformed("k-means sample scan", r);
      ok &= *flag == '1';
      max_abs = std::max(max_abs, m);
    }
  }
  if (!ok) return Status::InvalidArgument("k-means: the training sample holds NaN or infinite values");
  return max_abs;
}

Status check_params(MatrixView<const float> sample, const KMeansParams& p) {
  if (p.num_clusters < 1) return Status::InvalidArgument("k-means: num_clusters must be at least 1");
  if (sample.dim == 0) return Status::InvalidArgument("k-means: vectors have dimension 0");
  if (p.max_iters < 1) return Status::InvalidArgument("k-means: max_iters must be at least 1");
  if (sample.rows < static_cast<size_t>(p.num_clusters))
    return Status::InvalidArgument("k-means: cannot train " + std::to_string(p.num_clusters) + " centroids on " +
                                   std::to_string(sample.rows) + " vectors; use fewer partitions or a larger sample");
  if (p.tolerance < 0 || !std::isfinite(p.tolerance))
    return Status::InvalidArgument("k-means: tolerance must be finite and >= 0");
  if (p.hierarchical_fanout < kAutoFanout || p.refine_iters < 0 || p.top_rows_per_group < 1)
    return Status::InvalidArgument(
        "k-means: hierarchical_fanout must be -1 (auto), 0 (flat) or > 1; refine_iters >= 0; "
        "top_rows_per_group >= 1");
  return Status::OK();
}

}  // namespace

Result<std::shared_ptr<const KMeansModel>> train_kmeans(MatrixView<const float> sample, const KMeansParams& params,
                                                        core::Executor& executor, core::Collective* collective) {
  LANCER_RETURN_IF_ERROR(check_params(sample, params));
  LANCER_ASSIGN_OR_RETURN(float max_abs, scan_sample(sample, executor, collective));
  const size_t k = static_cast<size_t>(params.num_clusters), d = sample.dim;
  std::vector<float> normalized;
  MatrixView<const float> data = sample;
  if (params.metric == Metric::kCosine) {
    normalized.assign(sample.data, sample.data + sample.size());
    linalg::normalize_rows(MatrixView<float>(normalized.data(), sample.rows, d), executor);
    data = MatrixView<const float>(normalized.data(), sample.rows, d);
    max_abs = 1.0f;  // unit rows (fixed_point_for leaves a factor 2 for rounding)
  }
  const FixedPoint fixed = fixed_point_for(max_abs, sample.rows);
  auto model = std::make_shared<KMeansModel>();
  model->k = params.num_clusters;
  model->dim = static_cast<int>(d);
  model->metric = params.metric;
  KMeansParams p = params;
  if (p.hierarchical_fanout == kAutoFanout) {
    p.hierarchical_fanout =
        k > static_cast<size_t>(kAutoHierarchicalAbove) ? static_cast<int>(std::lround(std::sqrt(double(k)))) : 0;
  }
  if (p.hierarchical_fanout > 1 && static_cast<size_t>(p.hierarchical_fanout) < k) {
    LANCER_ASSIGN_OR_RETURN(model->centroids,
                            train_hierarchical(data, p, fixed, executor, collective, &model->loss, &model->iterations));
  } else {
    model->centroids = initial_centroids(data, k, params, executor);
    const LloydParams lp{params.metric, params.max_iters, params.tolerance, fixed};
    LANCER_ASSIGN_OR_RETURN(auto res, lloyd(data, k, model->centroids, lp, executor, collective, nullptr));
    model->loss = res.loss;
    model->iterations = res.iterations;
  }
  return std::shared_ptr<const KMeansModel>(std::move(model));
}

Result<std::shared_ptr<const KMeansModel>> kmeans_from_centroids(std::vector<float> centroids, int dim, Metric metric) {
  if (dim < 1) return Status::InvalidArgument("centroids: dimension must be at least 1");
  if (centroids.empty() || centroids.size() % static_cast<size_t>(dim) != 0)
    return Status::InvalidArgument("centroids: " + std::to_string(centroids.size()) +
                                   " values do not form rows of dimension " + std::to_string(dim));
  for (float v : centroids)
    if (!std::isfinite(v)) return Status::InvalidArgument("centroids: NaN or infinite value");
  auto model = std::make_shared<KMeansModel>();
  model->k = static_cast<int>(centroids.size() / static_cast<size_t>(dim));
  model->dim = dim;
  model->metric = metric;
  model->centroids = std::move(centroids);
  return std::shared_ptr<const KMeansModel>(std::move(model));
}

Status assign_partitions(const KMeansModel& model, MatrixView<const float> x, std::span<uint32_t> labels,
                         std::span<float> distances, core::Executor& executor) {
  if (x.dim != static_cast<size_t>(model.dim))
    return Status::InvalidArgument("assign_partitions: vectors have dimension " + std::to_string(x.dim) +
                                   ", the IVF model " + std::to_string(model.dim));
  return linalg::nearest_centroids(x, model.view(), model.metric, labels, distances, executor);
}

Status assign_partitions(const linalg::PreparedCentroids& prepared, MatrixView<const float> x,
                         std::span<uint32_t> labels, std::span<float> distances, core::Executor& executor) {
  if (x.dim != prepared.dim())
    return Status::InvalidArgument("assign_partitions: vectors have dimension " + std::to_string(x.dim) +
                                   ", the IVF model " + std::to_string(prepared.dim()));
  return linalg::nearest_centroids(x, prepared, labels, distances, executor);
}

Status compute_residuals(const KMeansModel& model, MatrixView<const float> x, std::span<const uint32_t> labels,
                         MatrixView<float> out, core::Executor& executor) {
  const size_t d = static_cast<size_t>(model.dim);
  if (x.dim != d || out.dim != d || out.rows != x.rows || labels.size() != x.rows)
    return Status::InvalidArgument("compute_residuals: shapes of vectors, labels and output do not match the model");
  for (uint32_t l : labels)
    if (l >= static_cast<uint32_t>(model.k)) return Status::InvalidArgument("compute_residuals: label out of range");
  executor.parallel_for(x.rows, 4096, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      const float* c = model.centroids.data() + labels[i] * d;
      const float* r = x.row(i);
      float* o = out.row(i);
      for (size_t j = 0; j < d; ++j) o[j] = r[j] - c[j];
    }
  });
  return Status::OK();
}

}  // namespace lancer::train

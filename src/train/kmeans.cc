#include "train/kmeans.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/buffer.h"
#include "linalg/nearest.h"
#include "linalg/norms.h"
#include "simd/distance.h"
#include "simd/kernels.h"
#include "train/random.h"

namespace lancer::train {
namespace {

constexpr uint32_t kNoLabel = std::numeric_limits<uint32_t>::max();

Status check_finite(MatrixView<const float> x, core::Executor& executor) {
  std::atomic<bool> bad{false};
  executor.parallel_for(x.rows, 16384, [&](size_t b, size_t e) {
    const float* p = x.row(b);
    const size_t count = (e - b) * x.dim;
    bool ok = true;
    for (size_t i = 0; i < count; ++i) ok &= std::isfinite(p[i]);
    if (!ok) bad.store(true);
  });
  if (bad.load()) return Status::InvalidArgument("k-means: the training sample holds NaN or infinite values");
  return Status::OK();
}

// Sets each non-empty centroid to the mean of its rows. Rows are grouped by
// label with a stable counting sort and every centroid sums its rows in row
// order, in double: the result does not depend on how clusters map to threads.
// (An owner scan, each thread walking all rows for its own clusters, measured
// no faster at d=128, k=256 and was dropped.)
void update_centroids(MatrixView<const float> data, const std::vector<uint32_t>& labels, size_t k,
                      std::vector<float>& centroids, std::vector<uint64_t>& counts, core::Executor& executor) {
  const size_t n = data.rows, d = data.dim;
  counts.assign(k, 0);
  for (size_t i = 0; i < n; ++i) ++counts[labels[i]];
  std::vector<uint64_t> start(k + 1, 0);
  for (size_t c = 0; c < k; ++c) start[c + 1] = start[c] + counts[c];
  core::UninitVector<uint32_t> order(n);
  {
    std::vector<uint64_t> pos(start.begin(), start.end() - 1);
    for (size_t i = 0; i < n; ++i) order[pos[labels[i]]++] = static_cast<uint32_t>(i);
  }
  const size_t threads = static_cast<size_t>(std::max(1, executor.num_threads()));
  const simd::Kernels& kern = simd::best_kernels();
  executor.parallel_for(k, std::max<size_t>(1, k / (threads * 8)), [&](size_t c0, size_t c1) {
    std::vector<double> acc(d);
    for (size_t c = c0; c < c1; ++c) {
      if (counts[c] == 0) continue;
      std::fill(acc.begin(), acc.end(), 0.0);
      kern.add_rows_f64(data.data, d, order.data() + start[c], counts[c], acc.data());
      const double inv = 1.0 / static_cast<double>(counts[c]);
      float* out = centroids.data() + c * d;
      for (size_t j = 0; j < d; ++j) out[j] = static_cast<float>(acc[j] * inv);
    }
  });
}

// Every empty cluster takes half of the currently largest one: the two
// centroids are pushed apart by a relative 1/1024 in alternating directions.
// Deterministic (largest first, lowest index on ties). Returns the number split.
size_t split_empty_clusters(std::vector<uint64_t>& counts, std::vector<float>& centroids, size_t d) {
  const size_t k = counts.size();
  const float eps = 1.0f / 1024.0f;
  size_t split = 0;
  for (size_t i = 0; i < k; ++i) {
    if (counts[i] != 0) continue;
    const size_t j = static_cast<size_t>(std::max_element(counts.begin(), counts.end()) - counts.begin());
    if (counts[j] < 2) break;
    counts[i] = counts[j] / 2;
    counts[j] -= counts[i];
    float* ci = centroids.data() + i * d;
    float* cj = centroids.data() + j * d;
    for (size_t t = 0; t < d; ++t) {
      const float v = cj[t];
      const float up = v * (1 + eps), down = v * (1 - eps);
      ci[t] = (t % 2 == 0) ? up : down;
      cj[t] = (t % 2 == 0) ? down : up;
    }
    ++split;
  }
  return split;
}

void normalize_centroids(std::vector<float>& centroids, size_t d) {
  const size_t k = centroids.size() / d;
  for (size_t c = 0; c < k; ++c) {
    float* r = centroids.data() + c * d;
    double s = 0;
    for (size_t j = 0; j < d; ++j) s += static_cast<double>(r[j]) * r[j];
    if (s > 0) {
      const float inv = static_cast<float>(1.0 / std::sqrt(s));
      for (size_t j = 0; j < d; ++j) r[j] *= inv;
    }
  }
}

std::vector<float> init_random(MatrixView<const float> data, size_t k, uint64_t seed) {
  Random rng(seed);
  const std::vector<uint32_t> rows = sample_distinct(data.rows, k, rng);
  std::vector<float> centroids(k * data.dim);
  for (size_t c = 0; c < k; ++c) std::copy_n(data.row(rows[c]), data.dim, centroids.data() + c * data.dim);
  return centroids;
}

// k-means++ (D^2 sampling with squared L2). Block sums are reduced in block
// order so the draw is the same for any thread count.
std::vector<float> init_kmeanspp(MatrixView<const float> data, size_t k, uint64_t seed, core::Executor& executor) {
  const size_t n = data.rows, d = data.dim;
  constexpr size_t kBlock = 4096;
  const size_t blocks = (n + kBlock - 1) / kBlock;
  Random rng(seed);
  std::vector<float> centroids(k * d);
  std::vector<float> mind(n, std::numeric_limits<float>::infinity());
  std::vector<double> block_sum(blocks);
  size_t pick = rng.uniform(n);
  for (size_t c = 0; c < k; ++c) {
    std::copy_n(data.row(pick), d, centroids.data() + c * d);
    if (c + 1 == k) break;
    const float* centre = centroids.data() + c * d;
    executor.parallel_for(blocks, 1, [&](size_t b0, size_t b1) {
      std::vector<float> dist(kBlock);
      for (size_t b = b0; b < b1; ++b) {
        const size_t r0 = b * kBlock, rows = std::min(kBlock, n - r0);
        simd::l2_sqr_batch(centre, data.row(r0), rows, d, dist.data());
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

struct LloydResult {
  double loss = 0;
  int iterations = 0;
};

// Lloyd iterations from the given centroids (updated in place).
Result<LloydResult> lloyd(MatrixView<const float> data, size_t k, std::vector<float>& centroids, Metric metric,
                          int max_iters, double tolerance, core::Executor& executor,
                          std::vector<uint32_t>* final_labels) {
  const size_t n = data.rows, d = data.dim;
  const bool l2 = metric != Metric::kDot;
  std::vector<uint32_t> labels(n), prev(n, kNoLabel);
  std::vector<float> dist(n), norms(l2 ? k : 0), x_norms(l2 ? n : 0);
  if (l2) linalg::row_norms_sqr(data, x_norms, executor);
  std::vector<uint64_t> counts;
  LloydResult result;
  double prev_loss = std::numeric_limits<double>::infinity();
  bool stopped_early = false;
  if (metric == Metric::kDot) normalize_centroids(centroids, d);
  for (int it = 1; it <= max_iters; ++it) {
    MatrixView<const float> cview(centroids.data(), k, d);
    if (l2) simd::norm_sqr_batch(centroids.data(), k, d, norms.data());
    LANCER_RETURN_IF_ERROR(linalg::nearest_centroids(data, cview, norms, metric, labels, dist, executor, x_norms));
    double loss = 0;
    size_t changed = 0;
    for (size_t i = 0; i < n; ++i) {
      loss += dist[i];
      changed += labels[i] != prev[i];
    }
    result.loss = loss;
    result.iterations = it;
    if (changed == 0) {  // a fixed point: further iterations change nothing
      stopped_early = true;
      break;
    }
    update_centroids(data, labels, k, centroids, counts, executor);
    split_empty_clusters(counts, centroids, d);
    if (metric == Metric::kDot) normalize_centroids(centroids, d);
    if (std::abs(prev_loss - loss) < tolerance * loss) {
      stopped_early = true;
      break;
    }
    prev_loss = loss;
    labels.swap(prev);
  }
  // The labels of the last assignment (made before the last update).
  if (final_labels) *final_labels = stopped_early ? std::move(labels) : std::move(prev);
  return result;
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
  if (p.hierarchical_fanout < kAutoFanout || p.refine_iters < 0)
    return Status::InvalidArgument(
        "k-means: hierarchical_fanout must be -1 (auto), 0 (flat) or > 1; refine_iters >= 0");
  return Status::OK();
}

// k-means++ runs on a random subset of at most kPlusPlusRowsPerCentroid * k
// rows: the D^2 draw is sequential in k, so on the whole sample it would cost
// k passes over n rows (docs/decisions/kmeans-init.md).
constexpr size_t kPlusPlusRowsPerCentroid = 32;

std::vector<float> initial_centroids(MatrixView<const float> data, size_t k, const KMeansParams& p,
                                     core::Executor& executor) {
  if (p.init != KMeansInit::kKMeansPlusPlus) return init_random(data, k, p.seed);
  const size_t limit = kPlusPlusRowsPerCentroid * k;
  if (data.rows <= limit) return init_kmeanspp(data, k, p.seed, executor);
  Random rng(derive_seed(p.seed, 0x5EED));
  std::vector<uint32_t> rows = sample_distinct(data.rows, limit, rng);
  std::sort(rows.begin(), rows.end());
  std::vector<float> subset(limit * data.dim);
  for (size_t i = 0; i < limit; ++i) std::copy_n(data.row(rows[i]), data.dim, subset.data() + i * data.dim);
  return init_kmeanspp(MatrixView<const float>(subset.data(), limit, data.dim), k, p.seed, executor);
}

// Splits `quota` centroids over groups in proportion to their sizes (largest
// remainder; a group never gets more centroids than rows).
std::vector<size_t> allocate_quotas(const std::vector<uint64_t>& sizes, size_t quota) {
  const size_t g = sizes.size();
  uint64_t total = 0;
  for (auto s : sizes) total += s;
  std::vector<size_t> q(g);
  std::vector<std::pair<double, size_t>> rem;
  size_t given = 0;
  for (size_t i = 0; i < g; ++i) {
    const double exact = static_cast<double>(quota) * static_cast<double>(sizes[i]) / static_cast<double>(total);
    q[i] = std::min<size_t>(static_cast<size_t>(exact), sizes[i]);
    given += q[i];
    rem.emplace_back(exact - static_cast<double>(q[i]), i);
  }
  std::stable_sort(rem.begin(), rem.end(), [&](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first > b.first;
    return sizes[a.second] > sizes[b.second];
  });
  while (given < quota) {
    bool progress = false;
    for (const auto& r : rem) {
      if (given == quota) break;
      if (q[r.second] < sizes[r.second]) {
        ++q[r.second];
        ++given;
        progress = true;
      }
    }
    if (!progress) break;
  }
  return q;
}

Result<std::vector<float>> train_hierarchical(MatrixView<const float> data, const KMeansParams& p,
                                              core::Executor& executor, double* loss, int* iterations) {
  const size_t k = static_cast<size_t>(p.num_clusters), d = data.dim;
  const size_t top = std::min<size_t>(static_cast<size_t>(p.hierarchical_fanout), k);
  std::vector<float> top_centroids = initial_centroids(data, top, p, executor);
  std::vector<uint32_t> labels;
  LANCER_ASSIGN_OR_RETURN(auto top_result,
                          lloyd(data, top, top_centroids, p.metric, p.max_iters, p.tolerance, executor, &labels));
  *iterations = top_result.iterations;
  std::vector<uint64_t> sizes(top, 0);
  for (uint32_t l : labels) ++sizes[l];
  const std::vector<size_t> quotas = allocate_quotas(sizes, k);
  std::vector<float> centroids;
  centroids.reserve(k * d);
  std::vector<float> rows;
  double group_loss = 0;  // each group against its own centroids
  for (size_t g = 0; g < top; ++g) {
    if (quotas[g] == 0) continue;
    rows.resize(sizes[g] * d);
    size_t r = 0;
    for (size_t i = 0; i < data.rows; ++i)
      if (labels[i] == g) std::copy_n(data.row(i), d, rows.data() + (r++) * d);
    MatrixView<const float> sub(rows.data(), sizes[g], d);
    KMeansParams sp = p;
    sp.num_clusters = static_cast<int>(quotas[g]);
    sp.seed = derive_seed(p.seed, g + 1);
    std::vector<float> c = initial_centroids(sub, quotas[g], sp, executor);
    LANCER_ASSIGN_OR_RETURN(auto res, lloyd(sub, quotas[g], c, p.metric, p.max_iters, p.tolerance, executor, nullptr));
    *iterations += res.iterations;
    group_loss += res.loss;
    centroids.insert(centroids.end(), c.begin(), c.end());
  }
  if (centroids.size() != k * d) return Status::Internal("hierarchical k-means: centroid quotas do not add up");
  *loss = group_loss;
  if (p.refine_iters > 0) {
    LANCER_ASSIGN_OR_RETURN(auto res, lloyd(data, k, centroids, p.metric, p.refine_iters, 0.0, executor, nullptr));
    *loss = res.loss;
    *iterations += res.iterations;
  }
  return centroids;
}

}  // namespace

Result<std::shared_ptr<const KMeansModel>> train_kmeans(MatrixView<const float> sample, const KMeansParams& params,
                                                        core::Executor& executor) {
  LANCER_RETURN_IF_ERROR(check_params(sample, params));
  LANCER_RETURN_IF_ERROR(check_finite(sample, executor));
  const size_t k = static_cast<size_t>(params.num_clusters), d = sample.dim;
  std::vector<float> normalized;
  MatrixView<const float> data = sample;
  if (params.metric == Metric::kCosine) {
    normalized.assign(sample.data, sample.data + sample.size());
    linalg::normalize_rows(MatrixView<float>(normalized.data(), sample.rows, d), executor);
    data = MatrixView<const float>(normalized.data(), sample.rows, d);
  }
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
    LANCER_ASSIGN_OR_RETURN(model->centroids, train_hierarchical(data, p, executor, &model->loss, &model->iterations));
  } else {
    model->centroids = initial_centroids(data, k, params, executor);
    LANCER_ASSIGN_OR_RETURN(auto res, lloyd(data, k, model->centroids, params.metric, params.max_iters,
                                            params.tolerance, executor, nullptr));
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
  return linalg::nearest_centroids(x, model.view(), {}, model.metric, labels, distances, executor);
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

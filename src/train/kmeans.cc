#include "train/kmeans.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <string>

#include "core/collective.h"
#include "linalg/nearest.h"
#include "linalg/norms.h"
#include "simd/distance.h"
#include "simd/kernels.h"
#include "train/exchange.h"
#include "train/random.h"

namespace lancer::train {
namespace {

constexpr uint32_t kNoLabel = std::numeric_limits<uint32_t>::max();

// One pass over the sample: every value finite, and the largest magnitude
// (it sets the fixed-point scale of the centroid sums).
Result<float> scan_sample(MatrixView<const float> x, core::Executor& executor) {
  std::mutex mu;
  bool ok = true;
  float max_abs = 0;
  executor.parallel_for(x.rows, 16384, [&](size_t b, size_t e) {
    const float* p = x.row(b);
    const size_t count = (e - b) * x.dim;
    bool finite = true;
    float m = 0;
    for (size_t i = 0; i < count; ++i) {
      finite &= std::isfinite(p[i]);
      m = std::max(m, std::abs(p[i]));
    }
    std::lock_guard<std::mutex> lock(mu);
    ok &= finite;
    max_abs = std::max(max_abs, m);
  });
  if (!ok) return Status::InvalidArgument("k-means: the training sample holds NaN or infinite values");
  return max_abs;
}

// Centroid sums are exact integers: every value is rounded to a multiple of
// 2^-q, q chosen from the sample's largest magnitude M (M < 2^e <= 2M) and row
// count n so that each term is below 2^50 (add_rows_fixed's limit) and a sum of
// n terms below 2^62. Integer addition is associative, so the sums, and the
// centroids, do not depend on how rows are split over threads or ranks, and
// partial sums may be combined in any order. The step 2^(e - bits) is at most
// 2^-37 M for n < 2^24 (2^-44 M at n = 2^16): below the f32 spacing of any
// value above 2^-13 M. Subsets of the sample keep the scale.
struct FixedPoint {
  double scale = 1;      // 2^q
  double inv_scale = 1;  // 2^-q
};

FixedPoint fixed_point_for(float max_abs, size_t n) {
  const int e = max_abs > 0 ? std::ilogb(max_abs) + 1 : 0;  // max_abs < 2^e
  const int bits = std::min(50, 62 - static_cast<int>(std::bit_width(std::max<size_t>(n, 1))));
  return {std::ldexp(1.0, bits - e), std::ldexp(1.0, e - bits)};
}

// Centroid sums for one assignment, added by the thread that assigned each
// block while the block is still in cache. A thread takes a slot (sums
// [k][d] and counts [k]) for one block and gives it back, so at most
// num_threads slots exist; their total is capped at kSlotBytes. A slot is
// k * d * 8 bytes and a block's distances cost k times its summing, so when k
// is large enough to hit the cap, threads rarely wait for a slot.
class SumSlots {
 public:
  static constexpr size_t kSlotBytes = size_t{64} << 20;

  SumSlots(size_t k, size_t d, int threads)
      : k_(k),
        d_(d),
        max_slots_(std::clamp<size_t>(kSlotBytes / (k * d * sizeof(int64_t) + 1), 1,
                                      static_cast<size_t>(std::max(1, threads)))) {}

  struct Slot {
    std::vector<int64_t> sums;
    std::vector<uint64_t> counts;
  };

  Slot* acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !free_.empty() || slots_.size() < max_slots_; });
    if (!free_.empty()) {
      Slot* s = free_.back();
      free_.pop_back();
      return s;
    }
    slots_.push_back(std::make_unique<Slot>(Slot{std::vector<int64_t>(k_ * d_, 0), std::vector<uint64_t>(k_, 0)}));
    return slots_.back().get();
  }

  void release(Slot* s) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      free_.push_back(s);
    }
    cv_.notify_one();
  }

  // sums / counts = the total of all slots, which are zeroed for the next
  // assignment. No block may be running.
  void drain(std::vector<int64_t>& sums, std::vector<uint64_t>& counts, core::Executor& executor) {
    std::fill(counts.begin(), counts.end(), 0);
    for (auto& s : slots_) {
      for (size_t c = 0; c < k_; ++c) counts[c] += s->counts[c];
      std::fill(s->counts.begin(), s->counts.end(), 0);
    }
    const size_t total = k_ * d_;
    executor.parallel_for(total, 1 << 14, [&](size_t b, size_t e) {
      std::fill(sums.begin() + b, sums.begin() + e, 0);
      for (auto& s : slots_) {
        int64_t* p = s->sums.data();
        for (size_t i = b; i < e; ++i) sums[i] += p[i];
        std::fill(p + b, p + e, 0);
      }
    });
  }

 private:
  const size_t k_, d_, max_slots_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> free_;
};

// Sets each non-empty centroid to the mean of its rows, from the exact sums.
void update_centroids(const std::vector<int64_t>& sums, const std::vector<uint64_t>& counts, const FixedPoint& fp,
                      size_t d, std::vector<float>& centroids) {
  for (size_t c = 0; c < counts.size(); ++c) {
    if (counts[c] == 0) continue;
    const double f = fp.inv_scale / static_cast<double>(counts[c]);
    const int64_t* s = sums.data() + c * d;
    float* out = centroids.data() + c * d;
    for (size_t j = 0; j < d; ++j) out[j] = static_cast<float>(static_cast<double>(s[j]) * f);
  }
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

struct LloydParams {
  Metric metric = Metric::kL2;
  int max_iters = 1;
  double tolerance = 0;
  FixedPoint fixed;
};

// One rank's share of an assignment, combined with every other rank's so that
// all ranks hold the totals: block losses (placed by block index), rows that
// changed cluster, counts and sums (integers: any order gives the same).
Status combine_ranks(core::Collective& collective, size_t num_blocks, std::vector<double>& block_loss,
                     uint64_t& changed, std::vector<uint64_t>& counts, std::vector<int64_t>& sums) {
  const int ranks = collective.size();
  const auto [b0, b1] = core::owned_range(num_blocks, collective.rank(), ranks);
  std::string mine;
  mine.reserve((b1 - b0 + 1 + counts.size() + sums.size()) * 8);
  exchange::put(mine, block_loss.data() + b0, b1 - b0);
  exchange::put(mine, &changed, 1);
  exchange::put(mine, counts.data(), counts.size());
  exchange::put(mine, sums.data(), sums.size());
  LANCER_ASSIGN_OR_RETURN(auto all, exchange::all_gather(collective, std::move(mine)));
  changed = 0;
  std::fill(counts.begin(), counts.end(), 0);
  std::fill(sums.begin(), sums.end(), 0);
  for (int r = 0; r < ranks; ++r) {
    const auto [c0, c1] = core::owned_range(num_blocks, r, ranks);
    exchange::Reader in(all[r]);
    uint64_t ch = 0;
    if (!in.get(block_loss.data() + c0, c1 - c0) || !in.get(&ch, 1)) return exchange::malformed("k-means sums", r);
    changed += ch;
    const char* pc = in.take(counts.size() * sizeof(uint64_t));
    const char* ps = in.take(sums.size() * sizeof(int64_t));
    if (pc == nullptr || ps == nullptr || !in.done()) return exchange::malformed("k-means sums", r);
    for (size_t c = 0; c < counts.size(); ++c) {
      uint64_t v;
      std::memcpy(&v, pc + c * sizeof v, sizeof v);
      counts[c] += v;
    }
    for (size_t i = 0; i < sums.size(); ++i) {
      int64_t v;
      std::memcpy(&v, ps + i * sizeof v, sizeof v);
      sums[i] += v;
    }
  }
  return Status::OK();
}

// Lloyd iterations from the given centroids (updated in place). With a
// collective, each rank assigns and sums a contiguous run of the assignment's
// fixed row blocks (so every block is computed exactly as in one process) and
// the ranks combine their parts; everything else runs identically everywhere.
// final_labels (optional) receives every row's label from the last assignment.
Result<LloydResult> lloyd(MatrixView<const float> data, size_t k, std::vector<float>& centroids, const LloydParams& lp,
                          core::Executor& executor, core::Collective* collective, std::vector<uint32_t>* final_labels) {
  const size_t n = data.rows, d = data.dim;
  const bool l2 = lp.metric != Metric::kDot;
  const int ranks = collective ? collective->size() : 1;
  const size_t block = linalg::nearest_row_block(k);
  const size_t num_blocks = (n + block - 1) / block;
  const auto [b0, b1] = core::owned_range(num_blocks, collective ? collective->rank() : 0, ranks);
  const size_t r0 = std::min(n, b0 * block), rows = std::min(n, b1 * block) - r0;
  const MatrixView<const float> mine(data.data + r0 * d, rows, d);

  std::vector<uint32_t> labels(rows), prev(rows, kNoLabel);
  std::vector<float> dist(rows), norms(l2 ? k : 0), x_norms(l2 ? rows : 0);
  if (l2) linalg::row_norms_sqr(mine, x_norms, executor);
  std::vector<double> block_loss(num_blocks);
  std::vector<uint64_t> block_changed(b1 - b0), counts(k);
  std::vector<int64_t> sums(k * d);
  SumSlots slots(k, d, executor.num_threads());
  const simd::Kernels& kern = simd::best_kernels();
  // Runs on the thread that assigned rows [begin, end) of `mine` (one block).
  auto on_block = [&](size_t begin, size_t end) {
    double loss = 0;
    uint64_t changed = 0;
    for (size_t i = begin; i < end; ++i) {
      loss += dist[i];
      changed += labels[i] != prev[i];
    }
    block_loss[b0 + begin / block] = loss;
    block_changed[begin / block] = changed;
    SumSlots::Slot* slot = slots.acquire();
    kern.add_rows_fixed(mine.row(begin), d, d, end - begin, labels.data() + begin, lp.fixed.scale, slot->sums.data());
    for (size_t i = begin; i < end; ++i) ++slot->counts[labels[i]];
    slots.release(slot);
  };

  linalg::NearestScratch scratch;
  const linalg::NearestOptions nearest_options{x_norms, on_block, &scratch};
  LloydResult result;
  double prev_loss = std::numeric_limits<double>::infinity();
  bool stopped_early = false;
  if (lp.metric == Metric::kDot) normalize_centroids(centroids, d);
  for (int it = 1; it <= lp.max_iters; ++it) {
    MatrixView<const float> cview(centroids.data(), k, d);
    if (l2) simd::norm_sqr_batch(centroids.data(), k, d, norms.data());
    LANCER_RETURN_IF_ERROR(
        linalg::nearest_centroids(mine, cview, norms, lp.metric, labels, dist, executor, nearest_options));
    slots.drain(sums, counts, executor);
    uint64_t changed = 0;
    for (uint64_t c : block_changed) changed += c;
    if (ranks > 1) LANCER_RETURN_IF_ERROR(combine_ranks(*collective, num_blocks, block_loss, changed, counts, sums));
    double loss = 0;  // block by block, in block order: the same for any split
    for (double l : block_loss) loss += l;
    result.loss = loss;
    result.iterations = it;
    if (changed == 0) {  // a fixed point: further iterations change nothing
      stopped_early = true;
      break;
    }
    update_centroids(sums, counts, lp.fixed, d, centroids);
    split_empty_clusters(counts, centroids, d);
    if (lp.metric == Metric::kDot) normalize_centroids(centroids, d);
    if (std::abs(prev_loss - loss) < lp.tolerance * loss) {
      stopped_early = true;
      break;
    }
    prev_loss = loss;
    labels.swap(prev);
  }
  if (final_labels) {  // the labels of the last assignment (made before the last update)
    std::vector<uint32_t>& last = stopped_early ? labels : prev;
    if (ranks == 1) {
      *final_labels = std::move(last);
    } else {
      std::string mine_labels;
      exchange::put(mine_labels, last.data(), last.size());
      LANCER_ASSIGN_OR_RETURN(auto all, exchange::all_gather(*collective, std::move(mine_labels)));
      final_labels->clear();
      final_labels->reserve(n);
      for (int r = 0; r < ranks; ++r) {
        const auto [c0, c1] = core::owned_range(num_blocks, r, ranks);
        const size_t count = std::min(n, c1 * block) - std::min(n, c0 * block);
        if (all[r].size() != count * sizeof(uint32_t)) return exchange::malformed("k-means labels", r);
        final_labels->resize(final_labels->size() + count);
        exchange::Reader in(all[r]);
        if (!in.get(final_labels->data() + final_labels->size() - count, count))
          return exchange::malformed("k-means labels", r);
      }
    }
  }
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
  if (p.hierarchical_fanout < kAutoFanout || p.refine_iters < 0 || p.top_rows_per_group < 1)
    return Status::InvalidArgument(
        "k-means: hierarchical_fanout must be -1 (auto), 0 (flat) or > 1; refine_iters >= 0; "
        "top_rows_per_group >= 1");
  return Status::OK();
}

// k-means++ runs on a random subset of at most kPlusPlusRowsPerCentroid * k
// rows: the D^2 draw is sequential in k, so on the whole sample it would cost
// k passes over n rows (docs/decisions/kmeans-init.md).
constexpr size_t kPlusPlusRowsPerCentroid = 32;

// `count` distinct rows of data drawn with `seed`, in row order.
std::vector<float> random_subset(MatrixView<const float> data, size_t count, uint64_t seed) {
  Random rng(seed);
  std::vector<uint32_t> rows = sample_distinct(data.rows, count, rng);
  std::sort(rows.begin(), rows.end());
  std::vector<float> subset(count * data.dim);
  for (size_t i = 0; i < count; ++i) std::copy_n(data.row(rows[i]), data.dim, subset.data() + i * data.dim);
  return subset;
}

std::vector<float> initial_centroids(MatrixView<const float> data, size_t k, const KMeansParams& p,
                                     core::Executor& executor) {
  if (p.init != KMeansInit::kKMeansPlusPlus) return init_random(data, k, p.seed);
  const size_t limit = kPlusPlusRowsPerCentroid * k;
  if (data.rows <= limit) return init_kmeanspp(data, k, p.seed, executor);
  const std::vector<float> subset = random_subset(data, limit, derive_seed(p.seed, 0x5EED));
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

// With several ranks, groups go to ranks in contiguous runs of about equal
// work (rows x centroids): the rank whose share holds a group's midpoint.
// Every rank computes the same split from the same sizes.
std::vector<int> group_owners(const std::vector<uint64_t>& sizes, const std::vector<size_t>& quotas, int ranks) {
  std::vector<double> work(sizes.size());
  double total = 0;
  for (size_t g = 0; g < sizes.size(); ++g) total += work[g] = static_cast<double>(sizes[g]) * quotas[g];
  std::vector<int> owner(sizes.size());
  double before = 0;
  for (size_t g = 0; g < sizes.size(); ++g) {
    const double mid = total > 0 ? (before + work[g] / 2) / total : 0.0;
    owner[g] = std::min(ranks - 1, static_cast<int>(mid * ranks));
    before += work[g];
  }
  return owner;
}

struct GroupResult {
  std::vector<float> centroids;
  double loss = 0;
  int32_t iterations = 0;
};

// The groups of the two-level scheme owned by this rank (all of them in one
// process). Errors are returned after the exchange so that no rank is left
// waiting in it.
Status train_groups(MatrixView<const float> data, const KMeansParams& p, const LloydParams& lp,
                    const std::vector<uint32_t>& labels, const std::vector<uint64_t>& sizes,
                    const std::vector<size_t>& quotas, const std::vector<int>& owner, int rank,
                    core::Executor& executor, std::vector<GroupResult>& results) {
  const size_t top = sizes.size(), d = data.dim;
  // Row indices grouped by label, each group in row order.
  std::vector<uint64_t> start(top + 1, 0);
  for (size_t g = 0; g < top; ++g) start[g + 1] = start[g] + sizes[g];
  std::vector<uint32_t> order(data.rows);
  {
    std::vector<uint64_t> pos(start.begin(), start.end() - 1);
    for (size_t i = 0; i < data.rows; ++i) order[pos[labels[i]]++] = static_cast<uint32_t>(i);
  }
  std::vector<size_t> mine;
  for (size_t g = 0; g < top; ++g)
    if (quotas[g] != 0 && owner[g] == rank) mine.push_back(g);
  // Each group's model does not depend on the executor it runs on. With
  // enough groups, whole groups run in parallel (largest first), each on one
  // thread: a group's Lloyd has few row blocks and serial steps per iteration
  // that would leave threads idle. Otherwise groups run one after another on
  // every thread.
  const size_t threads = static_cast<size_t>(std::max(1, executor.num_threads()));
  const bool whole_groups = mine.size() >= 4 * threads;
  if (whole_groups) {
    std::stable_sort(mine.begin(), mine.end(),
                     [&](size_t a, size_t b) { return sizes[a] * quotas[a] > sizes[b] * quotas[b]; });
  }
  std::vector<Status> status(mine.size());
  auto train_group = [&](size_t i, core::Executor& ex, std::vector<float>& rows) {
    const size_t g = mine[i];
    rows.resize(sizes[g] * d);
    for (size_t r = 0; r < sizes[g]; ++r) std::copy_n(data.row(order[start[g] + r]), d, rows.data() + r * d);
    MatrixView<const float> sub(rows.data(), sizes[g], d);
    KMeansParams sp = p;
    sp.num_clusters = static_cast<int>(quotas[g]);
    sp.seed = derive_seed(p.seed, g + 1);
    results[g].centroids = initial_centroids(sub, quotas[g], sp, ex);
    auto res = lloyd(sub, quotas[g], results[g].centroids, lp, ex, nullptr, nullptr);
    if (!res.ok()) {
      status[i] = res.status();
      return;
    }
    results[g].loss = res->loss;
    results[g].iterations = res->iterations;
  };
  if (whole_groups) {
    executor.parallel_for(mine.size(), 1, [&](size_t b, size_t e) {
      core::InlineExecutor one;
      std::vector<float> rows;
      for (size_t i = b; i < e; ++i) train_group(i, one, rows);
    });
  } else {
    std::vector<float> rows;
    for (size_t i = 0; i < mine.size(); ++i) train_group(i, executor, rows);
  }
  for (const auto& st : status) LANCER_RETURN_IF_ERROR(st);
  return Status::OK();
}

// Sends this rank's groups and receives every other rank's: a status byte
// ('E' and a message on failure), then per owned group its centroids, loss
// and iteration count.
Status exchange_groups(core::Collective& collective, Status local, size_t d, const std::vector<size_t>& quotas,
                       const std::vector<int>& owner, std::vector<GroupResult>& results) {
  const int rank = collective.rank();
  std::string mine(1, local.ok() ? 'O' : 'E');
  if (!local.ok()) {
    mine += local.to_string();
  } else {
    for (size_t g = 0; g < quotas.size(); ++g) {
      if (quotas[g] == 0 || owner[g] != rank) continue;
      exchange::put(mine, results[g].centroids.data(), results[g].centroids.size());
      exchange::put(mine, &results[g].loss, 1);
      exchange::put(mine, &results[g].iterations, 1);
    }
  }
  LANCER_ASSIGN_OR_RETURN(auto all, exchange::all_gather(collective, std::move(mine)));
  LANCER_RETURN_IF_ERROR(local);
  for (int r = 0; r < collective.size(); ++r) {
    if (all[r].empty()) return exchange::malformed("k-means groups", r);
    if (all[r][0] == 'E')
      return Status::Internal("k-means: rank " + std::to_string(r) + " failed: " + all[r].substr(1));
    if (r == rank) continue;
    exchange::Reader in(all[r]);
    if (in.take(1) == nullptr) return exchange::malformed("k-means groups", r);
    for (size_t g = 0; g < quotas.size(); ++g) {
      if (quotas[g] == 0 || owner[g] != r) continue;
      results[g].centroids.resize(quotas[g] * d);
      if (!in.get(results[g].centroids.data(), quotas[g] * d) || !in.get(&results[g].loss, 1) ||
          !in.get(&results[g].iterations, 1))
        return exchange::malformed("k-means groups", r);
    }
    if (!in.done()) return exchange::malformed("k-means groups", r);
  }
  return Status::OK();
}

// Two-level training: the top level and the refinement are Lloyd over all
// rows (split by row blocks over ranks); the groups are independent
// sub-problems, split by group over ranks.
Result<std::vector<float>> train_hierarchical(MatrixView<const float> data, const KMeansParams& p,
                                              const FixedPoint& fixed, core::Executor& executor,
                                              core::Collective* collective, double* loss, int* iterations) {
  const size_t k = static_cast<size_t>(p.num_clusters), d = data.dim;
  const size_t top = std::min<size_t>(static_cast<size_t>(p.hierarchical_fanout), k);
  const LloydParams lp{p.metric, p.max_iters, p.tolerance, fixed};
  std::vector<uint32_t> labels;
  std::vector<float> top_centroids;
  const size_t top_rows = std::min(data.rows, static_cast<size_t>(p.top_rows_per_group) * top);
  if (top_rows == data.rows) {
    top_centroids = initial_centroids(data, top, p, executor);
    LANCER_ASSIGN_OR_RETURN(auto top_result, lloyd(data, top, top_centroids, lp, executor, collective, &labels));
    *iterations = top_result.iterations;
  } else {
    // Trained on a subset; every rank then labels all rows itself (one pass, deterministic).
    const std::vector<float> subset = random_subset(data, top_rows, derive_seed(p.seed, 0x70B));
    const MatrixView<const float> sub(subset.data(), top_rows, d);
    top_centroids = initial_centroids(sub, top, p, executor);
    LANCER_ASSIGN_OR_RETURN(auto top_result, lloyd(sub, top, top_centroids, lp, executor, collective, nullptr));
    *iterations = top_result.iterations;
    labels.resize(data.rows);
    LANCER_RETURN_IF_ERROR(linalg::nearest_centroids(data, MatrixView<const float>(top_centroids.data(), top, d), {},
                                                     p.metric, labels, {}, executor));
  }
  std::vector<uint64_t> sizes(top, 0);
  for (uint32_t l : labels) ++sizes[l];
  const std::vector<size_t> quotas = allocate_quotas(sizes, k);
  const int ranks = collective ? collective->size() : 1, rank = collective ? collective->rank() : 0;
  const std::vector<int> owner = group_owners(sizes, quotas, ranks);
  std::vector<GroupResult> results(top);
  Status local = train_groups(data, p, lp, labels, sizes, quotas, owner, rank, executor, results);
  if (ranks > 1) {
    LANCER_RETURN_IF_ERROR(exchange_groups(*collective, std::move(local), d, quotas, owner, results));
  } else {
    LANCER_RETURN_IF_ERROR(local);
  }
  std::vector<float> centroids;
  centroids.reserve(k * d);
  double group_loss = 0;  // each group against its own centroids, in group order
  for (size_t g = 0; g < top; ++g) {
    if (quotas[g] == 0) continue;
    *iterations += results[g].iterations;
    group_loss += results[g].loss;
    centroids.insert(centroids.end(), results[g].centroids.begin(), results[g].centroids.end());
  }
  if (centroids.size() != k * d) return Status::Internal("hierarchical k-means: centroid quotas do not add up");
  *loss = group_loss;
  if (p.refine_iters > 0) {
    const LloydParams refine{p.metric, p.refine_iters, 0.0, fixed};
    LANCER_ASSIGN_OR_RETURN(auto res, lloyd(data, k, centroids, refine, executor, collective, nullptr));
    *loss = res.loss;
    *iterations += res.iterations;
  }
  return centroids;
}

}  // namespace

Result<std::shared_ptr<const KMeansModel>> train_kmeans(MatrixView<const float> sample, const KMeansParams& params,
                                                        core::Executor& executor, core::Collective* collective) {
  LANCER_RETURN_IF_ERROR(check_params(sample, params));
  LANCER_ASSIGN_OR_RETURN(float max_abs, scan_sample(sample, executor));
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

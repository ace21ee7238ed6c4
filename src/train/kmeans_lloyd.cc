#include "train/kmeans_lloyd.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "linalg/nearest.h"
#include "linalg/norms.h"
#include "simd/distance.h"
#include "simd/kernels.h"
#include "train/exchange.h"

namespace lancer::train {
namespace {

constexpr uint32_t kNoLabel = std::numeric_limits<uint32_t>::max();

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

}  // namespace

FixedPoint fixed_point_for(float max_abs, size_t n) {
  const int e = max_abs > 0 ? std::ilogb(max_abs) + 1 : 0;  // max_abs < 2^e
  const int bits = std::min(50, 62 - static_cast<int>(std::bit_width(std::max<size_t>(n, 1))));
  return {std::ldexp(1.0, bits - e), std::ldexp(1.0, e - bits)};
}

std::pair<size_t, size_t> lloyd_rows(size_t n, size_t k, core::Collective* collective) {
  const size_t block = linalg::nearest_row_block(k);
  const size_t num_blocks = (n + block - 1) / block;
  const auto [b0, b1] =
      core::owned_range(num_blocks, collective ? collective->rank() : 0, collective ? collective->size() : 1);
  return {std::min(n, b0 * block), std::min(n, b1 * block)};
}

Result<LloydResult> lloyd(MatrixView<const float> data, size_t k, std::vector<float>& centroids, const LloydParams& lp,
                          core::Executor& executor, core::Collective* collective, std::vector<uint32_t>* final_labels) {
  const size_t n = data.rows, d = data.dim;
  const int ranks = collective ? collective->size() : 1;
  const size_t block = linalg::nearest_row_block(k);
  const size_t num_blocks = (n + block - 1) / block;
  // Not a structured binding: the lambda below captures b0, which clang before 16 refuses.
  const auto owned = core::owned_range(num_blocks, collective ? collective->rank() : 0, ranks);
  const size_t b0 = owned.first, b1 = owned.second;
  const size_t r0 = std::min(n, b0 * block), rows = std::min(n, b1 * block) - r0;
  const MatrixView<const float> mine(data.data + r0 * d, rows, d);

  std::vector<uint32_t> labels(rows), prev(rows, kNoLabel);
  std::vector<float> dist(rows);
  std::vector<double> block_loss(num_blocks);
  std::vector<uint64_t> block_changed(b1 - b0), counts(k), total_counts(k, 0), split_counts;
  std::vector<int64_t> sums(k * d), total_sums(k * d, 0);
  SumSlots slots(k, d, executor.num_threads());
  const simd::Kernels& kern = simd::best_kernels();
  // Runs on the thread that assigned rows [begin, end) of `mine` (one block).
  // The sums are kept from one assignment to the next and only the rows that
  // changed cluster move: out of the old one (the same fixed-point terms,
  // negated: -2^q rounds every value to exactly minus its term) and into the
  // new one. Integer sums, so the totals equal a sum over all rows bit for bit;
  // after the first iterations few rows move, and summing every row each
  // iteration was 14 % of IVF training at 2,048-d.
  auto on_block = [&](size_t begin, size_t end) {
    double loss = 0;
    uint64_t changed = 0;
    for (size_t i = begin; i < end; ++i) {
      loss += dist[i];
      changed += labels[i] != prev[i];
    }
    block_loss[b0 + begin / block] = loss;
    block_changed[begin / block] = changed;
    if (changed == 0) return;
    SumSlots::Slot* slot = slots.acquire();
    if (changed == end - begin && prev[begin] == kNoLabel) {  // the first assignment: every row
      kern.add_rows_fixed(mine.row(begin), d, d, end - begin, labels.data() + begin, lp.fixed.scale, slot->sums.data());
      for (size_t i = begin; i < end; ++i) ++slot->counts[labels[i]];
    } else {
      for (size_t i = begin; i < end; ++i) {
        if (labels[i] == prev[i]) continue;
        kern.add_rows_fixed(mine.row(i), d, d, 1, labels.data() + i, lp.fixed.scale, slot->sums.data());
        ++slot->counts[labels[i]];
        kern.add_rows_fixed(mine.row(i), d, d, 1, prev.data() + i, -lp.fixed.scale, slot->sums.data());
        --slot->counts[prev[i]];  // modulo 2^64: the totals come out exact
      }
    }
    slots.release(slot);
  };

  linalg::NearestScratch scratch;
  linalg::NearestOptions nearest_options{on_block, &scratch, std::nullopt};
  // The rows are the same every iteration: packed once where the exact kernel scores them all
  // (with their norms), else their norms once.
  std::optional<linalg::NearestPackedRows> packed;
  std::vector<float> row_norms;
  if (linalg::NearestPackedRows::worthwhile(mine, k, nearest_options)) {
    packed.emplace(mine, k, executor);
    nearest_options.packed = &*packed;
  } else if (lp.metric != Metric::kDot && lp.max_iters > 1) {
    row_norms.resize(rows);
    linalg::nearest_row_norms(mine, row_norms, executor);
    nearest_options.row_norms = row_norms.data();
  }
  LloydResult result;
  double prev_loss = std::numeric_limits<double>::infinity();
  bool stopped_early = false;
  if (lp.metric == Metric::kDot) normalize_centroids(centroids, d);
  for (int it = 1; it <= lp.max_iters; ++it) {
    MatrixView<const float> cview(centroids.data(), k, d);
    LANCER_RETURN_IF_ERROR(linalg::nearest_centroids(mine, cview, lp.metric, labels, dist, executor, nearest_options));
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
    // sums and counts are this assignment's changes (every rank's).
    for (size_t c = 0; c < k; ++c) total_counts[c] += counts[c];
    executor.parallel_for(k * d, 1 << 14, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) total_sums[i] += sums[i];
    });
    update_centroids(total_sums, total_counts, lp.fixed, d, centroids);
    split_counts = total_counts;
    split_empty_clusters(split_counts, centroids, d);
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

}  // namespace lancer::train

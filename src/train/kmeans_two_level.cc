#include "train/kmeans_two_level.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "lancer/shared_memory.h"
#include "linalg/nearest.h"
#include "train/exchange.h"
#include "train/kmeans_init.h"
#include "train/random.h"
#include "train/split_labels.h"

namespace lancer::train {
namespace {

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
// work: the rank whose share holds a group's midpoint. A group's Lloyd
// iteration costs rows x (centroids + kRowWork): besides scoring each row
// against each centroid, every row is packed, summed and normed, which at the
// quotas two-level training gives groups (tens of centroids) costs about as
// much as scoring ~128 more. (The groups' CPU times in one build of 2,048
// dimensions, 566 partitions: split by rows x centroids, one of two ranks had
// 61 % of them, split by this 56 %; the rest is the groups' iteration counts,
// unknown beforehand.)
// Every rank computes the same split from the same sizes.
constexpr double kRowWork = 128;
std::vector<int> group_owners(const std::vector<uint64_t>& sizes, const std::vector<size_t>& quotas, int ranks) {
  std::vector<double> work(sizes.size());
  double total = 0;
  for (size_t g = 0; g < sizes.size(); ++g)
    total += work[g] =
        quotas[g] == 0 ? 0.0 : static_cast<double>(sizes[g]) * (static_cast<double>(quotas[g]) + kRowWork);
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

// The groups of the two-level scheme this rank trains: those `owner` gives it, or, with
// `next` (a counter every rank shares: ranks on one host), whichever it takes next, largest
// first, until none is left, so that no rank waits for another at the exchange (a group's
// iteration count, unknown beforehand, varies its cost). did[g] says which it trained. All
// of them in one process. Errors are returned after the exchange so that no rank is left
// waiting in it.
Status train_groups(MatrixView<const float> data, const KMeansParams& p, const LloydParams& lp,
                    const std::vector<uint32_t>& labels, const std::vector<uint64_t>& sizes,
                    const std::vector<size_t>& quotas, const std::vector<int>& owner, int rank,
                    std::atomic_ref<uint64_t>* next, core::Executor& executor, std::vector<GroupResult>& results,
                    std::vector<uint8_t>& did) {
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
    if (quotas[g] != 0 && (next != nullptr || owner[g] == rank)) mine.push_back(g);
  // Each group's model does not depend on the executor it runs on. With
  // enough groups, whole groups run in parallel (largest first), each on one
  // thread: a group's Lloyd has few row blocks and serial steps per iteration
  // that would leave threads idle. Otherwise groups run one after another on
  // every thread.
  const size_t threads = static_cast<size_t>(std::max(1, executor.num_threads()));
  const bool whole_groups = threads == 1 || mine.size() >= 4 * threads;
  if (whole_groups || next != nullptr) {
    std::stable_sort(mine.begin(), mine.end(), [&](size_t a, size_t b) {
      return sizes[a] * (quotas[a] + kRowWork) > sizes[b] * (quotas[b] + kRowWork);
    });
  }
  std::vector<Status> status(top);
  did.assign(top, 0);
  auto train_group = [&](size_t g, core::Executor& ex, std::vector<float>& rows) {
    did[g] = 1;
    rows.resize(sizes[g] * d);
    for (size_t r = 0; r < sizes[g]; ++r) std::copy_n(data.row(order[start[g] + r]), d, rows.data() + r * d);
    MatrixView<const float> sub(rows.data(), sizes[g], d);
    KMeansParams sp = p;
    sp.num_clusters = static_cast<int>(quotas[g]);
    sp.seed = derive_seed(p.seed, g + 1);
    results[g].centroids = initial_centroids(sub, quotas[g], sp, ex);
    auto res = lloyd(sub, quotas[g], results[g].centroids, lp, ex, nullptr, nullptr);
    if (!res.ok()) {
      status[g] = res.status();
      return;
    }
    results[g].loss = res->loss;
    results[g].iterations = res->iterations;
  };
  // The i-th group of `mine` to train, or none left (the shared counter, or every one in turn).
  std::atomic<size_t> local_next{0};
  auto take = [&]() -> size_t { return next ? static_cast<size_t>(next->fetch_add(1)) : local_next.fetch_add(1); };
  if (whole_groups) {
    // A thread's buffer of rows is given back once a group needs less than half of it: kept
    // from the largest group on, it was held while the small groups (whose exact search packs
    // a second copy of their rows) ran, 61-72 MB above the peak at the seed shape (1,131
    // partitions, 2,048-d). Halving, not a buffer per group, keeps the page faults few.
    executor.parallel_for(threads, 1, [&](size_t b, size_t e) {
      core::InlineExecutor one;
      std::vector<float> rows;
      for (size_t t = b; t < e; ++t) {
        for (size_t i = take(); i < mine.size(); i = take()) {
          if (2 * sizes[mine[i]] * d < rows.capacity()) std::vector<float>().swap(rows);
          train_group(mine[i], one, rows);
        }
      }
    });
  } else {
    std::vector<float> rows;
    for (size_t i = take(); i < mine.size(); i = take()) train_group(mine[i], executor, rows);
  }
  for (const auto& st : status) LANCER_RETURN_IF_ERROR(st);
  return Status::OK();
}

// Sends this rank's groups and receives every other rank's: a status byte
// ('E' and a message on failure), then per group it trained the group's
// number, centroids, loss and iteration count. Every group must arrive once.
Status exchange_groups(core::Collective& collective, Status local, size_t d, const std::vector<size_t>& quotas,
                       const std::vector<uint8_t>& did, std::vector<GroupResult>& results) {
  const int rank = collective.rank();
  std::string mine(1, local.ok() ? 'O' : 'E');
  if (!local.ok()) {
    mine += local.to_string();
  } else {
    for (size_t g = 0; g < quotas.size(); ++g) {
      if (quotas[g] == 0 || !did[g]) continue;
      const uint32_t id = static_cast<uint32_t>(g);
      exchange::put(mine, &id, 1);
      exchange::put(mine, results[g].centroids.data(), results[g].centroids.size());
      exchange::put(mine, &results[g].loss, 1);
      exchange::put(mine, &results[g].iterations, 1);
    }
  }
  LANCER_ASSIGN_OR_RETURN(auto all, exchange::all_gather(collective, std::move(mine)));
  LANCER_RETURN_IF_ERROR(local);
  std::vector<uint8_t> have = did;
  for (int r = 0; r < collective.size(); ++r) {
    if (all[r].empty()) return exchange::malformed("k-means groups", r);
    if (all[r][0] == 'E')
      return Status::Internal("k-means: rank " + std::to_string(r) + " failed: " + all[r].substr(1));
    if (r == rank) continue;
    exchange::Reader in(all[r]);
    if (in.take(1) == nullptr) return exchange::malformed("k-means groups", r);
    while (!in.done()) {
      uint32_t g = 0;
      if (!in.get(&g, 1) || g >= quotas.size() || quotas[g] == 0 || have[g])
        return exchange::malformed("k-means groups", r);
      have[g] = 1;
      results[g].centroids.resize(quotas[g] * d);
      if (!in.get(results[g].centroids.data(), quotas[g] * d) || !in.get(&results[g].loss, 1) ||
          !in.get(&results[g].iterations, 1))
        return exchange::malformed("k-means groups", r);
    }
  }
  for (size_t g = 0; g < quotas.size(); ++g)
    if (quotas[g] != 0 && !have[g]) return Status::Internal("k-means: no rank trained group " + std::to_string(g));
  return Status::OK();
}

// The top level's training subset (random_subset). With several ranks, only the rows this
// rank reads are copied: those of its Lloyd blocks and those the initialisation draws from;
// the others are left unwritten (at 2,048 dimensions the whole subset is 400 MB a rank).
core::UninitVector<float> top_subset(MatrixView<const float> data, size_t count, size_t top, const KMeansParams& p,
                                     core::Collective* collective) {
  const uint64_t seed = derive_seed(p.seed, 0x70B);
  if (!collective || collective->size() == 1) return random_subset(data, count, seed);
  const std::vector<uint32_t> rows = random_subset_rows(data.rows, count, seed);
  std::vector<uint8_t> read(count, 0);
  const auto [first, end] = lloyd_rows(count, top, collective);
  std::fill(read.begin() + static_cast<std::ptrdiff_t>(first), read.begin() + static_cast<std::ptrdiff_t>(end), 1);
  for (uint32_t r : initial_centroid_rows(count, top, p)) read[r] = 1;
  core::UninitVector<float> subset(count * data.dim);
  for (size_t i = 0; i < count; ++i)
    if (read[i]) std::copy_n(data.row(rows[i]), data.dim, subset.data() + i * data.dim);
  return subset;
}

}  // namespace

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
    // Trained on a subset; then all rows are labelled, split over the ranks.
    const auto subset = top_subset(data, top_rows, top, p, collective);
    const MatrixView<const float> sub(subset.data(), top_rows, d);
    top_centroids = initial_centroids(sub, top, p, executor);
    LANCER_ASSIGN_OR_RETURN(auto top_result, lloyd(sub, top, top_centroids, lp, executor, collective, nullptr));
    *iterations = top_result.iterations;
    labels.resize(data.rows);
    LANCER_RETURN_IF_ERROR(nearest_labels_split(data, MatrixView<const float>(top_centroids.data(), top, d), p.metric,
                                                labels, executor, collective));
  }
  std::vector<uint64_t> sizes(top, 0);
  for (uint32_t l : labels) ++sizes[l];
  const std::vector<size_t> quotas = allocate_quotas(sizes, k);
  const int ranks = collective ? collective->size() : 1, rank = collective ? collective->rank() : 0;
  const std::vector<int> owner = group_owners(sizes, quotas, ranks);
  std::vector<GroupResult> results(top);
  // Ranks on one host take groups from a counter they share (zero-filled memory) instead.
  LANCER_ASSIGN_OR_RETURN(std::unique_ptr<SharedMemory> shared, core::map_shared(collective, sizeof(uint64_t)));
  std::optional<std::atomic_ref<uint64_t>> next;
  if (shared) next.emplace(*reinterpret_cast<uint64_t*>(shared->data()));
  std::vector<uint8_t> did;
  Status local =
      train_groups(data, p, lp, labels, sizes, quotas, owner, rank, next ? &*next : nullptr, executor, results, did);
  if (ranks > 1) {
    LANCER_RETURN_IF_ERROR(exchange_groups(*collective, std::move(local), d, quotas, did, results));
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

}  // namespace lancer::train

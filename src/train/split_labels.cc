#include "train/split_labels.h"

#include "linalg/nearest.h"
#include "train/exchange.h"

namespace lancer::train {

Status nearest_labels_split(linalg::MatrixView<const float> x, linalg::MatrixView<const float> centroids,
                            simd::Metric metric, std::span<uint32_t> labels, core::Executor& executor,
                            core::Collective* collective) {
  const int ranks = collective ? collective->size() : 1;
  if (ranks == 1) return linalg::nearest_centroids(x, centroids, metric, labels, {}, executor);
  if (labels.size() != x.rows) return Status::InvalidArgument("nearest_labels_split: one label a row");
  const auto [r0, r1] = core::owned_range(x.rows, collective->rank(), ranks);
  Status local = linalg::nearest_centroids(linalg::MatrixView<const float>(x.row(r0), r1 - r0, x.dim), centroids,
                                           metric, labels.subspan(r0, r1 - r0), {}, executor);
  // A status byte first, so that a rank that failed still takes part in the exchange.
  std::string mine(1, local.ok() ? 'O' : 'E');
  if (local.ok()) exchange::put(mine, labels.data() + r0, r1 - r0);
  LANCER_ASSIGN_OR_RETURN(auto all, exchange::all_gather(*collective, std::move(mine)));
  LANCER_RETURN_IF_ERROR(local);
  for (int r = 0; r < ranks; ++r) {
    const auto [b, e] = core::owned_range(x.rows, r, ranks);
    if (all[r].empty() || all[r][0] != 'O') return Status::Internal("labels: rank " + std::to_string(r) + " failed");
    if (r == collective->rank()) continue;
    exchange::Reader in(all[r]);
    if (in.take(1) == nullptr || !in.get(labels.data() + b, e - b) || !in.done())
      return exchange::malformed("labels", static_cast<size_t>(r));
  }
  return Status::OK();
}

}  // namespace lancer::train

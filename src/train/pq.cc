#include "train/pq.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "lancer/shared_memory.h"
#include "simd/codeword.h"
#include "train/exchange.h"
#include "train/random.h"
#include "train/small_kmeans.h"

namespace lancer::train {

Result<std::shared_ptr<const PqModel>> train_pq(MatrixView<const float> data, const PqParams& params,
                                                core::Executor& executor, core::Collective* collective) {
  const int dim = static_cast<int>(data.dim);
  LANCER_RETURN_IF_ERROR(quant::check_pq_shape(dim, params.num_sub_vectors, params.num_bits));
  const size_t ksub = size_t{1} << params.num_bits;
  if (data.rows < ksub)
    return Status::InvalidArgument("PQ: training needs at least " + std::to_string(ksub) + " vectors, got " +
                                   std::to_string(data.rows));
  if (params.max_iters < 1) return Status::InvalidArgument("PQ: max_iters must be at least 1");
  const int ranks = collective ? collective->size() : 1;
  {
    // Each rank checks a run of rows (a 512 MB pass at 65,536 x 2,048); every rank learns
    // whether any row failed.
    const auto [r0, r1] = core::owned_range(data.rows, collective ? collective->rank() : 0, ranks);
    std::atomic<bool> bad{false};
    executor.parallel_for(r1 - r0, 8192, [&, r0 = r0](size_t b, size_t e) {
      const float* p = data.row(r0 + b);
      bool ok = true;
      for (size_t i = 0, c = (e - b) * data.dim; i < c; ++i) ok &= std::isfinite(p[i]);
      if (!ok) bad.store(true);
    });
    if (ranks > 1) {
      LANCER_ASSIGN_OR_RETURN(auto all, exchange::all_gather(*collective, std::string(1, bad.load() ? '1' : '0')));
      for (const auto& flag : all) bad = bad.load() || flag != "0";
    }
    if (bad.load()) return Status::InvalidArgument("PQ: the training data holds NaN or infinite values");
  }
  const size_t m = static_cast<size_t>(params.num_sub_vectors);
  const size_t dsub = data.dim / m;
  auto model = std::make_shared<PqModel>();
  model->dim = dim;
  model->num_sub_vectors = params.num_sub_vectors;
  model->num_bits = params.num_bits;
  model->codebook.resize(m * ksub * dsub);
  std::vector<SmallKMeansResult> results(m);
  // Sub-quantizers are independent, and a result does not depend on who trains it. Ranks on
  // one host take them from a counter they share, whichever rank is free next (a
  // sub-quantizer's iteration count, unknown beforehand, varies its cost); otherwise a rank
  // trains a contiguous run. Then every rank receives the others' codebooks and results.
  LANCER_ASSIGN_OR_RETURN(std::unique_ptr<SharedMemory> shared, core::map_shared(collective, sizeof(uint64_t)));
  std::optional<std::atomic_ref<uint64_t>> shared_next;
  if (shared) shared_next.emplace(*reinterpret_cast<uint64_t*>(shared->data()));
  // Not a structured binding: the lambda below captures s_begin, which clang before 16 refuses.
  const auto owned =
      shared ? std::pair<size_t, size_t>{0, m} : core::owned_range(m, collective ? collective->rank() : 0, ranks);
  const size_t s_begin = owned.first, s_end = owned.second;
  std::atomic<size_t> local_next{s_begin};
  auto take = [&]() -> size_t {
    return shared_next ? static_cast<size_t>(shared_next->fetch_add(1)) : local_next.fetch_add(1);
  };
  std::vector<uint8_t> did(m, 0);
  const size_t threads = static_cast<size_t>(std::max(1, executor.num_threads()));
  executor.parallel_for(std::min(threads, s_end - s_begin), 1, [&](size_t b, size_t e) {
    for (size_t t = b; t < e; ++t) {
      for (size_t s = take(); s < s_end; s = take()) {
        did[s] = 1;
        results[s] =
            small_kmeans(data.data + s * dsub, data.rows, data.dim, dsub, ksub, params.max_iters, params.tolerance,
                         derive_seed(params.seed, s), model->codebook.data() + s * ksub * dsub);
      }
    }
  });
  if (ranks > 1) {
    // Per sub-quantizer this rank trained: its number, codebook and result.
    std::string mine;
    for (size_t s = 0; s < m; ++s) {
      if (!did[s]) continue;
      const uint32_t id = static_cast<uint32_t>(s);
      exchange::put(mine, &id, 1);
      exchange::put(mine, model->codebook.data() + s * ksub * dsub, ksub * dsub);
      exchange::put(mine, &results[s], 1);
    }
    LANCER_ASSIGN_OR_RETURN(auto all, exchange::all_gather(*collective, std::move(mine)));
    std::vector<uint8_t> have = did;
    for (int r = 0; r < ranks; ++r) {
      if (r == collective->rank()) continue;
      exchange::Reader in(all[r]);
      while (!in.done()) {
        uint32_t s = 0;
        if (!in.get(&s, 1) || s >= m || have[s] || !in.get(model->codebook.data() + s * ksub * dsub, ksub * dsub) ||
            !in.get(&results[s], 1))
          return exchange::malformed("PQ codebooks", r);
        have[s] = 1;
      }
    }
    for (size_t s = 0; s < m; ++s)
      if (!have[s]) return Status::Internal("PQ: no rank trained sub-quantizer " + std::to_string(s));
  }
  double searched = 0;
  for (const auto& r : results) {
    model->loss += r.loss;
    searched += r.searched;
  }
  model->searched_fraction = searched / static_cast<double>(m);
  return std::shared_ptr<const PqModel>(std::move(model));
}

}  // namespace lancer::train

#include "train/pq.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

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
  {
    std::atomic<bool> bad{false};
    executor.parallel_for(data.rows, 8192, [&](size_t b, size_t e) {
      const float* p = data.row(b);
      bool ok = true;
      for (size_t i = 0, c = (e - b) * data.dim; i < c; ++i) ok &= std::isfinite(p[i]);
      if (!ok) bad.store(true);
    });
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
  // Sub-quantizers are independent: a rank trains a contiguous run of them,
  // then every rank receives the others' codebooks and results.
  const int ranks = collective ? collective->size() : 1;
  // Not a structured binding: the lambda below captures s_begin, which clang before 16 refuses.
  const auto owned = core::owned_range(m, collective ? collective->rank() : 0, ranks);
  const size_t s_begin = owned.first, s_end = owned.second;
  executor.parallel_for(s_end - s_begin, 1, [&](size_t b, size_t e) {
    for (size_t s = s_begin + b; s < s_begin + e; ++s) {
      results[s] =
          small_kmeans(data.data + s * dsub, data.rows, data.dim, dsub, ksub, params.max_iters, params.tolerance,
                       derive_seed(params.seed, s), model->codebook.data() + s * ksub * dsub);
    }
  });
  if (ranks > 1) {
    std::string mine;
    exchange::put(mine, model->codebook.data() + s_begin * ksub * dsub, (s_end - s_begin) * ksub * dsub);
    exchange::put(mine, results.data() + s_begin, s_end - s_begin);
    LANCER_ASSIGN_OR_RETURN(auto all, exchange::all_gather(*collective, std::move(mine)));
    for (int r = 0; r < ranks; ++r) {
      const auto [b, e] = core::owned_range(m, r, ranks);
      exchange::Reader in(all[r]);
      if (!in.get(model->codebook.data() + b * ksub * dsub, (e - b) * ksub * dsub) ||
          !in.get(results.data() + b, e - b) || !in.done())
        return exchange::malformed("PQ codebooks", r);
    }
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

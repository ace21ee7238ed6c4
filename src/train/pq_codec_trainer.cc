#include <algorithm>
#include <vector>

#include "core/half.h"
#include "quant/pq_codec.h"
#include "quant/registry.h"
#include "train/codec_trainers.h"
#include "train/pq.h"
#include "train/random.h"
#include "train/split_labels.h"

namespace lancer::train {

Result<std::shared_ptr<const quant::Codec>> train_pq_codec(const CodecTrainParams& p, MatrixView<float> sample,
                                                           size_t pq_rows, const KMeansModel& kmeans,
                                                           core::Executor& pool, core::Collective* distributed) {
  const int dim = kmeans.dim;
  const int m = p.num_sub_vectors;
  std::shared_ptr<const PqModel> pq;
  if (!p.supplied_codebook.empty()) {
    LANCER_ASSIGN_OR_RETURN(
        pq, pq_from_codebook(std::vector<float>(p.supplied_codebook.begin(), p.supplied_codebook.end()), dim, m,
                             p.num_bits));
  } else {
    // The IVF sample is no longer needed: residuals replace its first rows in place.
    const size_t rows = std::min(sample.rows, pq_rows);
    MatrixView<float> pq_view(sample.data, rows, sample.dim);
    if (quant::uses_residual(p.kind, p.metric)) {
      // The assignment split over ranks (each labels a run of rows); residuals are cheap, every rank makes all.
      std::vector<uint32_t> labels(rows);
      LANCER_RETURN_IF_ERROR(nearest_labels_split(pq_view, kmeans.view(), kmeans.metric, labels, pool, distributed));
      if (p.shared_sample && distributed && distributed->size() > 1) {
        // One sample for all ranks: each writes the residuals of a run of rows (a row's
        // residual depends on that row and its label alone), then the ranks meet.
        const auto [r0, r1] = core::owned_range(rows, distributed->rank(), distributed->size());
        MatrixView<float> run(pq_view.row(r0), r1 - r0, sample.dim);
        LANCER_RETURN_IF_ERROR(compute_residuals(kmeans, MatrixView<const float>(run),
                                                 std::span<const uint32_t>(labels).subspan(r0, r1 - r0), run, pool));
        LANCER_RETURN_IF_ERROR(distributed->barrier());
      } else {
        LANCER_RETURN_IF_ERROR(compute_residuals(kmeans, pq_view, labels, pq_view, pool));
      }
    }
    PqParams pp;
    pp.num_sub_vectors = m;
    pp.num_bits = p.num_bits;
    pp.max_iters = p.max_iters;
    pp.seed = derive_seed(p.seed, 2);
    LANCER_ASSIGN_OR_RETURN(pq, train_pq(MatrixView<const float>(pq_view), pp, pool, distributed));
  }
  if (p.half) {
    std::vector<float> cb = pq->codebook;
    for (float& x : cb) x = core::round_to_half(x);
    LANCER_ASSIGN_OR_RETURN(pq, pq_from_codebook(std::move(cb), dim, m, p.num_bits));
  }
  return quant::make_pq_codec(std::move(pq));
}

}  // namespace lancer::train

#include <string>

#include "quant/rq_codec.h"
#include "train/codec_trainers.h"
#include "train/random.h"

namespace lancer::train {

// RaBitQ trains nothing: its model is the rotation, 4 * dim / 8 random sign
// bytes. Lance draws them from an unseeded RNG; lancer draws them from the
// build's seed so that a rebuild (or a resumed build) writes the same bytes.
Result<std::shared_ptr<const quant::Codec>> train_rq_codec(const CodecTrainParams& p, MatrixView<float>, size_t,
                                                           const KMeansModel& kmeans, core::Executor&,
                                                           core::Collective*) {
  const uint32_t dim = static_cast<uint32_t>(kmeans.dim);
  if (!p.supplied_rq_model.empty()) {
    LANCER_ASSIGN_OR_RETURN(auto model, quant::rq_model_from_json(p.supplied_rq_model, dim, "rabitq_model"));
    if (model->num_bits != p.num_bits) {
      return Status::InvalidArgument("rabitq_model num_bits=" + std::to_string(model->num_bits) +
                                     " does not match requested num_bits=" + std::to_string(p.num_bits));
    }
    return quant::make_rq_codec(std::move(model), p.half);
  }
  auto model = std::make_shared<quant::RqModel>();
  model->dim = dim;
  model->num_bits = p.num_bits;
  model->signs.resize(4 * model->code_bytes());
  Random rng(derive_seed(p.seed, 0x4AB17));
  for (size_t i = 0; i < model->signs.size(); i += 8) {
    const uint64_t word = rng.next();
    for (size_t b = 0; b < 8 && i + b < model->signs.size(); ++b)
      model->signs[i + b] = static_cast<uint8_t>(word >> (8 * b));
  }
  LANCER_RETURN_IF_ERROR(quant::check_rq_model(*model));
  return quant::make_rq_codec(std::move(model), p.half);
}

}  // namespace lancer::train

#include "train/train_codec.h"

#include <string>

#include "quant/index_kind.h"
#include "train/codec_trainers.h"

namespace lancer::train {

namespace {

// One line per quantizer (train/codec_trainers.h), keyed as quant/registry.cc is.
struct TrainerEntry {
  quant::QuantizerKind kind;
  CodecTrainer train;
};
constexpr TrainerEntry kTrainers[] = {
    {quant::QuantizerKind::kFlat, train_flat_codec},
    {quant::QuantizerKind::kSq, train_sq_codec},
    {quant::QuantizerKind::kPq, train_pq_codec},
    {quant::QuantizerKind::kRq, train_rq_codec},
};

}  // namespace

CodecTrainer codec_trainer(quant::QuantizerKind kind) {
  for (const TrainerEntry& t : kTrainers) {
    if (t.kind == kind) return t.train;
  }
  return nullptr;
}

Result<std::shared_ptr<const quant::Codec>> train_codec(const CodecTrainParams& p, MatrixView<float> sample,
                                                        size_t pq_rows, const KMeansModel& kmeans,
                                                        core::Executor& pool, core::Collective* distributed) {
  if (CodecTrainer train = codec_trainer(p.kind)) return train(p, sample, pq_rows, kmeans, pool, distributed);
  return Status::NotSupported(std::string("no trainer for the ") + quant::quantizer_name(p.kind) + " quantizer");
}

}  // namespace lancer::train

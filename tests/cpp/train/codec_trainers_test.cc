// Every registered quantizer has a trainer (train/train_codec.cc's table), and
// train_codec returns a codec of the kind asked for.
#include <gtest/gtest.h>

#include "core/executor.h"
#include "quant/registry.h"
#include "train/codec_trainers.h"

namespace lancer::train {
namespace {

TEST(CodecTrainers, EveryQuantizerHasOne) {
  for (const quant::QuantizerEntry* q : quant::quantizers()) {
    EXPECT_NE(codec_trainer(q->kind), nullptr) << q->name;
  }
}

TEST(CodecTrainers, TrainsTheKindAskedFor) {
  std::vector<float> sample(64 * 8);
  for (size_t i = 0; i < sample.size(); ++i) sample[i] = static_cast<float>(i % 13) - 6.0f;
  KMeansModel kmeans;
  kmeans.dim = 8;
  core::InlineExecutor ex;
  for (quant::QuantizerKind kind : {quant::QuantizerKind::kFlat, quant::QuantizerKind::kSq}) {
    CodecTrainParams p;
    p.kind = kind;
    auto codec = train_codec(p, MatrixView<float>(sample.data(), 64, 8), 64, kmeans, ex, nullptr);
    ASSERT_TRUE(codec.ok()) << codec.status().to_string();
    EXPECT_EQ((*codec)->kind(), kind);
  }
}

}  // namespace
}  // namespace lancer::train

// The table of quantizers: for each QuantizerKind, its codec's rules that hold
// before a model exists (residuals, whether training needs a sample) and how
// its codec is read back from auxiliary.idx or model.bin. Adding a quantizer
// is a new <name>_codec.{h,cc} plus one line in registry.cc. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "quant/codec.h"

namespace lancer::quant {

// A codec as auxiliary.idx stores it.
struct StoredCodec {
  std::string where;         // names the file in errors
  uint32_t dim = 0;
  bool half = false;         // the indexed column holds float16
  std::string metadata;      // storage_metadata[0]: a JSON object
  // Global buffer `position` as a float32 / float16 tensor's values.
  std::function<Result<std::vector<float>>(uint64_t position)> read_tensor;
};

// A codec's section of model.bin (Codec::model_key / model_header / model_floats).
struct ModelSection {
  uint32_t dim = 0;
  bool half = false;
  std::string header;            // the JSON object under model_key(); empty if absent
  std::span<const float> floats; // what follows the centroids; the codec takes its share from the front
};

struct QuantizerEntry {
  QuantizerKind kind;
  bool (*uses_residual)(Metric metric);
  bool trains_on_sample;  // SQ bounds and PQ codebooks come from the training sample
  const char* model_key;  // its section of model.bin ("sq", "pq"); null: none
  Result<std::shared_ptr<const Codec>> (*from_storage)(const StoredCodec& stored);
  // Returns the codec; *used is the number of floats taken.
  Result<std::shared_ptr<const Codec>> (*from_model)(const ModelSection& section, size_t* used);
};

const QuantizerEntry& quantizer(QuantizerKind kind);

inline bool uses_residual(QuantizerKind kind, Metric metric) { return quantizer(kind).uses_residual(metric); }

// Corruption / NotSupported name stored.where and the key that is wrong.
Result<std::shared_ptr<const Codec>> codec_from_storage(QuantizerKind kind, const StoredCodec& stored);
Result<std::shared_ptr<const Codec>> codec_from_model(QuantizerKind kind, const ModelSection& section,
                                                      size_t* used);

}  // namespace lancer::quant

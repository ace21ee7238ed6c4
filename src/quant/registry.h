// The table of quantizers: for each QuantizerKind, its name in index types,
// its codec's rules that hold before a model exists (residuals, whether
// training needs a sample), how its codec is read back from auxiliary.idx or
// model.bin, and what Lance's VectorIndexDetails records for it. Everything
// that loops over quantizers (parse_index_type, buildable_index_types, the
// manifest's index details) reads this table; training has its own table in
// train/train_codec.cc. Adding a quantizer: docs/decisions/codec-seam.md.
// Immutable static data; thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "quant/codec.h"

#include <nlohmann/json.hpp>

namespace lancer::quant {

// A codec as auxiliary.idx stores it.
struct StoredCodec {
  std::string where;         // names the file in errors
  uint32_t dim = 0;
  bool half = false;         // the indexed column holds float16
  std::string metadata;      // storage_metadata[0]: a JSON object
  // Global buffer `position` as a float32 / float16 tensor's values.
  std::function<Result<std::vector<float>>(uint64_t position)> read_tensor;

  // `metadata` parsed; Corruption naming `where` unless it is a JSON object.
  Result<nlohmann::json> metadata_object() const;
  // Corruption: storage_metadata has no valid "<key>".
  Status bad_key(std::string_view key) const;
};

// A codec's section of model.bin (Codec::model_key / model_header / model_floats).
struct ModelSection {
  uint32_t dim = 0;
  bool half = false;
  std::string header;            // the JSON object under model_key(); empty if absent
  std::span<const float> floats; // what follows the centroids; the codec takes its share from the front

  // `header` parsed; InvalidArgument ("no \"<key>\" section") unless it is a JSON object.
  Result<nlohmann::json> header_object(const char* key) const;
};

// The quantizer's part of Lance's VectorIndexDetails (index.proto): the field
// of the `compression` oneof ("flat", "sq", "pq") and its uint32 fields, set
// by name so that quant/ stays free of protobuf (pipeline/commit_index.cc).
struct LanceCompression {
  const char* field = nullptr;
  std::vector<std::pair<const char*, uint32_t>> params;
};

struct QuantizerEntry {
  QuantizerKind kind;
  const char* name;  // "FLAT", "SQ", "PQ": the <Q> of IVF_<Q>
  bool (*uses_residual)(Metric metric);
  bool trains_on_sample;  // SQ bounds and PQ codebooks come from the training sample
  const char* model_key;  // its section of model.bin ("sq", "pq"); null: none
  Result<std::shared_ptr<const Codec>> (*from_storage)(const StoredCodec& stored);
  // Returns the codec; *used is the number of floats taken.
  Result<std::shared_ptr<const Codec>> (*from_model)(const ModelSection& section, size_t* used);
  // `codec` is one of this quantizer's codecs.
  LanceCompression (*lance_compression)(const Codec& codec);
  // The manifest's IndexMetadata.index_version Lance writes: 2 for IVF_RQ, 1 for the others.
  int32_t index_version = 1;
};

// Every registered quantizer, in QuantizerKind order.
std::span<const QuantizerEntry* const> quantizers();
const QuantizerEntry& quantizer(QuantizerKind kind);

inline bool uses_residual(QuantizerKind kind, Metric metric) { return quantizer(kind).uses_residual(metric); }

// Corruption / NotSupported name stored.where and the key that is wrong.
Result<std::shared_ptr<const Codec>> codec_from_storage(QuantizerKind kind, const StoredCodec& stored);
Result<std::shared_ptr<const Codec>> codec_from_model(QuantizerKind kind, const ModelSection& section,
                                                      size_t* used);

}  // namespace lancer::quant

#include "quant/registry.h"

#include "quant/flat_codec.h"
#include "quant/pq_codec.h"
#include "quant/rq_codec.h"
#include "quant/sq_codec.h"

namespace lancer::quant {

namespace {

// One line per quantizer, in QuantizerKind order.
const QuantizerEntry* const kEntries[] = {&flat_quantizer(), &sq_quantizer(), &pq_quantizer(), &rq_quantizer()};

}  // namespace

std::span<const QuantizerEntry* const> quantizers() { return kEntries; }

const QuantizerEntry& quantizer(QuantizerKind kind) {
  for (const QuantizerEntry* e : kEntries) {
    if (e->kind == kind) return *e;
  }
  return *kEntries[0];  // unreachable: every kind has an entry
}

Result<std::shared_ptr<const Codec>> codec_from_storage(QuantizerKind kind, const StoredCodec& stored) {
  return quantizer(kind).from_storage(stored);
}

Result<std::shared_ptr<const Codec>> codec_from_model(QuantizerKind kind, const ModelSection& section,
                                                      size_t* used) {
  *used = 0;
  return quantizer(kind).from_model(section, used);
}

Result<nlohmann::json> StoredCodec::metadata_object() const {
  auto q = nlohmann::json::parse(metadata, nullptr, false);
  if (!q.is_object()) return Status::Corruption(where + ": storage_metadata is not a JSON object");
  return q;
}

Status StoredCodec::bad_key(std::string_view key) const {
  return Status::Corruption(where + ": storage_metadata has no valid \"" + std::string(key) + "\"");
}

Result<nlohmann::json> ModelSection::header_object(const char* key) const {
  auto h = nlohmann::json::parse(header, nullptr, false);
  if (!h.is_object()) return Status::InvalidArgument(std::string("no \"") + key + "\" section");
  return h;
}

}  // namespace lancer::quant

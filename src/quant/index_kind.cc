#include "quant/index_kind.h"

namespace lancer::quant {

namespace {

constexpr QuantizerKind kQuantizers[] = {QuantizerKind::kFlat, QuantizerKind::kSq, QuantizerKind::kPq};

}  // namespace

const char* quantizer_name(QuantizerKind kind) {
  switch (kind) {
    case QuantizerKind::kFlat: return "FLAT";
    case QuantizerKind::kSq: return "SQ";
    case QuantizerKind::kPq: return "PQ";
  }
  return "?";
}

std::string index_type_name(IndexKind kind) {
  return std::string(kind.sub == SubIndexKind::kHnsw ? "IVF_HNSW_" : "IVF_") + quantizer_name(kind.quantizer);
}

Result<IndexKind> parse_index_type(std::string_view name) {
  IndexKind kind;
  std::string_view rest = name;
  if (rest.starts_with("IVF_HNSW_")) {
    kind.sub = SubIndexKind::kHnsw;
    rest.remove_prefix(9);
  } else if (rest.starts_with("IVF_")) {
    rest.remove_prefix(4);
  } else {
    return Status::NotSupported("index type \"" + std::string(name) + "\" is not an IVF index type");
  }
  for (QuantizerKind q : kQuantizers) {
    if (rest == quantizer_name(q)) {
      kind.quantizer = q;
      return kind;
    }
  }
  return Status::NotSupported("index type \"" + std::string(name) + "\" has an unknown quantizer");
}

bool is_implemented(IndexKind kind) { return kind.sub == SubIndexKind::kFlat; }

}  // namespace lancer::quant

#include "quant/index_kind.h"

#include "quant/registry.h"

namespace lancer::quant {

const char* quantizer_name(QuantizerKind kind) { return quantizer(kind).name; }

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
  for (const QuantizerEntry* q : quantizers()) {
    if (rest == q->name) {
      kind.quantizer = q->kind;
      return kind;
    }
  }
  return Status::NotSupported("index type \"" + std::string(name) + "\" has an unknown quantizer");
}

bool is_implemented(IndexKind kind) {
  // No graph over RaBitQ codes: Lance has no IVF_HNSW_RQ either (pylance 14 refuses it).
  return kind.sub == SubIndexKind::kFlat || kind.quantizer != QuantizerKind::kRq;
}

std::vector<std::string> buildable_index_types() {
  std::vector<std::string> names;
  for (SubIndexKind sub : {SubIndexKind::kFlat, SubIndexKind::kHnsw}) {
    for (const QuantizerEntry* q : quantizers()) {
      const IndexKind kind{sub, q->kind};
      if (is_implemented(kind)) names.push_back(index_type_name(kind));
    }
  }
  return names;
}

std::string join_type_names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

}  // namespace lancer::quant

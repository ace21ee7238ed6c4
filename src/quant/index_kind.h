// What an index type is: (sub-index, quantizer), as Lance names it
// ("IVF_FLAT", "IVF_SQ", "IVF_PQ", "IVF_HNSW_SQ", ...), and the one metric
// vocabulary (simd::Metric) that build and search share. Quantizer names
// come from the registry (quant/registry.h). Pure values; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lancer/status.h"
#include "simd/metric.h"

namespace lancer::quant {

using Metric = simd::Metric;

// How each partition's rows are encoded. One codec per kind (quant/codec.h),
// one registry entry per kind (quant/registry.cc); the enum is the entry's key.
enum class QuantizerKind { kFlat, kSq, kPq, kRq };
// How a partition is searched: every row (kFlat), or through a graph (kHnsw).
enum class SubIndexKind { kFlat, kHnsw };

struct IndexKind {
  SubIndexKind sub = SubIndexKind::kFlat;
  QuantizerKind quantizer = QuantizerKind::kFlat;
  bool operator==(const IndexKind&) const = default;
};

// "IVF_<Q>" or "IVF_HNSW_<Q>" with Q a registered quantizer's name (FLAT, SQ,
// PQ); anything else is NotSupported.
// Parsing a name does not mean lancer can build or search it: see is_implemented.
Result<IndexKind> parse_index_type(std::string_view name);
std::string index_type_name(IndexKind kind);
// "FLAT", "SQ", "PQ": the registry entry's name.
const char* quantizer_name(QuantizerKind kind);
// Every IVF_<Q>, and IVF_HNSW_<Q> for the quantizers a graph is built over (not RQ).
bool is_implemented(IndexKind kind);
// The implemented index type names, sub-index then registry order: IVF_FLAT, IVF_SQ,
// IVF_PQ, IVF_RQ, IVF_HNSW_FLAT, IVF_HNSW_SQ, IVF_HNSW_PQ.
std::vector<std::string> buildable_index_types();
// "IVF_FLAT, IVF_SQ, ... or IVF_HNSW_PQ": the list as error texts spell it.
std::string join_type_names(const std::vector<std::string>& names);

}  // namespace lancer::quant

// Metric names as Lance spells them.
#include "simd/metric.h"

namespace lancer::simd {

const char* metric_name(Metric metric) {
  switch (metric) {
    case Metric::kL2: return "l2";
    case Metric::kCosine: return "cosine";
    case Metric::kDot: return "dot";
  }
  return "unknown";
}

std::optional<Metric> parse_metric(std::string_view name) {
  if (name == "l2" || name == "euclidean") return Metric::kL2;
  if (name == "cosine") return Metric::kCosine;
  if (name == "dot") return Metric::kDot;
  return std::nullopt;
}

}  // namespace lancer::simd

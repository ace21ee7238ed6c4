// Distance metrics, named as Lance names them ("l2", "cosine", "dot").
//   l2:     squared Euclidean distance; partitions by nearest centroid.
//   cosine: 1 - cos(a, b); lancer trains and partitions with l2 on
//           L2-normalised vectors, as Lance does.
//   dot:    Lance's dot distance is 1 - a.b; partitions by largest a.b.
#pragma once

#include <optional>
#include <string_view>

namespace lancer::simd {

enum class Metric { kL2 = 0, kCosine = 1, kDot = 2 };

const char* metric_name(Metric metric);
std::optional<Metric> parse_metric(std::string_view name);

}  // namespace lancer::simd

#include "pipeline/partition_graphs.h"

#include <algorithm>
#include <mutex>

namespace lancer::pipeline {

graph::HnswParams hnsw_params(const BuildParams& p) {
  return {static_cast<uint32_t>(std::max(0, p.m)), static_cast<uint32_t>(std::max(0, p.ef_construction)),
          static_cast<uint32_t>(std::max(0, p.max_level))};
}

graph::GraphDistance graph_distance(const ivf::IndexModel& model) {
  switch (model.metric) {
    case quant::Metric::kDot: return graph::GraphDistance::kOneMinusDot;
    case quant::Metric::kCosine:
      // Raw vectors are stored normalised: 1 - a.b is Lance's 1 - cos. Quantized ones are not
      // unit length after decoding; l2 between them orders neighbours as cosine does.
      return model.kind.quantizer == quant::QuantizerKind::kFlat ? graph::GraphDistance::kOneMinusDot
                                                                 : graph::GraphDistance::kL2;
    default: return graph::GraphDistance::kL2;
  }
}

Status build_partition_graphs(const ivf::IndexModel& model, const graph::HnswParams& params,
                              std::span<const PartitionRows> parts, std::span<graph::HnswGraph> graphs,
                              core::Executor& executor) {
  const size_t dim = model.column.dim;
  const graph::GraphDistance distance = graph_distance(model);
  // Largest partitions first (a graph's cost grows with its nodes squared), so that no thread is
  // left with a big one at the end. The order of building changes no graph.
  std::vector<size_t> order(parts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return parts[a].ids.size() > parts[b].ids.size(); });
  std::mutex mu;
  Status first_error;
  executor.parallel_for(parts.size(), 1, [&](size_t b, size_t e) {
    std::vector<float> vectors;
    for (size_t k = b; k < e; ++k) {
      const size_t i = order[k];
      const size_t n = parts[i].ids.size();
      vectors.resize(n * dim);
      Status st = model.codec->reconstruct(parts[i].storage.data(), n, vectors.data());
      if (st.ok()) {
        // The executor too: the thread with the largest partition gets help once the others run out.
        auto g =
            graph::build_hnsw(linalg::MatrixView<const float>(vectors.data(), n, dim), distance, params, &executor);
        if (g.ok()) {
          graphs[i] = std::move(g).value();
        } else {
          st = g.status();
        }
      }
      if (!st.ok()) {
        std::lock_guard lock(mu);
        if (first_error.ok()) first_error = st;
        return;
      }
    }
  });
  return first_error;
}

}  // namespace lancer::pipeline

// IVF_HNSW_*: one HNSW graph per merged partition, over the vectors its stored rows stand for
// (Codec::reconstruct), as Lance builds it on the quantized storage. Partitions are independent,
// so a window of them is built in parallel; each graph is built by one thread in node order, so
// the bytes do not depend on the thread count.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/buffer.h"
#include "core/executor.h"
#include "graph/hnsw.h"
#include "ivf/index_files.h"
#include "lancer/status.h"
#include "pipeline/staging.h"

namespace lancer::pipeline {

// The graph parameters a build records (negative values, which Lance's checks refuse, as 0).
graph::HnswParams hnsw_params(const BuildParams& p);

// One partition's rows as the merge gathered them: node i of its graph is row i.
struct PartitionRows {
  core::UninitVector<uint64_t> ids;
  core::ByteBuffer storage;  // ids.size() x model.storage_row_bytes()
};

// The graph distance for the model's quantizer and metric: l2 squared, or 1 - a.b where the
// vectors are unit length (cosine over raw vectors) or the metric is dot.
graph::GraphDistance graph_distance(const ivf::IndexModel& model);

// graphs[i] = the graph over parts[i], partitions spread over `executor`.
Status build_partition_graphs(const ivf::IndexModel& model, const graph::HnswParams& params,
                              std::span<const PartitionRows> parts, std::span<graph::HnswGraph> graphs,
                              core::Executor& executor);

}  // namespace lancer::pipeline

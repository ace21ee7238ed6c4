// HNSW graphs as Lance's IVF_HNSW_* sub-index stores them (format notes 3.1-3.3):
// one graph per IVF partition, node id = row position inside the partition.
// The build is deterministic: Lance's seeded levels, nodes inserted one by one
// in id order, distances that are one fixed sequence of float operations per
// pair on every SIMD level, and every comparison ordered by (distance, node
// id), so the same vectors give the same graph bytes on any machine and for
// any thread count. Graphs of up to 4096 nodes (graph/hnsw_internal.h's size
// rule, a function of n only) give each insertion the exact ef_construction
// nearest inserted nodes of each level as candidates, from a full distance
// matrix (|a|^2 + |b|^2 - 2 a.b over centred rows, FMA chains from
// simd/gram.h); larger ones search with the ef_construction beam (distances
// from simd/lanes16). Searching lives in graph/hnsw_search.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/executor.h"
#include "lancer/status.h"
#include "linalg/matrix.h"

namespace lancer::graph {

// kL2: squared L2. kOneMinusDot: 1 - a.b (cosine on normalized rows, and dot).
enum class GraphDistance { kL2, kOneMinusDot };

struct HnswParams {
  uint32_t m = 20;                 // edges of a new node; level-0 lists hold up to 2m
  uint32_t ef_construction = 150;  // beam width while inserting
  uint32_t max_level = 7;          // levels 0 .. max_level - 1
};

struct HnswGraph {
  uint32_t num_nodes = 0, entry_point = 0;
  struct Level {  // the nodes at level >= l, ascending ids (level 0: every node)
    std::vector<uint32_t> nodes;
    std::vector<uint64_t> offsets;    // nodes.size() + 1 offsets into neighbors/distances
    std::vector<uint32_t> neighbors;  // node ids, in the order Lance writes them (selection order)
    std::vector<float> distances;     // parallel to neighbors
  };
  std::vector<Level> levels;  // levels[0] .. the highest non-empty level

  // Rows the graph takes in index.idx: one per (node, level).
  uint64_t num_rows() const;
};

// Lance's rules: max_level > 0, m >= 4, ef_construction >= m (and max_level fits Lance's u16).
Status check_hnsw_params(const HnswParams& p);

// The graph over `vectors` (row i = node i). 0 rows give an empty graph. `executor` (optional)
// spreads the distance matrix of a large graph over its threads (a parallel_for from the calling
// thread, which may itself be one of the executor's); the bytes do not depend on it.
Result<HnswGraph> build_hnsw(linalg::MatrixView<const float> vectors, GraphDistance distance, const HnswParams& params,
                             core::Executor* executor = nullptr);

// The partition's string in index.idx's `lance:hnsw` list:
// {"entry_point":..,"params":{"max_level":..,"m":..,"ef_construction":..,"prefetch_distance":2},
//  "level_offsets":[max_level + 1 cumulative row counts]}
std::string hnsw_partition_json(const HnswGraph& g, const HnswParams& p);

}  // namespace lancer::graph

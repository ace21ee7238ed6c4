// The HNSW builder's size rule and a test hook that overrides it.
#pragma once

#include <cstdint>

#include "graph/hnsw.h"

namespace lancer::graph::internal {

// The size rule (a function of n alone): a graph of at most kExactNodes nodes
// computes every pair's distance up front (n^2 floats, at most 64 MiB) and
// gives each insertion, on each of its levels, the exact ef_construction
// nearest already-inserted nodes of that level as candidates. Partitions of
// that size are what a beam of ef_construction = 150 nearly covers anyway, and
// the exact set is at least as good as the beam's. Larger graphs search the
// levels with the beam.
constexpr uint32_t kExactNodes = 4096;

enum class Candidates {
  kBySize,  // the size rule
  kBeam,    // the beam search at any size (tests)
  kExact,   // the exact candidates at any size (tests; n^2 floats)
};

Result<HnswGraph> build_hnsw(linalg::MatrixView<const float> vectors, GraphDistance distance, const HnswParams& params,
                             Candidates candidates, core::Executor* executor = nullptr);

}  // namespace lancer::graph::internal

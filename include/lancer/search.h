// Public API: k-nearest-neighbour search over a committed IVF index (one that
// lancer wrote), as Lance searches it: nprobes nearest partitions, distances
// from the stored vectors or codes, optional exact re-ranking of k x
// refine_factor candidates, fragments the index does not cover searched
// exhaustively, deleted rows never returned.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lancer/status.h"

namespace lancer {

struct SearchOptions {
  std::string uri;
  std::string index_name;
  size_t k = 10;
  size_t nprobes = 1;
  size_t refine_factor = 0;  // 0: no re-ranking
};

struct SearchHit {
  uint64_t row_id = 0;  // row address
  float distance = 0;   // Lance's _distance for the index's metric
};

// One result list per query; queries is n x dim float32, row-major.
Result<std::vector<std::vector<SearchHit>>> search_index(const SearchOptions& options,
                                                         const std::vector<float>& queries, size_t dim);

}  // namespace lancer

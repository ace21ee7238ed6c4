// Public API: k-nearest-neighbour search over a committed IVF_FLAT / IVF_SQ /
// IVF_PQ / IVF_HNSW_* index, written by lancer or by Lance itself (V3 index files of format
// 2.0, 2.1 or 2.2, or the legacy single-file IVF_PQ), as Lance searches it:
// nprobes nearest partitions (each searched through its graph for IVF_HNSW_*),
// distances from the stored vectors or codes,
// optional exact re-ranking of k x refine_factor candidates, fragments the
// index does not cover searched exhaustively, deleted rows never returned.
// Results equal pylance 14's `_rowid` / `_distance` (docs/index-format.md).
// Each call opens its own readers, so calls may run concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lancer/status.h"

namespace lancer {

struct SearchOptions {
  std::string uri;
  std::string index_name;
  std::map<std::string, std::string> storage_options;  // for an object-store uri (lancer/storage.h)
  size_t k = 10;
  size_t nprobes = 1;
  size_t refine_factor = 0;  // 0: no re-ranking
  // IVF_HNSW_*: the candidate list on each graph's base level; 0: Lance's default, 1.5 x the
  // candidates wanted per partition (k x refine_factor). Less than those is InvalidArgument.
  size_t ef = 0;
};

struct SearchHit {
  uint64_t row_id = 0;  // row address (the stable row id on datasets with stable row ids)
  float distance = 0;   // Lance's _distance for the index's metric
};

// One result list per query; queries is n x dim float32, row-major.
Result<std::vector<std::vector<SearchHit>>> search_index(const SearchOptions& options,
                                                         const std::vector<float>& queries, size_t dim);

}  // namespace lancer

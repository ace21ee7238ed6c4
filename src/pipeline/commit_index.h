// The commit step of finalize: one IndexMetadata per merged segment (the
// proto Lance reads from the manifest's index section), then one commit of
// them all. Pure assembly over values the caller owns; no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "graph/hnsw.h"
#include "ivf/index_files.h"
#include "lance/commit.h"

namespace lancer::pipeline {

// One segment's index files, as finalize wrote them in _indices/<uuid>/.
struct SegmentFiles {
  std::string uuid;                    // hyphenated
  std::vector<uint32_t> fragment_ids;  // the fragments it covers, ascending
  uint64_t aux_bytes = 0, index_bytes = 0;
  std::optional<graph::HnswParams> hnsw;  // IVF_HNSW_*: the graphs' parameters
};

// What the manifest records for a segment. `staging` names the build record in errors.
Result<::lance::table::IndexMetadata> segment_metadata(const SegmentFiles& files, const ivf::IndexModel& model,
                                                       int32_t field_id, const std::string& name,
                                                       uint64_t dataset_version, uint64_t created_at,
                                                       const std::string& staging);

// Milliseconds since the epoch: every segment of one commit gets the same.
uint64_t created_at_now();

}  // namespace lancer::pipeline

// Reading HNSW graphs back from an IVF_HNSW_* segment's index.idx (format
// notes 3.1, 3.5): the `lance:hnsw` partition strings and, per partition, the
// rows [offset, offset + length) of `__vector_id` and `__neighbors` (the
// `_distance` column is not needed to search). File format 2.0 list pages, as
// lancer and Lance's 2.0 writer produce them. The 2.1/2.2 list layouts
// pylance 14 writes by default are refused with NotSupported.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph/hnsw.h"
#include "lance/file_reader.h"
#include "lancer/status.h"

namespace lancer::search {

// The `lance:hnsw` schema metadata: one JSON string per partition ("" when empty).
Result<std::vector<std::string>> hnsw_partition_strings(const lance::LanceFile& index_file);

// Partition rows [offset, offset + length) of index.idx and the partition's
// string: level 0 (whose `__vector_id` must equal the row index) then the
// upper levels as `level_offsets` splits them. Distances are left empty.
Result<graph::HnswGraph> read_hnsw_partition(const lance::LanceFile& index_file, uint64_t offset, uint64_t length,
                                             const std::string& partition_json);

}  // namespace lancer::search

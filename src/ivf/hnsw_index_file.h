// index.idx of an IVF_HNSW_* segment (format notes 3.1, 3.5): one row per
// (node, level) of each partition's graph, partitions in order and, inside one,
// level 0 (every node, ascending id) then level 1, ...; columns `__vector_id`,
// `__neighbors: list<uint32>`, `_distance: list<float32>`. Written as file
// format 2.0 with list pages; the partition JSON strings go to `lance:hnsw`,
// the IVF buffer counts graph rows. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "graph/hnsw.h"
#include "ivf/index_files.h"

namespace lancer::ivf {

class HnswIndexFileWriter {
 public:
  static Result<std::unique_ptr<HnswIndexFileWriter>> create(const std::string& path,
                                                             std::shared_ptr<const IndexModel> model,
                                                             const graph::HnswParams& params,
                                                             size_t page_bytes = kDefaultPageBytes);
  // About Lance's page size: a page of items ends at the first whole row past it.
  static constexpr size_t kDefaultPageBytes = 8u << 20;
  // Partitions in increasing order; a skipped or empty one writes no rows and "".
  Status write_partition(uint32_t partition, const graph::HnswGraph& g);
  // Returns the file size.
  Result<uint64_t> finish();

 private:
  HnswIndexFileWriter() = default;
  Status flush_pages();

  std::shared_ptr<const IndexModel> model_;
  graph::HnswParams params_;
  std::unique_ptr<lance::LanceFileWriter> writer_;
  std::vector<uint64_t> lengths_;
  std::vector<std::string> partition_json_;
  uint32_t next_partition_ = 0;
  uint64_t rows_ = 0;
  size_t page_bytes_ = kDefaultPageBytes;
  // The page being gathered: ids, list end offsets from its first item, items.
  std::vector<uint32_t> ids_;
  std::vector<uint64_t> ends_;
  std::vector<uint32_t> neighbors_;
  std::vector<float> distances_;
};

}  // namespace lancer::ivf

// A graph task's staging file: the HNSW graphs of a run of partitions, in partition order
// (docs/build-staging.md). Per partition: a header [u32 partition, u32 nodes, u32 entry point,
// u32 levels], then per level [u64 nodes, u64 edges] and its nodes (u32), offsets (u64),
// neighbours (u32) and distances (f32), little-endian. Written by the graph phase, read by
// finalize in the same order. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "graph/hnsw.h"
#include "lancer/status.h"
#include "storage/file_io.h"

namespace lancer::pipeline {

Status append_graph(storage::OutputFile& out, uint32_t partition, const graph::HnswGraph& g);

class GraphFileReader {
 public:
  // `size` from the task's record (0 = ask the store).
  static Result<std::unique_ptr<GraphFileReader>> open(const std::string& path, uint64_t size);
  // The next graph, which must be partition `partition`'s; Corruption naming the file otherwise.
  Result<graph::HnswGraph> next(uint32_t partition);

 private:
  GraphFileReader() = default;
  Status read(void* out, uint64_t bytes);
  std::shared_ptr<storage::RandomAccessFile> file_;
  uint64_t position_ = 0;
};

}  // namespace lancer::pipeline

// The output of an encode task in a one-pass build (docs/build-staging.md, task-N.run): the
// partition of every physical row of the task's fragments, in the task's fragment order, and
// kNotIndexed for a row the index leaves out (deleted, null, not finite). 4 bytes a row instead
// of a spill's encoded rows: finalize takes the rows from the dataset (placed_rows.h). Written
// whole by finish(); read back whole, its checksum checked. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lancer/status.h"

namespace lancer::pipeline {

class TaskLabels {
 public:
  static constexpr uint32_t kNotIndexed = 0xffffffffu;

  // A task of `physical_rows` rows (every row kNotIndexed until set), to be written to `path`.
  TaskLabels(std::string path, uint32_t num_partitions, uint64_t physical_rows);
  // Reads a finished file; Corruption if it is damaged or was written for another shape.
  // `size` (0 = unknown) spares an object store the request for it.
  static Result<std::unique_ptr<TaskLabels>> open(const std::string& path, uint32_t num_partitions,
                                                  uint64_t physical_rows, uint64_t size = 0);

  void set(uint64_t position, uint32_t partition) { labels_[position] = partition; }
  std::span<const uint32_t> labels() const { return labels_; }
  uint32_t num_partitions() const { return num_partitions_; }

  // What the file's size will be.
  uint64_t seal() const;
  // Writes the file (made durable; a temporary name is the caller's) and returns its size.
  Result<uint64_t> finish();

 private:
  std::string path_;
  uint32_t num_partitions_ = 0;
  std::vector<uint32_t> labels_;
};

}  // namespace lancer::pipeline

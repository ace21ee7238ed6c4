// Partition-sorted spill runs of one build task, in one file. Each run is a
// group of batches whose rows were sorted by partition (stably) and appended
// as [ids of partition 0][storage of partition 0][ids of partition 1]...
// finish() appends the run table (with a checksum of each run's partition) and a
// footer (docs/build-staging.md), so a finished file can be reopened by another
// process for the merge, which checks every partition it reads. The merge
// reads partition p of every run in run order: the result does not depend on
// thread timing. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "lancer/status.h"
#include "pipeline/task_rows.h"
#include "storage/file_io.h"

namespace lancer::pipeline {

class SpillFile final : public TaskRows {
 public:
  static Result<std::unique_ptr<SpillFile>> create(const std::string& path, uint32_t num_partitions, size_t row_bytes);
  // A finished spill file; Corruption if its footer is damaged or does not match.
  // `size` (0 = unknown) spares an object store the request for it.
  static Result<std::unique_ptr<SpillFile>> open(const std::string& path, uint32_t num_partitions, size_t row_bytes,
                                                 uint64_t size = 0);
  ~SpillFile() override;

  // Buffers one row; a run is written when the buffer reaches `run_bytes`.
  void add(uint32_t partition, uint64_t row_id, const uint8_t* storage);
  // Room for `rows` buffered rows, so that the buffer is not grown (copied, its pages touched
  // again) run after run.
  void reserve(size_t rows);
  // Buffers n rows at once (as n add() calls), `storage` n x row_bytes.
  void add_rows(size_t n, const uint32_t* partitions, const uint64_t* row_ids, const uint8_t* storage);
  Status maybe_flush(size_t run_bytes);
  // Writes the last run, the run table and the footer; returns what the file's size will be.
  Result<uint64_t> seal();
  // Seals (if not yet) and completes the file; returns its size.
  Result<uint64_t> finish();
  // TaskRows: partition p of every run, in run order (a finished file); Corruption if the bytes
  // do not match their checksum.
  uint64_t rows_in(uint32_t partition) const override;
  Status read_partition(uint32_t partition, uint64_t* ids, uint8_t* storage) const override;
  size_t row_bytes() const override { return row_bytes_; }
  uint64_t rows() const { return rows_; }

 private:
  SpillFile() = default;
  Status flush();

  std::string path_;
  Status read_run(size_t run, uint64_t offset, uint64_t length, void* out) const;

  struct Window {
    uint64_t start = 0;
    std::vector<uint8_t> bytes;
  };
  std::unique_ptr<storage::OutputFile> out_;
  std::shared_ptr<storage::RandomAccessFile> in_;
  bool remote_ = false;
  bool sealed_ = false;
  mutable std::vector<Window> windows_;  // per run, object stores only
  uint32_t num_partitions_ = 0;
  size_t row_bytes_ = 0;
  uint64_t position_ = 0, rows_ = 0;
  std::vector<uint32_t> pending_partition_;
  std::vector<uint64_t> pending_ids_;
  std::vector<uint8_t> pending_storage_;
  // Per run: file offset and the first row of each partition (num_partitions + 1 entries).
  std::vector<uint64_t> run_offsets_;
  std::vector<std::vector<uint64_t>> run_starts_;
  // Per run, the checksum of each partition's ids and storage (checked_: a version 2 file).
  std::vector<uint64_t> partition_sums_;
  bool checked_ = true;
};

}  // namespace lancer::pipeline

// Where the merge (and the graph phase) takes one encode task's rows of a partition from:
// its partition-sorted spill (spill.h), or, in a one-pass build, the dataset itself at the
// places the task's labels give (placed_rows.h). Both give the rows of a partition in the
// task's stream order, already encoded: the index bytes do not depend on which one a task
// left. A source may be read by one thread at a time; different sources from different
// threads at once.
#pragma once

#include <cstdint>

#include "core/buffer.h"
#include "lancer/status.h"

namespace lancer::pipeline {

class TaskRows {
 public:
  virtual ~TaskRows() = default;
  // The task's rows in `partition`.
  virtual uint64_t rows_in(uint32_t partition) const = 0;
  // Writes them: rows_in(partition) ids to `ids`, their storage (row_bytes each) to `storage`.
  // Corruption if the bytes are damaged (a spill's checksum) or no longer there (the dataset's rows).
  virtual Status read_partition(uint32_t partition, uint64_t* ids, uint8_t* storage) const = 0;
  virtual size_t row_bytes() const = 0;

  // Appends them to ids / storage (buffers whose growth is not zero-filled first).
  Status append_partition(uint32_t partition, core::UninitVector<uint64_t>* ids, core::ByteBuffer* storage) const {
    const uint64_t n = rows_in(partition);
    if (n == 0) return Status::OK();
    const size_t at = ids->size();
    ids->resize(at + n);
    storage->resize((at + n) * row_bytes());
    return read_partition(partition, ids->data() + at, storage->data() + at * row_bytes());
  }
};

}  // namespace lancer::pipeline

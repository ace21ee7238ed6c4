// Streams one vector column of a pinned dataset, fragment by fragment, in
// batches of at most `batch_bytes` of vectors. Null vectors and deleted rows
// are skipped and counted. Memory is bounded by one batch plus one page's
// small metadata, whatever the dataset size. Not thread-safe; open one stream
// per thread (streams over disjoint fragments can run in parallel).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "dataset/dataset.h"

namespace lancer::dataset {

struct VectorBatch {
  uint64_t fragment_id = 0;
  size_t num_rows = 0;
  lance::VectorType type;
  core::ByteBuffer values;               // num_rows x type.row_bytes(), row-major, as stored
  core::UninitVector<uint64_t> row_ids;  // row addresses (fragment_id << 32 | offset), or stable row ids
  core::UninitVector<uint32_t> offsets;  // each row's physical offset in the fragment (its place, whatever its id)
};

struct StreamOptions {
  size_t batch_bytes = 4 << 20;
  std::vector<uint64_t> fragment_ids;  // empty = every fragment, in manifest order
};

struct StreamStats {
  uint64_t rows = 0;          // vectors returned
  uint64_t null_rows = 0;     // skipped: null vector
  uint64_t deleted_rows = 0;  // skipped: deleted
};

// Starts reading the start of fragment `index`'s files that hold `column` in the background (an
// object store's round trips overlap the work before it is read; nothing for local files).
void prefetch_fragment(const Dataset& dataset, const VectorColumn& column, size_t index);

class VectorStream {
 public:
  static Result<std::unique_ptr<VectorStream>> open(std::shared_ptr<const Dataset> dataset, const std::string& column,
                                                    StreamOptions options = {});
  ~VectorStream();
  // Fills `batch` with the next non-empty batch; false at the end.
  Result<bool> next(VectorBatch* batch);
  const StreamStats& stats() const { return stats_; }
  const VectorColumn& column() const { return column_; }

 private:
  struct FragmentCursor;
  VectorStream() = default;
  Status open_fragment(size_t index);

  std::shared_ptr<const Dataset> dataset_;
  VectorColumn column_;
  StreamOptions options_;
  std::vector<size_t> fragment_order_;  // indexes into dataset_->fragments()
  size_t next_fragment_ = 0;
  std::unique_ptr<FragmentCursor> cursor_;
  StreamStats stats_;
  std::vector<uint8_t> valid_;
};

}  // namespace lancer::dataset

// One encode task's rows for the merge in a one-pass build: the task left only the partition
// of each row (task_labels.h), so a partition's rows are read from the dataset at their
// places (dataset::take_located_rows) and encoded here, as the encode task would have
// encoded them (converted to float32, normalised for cosine, Codec::encode with the same
// partition). The rows of a partition come in the task's stream order, as from its spill:
// the index bytes are the same. Memory: 4 bytes per indexed row of the task (the rows sorted
// by partition), 8 more per physical row where the dataset has stable row ids.
// Thread-safety: TaskRows's (one thread at a time per object; per-thread scratch buffers).
#pragma once

#include <memory>
#include <vector>

#include "dataset/dataset.h"
#include "dataset/fragment.h"
#include "ivf/index_files.h"
#include "pipeline/task_labels.h"
#include "pipeline/task_rows.h"

namespace lancer::pipeline {

class PlacedRows final : public TaskRows {
 public:
  // The rows `labels` places, of the task over `fragment_ids` (the labels hold their physical
  // rows in this order). Opens each fragment's data file once.
  static Result<std::unique_ptr<PlacedRows>> open(std::shared_ptr<const dataset::Dataset> dataset,
                                                  const dataset::VectorColumn& column,
                                                  const std::vector<uint64_t>& fragment_ids,
                                                  std::shared_ptr<const ivf::IndexModel> model,
                                                  const TaskLabels& labels);

  uint64_t rows_in(uint32_t partition) const override { return starts_[partition + 1] - starts_[partition]; }
  Status read_partition(uint32_t partition, uint64_t* ids, uint8_t* storage) const override;
  size_t row_bytes() const override { return model_->storage_row_bytes(); }

 private:
  PlacedRows() = default;
  struct Fragment {
    uint64_t first = 0;  // the task position of its first row
    uint64_t id = 0;
    dataset::ColumnLocation location;
    std::vector<uint64_t> stable_ids;  // empty: a row's id is its address
  };
  std::shared_ptr<const dataset::Dataset> dataset_;
  dataset::VectorColumn column_;
  std::shared_ptr<const ivf::IndexModel> model_;
  std::vector<Fragment> fragments_;
  std::vector<uint64_t> fragment_firsts_;  // fragments_[i].first, and the task's rows last
  std::vector<uint32_t> order_;            // task positions of the indexed rows, by partition, ascending in each
  std::vector<uint64_t> starts_;           // partition p: order_[starts_[p], starts_[p + 1])
  bool stored_as_read_ = false;            // the codec stores the column's bytes unchanged
};

}  // namespace lancer::pipeline

// One fragment of a pinned dataset and the files it owns: where a field's
// column lives (data file and column index, validated against the manifest and
// the file), which rows are deleted (its deletion file) and the row ids of its
// rows (the stable row-id sequence, inline or external, or row addresses).
// The one place that joins a fragment's relative paths to the dataset root.
// A Fragment borrows its Dataset (which must outlive it), loads nothing until
// asked and caches nothing; it is immutable and safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dataset/dataset.h"
#include "lance/file_reader.h"
#include "lancer/status.h"

namespace lancer::dataset {

struct ColumnLocation {
  std::shared_ptr<const lance::LanceFile> file;  // null: no data file holds the field, every row is null
  size_t column = 0;                             // column index in `file`
  std::string where;                             // "data/x.lance column 2 (vector)", or "fragment 3" without a file
};

class Fragment {
 public:
  // Fragment `index` (position in the manifest, not its id) of `dataset`.
  Fragment(const Dataset& dataset, size_t index);

  uint64_t id() const { return info_.id; }
  uint64_t physical_rows() const { return info_.physical_rows; }
  const FragmentInfo& info() const { return info_; }

  // Opens the data file holding `column`. Corruption (naming the data file)
  // when a file's `fields` and `column_indices` differ in length or hold an
  // invalid field id, when the field maps to no column or to a column the file
  // lacks, or when its pages do not hold exactly physical_rows() rows.
  Result<ColumnLocation> locate(const VectorColumn& column) const;

  // The deleted physical offsets, sorted and unique (empty without a deletion file).
  Result<std::vector<uint32_t>> deletions() const;

  // With stable row ids, the id of every physical row (physical_rows() of
  // them, from the inline or external row-id sequence); without, empty: a
  // row's id is then its address().
  Result<std::vector<uint64_t>> stable_row_ids() const;
  uint64_t address(uint64_t offset) const { return (info_.id << 32) | offset; }

 private:
  const Dataset& dataset_;
  const FragmentInfo& info_;
  const ::lance::table::DataFragment& proto_;
};

// The id of physical row `offset` of fragment `fragment_id`: its stable id where the fragment has
// them (`stable_ids`, from Fragment::stable_row_ids()), else its address.
inline uint64_t row_id(uint64_t fragment_id, std::span<const uint64_t> stable_ids, uint64_t offset) {
  return stable_ids.empty() ? (fragment_id << 32) | offset : stable_ids[offset];
}

}  // namespace lancer::dataset

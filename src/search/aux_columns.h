// Row-range reads over the columns of an index segment's auxiliary.idx
// (`_rowid` and the storage columns: `flat`, `__sq_code`, `__pq_code`, or
// RQ's codes and float32 factors), for
// every file version Lance or lancer writes them in (2.0, 2.1, 2.2): pages are
// opened lazily with lance::U64PageReader / lance::VectorPageReader, so a read
// may span pages and each page may have its own layout. Not thread-safe (the
// page readers cache one decoded chunk); one AuxColumn per searching thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "lance/f32_page.h"
#include "lance/file_reader.h"
#include "lance/u64_page.h"
#include "lance/vector_page.h"
#include "lancer/status.h"

namespace lancer::search {

class AuxColumn {
 public:
  // A non-null uint64 column (`_rowid`): rows of 8 bytes.
  static Result<AuxColumn> open_u64(std::shared_ptr<const lance::LanceFile> file, size_t column);
  // A non-null fixed-size-list column of `type`: rows of type.row_bytes().
  static Result<AuxColumn> open_fsl(std::shared_ptr<const lance::LanceFile> file, size_t column,
                                    lance::VectorType type);
  // A non-null float32 column (RQ's factors): rows of 4 bytes (lance::F32PageReader).
  static Result<AuxColumn> open_f32(std::shared_ptr<const lance::LanceFile> file, size_t column);

  uint64_t num_rows() const { return page_first_.back(); }
  size_t row_bytes() const { return row_bytes_; }
  // Rows [start, start + count) into `out` (count * row_bytes() bytes).
  Status read(uint64_t start, uint64_t count, uint8_t* out);

 private:
  AuxColumn() = default;
  Status init(std::shared_ptr<const lance::LanceFile> file, size_t column);
  Status read_page(size_t page, uint64_t from, uint64_t count, uint8_t* out);

  std::shared_ptr<const lance::LanceFile> file_;
  size_t column_ = 0;
  bool is_u64_ = true;
  bool is_f32_ = false;

  lance::VectorType type_;
  size_t row_bytes_ = 8;
  std::vector<uint64_t> page_first_;  // first row of each page, then the total
  std::vector<std::unique_ptr<lance::U64PageReader>> u64_pages_;
  std::vector<std::unique_ptr<lance::VectorPageReader>> fsl_pages_;
  std::vector<std::unique_ptr<lance::F32PageReader>> f32_pages_;
  std::vector<uint8_t> valid_;
};

}  // namespace lancer::search

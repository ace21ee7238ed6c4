// Decoding one page of a non-null uint64 column: the `_rowid` column of an
// index's auxiliary.idx, in every layout Lance writes for it (format notes
// 2.7, 2.8; docs/index-format.md): 2.0 `flat{64}`; 2.1/2.2 mini-block with
// `flat{64}`, `inline_bitpacking{64}` or `out_of_line_bitpacking{64}` values,
// full-zip `flat{64}`, and constant pages with an 8-byte inline value.
// Anything else (nulls, general compression, RLE, dictionaries) is refused by
// name. Not thread-safe: a reader caches one decoded mini-block chunk.
#pragma once

#include <cstdint>
#include <memory>

#include "lance/file_reader.h"
#include "lancer/status.h"

namespace lancer::lance {

class U64PageReader {
 public:
  virtual ~U64PageReader() = default;
  // Validates the page's encoding and buffer sizes.
  static Result<std::unique_ptr<U64PageReader>> open(const LanceFile& file, size_t column, size_t page);

  uint64_t num_rows() const { return num_rows_; }
  // Rows [start, start + count) of the page into `out`.
  virtual Status read(uint64_t start, uint64_t count, uint64_t* out) = 0;

 protected:
  U64PageReader(const LanceFile& file, uint64_t num_rows) : file_(file), num_rows_(num_rows) {}
  const LanceFile& file_;
  uint64_t num_rows_;
};

}  // namespace lancer::lance

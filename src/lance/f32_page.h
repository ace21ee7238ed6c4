// Decoding one page of a non-null float32 scalar column: RQ's factor columns
// (`__add_factors`, ...) in an index's auxiliary.idx, in the layouts lancer
// and Lance 14 write them: 2.0 `flat{32}`; 2.1/2.2 mini-block with `flat{32}`
// or `inline_bitpacking{32}` values (the float bits packed as integers), and
// constant pages with a 4-byte inline value. Anything else (nulls, general
// compression, full-zip) is refused by name. Not thread-safe: a reader caches
// one decoded mini-block chunk.
#pragma once

#include <cstdint>
#include <memory>

#include "lance/file_reader.h"
#include "lancer/status.h"

namespace lancer::lance {

class F32PageReader {
 public:
  virtual ~F32PageReader() = default;
  // Validates the page's encoding and buffer sizes.
  static Result<std::unique_ptr<F32PageReader>> open(const LanceFile& file, size_t column, size_t page);

  // Rows [start, start + count) of the page into `out`, as their 4-byte patterns.
  virtual Status read(uint64_t start, uint64_t count, uint32_t* out) = 0;

 protected:
  explicit F32PageReader(const LanceFile& file) : file_(file) {}
  const LanceFile& file_;
};

}  // namespace lancer::lance

// Decoding one page of a FixedSizeList<float32|float16|uint8, dim> column, for
// file versions 2.0 (ArrayEncoding) and 2.1/2.2 (PageLayout: flat, full-zip,
// mini-block, all-null constant). Everything else is refused by name (format
// notes 2.9). Readers fetch only the byte ranges a read needs, so memory does
// not grow with the page size. Not thread-safe (caches one mini-block chunk).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "lance/file_reader.h"
#include "lancer/status.h"
#include "simd/convert.h"

namespace lancer::lance {

// The element types live with their conversion to float32 (simd/convert.h).
using ElementType = simd::ElementType;

size_t element_size(ElementType type);
// Lance's logical type name: "float", "halffloat", "uint8".
const char* element_type_name(ElementType type);

struct VectorType {
  ElementType element = ElementType::kFloat32;
  uint32_t dim = 0;
  size_t row_bytes() const { return element_size(element) * dim; }
};

// Parses "fixed_size_list:<float|halffloat|uint8>:<dim>"; anything else is NotSupported.
Result<VectorType> parse_vector_logical_type(const std::string& logical_type);

class VectorPageReader {
 public:
  virtual ~VectorPageReader() = default;
  // Validates the page's encoding and buffer sizes against `type`.
  static Result<std::unique_ptr<VectorPageReader>> open(const LanceFile& file, size_t column, size_t page,
                                                        VectorType type);

  uint64_t num_rows() const { return num_rows_; }
  // Rows [start, start + count): row bytes into `values` (row_bytes apart;
  // null rows hold unspecified bytes) and 1 (valid) / 0 (null) into `valid`.
  virtual Status read(uint64_t start, uint64_t count, uint8_t* values, uint8_t* valid) = 0;

 protected:
  VectorPageReader(const LanceFile& file, uint64_t num_rows, VectorType type)
      : file_(file), num_rows_(num_rows), type_(type) {}
  const LanceFile& file_;
  uint64_t num_rows_;
  VectorType type_;
};

}  // namespace lancer::lance

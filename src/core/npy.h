// NumPy .npy (format 1.0) files: a streaming writer whose row count is fixed
// up at close, for exports of unknown length. Little-endian dtypes only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "lancer/status.h"

namespace lancer::core {

struct NpyArray {
  std::string descr;            // "<f4", "|u1", ...
  std::vector<uint64_t> shape;  // C order
  std::vector<uint8_t> data;
};

// Reads a C-order .npy file (format 1.x-3.x); errors name the path.
// The .npy file held in `bytes`; errors name `path`.
Result<NpyArray> parse_npy(std::vector<uint8_t> bytes, const std::string& path);

class NpyWriter {
 public:
  // `descr` is a NumPy type string: "<f4", "<f2", "|u1", "<u8". `row_shape`
  // is the shape after the first (row) axis: {dim} for a matrix, {} for a vector.
  static Result<NpyWriter> create(const std::string& path, std::string descr, std::vector<uint64_t> row_shape);
  NpyWriter(NpyWriter&& other) noexcept;
  NpyWriter& operator=(NpyWriter&& other) noexcept;
  ~NpyWriter();

  Status append(const void* data, uint64_t rows);
  // Rewrites the header with the final row count and closes the file.
  Status close();

 private:
  NpyWriter(std::string path, std::FILE* f, std::string descr, std::vector<uint64_t> row_shape, size_t row_bytes);
  std::string header(uint64_t rows) const;

  std::string path_;
  std::FILE* file_;
  std::string descr_;
  std::vector<uint64_t> row_shape_;
  size_t row_bytes_;
  uint64_t rows_ = 0;
};

}  // namespace lancer::core

// Lance v2 file container (format notes section 2): footer, offset tables,
// schema (global buffer 0) and column metadata. Opening validates every
// offset against the file size; pages are decoded elsewhere (vector_page.h).
// A LanceFile is immutable after open and safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "file.pb.h"
#include "lancer/status.h"
#include "storage/file_io.h"

namespace lancer::lance {

// Normalised file version: footer (0,3) and (2,0) are both {2, 0}.
struct FileVersion {
  uint16_t major = 0;
  uint16_t minor = 0;
  std::string to_string() const { return std::to_string(major) + "." + std::to_string(minor); }
  bool operator==(const FileVersion&) const = default;
};

struct BufferRange {
  uint64_t offset = 0;
  uint64_t size = 0;
};

struct PageInfo {
  uint64_t num_rows = 0;
  std::vector<BufferRange> buffers;
  std::string encoding_type_url;  // "/lance.encodings.ArrayEncoding" or "/lance.encodings21.PageLayout"
  std::string encoding;           // the serialized message the URL names
};

struct ColumnInfo {
  std::vector<PageInfo> pages;
};

class LanceFile {
 public:
  // `display_name` is what errors call the file (a dataset-relative path). `size_hint` (the
  // manifest's, 0 = unknown) spares an object store the request for the size.
  static Result<std::shared_ptr<const LanceFile>> open(const std::string& path, const std::string& display_name,
                                                       uint64_t size_hint = 0);

  const std::string& name() const { return name_; }
  const storage::RandomAccessFile& file() const { return *file_; }
  FileVersion version() const { return version_; }
  uint64_t num_rows() const { return descriptor_.length(); }
  const ::lance::file::Schema& schema() const { return descriptor_.schema(); }
  size_t num_columns() const { return columns_.size(); }
  const ColumnInfo& column(size_t i) const { return columns_[i]; }
  size_t num_global_buffers() const { return global_buffers_.size(); }
  Result<std::vector<uint8_t>> read_global_buffer(size_t i) const;

 private:
  LanceFile() = default;
  Status parse(uint64_t size);
  Status check_no_overlap() const;

  std::string name_;
  std::shared_ptr<storage::RandomAccessFile> file_;
  FileVersion version_;
  std::vector<BufferRange> global_buffers_;
  ::lance::file::FileDescriptor descriptor_;
  std::vector<ColumnInfo> columns_;
};

}  // namespace lancer::lance

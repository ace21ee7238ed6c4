// Writes Lance v2 files in format 2.0 (footer (0,3), plain Flat pages), the
// layout lancer uses for index files because Lance 10 and 14 both read it in
// datasets of every version (format notes 5.1, 5.9). Every buffer is padded to
// 64 bytes with 0x48; the schema is written last. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "file.pb.h"
#include "lancer/status.h"

namespace lancer::storage {
class OutputFile;
}

namespace lancer::lance {

class LanceFileWriter {
 public:
  // Creates (replaces) `path`, a local path or object-store URI, visible whole after finish(); `num_columns` top-level
  // columns.
  static Result<std::unique_ptr<LanceFileWriter>> create(const std::string& path, size_t num_columns);
  ~LanceFileWriter();
  // storage::OutputFile::forget_written: the file's bytes are not read back soon.
  void forget_written();

  // Writes a global buffer at the current position; returns its GBO index (1, 2, ...).
  Result<uint32_t> add_global_buffer(const void* data, size_t size);
  // Appends a page of `rows` non-null fixed-width values to `column`: a uint64
  // (bits 64, dim 0) or a fixed_size_list of `dim` items of `bits` bits.
  Status append_flat_page(size_t column, uint64_t rows, uint32_t bits, uint32_t dim, const void* data, size_t size);
  // Appends a page of `rows` non-null lists to the list column `column` (its
  // items are the next column's pages, written with append_flat_page):
  // `end_offsets` holds each list's end, counted in items from the first item
  // of this page, without the leading 0 (format 2.0 list encoding).
  Status append_list_page(size_t column, uint64_t rows, const uint64_t* end_offsets);
  // Writes schema, column metadata, offset tables and footer; closes the file.
  // Returns the file size.
  Result<uint64_t> finish(const ::lance::file::Schema& schema, uint64_t num_rows);

 private:
  struct Page {
    uint64_t offset, size, rows;
    std::string encoding;  // serialized Any
  };
  LanceFileWriter(std::string path, std::unique_ptr<storage::OutputFile> file, size_t num_columns);
  Result<uint64_t> write_padded(const void* data, size_t size);
  Status write_raw(const void* data, size_t size);

  std::string path_;
  std::unique_ptr<storage::OutputFile> file_;
  uint64_t position_ = 0;
  std::vector<std::vector<Page>> columns_;
  std::vector<std::pair<uint64_t, uint64_t>> global_buffers_;  // GBO 1.. (0 is the schema)
};

// Schema field helpers for index files (format notes 2.5): parent_id -1, legacy encoding PLAIN.
::lance::file::Field make_field(int32_t id, const std::string& name, const std::string& logical_type, bool nullable);
// A list<item> column: the "list" field `id` and its child `item` (`id` + 1, nullable), as Lance writes them.
std::vector<::lance::file::Field> make_list_fields(int32_t id, const std::string& name,
                                                   const std::string& item_logical_type);

}  // namespace lancer::lance

// The two backends behind file_io.h, with the same functions: posix:: for local paths,
// object_store:: for URIs of object stores (the Rust bridge; without it every call says so).
#pragma once

#include "storage/file_io.h"

namespace lancer::storage {

#define LANCER_STORAGE_BACKEND_FUNCTIONS                                                                     \
  Result<std::shared_ptr<RandomAccessFile>> open_file(const std::string& uri, std::optional<uint64_t> size); \
  Result<std::unique_ptr<OutputFile>> create_output(const std::string& uri);                                 \
  Result<std::vector<uint8_t>> read_whole_file(const std::string& uri);                                      \
  Status write_file_atomic(const std::string& uri, std::span<const uint8_t> bytes);                          \
  Result<bool> create_file_exclusive(const std::string& uri, const std::string& bytes);                      \
  Result<uint64_t> file_size(const std::string& uri);                                                        \
  bool is_directory(const std::string& uri);                                                                 \
  Result<std::vector<std::string>> list_directory(const std::string& uri);                                   \
  Status make_directories(const std::string& uri);                                                           \
  Status remove_file(const std::string& uri);                                                                \
  Status remove_tree(const std::string& uri, const std::vector<std::string>& keep);

namespace posix {
LANCER_STORAGE_BACKEND_FUNCTIONS
}
namespace object_store {
Status configure(const std::string& uri, const StorageOptions& options);
void prefetch(const std::string& uri, uint64_t size, std::span<const std::pair<uint64_t, uint64_t>> ranges);
LANCER_STORAGE_BACKEND_FUNCTIONS
}  // namespace object_store

#undef LANCER_STORAGE_BACKEND_FUNCTIONS

// For the backends: RandomAccessFile's protected constructor.
class BackendFile : public RandomAccessFile {
 protected:
  using RandomAccessFile::RandomAccessFile;
};

}  // namespace lancer::storage

// Local/shared POSIX file access. RandomAccessFile reads byte ranges with
// pread and is safe to share between threads; every error names the path.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lancer/status.h"

namespace lancer::core {

class RandomAccessFile {
 public:
  static Result<std::shared_ptr<RandomAccessFile>> open(const std::string& path);
  ~RandomAccessFile();
  RandomAccessFile(const RandomAccessFile&) = delete;
  RandomAccessFile& operator=(const RandomAccessFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  // Reads exactly `length` bytes at `offset` into `out`; a range past the end
  // of the file is Corruption ("...wants bytes [a, b) of a file of n bytes").
  Status read_at(uint64_t offset, uint64_t length, void* out) const;
  Result<std::vector<uint8_t>> read_range(uint64_t offset, uint64_t length) const;

 private:
  RandomAccessFile(std::string path, int fd, uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}
  std::string path_;
  int fd_;
  uint64_t size_;
};

Result<std::vector<uint8_t>> read_whole_file(const std::string& path);
bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
// Names (not paths) of the entries of a directory; NotFound if it is missing.
Result<std::vector<std::string>> list_directory(const std::string& path);
std::string join_path(const std::string& a, const std::string& b);

}  // namespace lancer::core

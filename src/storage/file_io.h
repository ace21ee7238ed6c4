// The storage layer every stage reads and writes through (docs/storage.md). A location is a
// local path, a file:// URI or an object-store URI (s3://, gs://, az://, abfss://, memory://);
// each function picks the backend from it. Object stores take the options registered for their
// bucket with configure() (Lance's storage_options, environment variables filling in the rest).
// Every error names the location; none carries a credential.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lancer/status.h"

namespace lancer::storage {

using StorageOptions = std::map<std::string, std::string>;

// Registers the options of the store holding `uri` (its scheme://bucket); later calls replace
// them. Local paths need none.
Status configure(const std::string& uri, const StorageOptions& options);
// OK for a local path, file:// and the object-store schemes; NotSupported, naming the scheme and
// why, for any other (s3+ddb://, whose DynamoDB commit lancer does not implement, and unknown ones).
Status check_scheme(const std::string& uri);
// True for s3://, gs://, az:// and the other object-store schemes.
bool is_object_store(const std::string& uri);
// Whether this build has the object-store backend (LANCER_OBJECT_STORE).
bool object_store_available();

struct ReadRequest {
  uint64_t offset = 0;
  uint64_t length = 0;
  void* out = nullptr;
};

// Byte ranges of one immutable file; safe to share between threads.
class RandomAccessFile {
 public:
  static Result<std::shared_ptr<RandomAccessFile>> open(const std::string& uri);
  // `size` known (from a manifest): no request to learn it.
  static Result<std::shared_ptr<RandomAccessFile>> open(const std::string& uri, uint64_t size);
  virtual ~RandomAccessFile() = default;
  RandomAccessFile(const RandomAccessFile&) = delete;
  RandomAccessFile& operator=(const RandomAccessFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  // Reads exactly `length` bytes at `offset`; a range past the end is Corruption
  // ("...wants bytes [a, b) of a file of n bytes").
  Status read_at(uint64_t offset, uint64_t length, void* out) const;
  // Many ranges at once: on an object store coalesced and fetched concurrently, as Lance does.
  Status read_many(std::span<const ReadRequest> requests) const;
  Result<std::vector<uint8_t>> read_range(uint64_t offset, uint64_t length) const;

 protected:
  RandomAccessFile(std::string path, uint64_t size) : path_(std::move(path)), size_(size) {}
  virtual Status read_checked(std::span<const ReadRequest> requests) const = 0;

 private:
  Status check(const ReadRequest& r) const;
  std::string path_;
  uint64_t size_;
};

// A file written front to back. On an object store it appears whole at finish() (one PUT or a
// multipart upload) and never if destroyed unfinished; a local file is written in place and
// fsynced by finish(), so callers write temporary names or remove what a failure leaves.
class OutputFile {
 public:
  static Result<std::unique_ptr<OutputFile>> create(const std::string& uri);
  virtual ~OutputFile() = default;
  virtual Status write(const void* data, size_t size) = 0;
  virtual Status finish() = 0;
  // A hint: what is written from now on is not read back soon, so a local file lets the page
  // cache forget it once it is on disk (a build writing auxiliary.idx keeps the dataset it reads
  // in the cache instead). Nothing for object stores.
  virtual void forget_written() {}
  uint64_t written() const { return written_; }

 protected:
  uint64_t written_ = 0;
};

// Starts fetching byte ranges (offset, length) of the file at `uri` (of `size` bytes) in the
// background, so that a RandomAccessFile::open of the same uri soon after finds them there
// (object stores; nothing to do for local files). Best effort: errors surface on the real read.
void prefetch(const std::string& uri, uint64_t size, std::span<const std::pair<uint64_t, uint64_t>> ranges);

Result<std::vector<uint8_t>> read_whole_file(const std::string& uri);
// Replaces `uri` with `bytes` so that readers see the old or the new file whole (local: a
// temporary name, fsync, rename; object stores: one PUT).
Status write_file_atomic(const std::string& uri, std::span<const uint8_t> bytes);
Status write_file_atomic(const std::string& uri, const std::string& bytes);
// Creates `uri` only if nothing is there (local: link(2); object stores: PUT If-None-Match: *).
// false: it existed and nothing was written.
Result<bool> create_file_exclusive(const std::string& uri, const std::string& bytes);
// Size of the file at `uri`; NotFound when there is none.
Result<uint64_t> file_size(const std::string& uri);
bool path_exists(const std::string& uri);
// Local: a directory. Object stores: a prefix with at least one object under it.
bool is_directory(const std::string& uri);
// Names (not paths) of the entries of a directory or prefix; NotFound if it is missing.
Result<std::vector<std::string>> list_directory(const std::string& uri);
// Creates a directory and its parents (object stores: nothing to do).
Status make_directories(const std::string& uri);
// Removes one file; a missing one is fine.
Status remove_file(const std::string& uri);
// Removes a directory (prefix) and everything under it but the files that `keep` names directly
// in it; a missing one is fine.
Status remove_tree(const std::string& uri, const std::vector<std::string>& keep = {});
std::string join_path(const std::string& a, const std::string& b);
// The parent of a path or URI ("s3://b/x/y" -> "s3://b/x").
std::string parent_path(const std::string& uri);
// A local path for file:// URIs and plain paths; empty for object stores.
std::string local_path(const std::string& uri);
// `path` + ".tmp_" + a random suffix: a name beside `path` that no other writer uses (another
// process, another thread of this one, or an older attempt still running), for files written
// locally and then renamed into place.
std::string temporary_path(const std::string& path);

}  // namespace lancer::storage

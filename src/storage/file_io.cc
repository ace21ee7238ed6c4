#include "storage/file_io.h"

#include <algorithm>
#include <atomic>

#include "core/uuid.h"
#include "lancer/storage.h"
#include "storage/backends.h"

namespace lancer::storage {

namespace {

constexpr const char* kObjectSchemes[] = {"s3://",    "s3a://", "gs://",   "gcs://",   "az://",
                                          "azure://", "adl://", "abfs://", "abfss://", "memory://"};

std::string scheme_of(const std::string& uri) {
  const auto p = uri.find("://");
  return p == std::string::npos ? "" : uri.substr(0, p);
}

}  // namespace

Status check_scheme(const std::string& uri) {
  const std::string scheme = scheme_of(uri);
  if (scheme.empty() || scheme == "file" || is_object_store(uri)) return Status::OK();
  if (scheme == "s3+ddb") {
    return Status::NotSupported(uri +
                                ": s3+ddb:// commits through a DynamoDB table, which lancer does not implement; "
                                "it will not commit without it (that could lose a concurrent writer's version)");
  }
  return Status::NotSupported(uri + ": lancer does not know the scheme " + scheme +
                              ":// (it takes local paths, file://, s3://, gs://, az://, abfss://)");
}

bool is_object_store(const std::string& uri) {
  return std::any_of(std::begin(kObjectSchemes), std::end(kObjectSchemes),
                     [&](const char* s) { return uri.starts_with(s); });
}

Status configure(const std::string& uri, const StorageOptions& options) {
  LANCER_RETURN_IF_ERROR(check_scheme(uri));
  // None given: keep what an earlier call registered (the environment fills in the rest).
  if (!is_object_store(uri) || options.empty()) return Status::OK();
  return object_store::configure(uri, options);
}

#define LANCER_DISPATCH(call)                            \
  do {                                                   \
    LANCER_RETURN_IF_ERROR(check_scheme(uri));           \
    if (is_object_store(uri)) return object_store::call; \
    return posix::call;                                  \
  } while (0)

Result<std::shared_ptr<RandomAccessFile>> RandomAccessFile::open(const std::string& uri) {
  LANCER_DISPATCH(open_file(uri, std::nullopt));
}
Result<std::shared_ptr<RandomAccessFile>> RandomAccessFile::open(const std::string& uri, uint64_t size) {
  LANCER_DISPATCH(open_file(uri, size));
}
Result<std::unique_ptr<OutputFile>> OutputFile::create(const std::string& uri) {
  LANCER_DISPATCH(create_output(uri));
}
Result<std::vector<uint8_t>> read_whole_file(const std::string& uri) {
  LANCER_DISPATCH(read_whole_file(uri));
}
Status write_file_atomic(const std::string& uri, std::span<const uint8_t> bytes) {
  LANCER_DISPATCH(write_file_atomic(uri, bytes));
}
Status write_file_atomic(const std::string& uri, const std::string& bytes) {
  return write_file_atomic(uri, std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}
Result<bool> create_file_exclusive(const std::string& uri, const std::string& bytes) {
  LANCER_DISPATCH(create_file_exclusive(uri, bytes));
}
Result<uint64_t> file_size(const std::string& uri) {
  LANCER_DISPATCH(file_size(uri));
}
Result<std::vector<std::string>> list_directory(const std::string& uri) {
  LANCER_DISPATCH(list_directory(uri));
}
Status make_directories(const std::string& uri) {
  LANCER_DISPATCH(make_directories(uri));
}
Status remove_file(const std::string& uri) {
  LANCER_DISPATCH(remove_file(uri));
}
Status remove_tree(const std::string& uri, const std::vector<std::string>& keep) {
  LANCER_DISPATCH(remove_tree(uri, keep));
}
#undef LANCER_DISPATCH

void prefetch(const std::string& uri, uint64_t size, std::span<const std::pair<uint64_t, uint64_t>> ranges) {
  if (is_object_store(uri) && size > 0) object_store::prefetch(uri, size, ranges);
}

bool is_directory(const std::string& uri) {
  if (!check_scheme(uri).ok()) return false;
  return is_object_store(uri) ? object_store::is_directory(uri) : posix::is_directory(uri);
}

bool path_exists(const std::string& uri) {
  return file_size(uri).ok() || is_directory(uri);
}

Status RandomAccessFile::check(const ReadRequest& r) const {
  if (r.offset > size_ || r.length > size_ - r.offset) {
    return Status::Corruption(path_ + ": wants bytes [" + std::to_string(r.offset) + ", " +
                              std::to_string(r.offset + r.length) + ") of a file of " + std::to_string(size_) +
                              " bytes");
  }
  return Status::OK();
}

Status RandomAccessFile::read_at(uint64_t offset, uint64_t length, void* out) const {
  const ReadRequest r{offset, length, out};
  return read_many(std::span(&r, 1));
}

Status RandomAccessFile::read_many(std::span<const ReadRequest> requests) const {
  for (const auto& r : requests) LANCER_RETURN_IF_ERROR(check(r));
  return read_checked(requests);
}

Result<std::vector<uint8_t>> RandomAccessFile::read_range(uint64_t offset, uint64_t length) const {
  LANCER_RETURN_IF_ERROR(check({offset, length, nullptr}));
  std::vector<uint8_t> buf(length);
  LANCER_RETURN_IF_ERROR(read_at(offset, length, buf.data()));
  return buf;
}

std::string join_path(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (a.back() == '/') return a + b;
  return a + "/" + b;
}

std::string parent_path(const std::string& uri) {
  std::string s = uri;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  const auto slash = s.rfind('/');
  const auto scheme_end = s.find("://");
  if (slash == std::string::npos) return ".";
  if (scheme_end != std::string::npos && slash < scheme_end + 3) return s;  // the bucket itself
  if (slash == 0) return "/";
  return s.substr(0, slash);
}

std::string temporary_path(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return path + ".tmp_" + core::uuid_to_string(core::random_uuid_bytes()).substr(0, 8) + "_" +
         std::to_string(counter++);
}

std::string local_path(const std::string& uri) {
  if (uri.starts_with("file://")) return uri.substr(7);
  if (uri.find("://") != std::string::npos) return "";
  return uri;
}

}  // namespace lancer::storage

namespace lancer {

Status set_storage_options(const std::string& uri, const StorageOptions& options) {
  return storage::configure(uri, options);
}

Status set_default_storage_options(const StorageOptions& options) {
  if (options.empty()) return Status::OK();
  return storage::object_store::configure("", options);
}

Status write_file(const std::string& uri, const std::string& bytes) {
  LANCER_RETURN_IF_ERROR(storage::make_directories(storage::parent_path(uri)));
  return storage::write_file_atomic(uri, bytes);
}

Status remove_file(const std::string& uri) {
  return storage::remove_file(uri);
}

Status remove_tree(const std::string& uri) {
  return storage::remove_tree(uri);
}

bool object_store_supported() {
  return storage::object_store_available();
}

}  // namespace lancer

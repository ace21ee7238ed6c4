// The object-store backend of a build without the Rust bridge (LANCER_OBJECT_STORE=OFF): every
// call names the URI and how to get a build that reaches it.
#include "storage/backends.h"

namespace lancer::storage {

bool object_store_available() {
  return false;
}

namespace object_store {

namespace {
Status disabled(const std::string& uri) {
  return Status::NotSupported(uri +
                              ": this lancer was built without object-store support "
                              "(cmake -DLANCER_OBJECT_STORE=ON, which needs cargo)");
}
}  // namespace

Status configure(const std::string& uri, const StorageOptions&) {
  return disabled(uri);
}
void prefetch(const std::string&, uint64_t, std::span<const std::pair<uint64_t, uint64_t>>) {}
Result<std::shared_ptr<RandomAccessFile>> open_file(const std::string& uri, std::optional<uint64_t>) {
  return disabled(uri);
}
Result<std::unique_ptr<OutputFile>> create_output(const std::string& uri) {
  return disabled(uri);
}
Result<std::vector<uint8_t>> read_whole_file(const std::string& uri) {
  return disabled(uri);
}
Status write_file_atomic(const std::string& uri, std::span<const uint8_t>) {
  return disabled(uri);
}
Result<bool> create_file_exclusive(const std::string& uri, const std::string&) {
  return disabled(uri);
}
Result<uint64_t> file_size(const std::string& uri) {
  return disabled(uri);
}
bool is_directory(const std::string&) {
  return false;
}
Result<std::vector<std::string>> list_directory(const std::string& uri) {
  return disabled(uri);
}
Status make_directories(const std::string& uri) {
  return disabled(uri);
}
Status remove_file(const std::string& uri) {
  return disabled(uri);
}
Status remove_tree(const std::string& uri, const std::vector<std::string>&) {
  return disabled(uri);
}

}  // namespace object_store
}  // namespace lancer::storage

// Object stores through the Rust bridge (object_store_bridge/): one opened store per
// scheme://bucket, shared by every thread, opened with the options configure() registered.
#include <algorithm>
#include <cstring>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "storage/backends.h"
#include "storage/object_store_bridge/lancer_object_store.h"

namespace lancer::storage {

bool object_store_available() { return true; }

namespace object_store {

namespace {

struct Location {
  std::string root;  // scheme://bucket
  std::string key;   // path inside the bucket, no leading or trailing '/'
};

Location split(const std::string& uri) {
  const auto scheme_end = uri.find("://");
  const auto slash = uri.find('/', scheme_end + 3);
  Location loc;
  loc.root = uri.substr(0, slash);
  std::string rest = slash == std::string::npos ? "" : uri.substr(slash + 1);
  std::string key;
  for (char c : rest) {
    if (c == '/' && (key.empty() || key.back() == '/')) continue;
    key.push_back(c);
  }
  while (!key.empty() && key.back() == '/') key.pop_back();
  loc.key = key;
  return loc;
}

// Owns a bridge message.
std::string take_message(char* err) {
  std::string m = err ? err : "unknown error";
  lancer_os_free_string(err);
  return m;
}

Status to_status(int code, char* err, const std::string& uri) {
  std::string m = uri + ": " + take_message(err);
  switch (code) {
    case LOS_NOT_FOUND: return Status::NotFound(m);
    case LOS_INVALID: return Status::InvalidArgument(m);
    case LOS_NOT_SUPPORTED: return Status::NotSupported(m);
    case LOS_ALREADY_EXISTS: return Status::Conflict(m);
    case LOS_PERMISSION: return Status::IOError(m + " (check the credentials in the storage options)");
    default:
      if (m.find("403 Forbidden") != std::string::npos || m.find("401 Unauthorized") != std::string::npos) {
        m += " (check the credentials in the storage options or the environment)";
      }
      return Status::IOError(m);
  }
}

class Handle {
 public:
  explicit Handle(lancer_os_store* s) : store_(s) {}
  ~Handle() { lancer_os_close(store_); }
  const lancer_os_store* get() const { return store_; }

 private:
  lancer_os_store* store_;
};

struct Registry {
  std::mutex mu;
  std::unordered_map<std::string, StorageOptions> options;
  std::unordered_map<std::string, std::shared_ptr<Handle>> stores;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: stores may be used at exit
  return *r;
}

Result<std::shared_ptr<Handle>> store_for(const std::string& root) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  if (auto it = r.stores.find(root); it != r.stores.end()) return it->second;
  std::vector<const char*> keys, values;
  auto named = r.options.find(root);
  const StorageOptions& opts = named != r.options.end() ? named->second : r.options[""];
  for (const auto& [k, v] : opts) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  lancer_os_store* s = nullptr;
  char* err = nullptr;
  const int rc = lancer_os_open(root.c_str(), keys.data(), values.data(), keys.size(), &s, &err);
  if (rc != LOS_OK) return to_status(rc, err, root);
  auto h = std::make_shared<Handle>(s);
  r.stores[root] = h;
  return h;
}

// Reads go through a small per-file cache of aligned blocks: a scan that reads a column page by
// page (or a decoder that reads a chunk at a time) costs one request per block, not per read,
// and a miss that continues the previous one also fetches the next blocks, in the same round
// trip (the bridge sends the ranges concurrently).
constexpr uint64_t kBlock = 4u << 20;
constexpr size_t kMaxBlocks = 8;      // per file: 32 MiB
constexpr uint64_t kReadAhead = 3;    // blocks fetched past a sequential miss

class ObjectFile final : public BackendFile {
 public:
  ObjectFile(std::string uri, uint64_t size, std::shared_ptr<Handle> h, std::string key)
      : BackendFile(std::move(uri), size), handle_(std::move(h)), key_(std::move(key)) {}

 protected:
  Status read_checked(std::span<const ReadRequest> requests) const override {
    // Large reads bypass the cache: they are requests of their own already.
    std::vector<ReadRequest> direct;
    std::vector<const ReadRequest*> cached;
    for (const auto& r : requests) {
      if (r.length == 0) continue;
      (r.length >= kBlock ? direct.push_back(r) : cached.push_back(&r));
    }
    if (!direct.empty()) LANCER_RETURN_IF_ERROR(fetch(direct));
    if (cached.empty()) return Status::OK();
    std::lock_guard lock(mu_);
    std::vector<uint64_t> missing;
    for (const ReadRequest* r : cached) {
      for (uint64_t b = r->offset / kBlock; b <= (r->offset + r->length - 1) / kBlock; ++b) {
        if (!blocks_.count(b) && std::find(missing.begin(), missing.end(), b) == missing.end()) missing.push_back(b);
      }
    }
    if (!missing.empty()) {
      const uint64_t last_block = (size() - 1) / kBlock;
      std::sort(missing.begin(), missing.end());
      if (missing.front() == next_block_) {  // sequential: read ahead
        for (uint64_t b = missing.back() + 1; b <= std::min(last_block, missing.back() + kReadAhead); ++b) {
          if (!blocks_.count(b)) missing.push_back(b);
        }
      }
      std::vector<std::vector<uint8_t>> data(missing.size());
      std::vector<ReadRequest> reads;
      for (size_t i = 0; i < missing.size(); ++i) {
        const uint64_t start = missing[i] * kBlock, len = std::min(kBlock, size() - start);
        data[i].resize(len);
        reads.push_back({start, len, data[i].data()});
      }
      LANCER_RETURN_IF_ERROR(fetch(reads));
      for (size_t i = 0; i < missing.size(); ++i) {
        blocks_[missing[i]] = std::move(data[i]);
        order_.push_back(missing[i]);
      }
      next_block_ = missing.back() + 1;
    }
    for (const ReadRequest* r : cached) {
      uint64_t at = r->offset;
      auto* out = static_cast<uint8_t*>(r->out);
      while (at < r->offset + r->length) {
        const uint64_t b = at / kBlock, in = at - b * kBlock;
        const auto& block = blocks_.at(b);
        const uint64_t n = std::min<uint64_t>(block.size() - in, r->offset + r->length - at);
        std::memcpy(out + (at - r->offset), block.data() + in, n);
        at += n;
      }
    }
    while (order_.size() > kMaxBlocks) {
      blocks_.erase(order_.front());
      order_.pop_front();
    }
    return Status::OK();
  }

 private:
  Status fetch(const std::vector<ReadRequest>& requests) const {
    std::vector<uint64_t> starts, lens;
    std::vector<uint8_t*> outs;
    for (const auto& r : requests) {
      starts.push_back(r.offset);
      lens.push_back(r.length);
      outs.push_back(static_cast<uint8_t*>(r.out));
    }
    char* err = nullptr;
    const int rc =
        lancer_os_get_ranges(handle_->get(), key_.c_str(), starts.size(), starts.data(), lens.data(), outs.data(), &err);
    if (rc != LOS_OK) return to_status(rc, err, path());
    return Status::OK();
  }

  std::shared_ptr<Handle> handle_;
  std::string key_;
  mutable std::mutex mu_;
  mutable std::unordered_map<uint64_t, std::vector<uint8_t>> blocks_;
  mutable std::deque<uint64_t> order_;  // oldest first
  mutable uint64_t next_block_ = 0;
};

// Small writes are gathered here before they cross into the bridge.
constexpr size_t kWriteBuffer = 1 << 20;

class ObjectOutput final : public OutputFile {
 public:
  ObjectOutput(std::string uri, std::shared_ptr<Handle> h, lancer_os_writer* w)
      : uri_(std::move(uri)), handle_(std::move(h)), writer_(w) {}
  ~ObjectOutput() override { lancer_os_writer_free(writer_); }
  Status write(const void* data, size_t size) override {
    const auto* p = static_cast<const uint8_t*>(data);
    if (buffer_.size() + size > kWriteBuffer) LANCER_RETURN_IF_ERROR(flush());
    if (size >= kWriteBuffer) {
      LANCER_RETURN_IF_ERROR(send(p, size));
    } else {
      buffer_.insert(buffer_.end(), p, p + size);
    }
    written_ += size;
    return Status::OK();
  }
  Status finish() override {
    LANCER_RETURN_IF_ERROR(flush());
    char* err = nullptr;
    const int rc = lancer_os_writer_finish(writer_, &err);
    if (rc != LOS_OK) return to_status(rc, err, uri_);
    return Status::OK();
  }

 private:
  Status flush() {
    if (buffer_.empty()) return Status::OK();
    Status s = send(buffer_.data(), buffer_.size());
    buffer_.clear();
    return s;
  }
  Status send(const uint8_t* p, size_t n) {
    char* err = nullptr;
    const int rc = lancer_os_writer_write(writer_, p, n, &err);
    if (rc != LOS_OK) return to_status(rc, err, uri_);
    return Status::OK();
  }
  std::string uri_;
  std::shared_ptr<Handle> handle_;
  lancer_os_writer* writer_;
  std::vector<uint8_t> buffer_;
};

struct Listed {
  std::vector<std::pair<std::string, bool>> entries;  // key, is_prefix
};

void on_listed(void* ctx, const char* key, uint64_t, int is_prefix) {
  static_cast<Listed*>(ctx)->entries.emplace_back(key, is_prefix != 0);
}

Result<Listed> list(const std::string& uri, bool recursive) {
  const Location loc = split(uri);
  LANCER_ASSIGN_OR_RETURN(auto h, store_for(loc.root));
  Listed listed;
  char* err = nullptr;
  const int rc = lancer_os_list(h->get(), loc.key.c_str(), recursive ? 1 : 0, on_listed, &listed, &err);
  if (rc != LOS_OK) return to_status(rc, err, uri);
  return listed;
}

}  // namespace

Status configure(const std::string& uri, const StorageOptions& options) {
  const std::string root = uri.empty() ? "" : split(uri).root;  // "": the default for every store
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.options.find(root);
  if (it != r.options.end() && it->second == options) return Status::OK();
  r.options[root] = options;
  if (root.empty()) {
    r.stores.clear();
  } else {
    r.stores.erase(root);
  }
  return Status::OK();
}

Result<uint64_t> file_size(const std::string& uri) {
  const Location loc = split(uri);
  LANCER_ASSIGN_OR_RETURN(auto h, store_for(loc.root));
  uint64_t size = 0;
  char* err = nullptr;
  const int rc = lancer_os_head(h->get(), loc.key.c_str(), &size, &err);
  if (rc != LOS_OK) return to_status(rc, err, uri);
  return size;
}

Result<std::shared_ptr<RandomAccessFile>> open_file(const std::string& uri, std::optional<uint64_t> size) {
  const Location loc = split(uri);
  LANCER_ASSIGN_OR_RETURN(auto h, store_for(loc.root));
  uint64_t n = 0;
  if (size) {
    n = *size;
  } else {
    LANCER_ASSIGN_OR_RETURN(n, file_size(uri));
  }
  return std::shared_ptr<RandomAccessFile>(new ObjectFile(uri, n, h, loc.key));
}

Result<std::unique_ptr<OutputFile>> create_output(const std::string& uri) {
  const Location loc = split(uri);
  LANCER_ASSIGN_OR_RETURN(auto h, store_for(loc.root));
  lancer_os_writer* w = nullptr;
  char* err = nullptr;
  const int rc = lancer_os_writer_open(h->get(), loc.key.c_str(), &w, &err);
  if (rc != LOS_OK) return to_status(rc, err, uri);
  return std::unique_ptr<OutputFile>(new ObjectOutput(uri, h, w));
}

Result<std::vector<uint8_t>> read_whole_file(const std::string& uri) {
  const Location loc = split(uri);
  LANCER_ASSIGN_OR_RETURN(auto h, store_for(loc.root));
  uint8_t* data = nullptr;
  size_t len = 0;
  char* err = nullptr;
  const int rc = lancer_os_get(h->get(), loc.key.c_str(), &data, &len, &err);
  if (rc != LOS_OK) return to_status(rc, err, uri);
  std::vector<uint8_t> out(data, data + len);
  lancer_os_free_bytes(data, len);
  return out;
}

namespace {
int put(const std::string& uri, const uint8_t* data, size_t len, bool if_absent, Status* status) {
  const Location loc = split(uri);
  auto h = store_for(loc.root);
  if (!h.ok()) {
    *status = h.status();
    return LOS_IO;
  }
  char* err = nullptr;
  const int rc = lancer_os_put((*h)->get(), loc.key.c_str(), data, len, if_absent ? 1 : 0, &err);
  if (rc != LOS_OK && rc != LOS_ALREADY_EXISTS) *status = to_status(rc, err, uri);
  if (rc == LOS_ALREADY_EXISTS) lancer_os_free_string(err);
  return rc;
}
}  // namespace

Status write_file_atomic(const std::string& uri, std::span<const uint8_t> bytes) {
  Status s;
  const int rc = put(uri, bytes.data(), bytes.size(), false, &s);
  if (rc == LOS_ALREADY_EXISTS) return Status::IOError(uri + ": the store refused an unconditional PUT");
  return s;
}

Result<bool> create_file_exclusive(const std::string& uri, const std::string& bytes) {
  Status s;
  const int rc = put(uri, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), true, &s);
  if (rc == LOS_ALREADY_EXISTS) return false;
  if (rc == LOS_NOT_SUPPORTED) {
    return Status::NotSupported(uri + ": this store cannot create an object only if it is absent, so lancer "
                                      "cannot commit there safely (" + s.message() + ")");
  }
  if (!s.ok()) return s;
  return true;
}

bool is_directory(const std::string& uri) {
  auto l = list(uri, false);
  return l.ok() && !l->entries.empty();
}

Result<std::vector<std::string>> list_directory(const std::string& uri) {
  LANCER_ASSIGN_OR_RETURN(Listed l, list(uri, false));
  if (l.entries.empty()) return Status::NotFound("cannot list " + uri + ": nothing is stored under it");
  std::vector<std::string> names;
  for (const auto& [key, is_prefix] : l.entries) {
    const auto slash = key.rfind('/');
    names.push_back(slash == std::string::npos ? key : key.substr(slash + 1));
  }
  return names;
}

Status make_directories(const std::string&) { return Status::OK(); }

Status remove_file(const std::string& uri) {
  const Location loc = split(uri);
  LANCER_ASSIGN_OR_RETURN(auto h, store_for(loc.root));
  char* err = nullptr;
  const int rc = lancer_os_delete(h->get(), loc.key.c_str(), &err);
  if (rc == LOS_NOT_FOUND) {
    lancer_os_free_string(err);
    return Status::OK();
  }
  if (rc != LOS_OK) return to_status(rc, err, uri);
  return Status::OK();
}

Status remove_tree(const std::string& uri) {
  const Location loc = split(uri);
  LANCER_ASSIGN_OR_RETURN(Listed l, list(uri, true));
  for (const auto& [key, is_prefix] : l.entries) {
    if (is_prefix) continue;
    LANCER_RETURN_IF_ERROR(remove_file(loc.root + "/" + key));
  }
  return Status::OK();
}

}  // namespace object_store
}  // namespace lancer::storage

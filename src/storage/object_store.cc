// Object stores through the Rust bridge (object_store_bridge/): one opened store per
// scheme://bucket, shared by every thread, opened with the options configure() registered.
#include <algorithm>
#include <cstring>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <unordered_map>

#include "storage/backends.h"
#include "storage/object_store_bridge/lancer_object_store.h"

namespace lancer::storage {

bool object_store_available() {
  return true;
}

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
// page (or a decoder that reads a chunk at a time) costs one request per block, not per read.
// A read that continues the previous one starts fetching the next blocks in the background, so
// a sequential scan finds them arrived (or in flight) instead of waiting a round trip each.
constexpr uint64_t kBlock = 4u << 20;
constexpr size_t kMaxBlocks = 8;    // per file: 32 MiB
constexpr uint64_t kReadAhead = 3;  // blocks fetched ahead of a sequential read

class ObjectFile final : public BackendFile {
 public:
  ObjectFile(std::string uri, uint64_t size, std::shared_ptr<Handle> h, std::string key)
      : BackendFile(std::move(uri), size), handle_(std::move(h)), key_(std::move(key)) {}
  ~ObjectFile() override {
    for (auto& f : background_) f.wait();
  }

 protected:
  Status read_checked(std::span<const ReadRequest> requests) const override {
    std::vector<const ReadRequest*> wanted;
    for (const auto& r : requests) {
      if (r.length > 0) wanted.push_back(&r);
    }
    if (wanted.empty()) return Status::OK();
    std::vector<uint64_t> needed;
    for (const ReadRequest* r : wanted) {
      for (uint64_t b = r->offset / kBlock; b <= (r->offset + r->length - 1) / kBlock; ++b) needed.push_back(b);
    }
    std::sort(needed.begin(), needed.end());
    needed.erase(std::unique(needed.begin(), needed.end()), needed.end());

    std::map<uint64_t, std::shared_ptr<Block>> use;
    std::vector<uint64_t> fetch_now;
    {
      std::lock_guard lock(mu_);
      for (uint64_t b : needed) use[b] = entry(b, &fetch_now);
      const bool sequential = needed.front() <= last_block_ + 1 && needed.back() + 1 >= last_block_;
      if (sequential) {
        std::vector<uint64_t> ahead;
        const uint64_t last = (size() - 1) / kBlock;
        for (uint64_t b = needed.back() + 1; b <= std::min(last, needed.back() + kReadAhead); ++b) entry(b, &ahead);
        fill_in_background(ahead);
      }
      last_block_ = needed.back();
      evict();
    }
    if (!fetch_now.empty()) {
      std::vector<std::shared_ptr<Block>> blocks;
      for (uint64_t b : fetch_now) blocks.push_back(use.at(b));
      fill(fetch_now, blocks);
    }
    for (const ReadRequest* r : wanted) {
      uint64_t at = r->offset;
      auto* out = static_cast<uint8_t*>(r->out);
      while (at < r->offset + r->length) {
        const uint64_t b = at / kBlock, in = at - b * kBlock;
        Block& block = *use.at(b);
        const Status& st = block.ready.get();
        if (!st.ok()) return st;
        const uint64_t n = std::min<uint64_t>(block.bytes.size() - in, r->offset + r->length - at);
        std::memcpy(out + (at - r->offset), block.bytes.data() + in, n);
        at += n;
      }
    }
    return Status::OK();
  }

 public:
  // Bytes of the blocks held (cached or in flight).
  uint64_t cached_bytes() const {
    std::lock_guard lock(mu_);
    uint64_t n = 0;
    for (uint64_t b : order_) n += std::min(kBlock, size() - b * kBlock);
    return n;
  }

  // Starts fetching the blocks under `ranges` that are neither cached nor in flight.
  void prefetch(std::span<const std::pair<uint64_t, uint64_t>> ranges) const {
    std::vector<uint64_t> ids;
    std::lock_guard lock(mu_);
    for (const auto& [offset, length] : ranges) {
      if (length == 0 || offset >= size()) continue;
      const uint64_t end = std::min(size(), offset + length);
      for (uint64_t b = offset / kBlock; b <= (end - 1) / kBlock && ids.size() < kMaxBlocks; ++b) {
        if (std::find(ids.begin(), ids.end(), b) == ids.end()) entry(b, &ids);
      }
    }
    fill_in_background(ids);
  }

 private:
  struct Block {
    std::promise<Status> done;
    std::shared_future<Status> ready{done.get_future().share()};
    std::vector<uint8_t> bytes;
  };

  // The cached or in-flight block `b`, or a new one added to `to_fetch`. Caller holds mu_.
  std::shared_ptr<Block> entry(uint64_t b, std::vector<uint64_t>* to_fetch) const {
    auto it = blocks_.find(b);
    if (it != blocks_.end()) {
      const auto& ready = it->second->ready;
      const bool failed = ready.wait_for(std::chrono::seconds(0)) == std::future_status::ready && !ready.get().ok();
      if (!failed) return it->second;  // a failed fetch is retried
      order_.erase(std::find(order_.begin(), order_.end(), b));
      blocks_.erase(it);
    }
    auto block = std::make_shared<Block>();
    blocks_[b] = block;
    order_.push_back(b);
    to_fetch->push_back(b);
    return block;
  }

  // Starts fetching blocks `ids` (just added by entry()) on a thread of their own; a few finished
  // fetches are forgotten. Caller holds mu_.
  void fill_in_background(const std::vector<uint64_t>& ids) const {
    if (ids.empty()) return;
    std::vector<std::shared_ptr<Block>> blocks;
    for (uint64_t b : ids) blocks.push_back(blocks_.at(b));
    background_.push_back(std::async(std::launch::async, [this, ids, blocks] { fill(ids, blocks); }));
    while (background_.size() > 4 &&
           background_.front().wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      background_.pop_front();
    }
  }

  void evict() const {
    while (order_.size() > kMaxBlocks) {
      blocks_.erase(order_.front());  // readers holding it keep it alive
      order_.pop_front();
    }
  }

  // Fetches blocks (one bridge call: concurrent requests) and fulfils their promises.
  void fill(const std::vector<uint64_t>& ids, const std::vector<std::shared_ptr<Block>>& blocks) const {
    std::vector<uint64_t> starts, lens;
    std::vector<uint8_t*> outs;
    for (size_t i = 0; i < ids.size(); ++i) {
      const uint64_t start = ids[i] * kBlock, len = std::min(kBlock, size() - start);
      blocks[i]->bytes.resize(len);
      starts.push_back(start);
      lens.push_back(len);
      outs.push_back(blocks[i]->bytes.data());
    }
    char* err = nullptr;
    const int rc = lancer_os_get_ranges(handle_->get(), key_.c_str(), starts.size(), starts.data(), lens.data(),
                                        outs.data(), &err);
    const Status st = rc == LOS_OK ? Status::OK() : to_status(rc, err, path());
    for (const auto& block : blocks) block->done.set_value(st);
  }

  std::shared_ptr<Handle> handle_;
  std::string key_;
  mutable std::mutex mu_;
  mutable std::unordered_map<uint64_t, std::shared_ptr<Block>> blocks_;
  mutable std::deque<uint64_t> order_;  // oldest first
  mutable uint64_t last_block_ = UINT64_MAX - 1;
  mutable std::deque<std::future<void>> background_;
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

namespace {

// Files prefetch() started reading, for the open()s that follow (a sampling pass, then the
// task that reads the same fragment): the most recently used, while their cached blocks add up
// to at most kPrefetchedBytes (each file keeps at most kMaxBlocks).
constexpr uint64_t kPrefetchedBytes = 128u << 20;
std::mutex prefetched_mu;
std::deque<std::pair<std::string, std::shared_ptr<ObjectFile>>> prefetched;  // least recent first

std::shared_ptr<ObjectFile> find_prefetched(const std::string& uri) {
  std::lock_guard lock(prefetched_mu);
  for (auto it = prefetched.begin(); it != prefetched.end(); ++it) {
    if (it->first == uri) {
      auto entry = *it;
      prefetched.erase(it);
      prefetched.push_back(entry);
      return entry.second;
    }
  }
  return nullptr;
}

void remember_prefetched(const std::string& uri, std::shared_ptr<ObjectFile> file) {
  std::lock_guard lock(prefetched_mu);
  prefetched.emplace_back(uri, std::move(file));
  uint64_t bytes = 0;
  for (const auto& [u, f] : prefetched) bytes += f->cached_bytes();
  while (prefetched.size() > 1 && bytes > kPrefetchedBytes) {
    bytes -= prefetched.front().second->cached_bytes();
    prefetched.pop_front();
  }
}

}  // namespace

void prefetch(const std::string& uri, uint64_t size, std::span<const std::pair<uint64_t, uint64_t>> ranges) {
  std::shared_ptr<ObjectFile> file = find_prefetched(uri);
  const bool known = file != nullptr;
  if (!known) {
    const Location loc = split(uri);
    auto h = store_for(loc.root);
    if (!h.ok()) return;
    file = std::make_shared<ObjectFile>(uri, size, *h, loc.key);
  }
  file->prefetch(ranges);
  if (!known) remember_prefetched(uri, file);  // after: its blocks count against the budget
}

Result<std::shared_ptr<RandomAccessFile>> open_file(const std::string& uri, std::optional<uint64_t> size) {
  if (auto file = find_prefetched(uri); file && (!size || *size == file->size())) {
    return std::shared_ptr<RandomAccessFile>(std::move(file));
  }
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
// One PUT; false when `if_absent` and the key already exists.
Result<bool> put(const std::string& uri, const uint8_t* data, size_t len, bool if_absent) {
  const Location loc = split(uri);
  LANCER_ASSIGN_OR_RETURN(auto h, store_for(loc.root));
  char* err = nullptr;
  const int rc = lancer_os_put(h->get(), loc.key.c_str(), data, len, if_absent ? 1 : 0, &err);
  if (rc == LOS_ALREADY_EXISTS) {
    lancer_os_free_string(err);
    return false;
  }
  if (rc != LOS_OK) return to_status(rc, err, uri);
  return true;
}
}  // namespace

Status write_file_atomic(const std::string& uri, std::span<const uint8_t> bytes) {
  LANCER_ASSIGN_OR_RETURN(bool written, put(uri, bytes.data(), bytes.size(), false));
  if (!written) return Status::IOError(uri + ": the store refused an unconditional PUT");
  return Status::OK();
}

Result<bool> create_file_exclusive(const std::string& uri, const std::string& bytes) {
  Result<bool> created = put(uri, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), true);
  if (!created.ok() && created.status().code() == StatusCode::kNotSupported) {
    return Status::NotSupported(uri +
                                ": this store cannot create an object only if it is absent, so lancer "
                                "cannot commit there safely (" +
                                created.status().message() + ")");
  }
  return created;
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

Status make_directories(const std::string&) {
  return Status::OK();
}

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

Status remove_tree(const std::string& uri, const std::vector<std::string>& keep) {
  const Location loc = split(uri);
  LANCER_ASSIGN_OR_RETURN(Listed l, list(uri, true));
  std::vector<std::string> kept;
  for (const auto& name : keep) kept.push_back(split(join_path(uri, name)).key);
  std::vector<const char*> keys;
  for (const auto& [key, is_prefix] : l.entries) {
    if (!is_prefix && std::find(kept.begin(), kept.end(), key) == kept.end()) keys.push_back(key.c_str());
  }
  if (keys.empty()) return Status::OK();
  LANCER_ASSIGN_OR_RETURN(auto h, store_for(loc.root));
  char* err = nullptr;
  const int rc = lancer_os_delete_many(h->get(), keys.data(), keys.size(), &err);
  if (rc != LOS_OK) return to_status(rc, err, uri);
  return Status::OK();
}

}  // namespace object_store
}  // namespace lancer::storage

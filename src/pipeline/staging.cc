#include "pipeline/staging.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/checksum.h"
#include "dataset/dataset.h"
#include "storage/file_io.h"

namespace lancer::pipeline {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

constexpr int kRecordVersion = 2;  // 2: HNSW parameters

}  // namespace

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

nlohmann::ordered_json params_json(const BuildParams& p) {
  return json{{"column", p.column},
              {"name", p.name},
              {"index_type", p.index_type},
              {"metric", p.metric},
              {"num_partitions", p.num_partitions},
              {"num_sub_vectors", p.num_sub_vectors},
              {"num_bits", p.num_bits},
              {"sample_rate", p.sample_rate},
              {"max_iters", p.max_iters},
              {"num_segments", p.num_segments},
              {"m", p.m},
              {"ef_construction", p.ef_construction},
              {"max_level", p.max_level},
              {"seed", p.seed},
              {"ivf_centroids_checksum", p.ivf_centroids_checksum},
              {"pq_codebook_checksum", p.pq_codebook_checksum},
              {"rabitq_model_checksum", p.rabitq_model_checksum}};
}

namespace {

BuildParams params_from_json(const nlohmann::json& j) {
  BuildParams p;
  p.column = j.at("column");
  p.name = j.at("name");
  p.index_type = j.at("index_type");
  p.metric = j.at("metric");
  p.num_partitions = j.at("num_partitions");
  p.num_sub_vectors = j.at("num_sub_vectors");
  p.num_bits = j.at("num_bits");
  p.sample_rate = j.at("sample_rate");
  p.max_iters = j.at("max_iters");
  p.num_segments = j.at("num_segments");
  p.m = j.at("m");
  p.ef_construction = j.at("ef_construction");
  p.max_level = j.at("max_level");
  p.seed = j.at("seed");
  p.ivf_centroids_checksum = j.at("ivf_centroids_checksum");
  p.pq_codebook_checksum = j.at("pq_codebook_checksum");
  p.rabitq_model_checksum = j.value("rabitq_model_checksum", "");  // absent in records older than IVF_RQ
  return p;
}

}  // namespace

std::string record_to_text(const BuildRecord& r) {
  json j;
  j["format"] = "lancer-build-record";
  j["format_version"] = kRecordVersion;
  j["dataset"] = r.dataset;
  j["params"] = params_json(r.params);
  j["dataset_version"] = r.dataset_version;
  j["uuid"] = r.uuid;
  j["segment_uuids"] = r.segment_uuids;
  json tasks = json::array();
  for (const auto& t : r.tasks) tasks.push_back({{"fragments", t.fragment_ids}, {"rows", t.rows}});
  j["tasks"] = tasks;
  std::string body = j.dump(1);
  return body;
}

Result<std::string> read_text(const std::string& path) {
  LANCER_ASSIGN_OR_RETURN(auto bytes, storage::read_whole_file(path));
  return std::string(bytes.begin(), bytes.end());
}

Status write_record(const std::string& path, const std::string& text) {
  return storage::write_file_atomic(path, text + "\n#fnv1a64 " + hex64(core::fnv1a64(text)) + "\n");
}

Result<nlohmann::json> read_record(const std::string& path) {
  LANCER_ASSIGN_OR_RETURN(std::string text, read_text(path));
  const size_t at = text.rfind("\n#fnv1a64 ");
  if (at == std::string::npos) return Status::Corruption(path + ": no checksum line (a torn write?)");
  const std::string body = text.substr(0, at);
  std::string sum = text.substr(at + 10);
  while (!sum.empty() && (sum.back() == '\n' || sum.back() == '\r')) sum.pop_back();
  if (sum != hex64(core::fnv1a64(body))) return Status::Corruption(path + ": checksum mismatch");
  try {
    return nlohmann::json::parse(body);
  } catch (const std::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
}

Result<BuildRecord> parse_build_record(const std::string& path) {
  LANCER_ASSIGN_OR_RETURN(auto j, read_record(path));
  try {
    if (j.at("format") != "lancer-build-record" || j.at("format_version") != kRecordVersion) {
      return Status::NotSupported(path + ": not a build record of format version " + std::to_string(kRecordVersion));
    }
    BuildRecord r;
    r.dataset = j.at("dataset");
    r.params = params_from_json(j.at("params"));
    r.dataset_version = j.at("dataset_version");
    r.uuid = j.at("uuid");
    r.segment_uuids = j.at("segment_uuids").get<std::vector<std::string>>();
    for (const auto& t : j.at("tasks")) {
      BuildTask task;
      task.fragment_ids = t.at("fragments").get<std::vector<uint64_t>>();
      task.rows = t.at("rows");
      r.tasks.push_back(std::move(task));
    }
    return r;
  } catch (const std::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
}

std::string default_staging(const std::string& root, const std::string& name) {
  return storage::join_path(storage::join_path(root, "_lancer"), kStagingPrefix + name);
}

std::string dataset_root(const std::string& uri) {
  std::string root = uri.rfind("file://", 0) == 0 ? uri.substr(7) : uri;
  while (root.size() > 1 && root.back() == '/' && !root.ends_with("://")) root.pop_back();
  return root;
}

void remove_staging(const std::string& dir) {
  (void)storage::remove_tree(dir);
  if (storage::is_object_store(dir)) return;  // a prefix with nothing under it is gone already
  std::error_code ec;
  const fs::path parent = fs::path(dir).parent_path();
  if (parent.filename() == "_lancer") fs::remove(parent, ec);  // only if empty
}

Result<int> lock_shared(const std::string& staging) {
  // Object stores have no locks: a build there is not protected from `cleanup` (docs/storage.md).
  if (storage::is_object_store(staging)) return -1;
  const int fd = ::open((fs::path(staging) / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ::flock(fd, LOCK_SH) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    return Status::IOError("cannot lock " + staging + "/lock: " + std::strerror(err));
  }
  return fd;
}

namespace {

// The index files a build in `staging` may have uploaded before it stopped: `_indices/<uuid>/`
// of its uuids that no version of the dataset names (never a committed index's).
Status remove_uncommitted_index_files(const std::string& staging) {
  auto record = parse_build_record(storage::join_path(staging, "build.json"));
  if (!record.ok()) return Status::OK();  // nothing recorded, nothing uploaded
  std::vector<std::string> uuids = record->segment_uuids;
  uuids.push_back(record->uuid);
  auto ds = dataset::Dataset::open(record->dataset);
  if (!ds.ok()) return Status::OK();  // the dataset is gone: nothing of ours to protect it from
  LANCER_ASSIGN_OR_RETURN(auto committed, (*ds)->indices());
  for (const auto& u : uuids) {
    bool named = false;
    for (const auto& idx : committed) named = named || idx.uuid == u;
    if (named) continue;
    const std::string dir = storage::join_path(storage::join_path(record->dataset, "_indices"), u);
    if (storage::is_directory(dir)) LANCER_RETURN_IF_ERROR(storage::remove_tree(dir));
  }
  return Status::OK();
}

// Removes `staging` unless a running build holds its lock; true if removed.
Result<bool> remove_unless_running(const std::string& staging) {
  int fd = -1;
  if (!storage::is_object_store(staging)) {  // object stores have no locks
    fd = ::open((fs::path(staging) / "lock").c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return false;
    }
  }
  Status removed = remove_uncommitted_index_files(staging);
  if (removed.ok()) removed = storage::remove_tree(staging);
  if (fd >= 0) ::close(fd);
  LANCER_RETURN_IF_ERROR(removed);
  return true;
}

}  // namespace

Result<std::vector<std::string>> cleanup_staging(const std::string& uri, const std::string& work_dir) {
  std::vector<std::string> removed;
  if (!work_dir.empty() && storage::is_directory(work_dir)) {
    if (!storage::path_exists(storage::join_path(work_dir, "build.json"))) {
      return Status::InvalidArgument(work_dir + " is not a lancer staging folder (no build.json); not removed");
    }
    LANCER_ASSIGN_OR_RETURN(bool gone, remove_unless_running(work_dir));
    if (gone) removed.push_back(work_dir);
  }
  const std::string dir = storage::join_path(dataset_root(uri), "_lancer");
  if (!storage::is_directory(dir)) return removed;
  LANCER_ASSIGN_OR_RETURN(auto names, storage::list_directory(dir));
  for (const auto& name : names) {
    const std::string staging = storage::join_path(dir, name);
    // Only build folders: _lancer/inputs holds the Python package's supplied
    // arrays, which their builds hold and remove themselves (on an object
    // store, with no locks to hold them, they go too).
    if (name == "inputs" && storage::is_object_store(staging)) {
      LANCER_RETURN_IF_ERROR(storage::remove_tree(staging));
      removed.push_back(staging);
      continue;
    }
    if (!name.starts_with(kStagingPrefix) || !storage::is_directory(staging)) continue;
    LANCER_ASSIGN_OR_RETURN(bool gone, remove_unless_running(staging));
    if (gone) removed.push_back(staging);
  }
  if (!storage::is_object_store(dir)) {
    std::error_code ec;
    fs::remove(dir, ec);  // only if empty
  }
  return removed;
}

}  // namespace lancer::pipeline

// The staging folder of one build (docs/build-staging.md): the build record
// (build.json), checksummed JSON records written by rename, the shared lock
// every process of a running build holds, and removal of stale or finished
// folders. Free functions over paths; no state, safe from any thread (each
// record is written to a per-process temporary name, then renamed).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lancer/status.h"

namespace lancer::pipeline {

inline constexpr const char* kStagingPrefix = "build-";  // _lancer/build-<index name>/

// Parameters that determine the index bytes; a staging folder is reused only
// for equal parameters.
struct BuildParams {
  std::string column, name, index_type, metric;
  int num_partitions = 0, num_sub_vectors = 0, num_bits = 8, sample_rate = 256, max_iters = 50;
  int num_segments = 1;
  int m = 0, ef_construction = 0, max_level = 0;  // IVF_HNSW_* only; 0 otherwise
  uint64_t seed = 0;
  std::string ivf_centroids_checksum, pq_codebook_checksum, rabitq_model_checksum;  // of the supplied files' bytes
  bool operator==(const BuildParams&) const = default;
};

struct BuildTask {
  std::vector<uint64_t> fragment_ids;
  uint64_t rows = 0;  // physical rows
};

struct BuildRecord {
  std::string dataset;  // absolute path of the dataset folder
  BuildParams params;
  uint64_t dataset_version = 0;
  std::string uuid;  // hyphenated; the committed index's uuid (its first segment's)
  std::vector<std::string> segment_uuids;  // num_segments > 1: one per segment, uuid first
  std::vector<BuildTask> tasks;
};

// 16 lower-case hex digits.
std::string hex64(uint64_t v);

nlohmann::ordered_json params_json(const BuildParams& p);
std::string record_to_text(const BuildRecord& r);
Result<BuildRecord> parse_build_record(const std::string& path);

Result<std::string> read_text(const std::string& path);
// Writes `text` and a trailing checksum line to a temporary name, then renames:
// readers see the whole record or none.
Status write_record(const std::string& path, const std::string& text);
// A record written by write_record, checksum verified.
Result<nlohmann::json> read_record(const std::string& path);

// <root>/_lancer/build-<name>
std::string default_staging(const std::string& root, const std::string& name);
// The dataset folder of a uri (a file:// prefix removed).
std::string dataset_root(const std::string& uri);
// Opens `staging`/lock and takes a shared lock on it; the fd, or IOError.
Result<int> lock_shared(const std::string& staging);
// Removes `dir` and its parent `_lancer` folder when that is left empty.
void remove_staging(const std::string& dir);

// Removes the staging folders of `uri` that no running build holds; returns their paths.
Result<std::vector<std::string>> cleanup_staging(const std::string& uri, const std::string& work_dir = "");

}  // namespace lancer::pipeline

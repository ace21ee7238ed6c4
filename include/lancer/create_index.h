// Public API: build an IVF_FLAT / IVF_SQ / IVF_PQ index over a vector column
// of a local Lance dataset and commit it, so Lance opens and searches it.
// Parameter names and defaults follow lance-ray's create_index.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "lancer/status.h"

namespace lancer {

// Progress of a long phase: `done` of `total` units (rows, partitions); total 0
// when unknown. Called from the building thread; keep it cheap.
struct ProgressEvent {
  const char* phase;  // "sample", "train IVF", "train PQ/SQ", "build", "merge", "commit"
  uint64_t done = 0;
  uint64_t total = 0;
  bool finished = false;
};

struct CreateIndexOptions {
  std::string uri;
  std::string column;
  std::string index_type;  // IVF_FLAT, IVF_SQ, IVF_PQ
  std::string name;        // default "<column>_idx"
  bool replace = true;
  std::string metric = "l2";  // l2 (alias euclidean), cosine, dot
  std::optional<int> num_partitions;   // default round(sqrt(rows))
  std::optional<int> num_sub_vectors;  // default dim/16, else dim/8
  int num_bits = 8;
  int sample_rate = 256;
  int max_iters = 50;
  std::string ivf_centroids;  // .npy [num_partitions, dim] float32: skips IVF training
  std::string pq_codebook;    // .npy [m, 2^nbits, dim/m] float32: skips PQ training
  uint64_t seed = 42;
  int threads = 0;  // 0 = all cores
  std::function<void(const ProgressEvent&)> progress;  // optional
};

struct CreateIndexReport {
  std::string uri, column, name, index_type, metric, uuid;
  uint64_t read_version = 0, version = 0;
  uint64_t rows = 0, null_rows = 0, deleted_rows = 0, skipped_nonfinite = 0;
  uint64_t fragments = 0;
  int num_partitions = 0, num_sub_vectors = 0;
  double sample_s = 0, train_ivf_s = 0, train_quantizer_s = 0, build_s = 0, merge_s = 0, commit_s = 0, total_s = 0;
  double peak_rss_mb = 0;
  std::string to_json() const;
};

Result<CreateIndexReport> create_index(const CreateIndexOptions& options);

}  // namespace lancer

// Public API: build an IVF_FLAT / IVF_SQ / IVF_PQ / IVF_RQ index over a vector column
// of a Lance dataset (a local path or an object-store URI) and commit it, so Lance opens and searches it.
// Parameter names and defaults follow lance-ray's create_index.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

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
  std::string index_type;  // IVF_FLAT, IVF_SQ, IVF_PQ, IVF_RQ
  std::string name;        // default "<column>_idx"
  bool replace = true;
  std::string metric = "l2";           // l2 (alias euclidean), cosine, dot
  std::optional<int> num_partitions;   // default round(sqrt(rows))
  std::optional<int> num_sub_vectors;  // default dim/16, else dim/8
  // Bits per code, per quantizer; unset means the quantizer's default:
  //   IVF_PQ: 8 or 4 (default 8); IVF_RQ: 1..9, 1 sign bit + num_bits - 1 ex bits
  //   (default 5, as pylance 14); IVF_SQ: 8 only; IVF_FLAT: ignored.
  std::optional<int> num_bits;
  int sample_rate = 256;
  int max_iters = 50;
  // Commit the index as this many segments (same name, disjoint fragments)
  // without merging them into one, as lance-ray >= 0.4 can; 1 = one merged index.
  int num_segments = 1;
  // IVF_HNSW_*: each partition's graph, with Lance's names and defaults: edges per node
  // (2m on level 0), the candidate list while inserting, and the number of levels.
  int m = 20;
  int ef_construction = 150;
  int max_level = 7;
  std::string ivf_centroids;  // .npy [num_partitions, dim] float32: skips IVF training
  std::string pq_codebook;    // .npy [m, 2^nbits, dim/m] float32: skips PQ training
  // IVF_RQ: a JSON file holding Lance's RabitQuantizationMetadata (what
  // lance.indices.build_rq_model returns, or an IVF_RQ aux file's
  // storage_metadata): its rotation signs replace the ones drawn from `seed`.
  // Its num_bits must equal the build's.
  std::string rabitq_model;
  uint64_t seed = 42;
  int threads = 0;  // 0 = all cores (per process)
  // Staging folder for the build's intermediate files (default
  // <dataset>/_lancer/build-<name>): on shared storage or an object store for a
  // distributed build.
  std::string work_dir;
  // Lance's storage_options for an object-store uri and work_dir (lancer/storage.h).
  std::map<std::string, std::string> storage_options;
  std::function<void(const ProgressEvent&)> progress;  // optional
};

// Tasks built and time spent by one worker (an MPI rank, a process).
struct WorkerReport {
  std::string worker;
  uint64_t tasks = 0;
  double busy_s = 0;
};

// One MPI rank's time in one phase of the build: wall, the process's CPU time and the
// time spent in MPI calls (collectives, task requests, barriers: waiting for other ranks
// and moving data). wall - wait is the time the rank had work.
struct RankPhaseReport {
  std::string phase;
  double wall_s = 0, cpu_s = 0, wait_s = 0;
  double end_wait_s = 0;  // of wait_s, at the phase's end for the slowest rank (imbalance)
  uint64_t tasks = 0;     // tasks this rank ran (an independent phase)
};

// One MPI rank: start-up (MPI_Init, plan or open) and each phase.
struct RankReport {
  std::string worker;
  double startup_s = 0, startup_cpu_s = 0, startup_wait_s = 0;
  double sample_s = 0, sample_cpu_s = 0;  // this rank's sampling (its share, the gather, the merge)
  std::vector<RankPhaseReport> phases;
};

struct CreateIndexReport {
  std::string uri, column, name, index_type, metric, uuid;
  uint64_t read_version = 0, version = 0;
  uint64_t rows = 0, null_rows = 0, deleted_rows = 0, skipped_nonfinite = 0;
  uint64_t fragments = 0;
  int num_partitions = 0, num_sub_vectors = 0;
  int num_bits = 0;  // PQ and RQ: bits per code as built (8 for SQ, 0 for FLAT)
  double sample_s = 0, train_ivf_s = 0, train_quantizer_s = 0, build_s = 0, merge_s = 0, commit_s = 0, total_s = 0;
  double graph_s = 0;  // IVF_HNSW_*: the graph phase
  double sample_cpu_s = 0;  // this process's CPU time in sampling (MPI: in each rank's RankReport)
  double peak_rss_mb = 0;
  uint64_t tasks = 0, reused_tasks = 0, segments = 1;  // reused: found finished in staging (a resumed build)
  bool resumed = false;
  // The rerun of a build committed before its process stopped: nothing was built or committed,
  // only the staging folder removed; `version` is the dataset's latest.
  bool already_committed = false;
  std::vector<WorkerReport> workers;
  std::vector<RankReport> ranks;  // an MPI build: every rank, in rank order
  std::string to_json() const;
};

// Plans, trains, builds every task and commits, in this process. A build
// interrupted before (same parameters, same dataset version) is resumed from
// its staging folder. On error the dataset is left as it was.
Result<CreateIndexReport> create_index(const CreateIndexOptions& options);

// The index types create_index builds, in this order: IVF_FLAT, IVF_SQ, IVF_PQ.
std::vector<std::string> buildable_index_types();

// The same build as separate phases, for schedulers that run each step as its
// own job (docs/distributed.md). Each takes the same options as create_index.
struct PlanSummary {
  std::string staging;
  std::string uuid;
  uint64_t dataset_version = 0;
  uint64_t tasks = 0;
  bool resumed = false;  // an existing plan for the same parameters and version
};
Result<PlanSummary> plan_index(const CreateIndexOptions& options);
Status train_index(const CreateIndexOptions& options);                        // no-op when trained
Status build_index_task(const CreateIndexOptions& options, uint64_t task);    // idempotent
Result<CreateIndexReport> finalize_index(const CreateIndexOptions& options);  // refuses while tasks are missing
// Removes staging folders of `uri` left by failed builds (never a running one).
// With `work_dir`, that staging folder is removed too (unless a build holds it).
Result<std::vector<std::string>> cleanup_builds(const std::string& uri, const std::string& work_dir = "");

}  // namespace lancer

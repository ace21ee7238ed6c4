// One index build as phases over a staging folder (docs/build-staging.md):
//   plan      resolve parameters, split fragments into tasks, write build.json
//   train     sample (bottom-k by row-id hash), train IVF + PQ/SQ, write model.bin
//   task i    stream task i's fragments, assign, encode, write a partition-sorted spill (or,
//             in a one-pass build, only each row's partition: places_rows)
//   finalize  merge every task's rows into index.idx + auxiliary.idx, commit, remove staging
// One file per phase: plan.cc, train_phase.cc, encode_task.cc, finalize.cc
// (+ commit_index.cc); staging.cc holds the records and the lock. The phase
// sequence the drivers run is phases.h's, not named anywhere else.
// Every phase is idempotent and resumable: finished work is recorded by an
// atomic rename of a small done-record, and reused only when the record's
// parameters, dataset version and model checksum match. The same phases run
// in one process (create_index), as separate CLI subcommands, or on MPI ranks
// (src/mpi). A process holding an IndexBuild holds a shared lock on the
// staging folder, so `cleanup` never removes a running build.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/collective.h"
#include "core/executor.h"
#include "dataset/dataset.h"
#include "ivf/index_files.h"
#include "lancer/create_index.h"
#include "linalg/nearest.h"
#include "pipeline/staging.h"
#include "storage/file_io.h"

namespace lancer::pipeline {

class SampleCollector;
class TaskRows;

// What one finished task recorded.
struct TaskResult {
  uint64_t task = 0, rows = 0, null_rows = 0, deleted_rows = 0, skipped_nonfinite = 0, bytes = 0;
  double busy_s = 0;
  std::string worker;
  bool reused = false;  // found done, not rebuilt
  bool labels = false;  // its output holds the rows' partitions only (a one-pass build; task_labels.h)
};

class IndexBuild {
 public:
  // Plans a build, or resumes the one staged for the same parameters and dataset
  // version. A stale staging folder (other parameters or version) is replaced
  // unless a running build holds it. Bad input fails before anything is written.
  // `in_process`: this process runs every phase itself (create_index), so on an
  // object store the first fragments are fetched while the plan is written, and
  // staging writes finish in the background (finalize and discard wait for them).
  static Result<std::unique_ptr<IndexBuild>> plan(const CreateIndexOptions& options, bool in_process = false);
  // Opens the build planned in the staging folder; InvalidArgument if `options`
  // resolve to other parameters, NotFound if nothing was planned.
  static Result<std::unique_ptr<IndexBuild>> open(const CreateIndexOptions& options);
  ~IndexBuild();

  const BuildRecord& record() const { return record_; }
  const std::string& staging() const { return staging_; }
  bool resumed() const { return resumed_; }
  // Whether `ds` (at its version) names an index of this uuid.
  static Result<bool> names_index(const dataset::Dataset& ds, const std::string& uuid);

  // Every rank calls train() with the same collective; each samples its share of
  // the tasks and all end with the same model. Rank 0 writes it. A model already
  // staged is loaded instead.
  Status train(core::Collective& collective, core::Executor& executor);
  bool model_trained() const;
  Result<std::shared_ptr<const ivf::IndexModel>> model();
  // The model's IVF centroids prepared for assignment (linalg::PreparedCentroids), once per
  // model in this process: every encode task of a rank or process assigns against the same.
  Result<std::shared_ptr<const linalg::PreparedCentroids>> prepared_centroids(
      const std::shared_ptr<const ivf::IndexModel>& model);

  // Done and recorded for this build's model, which is loaded first when it is staged (false
  // for every task while it is not).
  bool task_done(uint64_t task);
  std::vector<uint64_t> missing_tasks();
  Result<TaskResult> build_task(uint64_t task, core::Executor& executor, const std::string& worker);

  // IVF_HNSW_*, the graph phase: task t builds the graphs of a run of partitions of one
  // segment from every encode task's spill (graph_task.cc). No tasks for other index types.
  uint64_t graph_tasks() const;
  bool graph_task_done(uint64_t task);
  Result<TaskResult> build_graph_task(uint64_t task, core::Executor& executor, const std::string& worker);

  // From now on, staging writes finish in the background as in an in-process build (see
  // upload), for a driver that calls settle() before any other process reads what this one
  // staged: an MPI rank, before the end of a phase. The model and every task are written
  // as before, only later; a killed process loses at most the task whose writes were in flight.
  void write_in_background() { background_writes_ = true; }
  // Waits for the staging writes in the background; the first error.
  Status settle() { return settle_uploads(); }

  // Merge + commit; refuses while a task is missing. Removes the staging folder.
  Result<CreateIndexReport> finalize(core::Executor& executor);
  // Removes the staging folder (after a failed build).
  void discard();

  void set_progress(std::function<void(const ProgressEvent&)> sink) { progress_ = std::move(sink); }
  CreateIndexReport& report() { return report_; }

 private:
  IndexBuild() = default;
  Status load_context(const CreateIndexOptions& options, std::optional<uint64_t> version);
  // Runs `fn` now, or with background writes (a build this process runs whole, or
  // write_in_background) in the background: on
  // an object store every upload; locally the ones that complete a task's output (`local_too`:
  // its fsync, rename and record), so that the next task keeps the pool busy meanwhile.
  // `graph`: a graph task's, which the next graph tasks need not wait for.
  template <typename Fn>
  Status upload(const std::string& path, Fn&& fn, bool local_too = false, bool graph = false);
  // Waits for the background uploads (with `except_graphs`, all but the graph tasks'); the
  // first error.
  Status settle_uploads(bool except_graphs = false);
  // The uuid of each segment's index.
  std::vector<std::string> segment_uuid_list() const;
  // Whether the encode tasks leave only each row's partition, and the merge writes each row once,
  // read from the dataset (a one-pass build, placed_rows.h), instead of spilling encoded rows:
  // in a build this process runs whole over a local dataset (where reading a row costs no
  // request), for IVF_FLAT and IVF_SQ (their rows are the data's size or a quarter; PQ and RQ
  // codes are small, and encoding them costs more than spilling), where a row's storage is large
  // enough that reading it back costs less than spilling it. The index bytes are the same.
  bool places_rows(const ivf::IndexModel& model) const;
  // Partition by partition, the rows of segment `seg` from its encode tasks' outputs into `aux`:
  // a partition's rows are gathered (the tasks in parallel on `executor`, when not null) while
  // the one before is written.
  Status merge_rows(size_t seg, uint32_t num_partitions, const std::vector<std::unique_ptr<TaskRows>>& rows,
                    ivf::AuxiliaryFileWriter& aux, core::Executor* executor, const std::atomic<bool>* stop) const;
  // A build this process planned and runs whole, on local files: the first graph task starts
  // writing every segment's auxiliary.idx on a thread of its own (the rows do not depend on the
  // graphs), so that the graph phase's idle moments take the merge's largest write; finalize
  // takes the files (docs/decisions/hnsw-graphs.md).
  void start_early_aux_files();
  Result<std::vector<uint64_t>> write_aux_files();  // each segment's auxiliary.idx size
  // Waits for it and, unless finalize took its files, removes them (a failed build).
  void settle_early_aux_files();
  void progress(const char* phase, uint64_t done, uint64_t total, bool finished = false) const;
  std::string task_path(uint64_t task, const char* suffix) const;
  Result<TaskResult> read_task_done(uint64_t task) const;
  // `st`, a damaged spill of `task` (Corruption), after removing the task's done-record: a
  // rerun then rebuilds the task instead of failing on the same bytes. Other errors unchanged.
  Status forget_damaged_task(uint64_t task, Status st) const;
  // A task's done-record (with the encode phase's row counts or not), checked once against this
  // model and its output file's size, then kept in `cache`.
  Result<TaskResult> checked_record(std::map<uint64_t, TaskResult>& cache, uint64_t task, const std::string& record,
                                    const std::string& output, bool row_counts) const;
  // Every encode task's record, and its output opened as the source of its rows (many at once on
  // an object store).
  Status open_task_rows(const std::shared_ptr<const ivf::IndexModel>& model, std::vector<TaskResult>* results,
                        std::vector<std::unique_ptr<TaskRows>>* rows) const;
  // The first encode task of each segment, and the task count last: segments are contiguous
  // runs of tasks balanced by rows (one unless num_segments > 1).
  std::vector<size_t> segment_starts() const;
  struct GraphRange {
    size_t segment = 0;
    uint32_t first = 0, end = 0;  // partitions [first, end)
  };
  GraphRange graph_range(uint64_t task) const;
  std::string graph_path(uint64_t task, const char* suffix) const;
  Result<TaskResult> read_graph_done(uint64_t task) const;
  // Offers every finite vector of `fragment_ids` to `collector`, fragments in
  // parallel on `executor` (the sample is a set: the order does not matter).
  Status scan_sample(const std::vector<uint64_t>& fragment_ids, uint64_t rows, core::Executor& executor,
                     SampleCollector& collector) const;
  // The sample scan_sample and a gather would give (the `want` finite rows whose ids hash
  // lowest, over every rank when `collective` is not null), ordered by hash, into `sample`;
  // returns its rows. Reads only the rows it takes from `fragment_ids`, this rank's share
  // (sample_take.cc): for local datasets, where a read per run of rows is cheap.
  // With `shared` (room for `want` rows, the same memory on every rank: lancer/shared_memory.h)
  // the sample is made there instead, each rank reading its rows straight into their places.
  Result<size_t> take_sample(const std::vector<uint64_t>& fragment_ids, size_t want, core::Collective* collective,
                             core::Executor& executor, core::UninitVector<float>* sample,
                             float* shared = nullptr) const;

  CreateIndexOptions options_;
  std::shared_ptr<const dataset::Dataset> dataset_;
  dataset::VectorColumn column_;
  BuildRecord record_;
  std::string staging_;
  bool resumed_ = false;
  bool in_process_ = false;
  bool background_writes_ = false;  // upload() in the background: in_process_ or write_in_background()
  int lock_fd_ = -1;
  std::vector<float> supplied_centroids_, supplied_codebook_;
  std::string supplied_rq_model_;  // IVF_RQ: the rabitq_model file's JSON
  std::mutex model_mu_;            // guards model_ and model_checksum_ while they are set
  std::shared_ptr<const ivf::IndexModel> model_;
  uint64_t model_checksum_ = 0;
  std::mutex prepared_mu_;                                 // guards the two below
  std::shared_ptr<const ivf::IndexModel> prepared_model_;  // the model prepared_ was made from
  std::shared_ptr<const linalg::PreparedCentroids> prepared_;
  // Tasks this process has seen done (a record, its model, its spill's size): checked once.
  mutable std::mutex done_mu_;
  mutable std::map<uint64_t, TaskResult> done_cache_;
  mutable std::map<uint64_t, TaskResult> graph_done_cache_;  // graph tasks, the same way
  std::function<void(const ProgressEvent&)> progress_;
  CreateIndexReport report_;
  // Staging uploads in flight (see plan's in_process), oldest first.
  std::mutex uploads_mu_;
  std::once_flag early_aux_once_;
  std::future<Result<std::vector<uint64_t>>> early_aux_;
  std::atomic<bool> early_aux_stop_{false};
  bool early_had_indices_dir_ = true;
  struct Upload {
    std::future<Status> done;
    bool graph = false;
  };
  std::deque<Upload> uploads_;
  Status upload_error_;
};

template <typename Fn>
Status IndexBuild::upload(const std::string& path, Fn&& fn, bool local_too, bool graph) {
  if (!background_writes_ || !(local_too || storage::is_object_store(path))) return fn();
  std::lock_guard lock(uploads_mu_);
  uploads_.push_back({std::async(std::launch::async, std::forward<Fn>(fn)), graph});
  // A few in flight on an object store: each holds its unsent bytes. Locally the one before this
  // one: a task that stops the process loses no more than the task it runs and the one whose
  // record is being written.
  const size_t in_flight = storage::is_object_store(path) ? 4 : 1;
  while (uploads_.size() > in_flight) {
    Status st = uploads_.front().done.get();
    if (upload_error_.ok()) upload_error_ = st;
    uploads_.pop_front();
  }
  return Status::OK();
}

}  // namespace lancer::pipeline

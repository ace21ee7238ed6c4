// The finalize phase: refuse while a task is missing, merge every task's spill
// partition by partition into each segment's auxiliary.idx and index.idx, then
// commit (commit_index.h) and remove the staging folder.
#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <optional>

#include "core/process_stats.h"
#include "ivf/hnsw_index_file.h"
#include "pipeline/commit_index.h"
#include "pipeline/fault.h"
#include "pipeline/index_build.h"
#include "pipeline/partition_graphs.h"
#include "pipeline/spill.h"
#include "storage/concurrently.h"
#include "storage/file_io.h"

namespace lancer::pipeline {

namespace {

namespace fs = std::filesystem;
using core::Clock;
using core::seconds_since;

// Decoded vectors of the partitions whose graphs are built at once (and held with their rows).
constexpr size_t kGraphWindowBytes = size_t{64} << 20;

}  // namespace

Result<CreateIndexReport> IndexBuild::finalize(core::Executor& executor) {
  LANCER_RETURN_IF_ERROR(settle_uploads());
  LANCER_ASSIGN_OR_RETURN(auto model, this->model());
  const std::string& uuid = record_.uuid;
  // Already committed (a rerun after a crash between commit and cleanup)? Not when this process
  // planned the build: its uuid is new.
  if (resumed_) {
    LANCER_ASSIGN_OR_RETURN(auto latest, dataset::Dataset::open(options_.uri));
    LANCER_ASSIGN_OR_RETURN(auto existing, latest->indices());
    for (const auto& idx : existing) {
      if (idx.uuid == uuid) {
        report_.version = latest->version();
        discard();
        return report_;
      }
    }
  }
  const auto missing = missing_tasks();
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 20; ++i) list += (i ? ", " : "") + std::to_string(missing[i]);
    if (missing.size() > 20) list += ", ...";
    return Status::InvalidArgument(std::to_string(missing.size()) + " of " + std::to_string(record_.tasks.size()) +
                                   " tasks are not built yet in " + staging_ + ": " + list +
                                   " (run `lancer build-task --task N` for each)");
  }
  // Sum the task records; open every spill.
  std::vector<std::unique_ptr<SpillFile>> spills(record_.tasks.size());
  std::map<std::string, std::pair<uint64_t, double>> per_worker;
  report_.rows = report_.null_rows = report_.deleted_rows = report_.skipped_nonfinite = 0;
  double busy = 0;
  std::vector<TaskResult> results;
  for (uint64_t i = 0; i < record_.tasks.size(); ++i) {
    LANCER_ASSIGN_OR_RETURN(TaskResult r, read_task_done(i));
    report_.rows += r.rows;
    report_.null_rows += r.null_rows;
    report_.deleted_rows += r.deleted_rows;
    report_.skipped_nonfinite += r.skipped_nonfinite;
    busy += r.busy_s;
    auto& w = per_worker[r.worker];
    w.first += 1;
    w.second += r.busy_s;
    results.push_back(r);
  }
  // Opening a spill reads its run table: a round trip each on an object store, so many at once.
  {
    std::vector<Status> opened(spills.size());
    storage::for_each_concurrently(spills.size(), 16, [&](size_t i) {
      auto s =
          SpillFile::open(task_path(i, ".run"), model->num_partitions, model->storage_row_bytes(), results[i].bytes);
      if (s.ok()) {
        spills[i] = std::move(s).value();
      } else {
        opened[i] = s.status();
      }
    });
    for (const Status& st : opened) LANCER_RETURN_IF_ERROR(st);
  }
  if (report_.build_s == 0) report_.build_s = busy;
  report_.workers.clear();
  for (const auto& [name, w] : per_worker) report_.workers.push_back({name, w.first, w.second});

  if (report_.rows == 0) {
    return Status::InvalidArgument("column " + record_.params.column + " has no non-null finite vectors to index");
  }
  // Segments: contiguous groups of tasks balanced by rows; one unless
  // num_segments > 1 (then each is an index of the same name over its fragments).
  std::vector<std::string> uuids = record_.segment_uuids;
  if (uuids.empty()) uuids.push_back(uuid);
  std::vector<size_t> seg_begin{0};
  {
    uint64_t total = 0, acc = 0;
    for (const auto& task : record_.tasks) total += task.rows;
    for (size_t i = 0; i < record_.tasks.size() && seg_begin.size() < uuids.size(); ++i) {
      acc += record_.tasks[i].rows;
      const size_t left_tasks = record_.tasks.size() - (i + 1), left_segments = uuids.size() - seg_begin.size();
      if (left_tasks >= left_segments &&
          (acc * uuids.size() >= total * seg_begin.size() || left_tasks == left_segments)) {
        seg_begin.push_back(i + 1);
      }
    }
    seg_begin.push_back(record_.tasks.size());
  }

  auto t = Clock::now();
  std::optional<graph::HnswParams> hnsw;
  if (model->kind.sub == quant::SubIndexKind::kHnsw) {
    hnsw = graph::HnswParams{static_cast<uint32_t>(record_.params.m),
                             static_cast<uint32_t>(record_.params.ef_construction),
                             static_cast<uint32_t>(record_.params.max_level)};
  }
  const std::string indices_dir = storage::join_path(dataset_->root(), "_indices");
  // (An object store has no folders to leave behind.)
  const bool had_indices_dir = storage::is_object_store(indices_dir) || storage::is_directory(indices_dir);
  std::future<Result<uint64_t>> index_file;  // written while the partitions are merged
  auto fail = [&](Status s) {
    if (index_file.valid()) index_file.wait();  // before the removal: nothing lands after it
    for (const auto& u : uuids) (void)storage::remove_tree(storage::join_path(indices_dir, u));
    if (!had_indices_dir && !storage::is_object_store(indices_dir)) (void)storage::remove_tree(indices_dir);
    return s;
  };
  lance::CreateIndexCommit commit;
  commit.root = dataset_->root();
  commit.read_version = record_.dataset_version;
  if (dataset_->version() == record_.dataset_version) {
    commit.read_manifest = &dataset_->manifest_file();
    commit.naming = dataset_->versions().naming;
  }
  commit.replace = options_.replace;
  const uint64_t created_at = created_at_now();
  for (size_t seg = 0; seg < uuids.size(); ++seg) {
    const std::string index_dir = storage::join_path(indices_dir, uuids[seg]);
    Status prepared = resumed_ ? storage::remove_tree(index_dir) : Status::OK();  // a merge interrupted before
    if (prepared.ok()) prepared = storage::make_directories(index_dir);
    if (!prepared.ok()) return fail(prepared);
    const std::string aux_path = storage::join_path(index_dir, "auxiliary.idx");
    const std::string idx_path = storage::join_path(index_dir, "index.idx");
    auto aux = ivf::AuxiliaryFileWriter::create(aux_path, model);
    if (!aux.ok()) return fail(aux.status());
    // index.idx: the centroids (written meanwhile), or with HNSW the graphs, partition by partition.
    std::unique_ptr<ivf::HnswIndexFileWriter> graph_file;
    if (hnsw) {
      auto created = ivf::HnswIndexFileWriter::create(idx_path, model, *hnsw);
      if (!created.ok()) return fail(created.status());
      graph_file = std::move(created).value();
    } else {
      index_file = std::async(std::launch::async, [&] { return ivf::write_index_file(idx_path, *model); });
    }
    // Partitions in windows: one at a time, or with HNSW as many as fill kGraphWindowBytes of
    // decoded vectors, their graphs built in parallel.
    std::vector<PartitionRows> parts;
    std::vector<graph::HnswGraph> graphs;
    for (uint32_t p0 = 0; p0 < model->num_partitions;) {
      uint32_t p1 = p0;
      size_t window_bytes = 0;
      do {
        if (parts.size() < p1 - p0 + 1) parts.emplace_back();
        PartitionRows& part = parts[p1 - p0];
        part.ids.clear();
        part.storage.clear();
        for (size_t i = seg_begin[seg]; i < seg_begin[seg + 1]; ++i) {
          Status st = spills[i]->append_partition(p1, &part.ids, &part.storage);
          if (!st.ok()) return fail(st);
        }
        window_bytes += part.ids.size() * column_.type.dim * sizeof(float);
        ++p1;
      } while (hnsw && p1 < model->num_partitions && window_bytes < kGraphWindowBytes);
      const std::span<const PartitionRows> window(parts.data(), p1 - p0);
      if (hnsw) {
        graphs.assign(window.size(), graph::HnswGraph{});
        Status st = build_partition_graphs(*model, *hnsw, window, graphs, executor);
        if (!st.ok()) return fail(st);
      }
      for (uint32_t p = p0; p < p1; ++p) {
        const PartitionRows& part = window[p - p0];
        Status st = (*aux)->write_partition(p, part.ids.data(), part.storage.data(), part.ids.size());
        if (st.ok() && graph_file) st = graph_file->write_partition(p, graphs[p - p0]);
        if (!st.ok()) return fail(st);
        if (p % 64 == 0) progress("merge", seg * model->num_partitions + p, uuids.size() * model->num_partitions);
        if (p == model->num_partitions / 2) maybe_kill_at("merge");
      }
      p0 = p1;
    }
    auto aux_size = (*aux)->finish();
    if (!aux_size.ok()) return fail(aux_size.status());
    auto idx_size = graph_file ? graph_file->finish() : index_file.get();
    if (!idx_size.ok()) return fail(idx_size.status());

    SegmentFiles files;
    files.uuid = uuids[seg];
    if (uuids.size() == 1) {
      for (const auto& f : dataset_->fragments()) files.fragment_ids.push_back(static_cast<uint32_t>(f.id));
    } else {
      for (size_t i = seg_begin[seg]; i < seg_begin[seg + 1]; ++i) {
        for (uint64_t f : record_.tasks[i].fragment_ids) files.fragment_ids.push_back(static_cast<uint32_t>(f));
      }
      std::sort(files.fragment_ids.begin(), files.fragment_ids.end());
    }
    files.aux_bytes = *aux_size;
    files.index_bytes = *idx_size;
    files.hnsw = hnsw;
    auto idx = segment_metadata(files, *model, column_.field_id, record_.params.name, record_.dataset_version,
                                created_at, staging_);
    if (!idx.ok()) return fail(idx.status());
    if (seg == 0) {
      commit.index = *std::move(idx);
    } else {
      commit.more_segments.push_back(*std::move(idx));
    }
  }
  progress("merge", 1, 1, true);
  spills.clear();
  report_.merge_s = seconds_since(t);
  report_.segments = uuids.size();

  t = Clock::now();
  // In process on an object store (a failure discards the build anyway), the staging folder goes
  // while the commit's round trips wait: all but build.json, which tells a rerun after a crash
  // here that the build may be committed (the check above); it goes once the commit is done.
  // (Objects left by a crash after that are a stale folder: the next plan or `cleanup` removes
  // them.)
  const bool clear_early = in_process_ && storage::is_object_store(staging_);
  std::future<Status> cleared;
  if (clear_early) {
    cleared = std::async(std::launch::async, [dir = staging_] { return storage::remove_tree(dir, {"build.json"}); });
  }
  auto committed = lance::commit_create_index(commit);
  if (!committed.ok()) {
    if (cleared.valid()) cleared.wait();
    return fail(committed.status());
  }
  report_.version = committed->version;
  if (clear_early) {
    const Status record_removed = storage::remove_file(storage::join_path(staging_, "build.json"));
    if (!cleared.get().ok() || !record_removed.ok()) discard();
  } else {
    discard();
  }
  report_.commit_s = seconds_since(t);
  return report_;
}

}  // namespace lancer::pipeline

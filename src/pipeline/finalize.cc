// The finalize phase: refuse while a task is missing, merge every task's spill
// partition by partition into each segment's auxiliary.idx and index.idx, then
// commit (commit_index.h) and remove the staging folder.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include "core/fault_injection.h"
#include "core/process_stats.h"
#include "ivf/hnsw_index_file.h"
#include "pipeline/commit_index.h"
#include "pipeline/graph_file.h"
#include "pipeline/index_build.h"
#include "pipeline/partition_graphs.h"
#include "pipeline/placed_rows.h"
#include "pipeline/spill.h"
#include "pipeline/task_labels.h"
#include "storage/concurrently.h"
#include "storage/file_io.h"

namespace lancer::pipeline {

namespace {

namespace fs = std::filesystem;
using core::Clock;
using core::seconds_since;

constexpr size_t kMinPlacedRowBytes = 2048;

// One thread for a whole merge that writes each partition while the next one is gathered (a
// thread started per partition was 447 thread starts of the 527 in a 200,000 x 128 build).
class PartitionWriter {
 public:
  PartitionWriter() : thread_([this] { loop(); }) {}
  ~PartitionWriter() {
    {
      std::lock_guard lock(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();  // (a job handed over runs first)
  }
  PartitionWriter(const PartitionWriter&) = delete;
  PartitionWriter& operator=(const PartitionWriter&) = delete;
  // Runs `job` on the writer thread; the one before must have been waited for.
  void start(std::function<Status()> job) {
    {
      std::lock_guard lock(mu_);
      job_ = std::move(job);
    }
    cv_.notify_all();
  }
  // Once the job started last is done: its status (OK when there was none).
  Status wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !job_ && !running_; });
    return std::exchange(result_, Status::OK());
  }

 private:
  void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return quit_ || job_; });
      if (!job_) return;  // quit_, nothing left
      std::function<Status()> job = std::exchange(job_, nullptr);
      running_ = true;
      lock.unlock();
      Status st = job();
      lock.lock();
      running_ = false;
      result_ = std::move(st);
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<Status()> job_;
  bool running_ = false, quit_ = false;
  Status result_;
  std::thread thread_;  // last: started once the rest is ready
};

}  // namespace

bool IndexBuild::places_rows(const ivf::IndexModel& model) const {
  // Local datasets and local staging only: the merge reads rows by position from the data files, and
  // the labels of a staging folder on an object store would be one more upload path to prove.
  if (!in_process_ || storage::is_object_store(dataset_->root()) || storage::is_object_store(staging_)) return false;
  if (model.kind.sub != quant::SubIndexKind::kFlat) return false;
  if (model.kind.quantizer != quant::QuantizerKind::kFlat && model.kind.quantizer != quant::QuantizerKind::kSq) {
    return false;
  }
  uint64_t rows = 0;
  for (const auto& task : record_.tasks) {
    if (task.rows > std::numeric_limits<uint32_t>::max()) return false;  // (positions are 32-bit)
    rows += task.rows;
  }
  // LANCER_PLACE_ROWS=always / never decides for tests and measurements (the bytes are the same).
  const char* forced = std::getenv("LANCER_PLACE_ROWS");
  if (forced != nullptr && std::string_view(forced) == "always") return true;
  if (forced != nullptr && std::string_view(forced) == "never") return false;
  // A row read back from the dataset costs a read of its own (a partition's rows lie far apart);
  // a spilled row, its share of a sequential write and read. Below ~2 KiB of storage a row
  // (128-d FLAT, 1024-d SQ) the spill was faster (docs/performance.md, issue 17). And the merge's
  // reads must find the vectors in the page cache, where phase 2 left them: one read from the disk
  // per row would cost far more than the spill. So the vectors must fit in half of the memory.
  return model.storage_row_bytes() >= kMinPlacedRowBytes &&
         rows * column_.type.row_bytes() <= core::physical_memory_bytes() / 2;
}

Status IndexBuild::open_task_rows(const std::shared_ptr<const ivf::IndexModel>& model, std::vector<TaskResult>* results,
                                  std::vector<std::unique_ptr<TaskRows>>* rows) const {
  results->clear();
  for (uint64_t i = 0; i < record_.tasks.size(); ++i) {
    LANCER_ASSIGN_OR_RETURN(TaskResult r, read_task_done(i));
    results->push_back(r);
  }
  // Opening a spill reads its run table: a round trip each on an object store, so many at once.
  rows->clear();
  rows->resize(record_.tasks.size());
  std::vector<Status> opened(rows->size());
  storage::for_each_concurrently(rows->size(), 16, [&](size_t i) {
    const std::string path = task_path(i, ".run");
    const uint64_t bytes = (*results)[i].bytes;
    Status st;
    if ((*results)[i].labels) {
      auto labels = TaskLabels::open(path, model->num_partitions, record_.tasks[i].rows, bytes);
      auto placed = labels.ok() ? PlacedRows::open(dataset_, column_, record_.tasks[i].fragment_ids, model, **labels)
                                : Result<std::unique_ptr<PlacedRows>>(labels.status());
      if (placed.ok()) {
        (*rows)[i] = std::move(placed).value();
      } else {
        st = placed.status();
      }
    } else {
      auto s = SpillFile::open(path, model->num_partitions, model->storage_row_bytes(), bytes);
      if (s.ok()) {
        (*rows)[i] = std::move(s).value();
      } else {
        st = s.status();
      }
    }
    if (!st.ok()) opened[i] = forget_damaged_task(i, st);
  });
  for (const Status& st : opened) LANCER_RETURN_IF_ERROR(st);
  return Status::OK();
}

std::vector<size_t> IndexBuild::segment_starts() const {
  const size_t segments = std::max<size_t>(1, record_.segment_uuids.size());
  std::vector<size_t> starts{0};
  uint64_t total = 0, acc = 0;
  for (const auto& task : record_.tasks) total += task.rows;
  for (size_t i = 0; i < record_.tasks.size() && starts.size() < segments; ++i) {
    acc += record_.tasks[i].rows;
    const size_t left_tasks = record_.tasks.size() - (i + 1), left_segments = segments - starts.size();
    if (left_tasks >= left_segments && (acc * segments >= total * starts.size() || left_tasks == left_segments)) {
      starts.push_back(i + 1);
    }
  }
  starts.push_back(record_.tasks.size());
  return starts;
}

std::vector<std::string> IndexBuild::segment_uuid_list() const {
  std::vector<std::string> uuids = record_.segment_uuids;
  if (uuids.empty()) uuids.push_back(record_.uuid);
  return uuids;
}

Status IndexBuild::merge_rows(size_t seg, uint32_t num_partitions, const std::vector<std::unique_ptr<TaskRows>>& rows,
                              ivf::AuxiliaryFileWriter& aux, core::Executor* executor,
                              const std::atomic<bool>* stop) const {
  const std::vector<size_t> seg_begin = segment_starts();
  const size_t segments = seg_begin.size() - 1;
  const size_t first = seg_begin[seg], tasks = seg_begin[seg + 1] - first;
  const size_t rb = tasks > 0 ? rows[first]->row_bytes() : 0;
  // Two buffers of consecutive partitions: one gathered while the other is written on a thread of
  // its own (the writer waits on the disk, the gather reads the page cache). A group holds about
  // kGroupBytes: one hand-over and one parallel gather per group, not per partition (447
  // partitions of ~45 KB at 200,000 x 128 spent more on waking threads than on copying).
  constexpr uint64_t kGroupBytes = 1u << 20;
  struct Group {
    uint32_t begin = 0, end = 0;
    std::vector<uint64_t> at;  // (partition - begin) * tasks + task -> its first row in the group
    core::UninitVector<uint64_t> ids;
    core::ByteBuffer storage;
  };
  Group groups[2];
  PartitionWriter writer;
  auto written = [&]() { return writer.wait(); };
  std::vector<Status> read(tasks);
  const uint32_t half = num_partitions / 2;  // the kill point of the tests ends a group
  for (uint32_t begin = 0, g = 0; begin < num_partitions; ++g) {
    if (stop != nullptr && *stop) {
      (void)written();
      return Status::Internal("the build stopped");
    }
    Group& group = groups[g % 2];
    // Each partition's rows after the partitions before it, each task's after the tasks before it.
    group.begin = begin;
    group.at.assign(1, 0);
    uint32_t end = begin;
    while (end < num_partitions && (end == begin || group.at.back() * (8 + rb) < kGroupBytes)) {
      for (size_t i = 0; i < tasks; ++i) group.at.push_back(group.at.back() + rows[first + i]->rows_in(end));
      if (end++ == half) break;
    }
    group.end = end;
    const uint64_t n = group.at.back();
    group.ids.resize(n);
    group.storage.resize(n * rb);
    auto gather = [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        for (uint32_t p = begin; p < end && read[i].ok(); ++p) {
          const uint64_t row = group.at[(p - begin) * tasks + i];
          if (group.at[(p - begin) * tasks + i + 1] > row) {
            read[i] = rows[first + i]->read_partition(p, group.ids.data() + row, group.storage.data() + row * rb);
          }
        }
      }
    };
    if (executor != nullptr && tasks > 1) {
      executor->parallel_for(tasks, 1, gather);
    } else {
      gather(0, tasks);
    }
    for (size_t i = 0; i < tasks; ++i) {
      if (!read[i].ok()) {
        (void)written();
        return forget_damaged_task(first + i, read[i]);
      }
    }
    LANCER_RETURN_IF_ERROR(written());
    writer.start([&aux, &group, tasks, rb] {
      for (uint32_t p = group.begin; p < group.end; ++p) {
        const uint64_t row = group.at[(p - group.begin) * tasks];
        const uint64_t rows_of_p = group.at[(p + 1 - group.begin) * tasks] - row;
        LANCER_RETURN_IF_ERROR(aux.write_partition(p, group.ids.data() + row, group.storage.data() + row * rb, rows_of_p));
      }
      return Status::OK();
    });
    if (stop == nullptr && (begin == 0 || (end - 1) / 64 != (begin - 1) / 64)) {
      progress("merge", seg * num_partitions + begin, segments * num_partitions);
    }
    if (end == half + 1) {
      (void)written();  // (a kill here leaves what a kill of the sequential merge left)
      core::maybe_kill_at("merge");
    }
    begin = end;
  }
  return written();
}

void IndexBuild::start_early_aux_files() {
  if (!in_process_ || resumed_ || storage::is_object_store(dataset_->root())) return;
  std::call_once(early_aux_once_, [this] {
    early_had_indices_dir_ = storage::is_directory(storage::join_path(dataset_->root(), "_indices"));
    early_aux_ = std::async(std::launch::async, [this] { return write_aux_files(); });
  });
}

Result<std::vector<uint64_t>> IndexBuild::write_aux_files() {
  LANCER_ASSIGN_OR_RETURN(auto model, this->model());
  std::vector<TaskResult> results;
  std::vector<std::unique_ptr<TaskRows>> rows;
  LANCER_RETURN_IF_ERROR(open_task_rows(model, &results, &rows));
  const std::string indices_dir = storage::join_path(dataset_->root(), "_indices");
  std::vector<uint64_t> sizes;
  const std::vector<std::string> uuids = segment_uuid_list();
  if (segment_starts().size() != uuids.size() + 1) return Status::Corruption(staging_ + "/build.json: segments");
  for (size_t seg = 0; seg < uuids.size(); ++seg) {
    const std::string index_dir = storage::join_path(indices_dir, uuids[seg]);
    LANCER_RETURN_IF_ERROR(storage::make_directories(index_dir));
    LANCER_ASSIGN_OR_RETURN(auto aux,
                            ivf::AuxiliaryFileWriter::create(storage::join_path(index_dir, "auxiliary.idx"), model));
    LANCER_RETURN_IF_ERROR(merge_rows(seg, model->num_partitions, rows, *aux, nullptr, &early_aux_stop_));
    LANCER_ASSIGN_OR_RETURN(uint64_t size, aux->finish());
    sizes.push_back(size);
  }
  return sizes;
}

void IndexBuild::settle_early_aux_files() {
  if (!early_aux_.valid()) return;  // never started, or finalize took the files
  early_aux_stop_ = true;
  (void)early_aux_.get();
  const std::string indices_dir = storage::join_path(dataset_->root(), "_indices");
  for (const auto& u : segment_uuid_list()) (void)storage::remove_tree(storage::join_path(indices_dir, u));
  if (!early_had_indices_dir_) (void)storage::remove_tree(indices_dir);
}

Result<CreateIndexReport> IndexBuild::finalize(core::Executor& executor) {
  LANCER_RETURN_IF_ERROR(settle_uploads());
  const std::string& uuid = record_.uuid;
  // Already committed (a rerun after a crash between commit and cleanup)? Not when this process
  // planned the build: its uuid is new.
  if (resumed_) {
    LANCER_ASSIGN_OR_RETURN(auto latest, dataset::Dataset::open(options_.uri));
    LANCER_ASSIGN_OR_RETURN(const bool committed, names_index(*latest, uuid));
    if (committed) {
      report_.version = latest->version();
      report_.already_committed = true;
      discard();
      return report_;
    }
  }
  LANCER_ASSIGN_OR_RETURN(auto model, this->model());
  const auto missing = missing_tasks();
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 20; ++i) list += (i ? ", " : "") + std::to_string(missing[i]);
    if (missing.size() > 20) list += ", ...";
    return Status::InvalidArgument(std::to_string(missing.size()) + " of " + std::to_string(record_.tasks.size()) +
                                   " tasks are not built yet in " + staging_ + ": " + list +
                                   " (run `lancer build-task --task N` for each)");
  }
  const uint64_t graph_task_count = graph_tasks();
  std::vector<uint64_t> missing_graphs;
  for (uint64_t t = 0; t < graph_task_count; ++t) {
    if (!graph_task_done(t)) missing_graphs.push_back(t);
  }
  if (!missing_graphs.empty()) {
    return Status::InvalidArgument(std::to_string(missing_graphs.size()) + " of " + std::to_string(graph_task_count) +
                                   " graph tasks are not built yet in " + staging_ + ", the first " +
                                   std::to_string(missing_graphs.front()) +
                                   " (run `lancer run-phase --phase graph --task N` for each)");
  }
  // Sum the task records; open every task's output.
  std::vector<std::unique_ptr<TaskRows>> spills;
  std::vector<TaskResult> results;
  LANCER_RETURN_IF_ERROR(open_task_rows(model, &results, &spills));
  std::map<std::string, std::pair<uint64_t, double>> per_worker;
  report_.rows = report_.null_rows = report_.deleted_rows = report_.skipped_nonfinite = 0;
  double busy = 0;
  for (const TaskResult& r : results) {
    report_.rows += r.rows;
    report_.null_rows += r.null_rows;
    report_.deleted_rows += r.deleted_rows;
    report_.skipped_nonfinite += r.skipped_nonfinite;
    busy += r.busy_s;
    auto& w = per_worker[r.worker];
    w.first += 1;
    w.second += r.busy_s;
  }
  if (report_.build_s == 0) report_.build_s = busy;
  report_.workers.clear();
  for (const auto& [name, w] : per_worker) report_.workers.push_back({name, w.first, w.second});

  if (report_.rows == 0) {
    return Status::InvalidArgument("column " + record_.params.column + " of " + options_.uri +
                                   " has no non-null finite vectors to index (every row is null, NaN or infinite)");
  }
  const std::vector<std::string> uuids = segment_uuid_list();
  const std::vector<size_t> seg_begin = segment_starts();
  if (seg_begin.size() != uuids.size() + 1) {
    return Status::Corruption(staging_ + "/build.json: " + std::to_string(uuids.size()) + " segment uuids for " +
                              std::to_string(seg_begin.size() - 1) + " segments");
  }

  auto t = Clock::now();
  std::optional<graph::HnswParams> hnsw;
  if (model->kind.sub == quant::SubIndexKind::kHnsw) {
    hnsw = hnsw_params(record_.params);
  }
  const std::string indices_dir = storage::join_path(dataset_->root(), "_indices");
  // auxiliary.idx of every segment, when it was written during the graph phase.
  std::optional<std::vector<uint64_t>> early_aux;
  const bool early = early_aux_.valid();
  Status early_status;
  if (early) {
    auto written = early_aux_.get();
    if (written.ok()) {
      early_aux = std::move(written).value();
    } else {
      early_status = written.status();
    }
  }
  // (An object store has no folders to leave behind.)
  const bool had_indices_dir =
      early ? early_had_indices_dir_ : storage::is_object_store(indices_dir) || storage::is_directory(indices_dir);
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
  if (!early_status.ok()) return fail(early_status);
  for (size_t seg = 0; seg < uuids.size(); ++seg) {
    const std::string index_dir = storage::join_path(indices_dir, uuids[seg]);
    const std::string aux_path = storage::join_path(index_dir, "auxiliary.idx");
    const std::string idx_path = storage::join_path(index_dir, "index.idx");
    std::unique_ptr<ivf::AuxiliaryFileWriter> aux;
    if (!early_aux) {
      Status prepared = resumed_ ? storage::remove_tree(index_dir) : Status::OK();  // a merge interrupted before
      if (prepared.ok()) prepared = storage::make_directories(index_dir);
      if (!prepared.ok()) return fail(prepared);
      auto created = ivf::AuxiliaryFileWriter::create(aux_path, model);
      if (!created.ok()) return fail(created.status());
      aux = std::move(created).value();
    }
    // index.idx, written meanwhile on a thread of its own: the centroids, or with HNSW the graphs
    // the graph phase built, read from its tasks' files in partition order. The two files share
    // nothing, and writing each is most of the merge (auxiliary.idx's rows for IVF_HNSW_FLAT).
    std::atomic<bool> stop{false};  // the merge failed: the graphs need not be finished
    if (hnsw) {
      auto created = ivf::HnswIndexFileWriter::create(idx_path, model, *hnsw);
      if (!created.ok()) return fail(created.status());
      const uint64_t first_task = seg * (graph_task_count / uuids.size());
      index_file = std::async(
          std::launch::async,
          [this, &model, &stop, first_task, graph_file = std::move(created).value()]() -> Result<uint64_t> {
            std::unique_ptr<GraphFileReader> graphs;
            uint64_t graph_task = first_task;
            for (uint32_t p = 0; p < model->num_partitions && !stop; ++p) {
              if (!graphs || p >= graph_range(graph_task).end) {  // the next graph task's file
                if (graphs) ++graph_task;
                LANCER_ASSIGN_OR_RETURN(auto done, read_graph_done(graph_task));
                LANCER_ASSIGN_OR_RETURN(graphs, GraphFileReader::open(graph_path(graph_task, ".bin"), done.bytes));
              }
              LANCER_ASSIGN_OR_RETURN(auto g, graphs->next(p));
              LANCER_RETURN_IF_ERROR(graph_file->write_partition(p, g));
            }
            if (stop) return Status::Internal("the merge failed");  // (fail() reports the merge's own error)
            return graph_file->finish();
          });
    } else {
      index_file = std::async(std::launch::async, [&] { return ivf::write_index_file(idx_path, *model); });
    }
    auto fail_merge = [&](Status st) {
      stop = true;
      return fail(std::move(st));
    };
    // Partition by partition: the rows from every spill of the segment.
    uint64_t aux_bytes = 0;
    if (early_aux) {
      aux_bytes = (*early_aux)[seg];
    } else {
      Status st = merge_rows(seg, model->num_partitions, spills, *aux, &executor, nullptr);
      if (!st.ok()) return fail_merge(st);
      auto aux_size = aux->finish();
      if (!aux_size.ok()) return fail_merge(aux_size.status());
      aux_bytes = *aux_size;
    }
    auto idx_size = index_file.get();
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
    files.aux_bytes = aux_bytes;
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
  core::maybe_kill_at("commit");  // tests: committed, the staging folder still there
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

// The encode phase: task i streams its fragments, assigns each vector to a
// partition, encodes it (raw, SQ or PQ) and writes a partition-sorted spill
// with a done-record; and the done-records that say which tasks are finished.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "core/fault_injection.h"
#include "core/half.h"
#include "core/process_stats.h"
#include "dataset/read_ahead.h"
#include "linalg/nearest.h"
#include "linalg/norms.h"
#include "pipeline/index_build.h"
#include "pipeline/spill.h"
#include "pipeline/staging.h"
#include "pipeline/task_labels.h"
#include "pipeline/vector_rows.h"
#include "storage/concurrently.h"
#include "storage/file_io.h"
#include "train/kmeans.h"

namespace lancer::pipeline {

namespace {

namespace fs = std::filesystem;
using core::Clock;
using core::seconds_since;
using json = nlohmann::ordered_json;
using linalg::MatrixView;

constexpr size_t kRunBytes = 32u << 20;

// The encoded batches go into the spill on a thread of its own: buffering, sorting a run by
// partition and writing it are serial work that would leave the pool idle, so they run while
// the pool assigns the next batch. The spill sees the same rows in the same order and flushes
// at the same points: its bytes do not change. With a pool of one thread (--threads 1: one
// core), in the caller.
class SpillFeeder {
 public:
  struct Batch {
    std::vector<uint32_t> labels;
    std::vector<uint64_t> ids;
    std::vector<uint8_t> codes;
  };
  SpillFeeder(SpillFile& spill, size_t run_bytes, bool threaded) : spill_(spill), run_bytes_(run_bytes) {
    for (auto& b : slots_) free_.push_back(&b);
    if (threaded) thread_ = std::thread([this] { loop(); });
  }
  ~SpillFeeder() { (void)finish(); }
  // A batch to fill, once one is free; null after a failure (finish() says which).
  Batch* free_batch() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !free_.empty() || !status_.ok(); });
    if (!status_.ok()) return nullptr;
    Batch* b = free_.front();
    free_.pop_front();
    return b;
  }
  void push(Batch* b) {
    std::lock_guard lock(mu_);
    queue_.push_back(b);
    cv_.notify_all();
    if (!thread_.joinable()) feed_queued();
  }
  // Waits until every pushed batch is in the spill; the first error.
  Status finish() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
    return status_;
  }

 private:
  void loop() {
    for (;;) {
      Batch* b = nullptr;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty() || done_; });
        if (queue_.empty()) return;
        b = queue_.front();
        queue_.pop_front();
      }
      const Status st = feed(b);
      std::lock_guard lock(mu_);
      if (!st.ok()) status_ = st;
      free_.push_back(b);
      cv_.notify_all();
    }
  }
  // Unthreaded, under mu_: the batch just pushed.
  void feed_queued() {
    Batch* b = queue_.front();
    queue_.pop_front();
    const Status st = feed(b);
    if (!st.ok()) status_ = st;
    free_.push_back(b);
  }
  Status feed(Batch* b) {
    if (!status_.ok()) return Status::OK();  // (only the feeding thread writes status_)
    spill_.add_rows(b->ids.size(), b->labels.data(), b->ids.data(), b->codes.data());
    return spill_.maybe_flush(run_bytes_);
  }

  SpillFile& spill_;
  const size_t run_bytes_;
  Batch slots_[2];
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch*> queue_, free_;
  bool done_ = false;
  Status status_;
  std::thread thread_;
};

}  // namespace

Result<TaskResult> IndexBuild::read_task_done(uint64_t task) const {
  return checked_record(done_cache_, task, task_path(task, ".done"), task_path(task, ".run"), /*row_counts=*/true);
}

Result<TaskResult> IndexBuild::checked_record(std::map<uint64_t, TaskResult>& cache, uint64_t task,
                                              const std::string& record, const std::string& output,
                                              bool row_counts) const {
  {
    std::lock_guard lock(done_mu_);
    if (auto it = cache.find(task); it != cache.end()) return it->second;
  }
  LANCER_ASSIGN_OR_RETURN(auto j, read_record(record));
  TaskResult r;
  try {
    r.task = j.at("task");
    if (row_counts) {
      r.rows = j.at("rows");
      r.null_rows = j.at("null_rows");
      r.deleted_rows = j.at("deleted_rows");
      r.skipped_nonfinite = j.at("skipped_nonfinite");
      r.labels = j.value("output", "spill") == "labels";
    }
    r.bytes = j.at("bytes");
    r.busy_s = j.at("busy_s");
    r.worker = j.at("worker");
    if (j.at("model_checksum") != hex64(model_checksum_) || r.task != task) {
      return Status::Corruption(record + ": recorded for another model or task");
    }
  } catch (const std::exception& e) {
    return Status::Corruption(record + ": " + e.what());
  }
  const auto size = storage::file_size(output);
  if (!size.ok() || *size != r.bytes) return Status::Corruption(output + ": missing or of the wrong size");
  std::lock_guard lock(done_mu_);
  cache[task] = r;
  return r;
}

Status IndexBuild::forget_damaged_task(uint64_t task, Status st) const {
  if (st.code() != StatusCode::kCorruption) return st;
  const std::string done = task_path(task, ".done");
  if (!storage::remove_file(done).ok()) return st;
  {
    std::lock_guard lock(done_mu_);
    done_cache_.erase(task);
  }
  return Status::Corruption(st.message() + "; removed " + done + ", so that a rerun (or `lancer build-task --task " +
                            std::to_string(task) + "`) builds the task again");
}

Result<std::shared_ptr<const linalg::PreparedCentroids>> IndexBuild::prepared_centroids(
    const std::shared_ptr<const ivf::IndexModel>& model) {
  // Preparing 566 x 2048 centroids (scaled copies, norms, the bf16 proposal's panels and its
  // k x k bounds) took several ms, per task before; a rank runs many tasks of one model.
  std::lock_guard lock(prepared_mu_);
  if (prepared_ && prepared_model_ == model) return prepared_;
  const size_t dim = column_.type.dim;
  // The same checks as before (shape, finite values), once.
  LANCER_ASSIGN_OR_RETURN(auto kmeans,
                          train::kmeans_from_centroids(model->centroids, static_cast<int>(dim), model->metric));
  prepared_ = std::make_shared<const linalg::PreparedCentroids>(kmeans->view(), kmeans->metric);
  prepared_model_ = model;
  return prepared_;
}

bool IndexBuild::task_done(uint64_t task) {
  // A record is checked against the model's checksum: without the model nothing is done.
  return model().ok() && read_task_done(task).ok();
}

std::vector<uint64_t> IndexBuild::missing_tasks() {
  // Each check is a round trip or two on an object store: many at a time, the model loaded first.
  std::vector<char> done(record_.tasks.size(), 0);
  if (model().ok()) {
    storage::for_each_concurrently(done.size(), 32, [&](size_t i) { done[i] = read_task_done(i).ok() ? 1 : 0; });
  }
  std::vector<uint64_t> missing;
  for (uint64_t i = 0; i < done.size(); ++i) {
    if (!done[i]) missing.push_back(i);
  }
  return missing;
}

Result<TaskResult> IndexBuild::build_task(uint64_t task, core::Executor& pool, const std::string& worker) {
  if (task >= record_.tasks.size()) {
    return Status::InvalidArgument("task " + std::to_string(task) + " does not exist (the plan has " +
                                   std::to_string(record_.tasks.size()) + " tasks)");
  }
  LANCER_ASSIGN_OR_RETURN(auto model, this->model());
  // On an object store the task's first data arrives while its record is looked up.
  if (!record_.tasks[task].fragment_ids.empty()) {
    if (auto first = dataset_->fragment_index(record_.tasks[task].fragment_ids.front())) {
      dataset::prefetch_fragment(*dataset_, column_, *first);
    }
  }
  // A build this process planned has no records but its own (a stale folder was removed).
  if (resumed_ && task_done(task)) {
    auto done = read_task_done(task);
    if (done.ok()) {
      done->reused = true;
      return done;
    }  // damaged: rebuild it
  }
  static std::atomic<int> tasks_started{0};
  const std::string kill_point = "task:" + std::to_string(tasks_started++);
  // The resume tests kill a process between tasks: after the tasks it finished are staged.
  if (core::kill_point_armed(kill_point)) (void)settle_uploads();
  core::maybe_kill_at(kill_point);
  core::maybe_delay_task();
  const auto t = Clock::now();
  const size_t dim = column_.type.dim;
  const simd::Metric metric = model->metric;
  LANCER_ASSIGN_OR_RETURN(auto prepared, prepared_centroids(model));
  const linalg::PreparedCentroids& centroids = *prepared;
  const size_t rb = model->storage_row_bytes();
  // Locally written under a temporary name and renamed; an object-store upload is invisible
  // until complete, so it goes to its final name.
  const std::string run_path = task_path(task, ".run");
  const bool in_place = storage::is_object_store(run_path);
  // The temporary name is this writer's own: two threads of one process (Python's build_task
  // from a thread pool) may build the same task at once.
  const std::string tmp = in_place ? run_path : storage::temporary_path(run_path);
  TaskResult result;
  result.task = task;
  result.worker = worker;
  result.labels = places_rows(*model);
  // The task's output: its rows encoded into a spill, or (one pass) only their partitions, each
  // at the row's place among the task's fragments' physical rows.
  std::unique_ptr<SpillFile> spill;
  std::unique_ptr<TaskLabels> labels;
  std::map<uint64_t, uint64_t> fragment_first;  // fragment id -> the task position of its first row
  if (result.labels) {
    uint64_t first = 0;
    for (uint64_t id : record_.tasks[task].fragment_ids) {
      const auto index = dataset_->fragment_index(id);
      if (!index) return Status::Corruption("fragment " + std::to_string(id) + " of the plan is not in the dataset");
      fragment_first[id] = first;
      first += dataset_->fragments()[*index].physical_rows;
    }
    labels = std::make_unique<TaskLabels>(tmp, model->num_partitions, first);
  } else {
    LANCER_ASSIGN_OR_RETURN(spill, SpillFile::create(tmp, model->num_partitions, rb));
  }
  dataset::StreamOptions so;
  so.fragment_ids = record_.tasks[task].fragment_ids;
  // A batch that fits one block of the assignment keeps one core busy (4 MiB
  // is 512 rows of 2048-d vectors): then batches hold one block per thread.
  // Batches only cut the stream; the spill's row order, and so the index bytes,
  // do not depend on them. (Growing 4 MiB batches that already held two
  // blocks, at 1024-d, made phase 2 ~20 % slower.)
  const size_t row_bytes = column_.type.row_bytes();
  const size_t block = linalg::nearest_row_block(model->num_partitions);
  const size_t threads = static_cast<size_t>(std::max(1, pool.num_threads()));
  if (threads == 1 && !storage::is_object_store(dataset_->root())) {
    // One thread (an MPI rank's usual share): 1 MiB batches keep a batch's rows, proposals,
    // residuals and codes in this core's part of the cache. With 4 MiB, two ranks on the two
    // cores of this machine took 0.2-0.4 s longer in phase 2 at 2,048-d (320,000 rows).
    // Object stores keep large batches: each batch's rows are a ranged read.
    so.batch_bytes = std::max(row_bytes, size_t{1} << 20);
  } else if (so.batch_bytes / row_bytes <= block) {
    so.batch_bytes = std::max(so.batch_bytes, std::min(threads * block * row_bytes, size_t{64} << 20));
  }
  LANCER_ASSIGN_OR_RETURN(auto opened, dataset::VectorStream::open(dataset_, record_.params.column, so));
  dataset::ReadAheadStream stream(std::move(opened));  // the next batch is read while this one is encoded
  dataset::VectorBatch batch;
  std::vector<float> x, scratch;
  std::vector<uint64_t> kept_ids;
  std::vector<uint32_t> kept_offsets, batch_labels;
  Status status;
  // A run is written once its rows reach kRunBytes: at most that and one batch are buffered.
  std::optional<SpillFeeder> feeder;
  if (spill) {
    spill->reserve(kRunBytes / (8 + rb) + so.batch_bytes / row_bytes + 1);
    feeder.emplace(*spill, kRunBytes, pool.num_threads() > 1);
  }
  for (;;) {
    auto more = stream.next(&batch);
    if (!more.ok() || !*more) {
      status = more.status();
      break;
    }
    // The batch is ours until the next call: its rows are used in place (cosine normalises
    // them there) unless some are not finite, which are left out of a compacted copy.
    float* v = const_cast<float*>(as_f32(batch, &scratch));
    size_t n = 0;
    while (n < batch.num_rows && finite_row(v + n * dim, dim)) ++n;
    const uint64_t* ids = batch.row_ids.data();
    const uint32_t* offsets = batch.offsets.data();
    if (n < batch.num_rows) {
      x.assign(v, v + n * dim);
      kept_ids.assign(ids, ids + n);
      kept_offsets.assign(offsets, offsets + n);
      for (size_t i = n; i < batch.num_rows; ++i) {
        if (!finite_row(v + i * dim, dim)) {
          ++result.skipped_nonfinite;
          continue;
        }
        x.insert(x.end(), v + i * dim, v + (i + 1) * dim);
        kept_ids.push_back(ids[i]);
        kept_offsets.push_back(offsets[i]);
      }
      n = kept_ids.size();
      v = x.data();
      ids = kept_ids.data();
      offsets = kept_offsets.data();
    }
    if (n == 0) continue;
    MatrixView<float> xv(v, n, dim);
    if (labels) {  // one pass: the partitions only, by the same rule
      if (metric == simd::Metric::kCosine) linalg::normalize_rows(xv, pool);
      batch_labels.resize(n);
      status = train::assign_partitions(centroids, xv, batch_labels, {}, pool);
      if (!status.ok()) break;
      const uint64_t first = fragment_first.at(batch.fragment_id);
      for (size_t i = 0; i < n; ++i) labels->set(first + offsets[i], batch_labels[i]);
      result.rows += n;
      continue;
    }
    SpillFeeder::Batch* out = feeder->free_batch();
    if (out == nullptr) break;  // the spill failed: finish() says why
    if (metric == simd::Metric::kCosine) linalg::normalize_rows(xv, pool);
    out->labels.resize(n);
    status = train::assign_partitions(centroids, xv, out->labels, {}, pool);
    if (!status.ok()) break;
    out->codes.resize(n * rb);
    status = model->codec->encode(MatrixView<const float>(xv), out->labels, model->centroids.data(), metric, out->codes,
                                  pool);
    if (!status.ok()) break;
    out->ids.assign(ids, ids + n);
    feeder->push(out);
    result.rows += n;
  }
  const Status fed = feeder ? feeder->finish() : Status::OK();
  if (status.ok()) status = fed;
  if (!status.ok()) {
    feeder.reset();
    spill.reset();
    if (!in_place) (void)storage::remove_file(tmp);
    return status;
  }
  result.null_rows = stream.stats().null_rows;
  result.deleted_rows = stream.stats().deleted_rows;
  result.busy_s = seconds_since(t);
  auto record_text = [this](const TaskResult& r) {
    json done{{"task", r.task},
              {"rows", r.rows},
              {"null_rows", r.null_rows},
              {"deleted_rows", r.deleted_rows},
              {"skipped_nonfinite", r.skipped_nonfinite},
              {"bytes", r.bytes},
              {"busy_s", r.busy_s},
              {"worker", r.worker},
              {"model_checksum", hex64(model_checksum_)}};
    if (r.labels) done["output"] = "labels";
    return done.dump(1);
  };
  const std::string done_path = task_path(task, ".done");
  if (in_place) {
    Result<uint64_t> bytes = spill ? spill->seal() : Result<uint64_t>(labels->seal());
    if (!bytes.ok()) return bytes.status();
    result.bytes = *bytes;
    // Object store: the record goes up while the spill's upload completes (one round trip less
    // per task). A record whose spill never arrived is not trusted: read_task_done checks the
    // spill's size, so the task is built again. In process, the next task starts meanwhile.
    auto complete = [this, done_path, text = record_text(result), spill = std::move(spill), labels = std::move(labels),
                     result]() mutable {
      auto record = std::async(std::launch::async, [&] { return write_record(done_path, text); });
      Result<uint64_t> finished = spill ? spill->finish() : labels->finish();
      spill.reset();
      labels.reset();
      Status recorded = record.get();
      if (!finished.ok() || !recorded.ok()) {
        (void)storage::remove_file(done_path);
        return finished.ok() ? recorded : finished.status();
      }
      std::lock_guard lock(done_mu_);
      done_cache_[result.task] = result;
      return Status::OK();
    };
    LANCER_RETURN_IF_ERROR(upload(done_path, std::move(complete)));
    return result;
  }
  // Locally: the last run and the run table written, the spill made durable, given its name,
  // then its record; in a build this process runs whole, in the background while the next task
  // encodes (the graph phase and finalize wait for it).
  auto complete = [this, tmp, run_path, done_path, record_text, spill = std::move(spill), labels = std::move(labels),
                   result]() mutable -> Status {
    Result<uint64_t> finished = spill ? spill->finish() : labels->finish();
    spill.reset();
    labels.reset();
    if (!finished.ok()) {
      (void)storage::remove_file(tmp);
      return finished.status();
    }
    result.bytes = *finished;
    std::error_code ec;
    fs::rename(tmp, run_path, ec);
    if (ec) return Status::IOError("cannot rename " + tmp + ": " + ec.message());
    LANCER_RETURN_IF_ERROR(write_record(done_path, record_text(result)));
    std::lock_guard lock(done_mu_);
    done_cache_[result.task] = result;
    return Status::OK();
  };
  LANCER_RETURN_IF_ERROR(upload(done_path, std::move(complete), /*local_too=*/true));
  return result;
}

}  // namespace lancer::pipeline

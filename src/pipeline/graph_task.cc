// The graph phase of IVF_HNSW_* builds: task t reads its run of partitions from every encode
// task's spill (one segment's tasks), builds each partition's graph (partition_graphs.h) and
// writes them to graphs/graph-NNNNNN.bin with a done-record, as encode tasks write spills. Graphs
// are independent of each other and of the task split, so any worker may build any task; finalize
// reads them back in partition order.

#include <algorithm>
#include <filesystem>
#include <future>

#include "core/process_stats.h"
#include "pipeline/graph_file.h"
#include "pipeline/index_build.h"
#include "pipeline/partition_graphs.h"
#include "pipeline/task_rows.h"
#include "storage/file_io.h"

namespace lancer::pipeline {

namespace {

namespace fs = std::filesystem;
using core::Clock;
using core::seconds_since;
using json = nlohmann::ordered_json;

// Graph tasks per segment: enough to spread over a cluster's workers, few enough that each
// task's reading of every spill stays small next to its graph work.
constexpr uint32_t kGraphTasksPerSegment = 32;
// Decoded vectors of the partitions whose graphs are built at once (and held with their rows).
constexpr size_t kGraphWindowBytes = size_t{64} << 20;

}  // namespace

uint64_t IndexBuild::graph_tasks() const {
  const auto kind = quant::parse_index_type(record_.params.index_type);
  if (!kind.ok() || kind->sub != quant::SubIndexKind::kHnsw) return 0;
  const uint64_t segments = segment_starts().size() - 1;
  return segments * std::min<uint64_t>(kGraphTasksPerSegment, uint64_t(record_.params.num_partitions));
}

IndexBuild::GraphRange IndexBuild::graph_range(uint64_t task) const {
  const uint64_t nlist = uint64_t(record_.params.num_partitions);
  const uint64_t per_segment = std::min<uint64_t>(kGraphTasksPerSegment, nlist);
  const uint64_t r = task % per_segment;
  return {static_cast<size_t>(task / per_segment), static_cast<uint32_t>(nlist * r / per_segment),
          static_cast<uint32_t>(nlist * (r + 1) / per_segment)};
}

std::string IndexBuild::graph_path(uint64_t task, const char* suffix) const {
  char name[64];
  std::snprintf(name, sizeof name, "graph-%06llu%s", static_cast<unsigned long long>(task), suffix);
  return storage::join_path(storage::join_path(staging_, "graphs"), name);
}

Result<TaskResult> IndexBuild::read_graph_done(uint64_t task) const {
  return checked_record(graph_done_cache_, task, graph_path(task, ".done"), graph_path(task, ".bin"),
                        /*row_counts=*/false);
}

bool IndexBuild::graph_task_done(uint64_t task) {
  return model().ok() && read_graph_done(task).ok();
}

Result<TaskResult> IndexBuild::build_graph_task(uint64_t task, core::Executor& executor, const std::string& worker) {
  if (task >= graph_tasks()) {
    return Status::InvalidArgument("graph task " + std::to_string(task) + " does not exist (the plan has " +
                                   std::to_string(graph_tasks()) + ")");
  }
  LANCER_ASSIGN_OR_RETURN(auto model, this->model());
  LANCER_RETURN_IF_ERROR(settle_uploads(/*except_graphs=*/true));  // the spills still being completed
  if (executor.num_threads() > 1) start_early_aux_files();  // (a thread more than --threads 1 allows)
  if (resumed_) {                            // a build this process planned has no graph records yet
    if (auto done = read_graph_done(task); done.ok()) {
      done->reused = true;
      return done;
    }
  }
  const auto t = Clock::now();
  const GraphRange range = graph_range(task);
  const std::vector<size_t> starts = segment_starts();
  std::vector<TaskResult> results;
  std::vector<std::unique_ptr<TaskRows>> spills;
  LANCER_RETURN_IF_ERROR(open_task_rows(model, &results, &spills));
  const std::string bin = graph_path(task, ".bin");
  const bool in_place = storage::is_object_store(bin);
  const std::string tmp = in_place ? bin : storage::temporary_path(bin);  // this writer's own
  LANCER_RETURN_IF_ERROR(storage::make_directories(storage::parent_path(bin)));
  LANCER_ASSIGN_OR_RETURN(auto out, storage::OutputFile::create(tmp));
  const graph::HnswParams params = hnsw_params(record_.params);
  std::vector<PartitionRows> parts;
  std::vector<graph::HnswGraph> graphs;
  Status st;
  for (uint32_t p0 = range.first; p0 < range.end && st.ok();) {
    uint32_t p1 = p0;
    size_t window_bytes = 0;
    do {
      if (parts.size() < p1 - p0 + 1) parts.emplace_back();
      PartitionRows& part = parts[p1 - p0];
      part.ids.clear();
      part.storage.clear();
      for (size_t i = starts[range.segment]; i < starts[range.segment + 1] && st.ok(); ++i) {
        st = spills[i]->append_partition(p1, &part.ids, &part.storage);
        if (!st.ok()) st = forget_damaged_task(i, st);
      }
      window_bytes += part.ids.size() * column_.type.dim * sizeof(float);
      ++p1;
    } while (st.ok() && p1 < range.end && window_bytes < kGraphWindowBytes);
    if (!st.ok()) break;
    graphs.assign(p1 - p0, graph::HnswGraph{});
    st =
        build_partition_graphs(*model, params, std::span<const PartitionRows>(parts.data(), p1 - p0), graphs, executor);
    for (uint32_t p = p0; p < p1 && st.ok(); ++p) st = append_graph(*out, p, graphs[p - p0]);
    p0 = p1;
  }
  if (!st.ok()) {
    out.reset();
    if (!in_place) (void)storage::remove_file(tmp);
    return st;
  }
  TaskResult result;
  result.task = task;
  result.worker = worker;
  result.bytes = out->written();
  result.busy_s = seconds_since(t);
  const std::string done_path = graph_path(task, ".done");
  json done{{"task", task},
            {"bytes", result.bytes},
            {"busy_s", result.busy_s},
            {"worker", worker},
            {"model_checksum", hex64(model_checksum_)}};
  // The file made durable, given its name, then its record: in a build this process runs whole,
  // in the background while the next task builds its graphs (finalize waits for it).
  auto complete = [this, in_place, tmp, bin, done_path, text = done.dump(1), out = std::move(out),
                   result]() mutable -> Status {
    Status finished = out->finish();
    out.reset();
    if (!finished.ok()) {
      if (!in_place) (void)storage::remove_file(tmp);
      return finished;
    }
    if (!in_place) {
      std::error_code ec;
      fs::rename(tmp, bin, ec);
      if (ec) return Status::IOError("cannot rename " + tmp + ": " + ec.message());
    }
    LANCER_RETURN_IF_ERROR(write_record(done_path, text));
    std::lock_guard lock(done_mu_);
    graph_done_cache_[result.task] = result;
    return Status::OK();
  };
  LANCER_RETURN_IF_ERROR(upload(done_path, std::move(complete), /*local_too=*/!in_place, /*graph=*/true));
  return result;
}

}  // namespace lancer::pipeline

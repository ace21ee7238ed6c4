// create_index and the per-phase entry points: thin wrappers over lancer::BuildHandle.
#include "lancer/create_index.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/process_stats.h"
#include "lancer/build.h"
#include "pipeline/staging.h"
#include "quant/index_kind.h"
#include "storage/file_io.h"

namespace lancer {

namespace {

using core::Clock;
using core::peak_rss_mb;
using core::seconds_since;

Status not_trained(const BuildHandle& b) {
  return Status::InvalidArgument("the model is not trained yet in " + b.summary().staging +
                                 " (run `lancer train` first)");
}

}  // namespace

std::string CreateIndexReport::to_json() const {
  nlohmann::ordered_json j;
  j["uri"] = uri;
  j["column"] = column;
  j["name"] = name;
  j["index_type"] = index_type;
  j["metric"] = metric;
  j["uuid"] = uuid;
  j["read_version"] = read_version;
  j["version"] = version;
  j["rows"] = rows;
  j["null_rows"] = null_rows;
  j["deleted_rows"] = deleted_rows;
  j["skipped_nonfinite"] = skipped_nonfinite;
  j["fragments"] = fragments;
  j["num_partitions"] = num_partitions;
  j["num_sub_vectors"] = num_sub_vectors;
  j["num_bits"] = num_bits;
  j["tasks"] = tasks;
  j["segments"] = segments;
  j["reused_tasks"] = reused_tasks;
  j["resumed"] = resumed;
  j["already_committed"] = already_committed;
  j["phases_s"] = {{"sample", sample_s}, {"train_ivf", train_ivf_s}, {"train_quantizer", train_quantizer_s},
                   {"build", build_s},   {"graph", graph_s},         {"merge", merge_s},
                   {"commit", commit_s}, {"total", total_s}};
  auto ws = nlohmann::ordered_json::array();
  for (const auto& w : workers) ws.push_back({{"worker", w.worker}, {"tasks", w.tasks}, {"busy_s", w.busy_s}});
  j["workers"] = ws;
  if (!ranks.empty()) {
    auto rs = nlohmann::ordered_json::array();
    for (const auto& r : ranks) {
      nlohmann::ordered_json phases;
      for (const auto& p : r.phases) {
        phases[p.phase] = {{"wall_s", p.wall_s},
                           {"cpu_s", p.cpu_s},
                           {"wait_s", p.wait_s},
                           {"end_wait_s", p.end_wait_s},
                           {"tasks", p.tasks}};
      }
      rs.push_back({{"worker", r.worker},
                    {"startup_s", r.startup_s},
                    {"startup_cpu_s", r.startup_cpu_s},
                    {"startup_wait_s", r.startup_wait_s},
                    {"sample_s", r.sample_s},
                    {"sample_cpu_s", r.sample_cpu_s},
                    {"phases", phases}});
    }
    j["ranks"] = rs;
  }
  j["sample_cpu_s"] = sample_cpu_s;
  j["peak_rss_mb"] = peak_rss_mb;
  return j.dump(2);
}

std::vector<std::string> buildable_index_types() {
  return quant::buildable_index_types();
}

Result<CreateIndexReport> create_index(const CreateIndexOptions& options) {
  const auto t_total = Clock::now();
  LANCER_ASSIGN_OR_RETURN(auto b, BuildHandle::plan_in_process(options));
  const std::string worker = this_worker();
  // On an object store a task waits for round trips (its record, its first data, its uploads):
  // two tasks of an independent phase in flight keep the cores busy meanwhile. Locally one encode
  // task already keeps the pool busy; a graph task does not (it reads its partitions from every
  // spill and writes its graphs alone, and a window's largest graph finishes after the others), so
  // with more than one core two graph tasks are in flight there too. Tasks are independent, and
  // their outputs are merged in task order, so the index bytes do not depend on this.
  const bool remote = storage::is_object_store(options.uri) || storage::is_object_store(b->summary().staging);
  const bool cores = options.threads > 1 || (options.threads <= 0 && std::thread::hardware_concurrency() > 1);
  // Every phase in order, each task of it in this process.
  auto run = [&]() -> Status {
    for (const PhaseInfo& phase : b->phases()) {
      const auto t = Clock::now();
      std::atomic<uint64_t> next{0}, finished{0}, reused{0};
      std::mutex mu;
      Status failed;
      auto lane = [&] {
        for (uint64_t i = next++; i < phase.tasks; i = next++) {
          Result<TaskOutcome> r = b->run(phase.name, i, nullptr, worker);
          std::lock_guard lock(mu);
          if (!r.ok()) {
            if (failed.ok()) failed = r.status();
            next = phase.tasks;  // no new tasks; the other lane finishes its own
            return;
          }
          reused += r->reused ? 1 : 0;
          const uint64_t n = ++finished;
          if (options.progress && !phase.progress.empty()) {
            options.progress(ProgressEvent{phase.progress.c_str(), n, phase.tasks, n == phase.tasks});
          }
        }
      };
      if ((remote || (cores && phase.name == "graph")) && phase.kind == PhaseKind::kIndependent && phase.tasks > 1) {
        std::thread second(lane);
        lane();
        second.join();
      } else {
        lane();
      }
      LANCER_RETURN_IF_ERROR(failed);
      b->phase_finished(phase.name, PhaseStats{seconds_since(t), phase.tasks, reused});
    }
    return Status::OK();
  };
  const Status st = run();
  if (!st.ok()) {
    b->discard();  // a failed build leaves nothing behind; a killed one can be resumed
    return st;
  }
  CreateIndexReport result = b->report();
  result.total_s = seconds_since(t_total);
  result.peak_rss_mb = peak_rss_mb();
  return result;
}

Result<PlanSummary> plan_index(const CreateIndexOptions& options) {
  LANCER_ASSIGN_OR_RETURN(auto b, BuildHandle::plan(options));
  return b->summary();
}

Status train_index(const CreateIndexOptions& options) {
  LANCER_ASSIGN_OR_RETURN(auto b, BuildHandle::open(options));
  return b->run("train", 0).status();
}

Status build_index_task(const CreateIndexOptions& options, uint64_t task) {
  LANCER_ASSIGN_OR_RETURN(auto b, BuildHandle::open(options));
  if (!b->model_trained()) return not_trained(*b);
  return b->run("encode", task).status();
}

Result<CreateIndexReport> finalize_index(const CreateIndexOptions& options) {
  const auto t_total = Clock::now();
  LANCER_ASSIGN_OR_RETURN(auto b, BuildHandle::open(options));
  if (!b->model_trained()) return not_trained(*b);
  b->report().tasks = b->summary().tasks;
  LANCER_RETURN_IF_ERROR(b->run("finalize", 0).status());
  CreateIndexReport r = b->report();
  r.total_s = seconds_since(t_total);
  r.peak_rss_mb = peak_rss_mb();
  return r;
}

Result<std::vector<std::string>> cleanup_builds(const std::string& uri, const std::string& work_dir) {
  return pipeline::cleanup_staging(uri, work_dir);
}

}  // namespace lancer

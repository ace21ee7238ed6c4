// create_index and the per-phase entry points over pipeline::IndexBuild.
#include "lancer/create_index.h"

#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "pipeline/index_build.h"
#include "core/executor.h"
#include "core/process_stats.h"

namespace lancer {

namespace {

using core::Clock;
using core::peak_rss_mb;
using core::seconds_since;

std::string this_worker() { return core::host_name() + ":" + std::to_string(::getpid()); }

CreateIndexOptions normalized(CreateIndexOptions o) {
  if (o.metric == "euclidean") o.metric = "l2";
  return o;
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
  j["tasks"] = tasks;
  j["segments"] = segments;
  j["reused_tasks"] = reused_tasks;
  j["resumed"] = resumed;
  j["phases_s"] = {{"sample", sample_s},     {"train_ivf", train_ivf_s}, {"train_quantizer", train_quantizer_s},
                   {"build", build_s},       {"merge", merge_s},         {"commit", commit_s},
                   {"total", total_s}};
  auto ws = nlohmann::ordered_json::array();
  for (const auto& w : workers) ws.push_back({{"worker", w.worker}, {"tasks", w.tasks}, {"busy_s", w.busy_s}});
  j["workers"] = ws;
  j["peak_rss_mb"] = peak_rss_mb;
  return j.dump(2);
}

Result<CreateIndexReport> create_index(const CreateIndexOptions& options) {
  const auto t_total = Clock::now();
  const CreateIndexOptions o = normalized(options);
  LANCER_ASSIGN_OR_RETURN(auto b, pipeline::IndexBuild::plan(o));
  b->set_progress(o.progress);
  core::ThreadPool pool(o.threads);
  core::LocalCollective local;
  auto run = [&]() -> Result<CreateIndexReport> {
    LANCER_RETURN_IF_ERROR(b->train(local, pool));
    const auto t = Clock::now();
    const uint64_t n = b->record().tasks.size();
    uint64_t reused = 0;
    const std::string worker = this_worker();
    for (uint64_t i = 0; i < n; ++i) {
      LANCER_ASSIGN_OR_RETURN(pipeline::TaskResult r, b->build_task(i, pool, worker));
      reused += r.reused ? 1 : 0;
      if (o.progress) o.progress(ProgressEvent{"build", i + 1, n, i + 1 == n});
    }
    b->report().build_s = seconds_since(t);
    b->report().tasks = n;
    b->report().reused_tasks = reused;
    b->report().resumed = b->resumed();
    return b->finalize(pool);
  };
  auto result = run();
  if (!result.ok()) {
    b->discard();  // a failed build leaves nothing behind; a killed one can be resumed
    return result;
  }
  result->total_s = seconds_since(t_total);
  result->peak_rss_mb = peak_rss_mb();
  return result;
}

Result<PlanSummary> plan_index(const CreateIndexOptions& options) {
  LANCER_ASSIGN_OR_RETURN(auto b, pipeline::IndexBuild::plan(normalized(options)));
  PlanSummary s;
  s.staging = b->staging();
  s.uuid = b->record().uuid;
  s.dataset_version = b->record().dataset_version;
  s.tasks = b->record().tasks.size();
  s.resumed = b->resumed();
  return s;
}

Status train_index(const CreateIndexOptions& options) {
  const CreateIndexOptions o = normalized(options);
  LANCER_ASSIGN_OR_RETURN(auto b, pipeline::IndexBuild::open(o));
  b->set_progress(o.progress);
  core::ThreadPool pool(o.threads);
  core::LocalCollective local;
  return b->train(local, pool);
}

Status build_index_task(const CreateIndexOptions& options, uint64_t task) {
  const CreateIndexOptions o = normalized(options);
  LANCER_ASSIGN_OR_RETURN(auto b, pipeline::IndexBuild::open(o));
  if (!b->model_trained()) return Status::InvalidArgument("the model is not trained yet in " + b->staging() +
                                                          " (run `lancer train` first)");
  core::ThreadPool pool(o.threads);
  return b->build_task(task, pool, this_worker()).status();
}

Result<CreateIndexReport> finalize_index(const CreateIndexOptions& options) {
  const auto t_total = Clock::now();
  const CreateIndexOptions o = normalized(options);
  LANCER_ASSIGN_OR_RETURN(auto b, pipeline::IndexBuild::open(o));
  b->set_progress(o.progress);
  if (!b->model_trained()) return Status::InvalidArgument("the model is not trained yet in " + b->staging() +
                                                          " (run `lancer train` first)");
  core::ThreadPool pool(o.threads);
  b->report().tasks = b->record().tasks.size();
  LANCER_ASSIGN_OR_RETURN(CreateIndexReport r, b->finalize(pool));
  r.total_s = seconds_since(t_total);
  r.peak_rss_mb = peak_rss_mb();
  return r;
}

Result<std::vector<std::string>> cleanup_builds(const std::string& uri, const std::string& work_dir) {
  return pipeline::cleanup_staging(uri, work_dir);
}

}  // namespace lancer

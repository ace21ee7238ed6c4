// lancer::BuildHandle (lancer/build.h): the public face of IndexBuild and its
// phase list; owns the build and one thread pool for all its tasks.
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "core/executor.h"
#include "core/float_env.h"
#include "core/process_stats.h"
#include "lancer/build.h"
#include "lancer/build_options.h"
#include "pipeline/index_build.h"
#include "pipeline/phases.h"

namespace lancer {

const char* phase_kind_name(PhaseKind kind) {
  switch (kind) {
    case PhaseKind::kCollective: return "collective";
    case PhaseKind::kIndependent: return "independent";
    case PhaseKind::kSingle: return "single";
  }
  return "?";
}

std::string this_worker() { return core::host_name() + ":" + std::to_string(::getpid()); }

struct BuildHandle::Impl {
  std::unique_ptr<pipeline::IndexBuild> build;
  std::vector<pipeline::Phase> phases;
  int threads = 0;
  std::unique_ptr<core::ThreadPool> pool;  // made at the first task

  // A handle's state around a planned or opened build.
  static std::unique_ptr<Impl> over(std::unique_ptr<pipeline::IndexBuild> build, const CreateIndexOptions& o) {
    auto impl = std::make_unique<Impl>();
    impl->build = std::move(build);
    impl->build->set_progress(o.progress);
    impl->threads = o.threads;
    impl->phases = pipeline::phases(*impl->build);
    return impl;
  }

  core::Executor& executor() {
    if (!pool) pool = std::make_unique<core::ThreadPool>(threads);
    return *pool;
  }
  Result<const pipeline::Phase*> phase(std::string_view name) const {
    const pipeline::Phase* p = pipeline::find_phase(phases, name);
    if (p == nullptr) {
      std::string known;
      for (const auto& q : phases) known += (known.empty() ? "" : ", ") + q.info.name;
      return Status::InvalidArgument("no phase \"" + std::string(name) + "\" (the phases are " + known + ")");
    }
    return p;
  }
};

BuildHandle::BuildHandle(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BuildHandle::~BuildHandle() = default;

Result<std::unique_ptr<BuildHandle>> BuildHandle::plan(const CreateIndexOptions& options) {
  const CreateIndexOptions o = canonical_options(options);
  LANCER_ASSIGN_OR_RETURN(auto build, pipeline::IndexBuild::plan(o));
  return std::unique_ptr<BuildHandle>(new BuildHandle(Impl::over(std::move(build), o)));
}

Result<std::unique_ptr<BuildHandle>> BuildHandle::plan_in_process(const CreateIndexOptions& options) {
  const CreateIndexOptions o = canonical_options(options);
  LANCER_ASSIGN_OR_RETURN(auto build, pipeline::IndexBuild::plan(o, /*in_process=*/true));
  return std::unique_ptr<BuildHandle>(new BuildHandle(Impl::over(std::move(build), o)));
}

Result<std::unique_ptr<BuildHandle>> BuildHandle::open(const CreateIndexOptions& options) {
  const CreateIndexOptions o = canonical_options(options);
  LANCER_ASSIGN_OR_RETURN(auto build, pipeline::IndexBuild::open(o));
  return std::unique_ptr<BuildHandle>(new BuildHandle(Impl::over(std::move(build), o)));
}

PlanSummary BuildHandle::summary() const {
  const pipeline::IndexBuild& b = *impl_->build;
  PlanSummary s;
  s.staging = b.staging();
  s.uuid = b.record().uuid;
  s.dataset_version = b.record().dataset_version;
  s.tasks = b.record().tasks.size();
  s.resumed = b.resumed();
  return s;
}

bool BuildHandle::model_trained() const { return impl_->build->model_trained(); }

std::vector<PhaseInfo> BuildHandle::phases() const {
  std::vector<PhaseInfo> out;
  for (const auto& p : impl_->phases) out.push_back(p.info);
  return out;
}

Result<std::vector<uint64_t>> BuildHandle::missing(std::string_view name) const {
  LANCER_ASSIGN_OR_RETURN(const pipeline::Phase* p, impl_->phase(name));
  std::vector<uint64_t> out;
  for (uint64_t i = 0; i < p->info.tasks; ++i) {
    if (!p->done(i)) out.push_back(i);
  }
  return out;
}

std::vector<uint64_t> BuildHandle::largest_first(std::string_view name, std::vector<uint64_t> tasks) const {
  const pipeline::Phase* p = pipeline::find_phase(impl_->phases, name);
  if (p == nullptr || !p->weight) return tasks;
  std::vector<std::pair<uint64_t, uint64_t>> keyed;  // (weight, task)
  for (uint64_t t : tasks) keyed.emplace_back(p->weight(t), t);
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; i < keyed.size(); ++i) tasks[i] = keyed[i].second;
  return tasks;
}

std::vector<uint64_t> BuildHandle::missing_tasks() const { return impl_->build->missing_tasks(); }

Status BuildHandle::ready(std::string_view name) const {
  LANCER_ASSIGN_OR_RETURN(const pipeline::Phase* target, impl_->phase(name));
  for (const auto& p : impl_->phases) {
    if (&p == target) break;
    if (p.info.kind == PhaseKind::kCollective && !p.done(0)) {
      return Status::InvalidArgument("the " + p.info.name + " phase is not done yet in " + impl_->build->staging() +
                                     " (run `lancer run-phase --phase " + p.info.name + "` first)");
    }
  }
  return Status::OK();
}

Result<TaskOutcome> BuildHandle::run(std::string_view name, uint64_t task, Collective* collective,
                                     const std::string& worker) {
  const core::IeeeFloatScope ieee;  // whatever the host process set (same-bytes-any-hardware.md)
  LANCER_ASSIGN_OR_RETURN(const pipeline::Phase* p, impl_->phase(name));
  // An independent phase's tasks check their own index (with the plan's task count in the error).
  if (p->info.kind != PhaseKind::kIndependent && task >= p->info.tasks) {
    return Status::InvalidArgument("phase " + p->info.name + " has " + std::to_string(p->info.tasks) +
                                   " task(s); there is no task " + std::to_string(task));
  }
  core::LocalCollective local;
  core::Collective& c = collective != nullptr ? *collective : local;
  const std::string w = worker.empty() ? this_worker() : worker;
  pipeline::PhaseContext context{c, impl_->executor(), w};
  LANCER_ASSIGN_OR_RETURN(pipeline::TaskResult r, p->run(task, context));
  TaskOutcome out;
  out.task = r.task;
  out.rows = r.rows;
  out.busy_s = r.busy_s;
  out.worker = r.worker;
  out.reused = r.reused;
  return out;
}

void BuildHandle::write_in_background() {
  impl_->build->write_in_background();
}

Status BuildHandle::settle() {
  return impl_->build->settle();
}

void BuildHandle::phase_finished(std::string_view name, const PhaseStats& stats) {
  const pipeline::Phase* p = pipeline::find_phase(impl_->phases, name);
  if (p != nullptr && p->finished) p->finished(stats);
}

CreateIndexReport& BuildHandle::report() { return impl_->build->report(); }

void BuildHandle::set_progress(std::function<void(const ProgressEvent&)> sink) {
  impl_->build->set_progress(std::move(sink));
}

void BuildHandle::discard() { impl_->build->discard(); }

}  // namespace lancer

#include "pipeline/phases.h"

namespace lancer::pipeline {

std::vector<Phase> phases(IndexBuild& b) {
  std::vector<Phase> out;
  out.push_back(Phase{
      PhaseInfo{"train", "", PhaseKind::kCollective, 1},
      [&b](uint64_t) { return b.model_trained(); },
      [&b](uint64_t, PhaseContext& c) -> Result<TaskResult> {
        LANCER_RETURN_IF_ERROR(b.train(c.collective, c.executor));
        return TaskResult{};
      },
      nullptr});
  out.push_back(Phase{
      PhaseInfo{"encode", "build", PhaseKind::kIndependent, b.record().tasks.size()},
      [&b](uint64_t task) { return b.task_done(task); },
      [&b](uint64_t task, PhaseContext& c) { return b.build_task(task, c.executor, c.worker); },
      [&b](const PhaseStats& s) {
        b.report().build_s = s.seconds;
        b.report().tasks = s.tasks;
        b.report().reused_tasks = s.reused;
        b.report().resumed = b.resumed();
      }});
  out.back().weight = [&b](uint64_t task) { return task < b.record().tasks.size() ? b.record().tasks[task].rows : 0; };
  if (b.graph_tasks() > 0) {
    out.push_back(Phase{
        PhaseInfo{"graph", "graph", PhaseKind::kIndependent, b.graph_tasks()},
        [&b](uint64_t task) { return b.graph_task_done(task); },
        [&b](uint64_t task, PhaseContext& c) { return b.build_graph_task(task, c.executor, c.worker); },
        [&b](const PhaseStats& s) { b.report().graph_s = s.seconds; }});
  }
  out.push_back(Phase{
      PhaseInfo{"finalize", "", PhaseKind::kSingle, 1},
      [](uint64_t) { return false; },  // finalize itself recognises a committed build
      [&b](uint64_t, PhaseContext& c) -> Result<TaskResult> {
        LANCER_RETURN_IF_ERROR(b.finalize(c.executor).status());
        return TaskResult{};
      },
      nullptr});
  return out;
}

const Phase* find_phase(const std::vector<Phase>& list, std::string_view name) {
  for (const auto& p : list) {
    if (p.info.name == name) return &p;
  }
  return nullptr;
}

}  // namespace lancer::pipeline

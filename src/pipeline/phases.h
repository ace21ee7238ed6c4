// The one place that knows the phase sequence of a build. Every driver
// (create_index, the MPI driver, the Python/Ray engine, the CLI) loops over
// phases(build) and schedules each by its kind (lancer/build.h), so a new
// phase (an HNSW graph step per partition range) is added here only.
// A Phase refers to its IndexBuild, which must outlive it; the functions run
// on the driver's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/collective.h"
#include "core/executor.h"
#include "lancer/build.h"
#include "pipeline/index_build.h"

namespace lancer::pipeline {

// What a task runs with: this rank's collective (collective phases), the
// process's executor, and how it names itself in task records.
struct PhaseContext {
  core::Collective& collective;
  core::Executor& executor;
  const std::string& worker;
};

struct Phase {
  PhaseInfo info;
  std::function<bool(uint64_t task)> done;
  std::function<Result<TaskResult>(uint64_t task, PhaseContext& context)> run;
  // Records a phase run in full in the build's report (may be empty).
  std::function<void(const PhaseStats& stats)> finished;
  // An independent task's expected work, for the order a queue hands tasks
  // out (empty: all alike).
  std::function<uint64_t(uint64_t task)> weight;
};

// train (collective, 1 task), encode (independent, a task per group of
// fragments), for IVF_HNSW_* graph (independent, a task per run of partitions),
// finalize (single: merge + commit).
std::vector<Phase> phases(IndexBuild& build);

// The phase named `name` of `list`, or null.
const Phase* find_phase(const std::vector<Phase>& list, std::string_view name);

}  // namespace lancer::pipeline

// BuildHandle: one index build (docs/build-staging.md) as a list of phases
// that any driver runs without naming them: `create_index` in one process,
// the MPI driver, the Python/Ray engine and the CLI's subcommands. Each phase
// has tasks 0..tasks-1 and a kind that says how a driver may schedule them:
//   collective   every rank runs task 0 together, through one Collective
//   independent  any worker runs any task, in any order, each task once or more
//   single       one process runs task 0 (rank 0 under MPI)
// Today the phases are train (collective), encode (one task per group of
// fragments; progress label "build") and finalize (single: merge + commit).
// A handle holds the staging folder's shared lock while it lives and owns a
// thread pool of `options.threads`; use it from one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lancer/collective.h"
#include "lancer/create_index.h"
#include "lancer/status.h"

namespace lancer {

enum class PhaseKind { kCollective, kIndependent, kSingle };
// "collective", "independent", "single"
const char* phase_kind_name(PhaseKind kind);

struct PhaseInfo {
  std::string name;      // "train", "encode", "finalize"
  std::string progress;  // the ProgressEvent phase a driver reports its tasks under ("" = none)
  PhaseKind kind = PhaseKind::kSingle;
  uint64_t tasks = 1;
};

// What one run of a phase task did.
struct TaskOutcome {
  uint64_t task = 0, rows = 0;
  double busy_s = 0;
  std::string worker;
  bool reused = false;  // found done, not redone
};

// What a driver measured over one whole phase, for the report.
struct PhaseStats {
  double seconds = 0;   // wall time of the phase
  uint64_t tasks = 0;   // its tasks
  uint64_t reused = 0;  // of them, found done
};

class BuildHandle {
 public:
  // Plans a build, or resumes the one staged for the same parameters and dataset version.
  static Result<std::unique_ptr<BuildHandle>> plan(const CreateIndexOptions& options);
  // plan() for a driver that then runs every phase in this process, as create_index does: on an
  // object store the first fragments are fetched while the plan is written, and the staging
  // writes of a task or of the model finish in the background (the finalize phase, discard()
  // and the destructor wait for them), so a run() of another phase may return before its
  // staging files exist. Not for a process whose tasks others read.
  static Result<std::unique_ptr<BuildHandle>> plan_in_process(const CreateIndexOptions& options);
  // Opens the build planned in the staging folder (NotFound if none; InvalidArgument
  // if `options` resolve to other parameters).
  static Result<std::unique_ptr<BuildHandle>> open(const CreateIndexOptions& options);
  ~BuildHandle();

  PlanSummary summary() const;
  bool model_trained() const;
  std::vector<PhaseInfo> phases() const;

  // Tasks of `phase` not done yet (InvalidArgument for an unknown phase).
  Result<std::vector<uint64_t>> missing(std::string_view phase) const;
  // `tasks` of `phase` in the order a dynamic queue should hand them out: the largest first
  // (ties by task number), so that the last ones are small and the workers finish together.
  // Any order builds the same bytes (outputs are merged in task order).
  std::vector<uint64_t> largest_first(std::string_view phase, std::vector<uint64_t> tasks) const;
  // The encode phase's tasks not built for the loaded model (every task when no model is loaded).
  std::vector<uint64_t> missing_tasks() const;
  // OK when every collective phase before `phase` is done: a standalone run of
  // `phase` can start.
  Status ready(std::string_view phase) const;

  // Runs task `task` of `phase`. A collective phase needs `collective` (null: this
  // rank alone); `worker` names this process in task records (default host:pid).
  Result<TaskOutcome> run(std::string_view phase, uint64_t task, Collective* collective = nullptr,
                          const std::string& worker = "");
  // For a driver whose tasks other processes read (an MPI rank): from now on a task's staging
  // writes (and the model's) finish in the background while the next task runs, as with
  // plan_in_process; the driver calls settle() before another process may read them (before
  // the end of each independent phase).
  void write_in_background();
  // Waits for this process's staging writes in the background; the first error.
  Status settle();
  // Records a phase a driver ran in full (its time and reuse) in the report.
  void phase_finished(std::string_view phase, const PhaseStats& stats);

  // The report so far; complete after the last phase.
  CreateIndexReport& report();
  void set_progress(std::function<void(const ProgressEvent&)> sink);
  // Removes the staging folder (after a failed build).
  void discard();

 private:
  struct Impl;
  explicit BuildHandle(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// host:pid, how a process names itself in task records.
std::string this_worker();

}  // namespace lancer

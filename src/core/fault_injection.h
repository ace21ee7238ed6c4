// Fault injection for the resume and kill tests (tests only; docs/build-staging.md).
// Read from the environment once per process; safe from any thread.
#pragma once

#include <string_view>

namespace lancer::core {

// The process's rank as every launcher names it (mpirun, srun with PMI or PMIx); 0 when none.
int launcher_rank();

// With LANCER_FAULT_KILL_AT=<point> the process SIGKILLs itself when it reaches that point:
// train | task:N (when starting its N+1-th task, once the staging writes of its earlier tasks,
// which may finish in the background, are done: see kill_point_armed) | merge | commit |
// publish:<file name> (a local file written and synced, before it gets its name). Only on the
// rank named by LANCER_FAULT_RANK (any when unset).
void maybe_kill_at(std::string_view point);
// Whether LANCER_FAULT_KILL_AT names `point` (on any rank).
bool kill_point_armed(std::string_view point);

// LANCER_FAULT_TASK_DELAY_MS=M: every task sleeps M ms before it starts, so that tests can kill
// a worker or node while tasks are certainly running.
void maybe_delay_task();

}  // namespace lancer::core

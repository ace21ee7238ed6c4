// Fault injection for the resume tests (tests only; docs/build-staging.md).
// Read from the environment once per process; safe from any thread.
#pragma once

#include <string>

namespace lancer::pipeline {

// With LANCER_FAULT_KILL_AT=train|task:N|merge the process SIGKILLs itself at
// that point (task:N: when starting its N+1-th task, once the staging writes of
// its earlier tasks, which may finish in the background, are done: see
// kill_point_armed), on the rank named by LANCER_FAULT_RANK (any when unset;
// the rank is lancer::launcher_rank()).
void maybe_kill_at(const std::string& point);
// Whether LANCER_FAULT_KILL_AT names `point` (on any rank).
bool kill_point_armed(const std::string& point);

// LANCER_FAULT_TASK_DELAY_MS=M: every task sleeps M ms before it starts, so
// that tests can kill a worker or node while tasks are certainly running.
void maybe_delay_task();

}  // namespace lancer::pipeline

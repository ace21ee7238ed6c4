#include "pipeline/fault.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "lancer/runtime.h"

namespace lancer::pipeline {

void maybe_kill_at(const std::string& point) {
  static const char* at = std::getenv("LANCER_FAULT_KILL_AT");
  if (at == nullptr || point != at) return;
  // The rank as every launcher names it (mpirun, srun with PMI or PMIx): under srun,
  // OMPI_COMM_WORLD_RANK alone made every rank rank 0.
  const char* want_rank = std::getenv("LANCER_FAULT_RANK");
  if (want_rank != nullptr && std::atoi(want_rank) != launcher_rank()) return;
  std::fprintf(stderr, "lancer: fault injection: killed at %s\n", point.c_str());
  std::fflush(stderr);
  ::kill(::getpid(), SIGKILL);
}

bool kill_point_armed(const std::string& point) {
  static const char* at = std::getenv("LANCER_FAULT_KILL_AT");
  return at != nullptr && point == at;
}

void maybe_delay_task() {
  static const char* ms = std::getenv("LANCER_FAULT_TASK_DELAY_MS");
  if (ms != nullptr) std::this_thread::sleep_for(std::chrono::milliseconds(std::atol(ms)));
}

}  // namespace lancer::pipeline

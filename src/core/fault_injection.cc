#include "core/fault_injection.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace lancer::core {

int launcher_rank() {
  // Under srun, OMPI_COMM_WORLD_RANK alone made every rank rank 0.
  for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"}) {
    if (const char* rank = std::getenv(v)) return std::atoi(rank);
  }
  return 0;
}

bool kill_point_armed(std::string_view point) {
  static const char* at = std::getenv("LANCER_FAULT_KILL_AT");
  return at != nullptr && point == at;
}

void maybe_kill_at(std::string_view point) {
  if (!kill_point_armed(point)) return;
  const char* want_rank = std::getenv("LANCER_FAULT_RANK");
  if (want_rank != nullptr && std::atoi(want_rank) != launcher_rank()) return;
  std::fprintf(stderr, "lancer: fault injection: killed at %.*s\n", static_cast<int>(point.size()), point.data());
  std::fflush(stderr);
  ::kill(::getpid(), SIGKILL);
}

void maybe_delay_task() {
  static const char* ms = std::getenv("LANCER_FAULT_TASK_DELAY_MS");
  if (ms != nullptr) std::this_thread::sleep_for(std::chrono::milliseconds(std::atol(ms)));
}

}  // namespace lancer::core

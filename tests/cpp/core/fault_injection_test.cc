// Fault injection picks its rank as every launcher names it: under srun only PMI_RANK,
// PMIX_RANK or SLURM_PROCID is set, and reading OMPI_COMM_WORLD_RANK alone made every rank 0.
#include "core/fault_injection.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <cstdlib>

namespace lancer::core {
namespace {

// In a fresh child process (the fault point is read once per process): exits 0 unless killed.
void run_fault_point(const char* rank_variable, const char* rank, const char* fault_rank) {
  for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"}) ::unsetenv(v);
  ::setenv(rank_variable, rank, 1);
  ::setenv("LANCER_FAULT_RANK", fault_rank, 1);
  ::setenv("LANCER_FAULT_KILL_AT", "task:0", 1);
  maybe_kill_at("task:0");
  std::exit(0);
}

TEST(FaultInjection, KillsOnlyTheNamedRankUnderEveryLauncher) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // re-executed: nothing read before
  for (const char* variable : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"}) {
    SCOPED_TRACE(variable);
    EXPECT_EXIT(run_fault_point(variable, "1", "1"), ::testing::KilledBySignal(SIGKILL), "killed at task:0");
    EXPECT_EXIT(run_fault_point(variable, "1", "0"), ::testing::ExitedWithCode(0), "");
    EXPECT_EXIT(run_fault_point(variable, "0", "0"), ::testing::KilledBySignal(SIGKILL), "killed at task:0");
  }
}

// publish:<file name> is one more point, read by the storage layer.
TEST(FaultInjection, PublishPointNamesTheFile) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto run = [](const char* point) {
    ::unsetenv("LANCER_FAULT_RANK");
    ::setenv("LANCER_FAULT_KILL_AT", "publish:manifest", 1);
    maybe_kill_at(point);
    std::exit(0);
  };
  EXPECT_EXIT(run("publish:manifest"), ::testing::KilledBySignal(SIGKILL), "killed at publish:manifest");
  EXPECT_EXIT(run("publish:other"), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace lancer::core

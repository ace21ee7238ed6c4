// What the launcher's environment decides before MPI_Init.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "mpi/mpi_build.h"

namespace lancer::mpi {
namespace {

// Sets (or, with nullopt, unsets) the variables the test names, and restores them after.
class Env {
 public:
  explicit Env(const std::map<std::string, std::optional<std::string>>& vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
      set(name, value);
    }
  }
  ~Env() {
    for (const auto& [name, value] : saved_) set(name, value);
  }

 private:
  static void set(const std::string& name, const std::optional<std::string>& value) {
    if (value) {
      setenv(name.c_str(), value->c_str(), 1);
    } else {
      unsetenv(name.c_str());
    }
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

std::optional<std::string> pml() {
  const char* v = std::getenv("OMPI_MCA_pml");
  return v ? std::optional<std::string>(v) : std::nullopt;
}

TEST(PreferSharedMemoryTransport, ChoosesOb1WhenEveryRankIsOnThisHost) {
  Env env({{"OMPI_COMM_WORLD_SIZE", "2"},
           {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
           {"OMPI_MCA_pml", std::nullopt},
           {"OMPI_MCA_mtl", std::nullopt}});
  EXPECT_TRUE(prefer_shared_memory_transport());
  EXPECT_EQ(pml(), "ob1");
}

TEST(PreferSharedMemoryTransport, LeavesJobsOnSeveralHostsAlone) {
  Env env({{"OMPI_COMM_WORLD_SIZE", "4"},
           {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
           {"OMPI_MCA_pml", std::nullopt},
           {"OMPI_MCA_mtl", std::nullopt}});
  EXPECT_FALSE(prefer_shared_memory_transport());
  EXPECT_EQ(pml(), std::nullopt);
}

TEST(PreferSharedMemoryTransport, LeavesTheUsersChoiceAlone) {
  {
    Env env({{"OMPI_COMM_WORLD_SIZE", "2"},
             {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
             {"OMPI_MCA_pml", "ucx"},
             {"OMPI_MCA_mtl", std::nullopt}});
    EXPECT_FALSE(prefer_shared_memory_transport());
    EXPECT_EQ(pml(), "ucx");
  }
  Env env({{"OMPI_COMM_WORLD_SIZE", "2"},
           {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
           {"OMPI_MCA_pml", std::nullopt},
           {"OMPI_MCA_mtl", "ofi"}});
  EXPECT_FALSE(prefer_shared_memory_transport());
  EXPECT_EQ(pml(), std::nullopt);
}

TEST(PreferSharedMemoryTransport, NeedsOpenMpisLauncher) {
  Env env({{"OMPI_COMM_WORLD_SIZE", std::nullopt},
           {"OMPI_COMM_WORLD_LOCAL_SIZE", std::nullopt},
           {"OMPI_MCA_pml", std::nullopt},
           {"OMPI_MCA_mtl", std::nullopt}});
  EXPECT_FALSE(prefer_shared_memory_transport());
  EXPECT_EQ(pml(), std::nullopt);
}

}  // namespace
}  // namespace lancer::mpi

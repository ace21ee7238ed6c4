// What an MPI launcher told this process through its environment: read without MPI, so that a
// build without it (LANCER_MPI=OFF) still knows when it was started as one of several ranks.
#include <algorithm>
#include <cstdlib>

#include "mpi/mpi_build.h"

namespace lancer::mpi {
namespace {

int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : 0;
}

}  // namespace

bool launched_as_several_ranks() {
  return env_int("OMPI_COMM_WORLD_SIZE") > 1 || env_int("PMI_SIZE") > 1 || env_int("PMIX_SIZE") > 1;
}

int launcher_local_size() {
  return std::max(1, env_int("OMPI_COMM_WORLD_LOCAL_SIZE"));
}

bool prefer_shared_memory_transport() {
  const int size = env_int("OMPI_COMM_WORLD_SIZE");
  if (size < 1 || env_int("OMPI_COMM_WORLD_LOCAL_SIZE") != size) return false;
  if (std::getenv("OMPI_MCA_pml") != nullptr || std::getenv("OMPI_MCA_mtl") != nullptr) return false;
  return setenv("OMPI_MCA_pml", "ob1", /*overwrite=*/0) == 0;
}

}  // namespace lancer::mpi

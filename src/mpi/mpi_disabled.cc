// create_index_mpi in a build without MPI (LANCER_MPI=OFF, as the Python wheel's CLI is built):
// started by mpirun with several ranks, each rank would otherwise build the whole index alone.
#include "mpi/mpi_build.h"

namespace lancer::mpi {

Result<std::optional<CreateIndexReport>> create_index_mpi(const CreateIndexOptions&) {
  return Status::NotSupported(
      "this lancer was built without MPI (LANCER_MPI=OFF, as the Python wheel's CLI is): run one process, or "
      "use the Debian package or a source build under mpirun");
}

std::string mpi_library_version() {
  return "";
}

}  // namespace lancer::mpi

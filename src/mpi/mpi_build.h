// Distributed create-index over MPI: the only code that knows MPI exists.
// Rank 0 plans; every rank samples its share and trains (through an MPI
// Collective, so the model is the single-process one); tasks are handed out
// from a dynamic queue (a counter the ranks share when all run on one host,
// else served by rank 0 from a helper thread while it builds tasks too); rank 0
// merges and commits. Staging is the same as for the
// single-process and per-phase builds, so a rerun resumes a killed job.
#pragma once

#include <optional>
#include <string>

#include "lancer/create_index.h"

namespace lancer::mpi {

// True when an MPI launcher (mpirun, srun with PMI) started this process as
// one of several ranks; decided from the environment, before MPI_Init
// (launcher_env.cc: also in a build without MPI, which must refuse such a start).
bool launched_as_several_ranks();
// The ranks on this host as the launcher says (1 when it does not). The rank
// itself: lancer::launcher_rank() (lancer/runtime.h).
int launcher_local_size();
// Before MPI_Init, in a job Open MPI started with every rank on this host and no transport
// chosen (OMPI_MCA_pml, OMPI_MCA_mtl unset; mpirun --mca sets them): chooses the ob1 PML,
// whose shared-memory BTL carries such a job anyway, so that MPI_Init does not first probe
// the network MTLs (libfabric, PSM, PSM2). That probing took 0.20-0.22 s of every rank's
// MPI_Init on this machine (0.02 s without), ~2 % of a two-rank build of 320,000 x 2,048.
// True when it set OMPI_MCA_pml.
bool prefer_shared_memory_transport();

// Every rank calls this. Rank 0 gets the report; the others get nullopt.
// A rank that fails mid-build aborts the job (MPI_Abort): rerunning resumes it.
// Built with LANCER_MPI=OFF (the Python wheel's CLI): NotSupported.
Result<std::optional<CreateIndexReport>> create_index_mpi(const CreateIndexOptions& options);
// The MPI library's name and version ("Open MPI v4.1.4"); "" when built without MPI.
std::string mpi_library_version();

}  // namespace lancer::mpi

// Facts about the machine and this process that drivers report: hardware
// threads, host name, peak memory, the launcher's rank; and one start-up call.
// Safe from any thread.
#pragma once

#include <string>

namespace lancer {

int hardware_threads();
// This machine's host name.
std::string host_name();
// The process's peak resident memory so far, in MB.
double peak_rss_mb();
// This process's rank as its launcher's environment says, the first set of
// OMPI_COMM_WORLD_RANK (mpirun), PMI_RANK, PMIX_RANK (srun --mpi=pmi2 / pmix) and
// SLURM_PROCID (any srun); 0 when none is.
int launcher_rank();
// Stops the math library's idle threads (OpenBLAS's spin for ~0.1 s after it is loaded, although a
// build makes no BLAS call). Drivers call it once at start; a later call that needs them restarts them.
void release_idle_threads();

}  // namespace lancer

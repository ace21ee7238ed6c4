// lancer/runtime.h and lancer/dataset.h over the internal stages, so that the
// drivers (src/mpi, the CLI, the Python module) need only public headers.
#include <optional>
#include <thread>

#include "core/fault_injection.h"
#include "core/process_stats.h"
#include "dataset/dataset.h"
#include "dataset/describe.h"
#include "lancer/dataset.h"
#include "lancer/runtime.h"
#include "linalg/blas.h"

namespace lancer {

int hardware_threads() { return static_cast<int>(std::thread::hardware_concurrency()); }
std::string host_name() { return core::host_name(); }
double peak_rss_mb() { return core::peak_rss_mb(); }

void release_idle_threads() { linalg::release_blas_threads(); }

int launcher_rank() {
  return core::launcher_rank();
}

Result<std::string> describe_dataset(const std::string& uri, std::optional<uint64_t> version) {
  LANCER_ASSIGN_OR_RETURN(auto ds, dataset::Dataset::open(uri, version));
  LANCER_ASSIGN_OR_RETURN(auto d, dataset::describe(*ds));
  return d.dump();
}

}  // namespace lancer

#include "mpi/wait_idle.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace lancer::mpi {

int wait_idle(MPI_Request* request) {
  using std::chrono::microseconds;
  const auto spin_until = std::chrono::steady_clock::now() + microseconds(100);
  auto nap = microseconds(20);
  for (;;) {
    int done = 0;
    const int rc = MPI_Test(request, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS || done) return rc;
    if (std::chrono::steady_clock::now() < spin_until) continue;
    std::this_thread::sleep_for(nap);
    nap = std::min(nap * 2, microseconds(500));
  }
}

}  // namespace lancer::mpi

// Waiting for the other ranks without holding a core. A rank that reaches an
// exchange first would spin in MPI's progress loop (Open MPI busy-polls in
// blocking calls) until the slowest rank arrives, taking CPU from the ranks it
// waits for wherever cores are shared: with other work on the node, or more
// ranks than cores. The calls where a rank waits for others to arrive are
// started non-blocking and finished here; the bulk transfers that follow stay
// blocking (both sides are there, and MPI moves bytes only while it polls).
#pragma once

#include <mpi.h>

namespace lancer::mpi {

// MPI_Wait that spins for the first 100 microseconds (an exchange whose ranks
// arrive together pays nothing), then sleeps between tests, 20 microseconds
// at first, doubling up to 0.5 ms (what a late rank may lose to the wake-up).
// Returns the MPI error code.
int wait_idle(MPI_Request* request);

}  // namespace lancer::mpi

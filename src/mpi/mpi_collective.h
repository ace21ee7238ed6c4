// lancer::Collective over an MPI communicator. Buffers of any size: lengths are
// exchanged first, then each rank's bytes are broadcast in chunks below
// MPI's int count limit. Call from one thread at a time.
#pragma once

#include <mpi.h>

#include "lancer/collective.h"
#include "lancer/shared_memory.h"

namespace lancer::mpi {

class MpiCollective final : public Collective, public MapsSharedMemory {
 public:
  explicit MpiCollective(MPI_Comm comm);
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Result<std::vector<std::string>> all_gather(std::string mine) override;
  Status broadcast(std::string* data, int root) override;
  // Each part broadcast by its rank straight into every rank's buffer.
  Status all_gather_in_place(char* buffer, const std::vector<std::pair<size_t, size_t>>& parts) override;
  // POSIX shared-memory objects (/dev/shm), one per rank's run of the bytes, that rank 0
  // creates and every rank maps side by side, when every rank runs on rank 0's host and the
  // space is free; they are unlinked once mapped.
  Result<std::unique_ptr<SharedMemory>> map_shared(size_t bytes) override;
  // Seconds spent in all_gather and broadcast so far: waiting for the other
  // ranks and moving the bytes.
  double wait_s() const { return wait_s_; }

 private:
  MPI_Comm comm_;
  double wait_s_ = 0;
  int rank_ = 0, size_ = 1;
};

}  // namespace lancer::mpi

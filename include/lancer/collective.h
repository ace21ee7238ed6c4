// Collective: the ranks of one distributed job exchanging byte buffers, the
// interface a driver implements to train one model over several processes
// (src/mpi implements it over MPI). Every rank must make the same sequence of
// calls, from one thread at a time. The build combines the ranks' parts in
// rank order, so the model is bit-identical for any number of ranks.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lancer/status.h"

namespace lancer {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Each rank passes its own bytes; every rank receives all of them, in rank order.
  virtual Result<std::vector<std::string>> all_gather(std::string mine) = 0;
  // The root's `data` replaces every other rank's.
  virtual Status broadcast(std::string* data, int root) = 0;
  // Large gathers without copies: `parts[r]` = (offset, bytes) of rank r's part in `buffer`,
  // the same list on every rank. Each rank has written its own part there; after the call
  // every rank's buffer holds every part (the bytes between parts are left as they were).
  // The default goes through all_gather; a driver may move the bytes straight into place.
  virtual Status all_gather_in_place(char* buffer, const std::vector<std::pair<size_t, size_t>>& parts);
  // Returns once every rank has called it (an all_gather of nothing): what one rank wrote
  // before it, e.g. to shared memory, the others may read after it.
  Status barrier();
};

// One rank alone.
std::unique_ptr<Collective> local_collective();
// Rank `rank` of `size` exchanging parts through files in `dir`, a folder every
// rank sees and that is new for each job (engines without a message layer:
// Ray tasks, job arrays). A rank waiting longer than `timeout_s` fails with IOError.
std::unique_ptr<Collective> file_collective(std::string dir, int rank, int size, double timeout_s = 1800);

}  // namespace lancer

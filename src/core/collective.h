// The ranks of one distributed job exchanging byte buffers, as training sees them. Code
// that runs on every rank (distributed training) splits its work by a fixed
// part index (owned_range) and combines the parts in index order, so the
// result is bit-identical for any number of ranks, including one.
// LocalCollective is the single-rank case; src/mpi implements it over MPI.
// Every rank must make the same sequence of calls.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lancer/collective.h"
#include "lancer/shared_memory.h"
#include "lancer/status.h"

namespace lancer::core {

// The interface drivers implement (include/lancer/collective.h); one type for both sides.
using Collective = lancer::Collective;

class LocalCollective final : public Collective {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  Result<std::vector<std::string>> all_gather(std::string mine) override {
    std::vector<std::string> all;
    all.push_back(std::move(mine));
    return all;
  }
  Status broadcast(std::string*, int) override { return Status::OK(); }
};

// The parts [begin, end) of `parts` that `rank` of `size` owns: contiguous,
// balanced, in rank order (rank r's range precedes rank r+1's).
inline std::pair<size_t, size_t> owned_range(size_t parts, int rank, int size) {
  const size_t r = static_cast<size_t>(rank), s = static_cast<size_t>(size);
  return {parts * r / s, parts * (r + 1) / s};
}

// Memory every rank maps (lancer/shared_memory.h), when `collective` has several ranks and can
// share memory between them; null otherwise (no collective, one rank, ranks on several hosts,
// too little shared memory), and the caller goes without. Every rank calls it, with the same
// `bytes`.
Result<std::unique_ptr<SharedMemory>> map_shared(Collective* collective, size_t bytes);

}  // namespace lancer::core

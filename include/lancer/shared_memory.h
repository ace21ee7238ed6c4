// Memory that every rank of a collective maps, for collectives whose ranks all
// run on one host (an MPI job on one machine). Training's sample is the largest
// thing a build holds: shared, each rank writes its rows of it once, in place,
// instead of every rank receiving, mapping and ordering a copy of the whole.
// What a rank writes, the others may read after the next collective call
// (all_gather, broadcast) that every rank makes after the write.
#pragma once

#include <cstddef>
#include <memory>

#include "lancer/status.h"

namespace lancer {

class SharedMemory {
 public:
  virtual ~SharedMemory() = default;
  virtual char* data() = 0;
  virtual size_t size() const = 0;
  // Frees the pages of bytes [offset, offset + bytes), which then read as zeros on every rank;
  // both ends rounded down to a page (the end of the memory kept). For ranks done with the
  // memory, each on its own run: the last rank to unmap would otherwise free every page
  // (0.2-0.3 s of kernel time for a 1.2 GB sample) while the others wait for it. The runs
  // of core::owned_range(size(), rank, ranks) free in parallel (an implementation may hold
  // each rank's run apart for that: one object per rank, MpiCollective).
  virtual void release(size_t /*offset*/, size_t /*bytes*/) {}
};

// A capability a Collective (collective.h) may also have, found with dynamic_cast.
class MapsSharedMemory {
 public:
  virtual ~MapsSharedMemory() = default;
  // Called by every rank with the same `bytes`: the same zero-filled memory on every rank,
  // or null on every rank where that is not possible (ranks on several hosts, too little
  // shared memory), and the caller goes without.
  virtual Result<std::unique_ptr<SharedMemory>> map_shared(size_t bytes) = 0;
};

}  // namespace lancer

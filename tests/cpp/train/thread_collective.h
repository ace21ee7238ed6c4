// Test-only: N std::threads acting as the N ranks of one job. all_gather and
// broadcast meet at a barrier and pass strings through shared slots, so a
// ThreadCollective is only usable from the thread of its rank, and every rank
// must make the same sequence of calls (as with MPI).
#pragma once

#include <barrier>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/collective.h"
#include "lancer/shared_memory.h"

namespace lancer::testing {

class ThreadGroup {
 public:
  // `shares_memory`: the ranks also map shared memory (MapsSharedMemory), as MPI ranks on one host.
  explicit ThreadGroup(int size, bool shares_memory = false)
      : size_(size), shares_memory_(shares_memory), barrier_(size), slots_(static_cast<size_t>(size)) {}

 private:
  friend class ThreadCollective;
  const int size_;
  const bool shares_memory_;
  std::barrier<> barrier_;
  std::vector<std::string> slots_;
  std::vector<std::unique_ptr<std::vector<char>>> memory_;  // every map_shared's, for the group's life
};

// A view of memory the group owns.
class ThreadSharedMemory final : public SharedMemory {
 public:
  explicit ThreadSharedMemory(std::vector<char>& bytes) : bytes_(bytes) {}
  char* data() override { return bytes_.data(); }
  size_t size() const override { return bytes_.size(); }

 private:
  std::vector<char>& bytes_;
};

class ThreadCollective final : public core::Collective, public MapsSharedMemory {
 public:
  ThreadCollective(ThreadGroup& group, int rank) : group_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_.size_; }

  Result<std::vector<std::string>> all_gather(std::string mine) override {
    group_.slots_[static_cast<size_t>(rank_)] = std::move(mine);
    group_.barrier_.arrive_and_wait();
    std::vector<std::string> all = group_.slots_;
    group_.barrier_.arrive_and_wait();  // nobody refills a slot before all have copied it
    return all;
  }

  Status broadcast(std::string* data, int root) override {
    if (rank_ == root) group_.slots_[static_cast<size_t>(root)] = *data;
    group_.barrier_.arrive_and_wait();
    if (rank_ != root) *data = group_.slots_[static_cast<size_t>(root)];
    group_.barrier_.arrive_and_wait();
    return Status::OK();
  }

  Result<std::unique_ptr<SharedMemory>> map_shared(size_t bytes) override {
    if (!group_.shares_memory_) return std::unique_ptr<SharedMemory>();
    if (rank_ == 0) group_.memory_.push_back(std::make_unique<std::vector<char>>(bytes, '\0'));
    group_.barrier_.arrive_and_wait();
    auto memory = std::make_unique<ThreadSharedMemory>(*group_.memory_.back());
    group_.barrier_.arrive_and_wait();  // nobody maps again before all have this one
    return std::unique_ptr<SharedMemory>(std::move(memory));
  }

 private:
  ThreadGroup& group_;
  const int rank_;
};

// Runs fn(collective) on `ranks` threads, one per rank, and waits for all; with
// `shares_memory`, the ranks map shared memory as MPI ranks on one host do.
inline void run_ranks(int ranks, const std::function<void(core::Collective&)>& fn, bool shares_memory = false) {
  ThreadGroup group(ranks, shares_memory);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&group, &fn, r] {
      ThreadCollective collective(group, r);
      fn(collective);
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace lancer::testing

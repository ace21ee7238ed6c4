// Test-only: N std::threads acting as the N ranks of one job. all_gather and
// broadcast meet at a barrier and pass strings through shared slots, so a
// ThreadCollective is only usable from the thread of its rank, and every rank
// must make the same sequence of calls (as with MPI).
#pragma once

#include <barrier>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/collective.h"

namespace lancer::testing {

class ThreadGroup {
 public:
  explicit ThreadGroup(int size) : size_(size), barrier_(size), slots_(static_cast<size_t>(size)) {}

 private:
  friend class ThreadCollective;
  const int size_;
  std::barrier<> barrier_;
  std::vector<std::string> slots_;
};

class ThreadCollective final : public core::Collective {
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

 private:
  ThreadGroup& group_;
  const int rank_;
};

// Runs fn(collective) on `ranks` threads, one per rank, and waits for all.
inline void run_ranks(int ranks, const std::function<void(core::Collective&)>& fn) {
  ThreadGroup group(ranks);
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

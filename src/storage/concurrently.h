// Many storage calls at once: each object-store call is a round trip that mostly waits, so
// checks and opens of many files overlap instead of queueing. Not for computation, which takes
// an Executor.
#pragma once

#include <algorithm>
#include <cstddef>
#include <future>
#include <vector>

namespace lancer::storage {

// Calls fn(i) for every i in [0, n), at most `in_flight` at a time, each on a thread of its own;
// returns when all have returned. fn must not throw.
template <typename Fn>
void for_each_concurrently(size_t n, size_t in_flight, Fn fn) {
  for (size_t first = 0; first < n; first += in_flight) {
    std::vector<std::future<void>> running;
    for (size_t i = first; i < std::min(n, first + in_flight); ++i) {
      running.push_back(std::async(std::launch::async, [&fn, i] { fn(i); }));
    }
    for (auto& r : running) r.wait();
  }
}

}  // namespace lancer::storage

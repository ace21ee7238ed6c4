// The training sample put in hash order (SampleCollector::take_sorted) at the
// benchmark's small-set size: 447 x 256 rows of 128 floats (58 MB) kept out of
// 200,000. Arg: threads (0: the former serial code, an index sort by hash and a
// cycle walk, for comparison). Wall time per take (UseRealTime).
// Run: build/bench/sample_take_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "core/executor.h"
#include "pipeline/sample.h"

namespace {

constexpr size_t kDim = 128, kWant = 447 * 256, kRows = 200000;

lancer::pipeline::SampleCollector collect(const std::vector<float>& rows) {
  lancer::pipeline::SampleCollector c(kWant, kDim, 42);
  c.reserve(kRows);
  for (uint64_t id = 0; id < kRows; ++id) c.offer(id, rows.data() + id * kDim);
  return c;
}

// What take_sorted did before it took an executor: an index sort by hash, then a cycle walk.
void former_take_sorted(const std::vector<uint64_t>& hashes, std::vector<float>& data) {
  const size_t n = hashes.size();
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return hashes[a] < hashes[b]; });
  std::vector<float> tmp(kDim);
  std::vector<bool> placed(n, false);
  for (size_t start = 0; start < n; ++start) {
    if (placed[start] || order[start] == start) continue;
    std::memcpy(tmp.data(), data.data() + start * kDim, kDim * 4);
    size_t at = start;
    while (order[at] != start) {
      std::memcpy(data.data() + at * kDim, data.data() + size_t{order[at]} * kDim, kDim * 4);
      placed[at] = true;
      at = order[at];
    }
    std::memcpy(data.data() + at * kDim, tmp.data(), kDim * 4);
    placed[at] = true;
  }
}

// The former code's input: the sampled rows in id order (not hash order) with their hashes.
void unsorted_sample(const std::vector<float>& rows, std::vector<uint64_t>* hashes, std::vector<float>* data) {
  const lancer::pipeline::SampleCollector c(kWant, kDim, 42);
  std::vector<std::pair<uint64_t, uint64_t>> by_hash(kRows);  // (hash, id)
  for (uint64_t id = 0; id < kRows; ++id) by_hash[id] = {c.hash_of(id), id};
  std::nth_element(by_hash.begin(), by_hash.begin() + kWant, by_hash.end());
  by_hash.resize(kWant);
  std::sort(by_hash.begin(), by_hash.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  hashes->resize(kWant);
  data->resize(kWant * kDim);
  for (size_t i = 0; i < kWant; ++i) {
    (*hashes)[i] = by_hash[i].first;
    std::memcpy(data->data() + i * kDim, rows.data() + by_hash[i].second * kDim, kDim * 4);
  }
}

void BM_TakeSorted(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  std::vector<float> rows(kRows * kDim);
  for (float& v : rows) v = normal(rng);
  lancer::core::ThreadPool pool(std::max(threads, 1));
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<uint64_t> hashes;
    std::vector<float> data;
    if (threads == 0) unsorted_sample(rows, &hashes, &data);
    auto c = collect(rows);
    state.ResumeTiming();
    if (threads == 0) {
      former_take_sorted(hashes, data);
      benchmark::DoNotOptimize(data.data());
    } else {
      benchmark::DoNotOptimize(c.take_sorted(pool).data());
    }
  }
}

BENCHMARK(BM_TakeSorted)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

// HNSW graph builds with Lance's defaults (m 20, ef_construction 150, max_level 7):
// 200,000 x 128 split into 447 partitions as IVF hands them over, and one graph of 100,000 x 128.
// Single-threaded: the figure is CPU time. Run: build/bench/hnsw_bench
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "graph/hnsw.h"

namespace {

std::vector<float> gaussian(size_t n, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n * dim);
  for (float& v : x) v = normal(rng);
  return x;
}

void BM_Partitions(benchmark::State& state) {
  const size_t n = 200000, dim = 128, parts = 447;
  const auto x = gaussian(n, dim, 1);
  for (auto _ : state) {
    uint64_t rows = 0;
    for (size_t p = 0; p < parts; ++p) {
      const size_t begin = n * p / parts, end = n * (p + 1) / parts;
      auto g =
          lancer::graph::build_hnsw({x.data() + begin * dim, end - begin, dim}, lancer::graph::GraphDistance::kL2, {});
      rows += g->num_rows();
    }
    benchmark::DoNotOptimize(rows);
  }
}
BENCHMARK(BM_Partitions)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_OnePartition(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0)), dim = 128;
  const auto x = gaussian(n, dim, 2);
  for (auto _ : state) {
    auto g = lancer::graph::build_hnsw({x.data(), n, dim}, lancer::graph::GraphDistance::kL2, {});
    benchmark::DoNotOptimize(g->num_rows());
  }
}
BENCHMARK(BM_OnePartition)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();

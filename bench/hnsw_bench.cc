// HNSW graph builds with Lance's defaults (m 20, ef_construction 150, max_level 7):
// 200,000 x 128 split into 447 partitions and 60,000 x 1,024 into 245 as IVF hands them over,
// and one graph of 100,000 x 128.
// Single-threaded: the figure is CPU time. Run: build/bench/hnsw_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <vector>

#include "graph/hnsw.h"
#include "graph/hnsw_internal.h"
#include "graph/hnsw_search.h"
#include "linalg/norms.h"

namespace {

std::vector<float> gaussian(size_t n, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n * dim);
  for (float& v : x) v = normal(rng);
  return x;
}

// args: rows, dim, partitions (the benchmark's small and large datasets' shapes).
void BM_Partitions(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0)), dim = static_cast<size_t>(state.range(1)),
               parts = static_cast<size_t>(state.range(2));
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
BENCHMARK(BM_Partitions)
    ->Args({200000, 128, 447})
    ->Args({60000, 1024, 245})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

void BM_OnePartition(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0)), dim = 128;
  const auto x = gaussian(n, dim, 2);
  for (auto _ : state) {
    auto g = lancer::graph::build_hnsw({x.data(), n, dim}, lancer::graph::GraphDistance::kL2, {});
    benchmark::DoNotOptimize(g->num_rows());
  }
}
// Recall@10 of the partitions' graphs searched with ef 15 (Lance's default for
// k = 10) against brute force inside the partition: 200,000 x 128 points around
// Gaussian centres (spread 4, unit noise), one partition per centre (args: 447
// or fewer, larger partitions; candidates 0 = the size rule, 1 = the beam),
// 10 queries per partition (a member plus noise 0.5). The counter is the recall.
void BM_PartitionRecall(benchmark::State& state) {
  const size_t n = 200000, dim = 128, parts = static_cast<size_t>(state.range(0)), queries = 10, k = 10;
  const auto candidates =
      state.range(1) == 0 ? lancer::graph::internal::Candidates::kBySize : lancer::graph::internal::Candidates::kBeam;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> centres(parts * dim);
  for (float& c : centres) c = 4.0f * normal(rng);
  std::vector<std::vector<float>> members(parts);
  for (size_t i = 0; i < n; ++i) {
    const size_t c = rng() % parts;
    for (size_t j = 0; j < dim; ++j) members[c].push_back(centres[c * dim + j] + normal(rng));
  }
  double recall = 0;
  for (auto _ : state) {
    size_t hits = 0, total = 0;
    for (size_t p = 0; p < parts; ++p) {
      const std::vector<float>& x = members[p];
      const size_t rows = x.size() / dim;
      auto g =
          lancer::graph::internal::build_hnsw({x.data(), rows, dim}, lancer::graph::GraphDistance::kL2, {}, candidates);
      lancer::graph::HnswSearcher searcher(*g);
      std::vector<float> q(dim);
      for (size_t qi = 0; qi < queries; ++qi) {
        const size_t base = (qi * 7919 + p) % rows;
        for (size_t j = 0; j < dim; ++j) q[j] = x[base * dim + j] + 0.5f * normal(rng);
        std::vector<lancer::graph::ScoredNode> exact(rows);
        for (uint32_t i = 0; i < rows; ++i) exact[i] = {lancer::linalg::portable_l2_sqr(q.data(), &x[i * dim], dim), i};
        const size_t kk = std::min(k, rows);
        std::partial_sort(exact.begin(), exact.begin() + static_cast<std::ptrdiff_t>(kk), exact.end());
        const auto found = searcher.search(k, 15, [&](const uint32_t* ids, size_t m, float* out) {
          for (size_t i = 0; i < m; ++i) out[i] = lancer::linalg::portable_l2_sqr(q.data(), &x[ids[i] * dim], dim);
        });
        for (size_t a = 0; a < kk; ++a) {
          for (const auto& f : found) hits += f.node == exact[a].node;
        }
        total += kk;
      }
    }
    recall = static_cast<double>(hits) / static_cast<double>(total);
  }
  state.counters["recall@10"] = recall;
}
BENCHMARK(BM_PartitionRecall)
    ->Args({447, 0})
    ->Args({447, 1})
    ->Args({64, 0})
    ->Args({64, 1})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

// The same graphs forced through the beam, below the size rule: what the rule saves.
void BM_OnePartitionBeam(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0)), dim = 128;
  const auto x = gaussian(n, dim, 2);
  for (auto _ : state) {
    auto g = lancer::graph::internal::build_hnsw({x.data(), n, dim}, lancer::graph::GraphDistance::kL2, {},
                                                 lancer::graph::internal::Candidates::kBeam);
    benchmark::DoNotOptimize(g->num_rows());
  }
}
BENCHMARK(BM_OnePartitionBeam)->Arg(447)->Arg(1000)->Arg(2000)->Arg(4096)->Unit(benchmark::kMillisecond)->Iterations(1);

BENCHMARK(BM_OnePartition)
    ->Arg(447)
    ->Arg(1000)
    ->Arg(2000)
    ->Arg(4096)
    ->Arg(4097)
    ->Arg(10000)
    ->Arg(100000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

}  // namespace

BENCHMARK_MAIN();

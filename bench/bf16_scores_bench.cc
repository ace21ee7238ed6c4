// Speed of the bfloat16 proposal behind nearest_centroids (linalg/nearest_bf16.cc)
// at the seed shape's assignment (2,048-d, 1,131 centroids), one kernel at a time:
//   build/bench/bf16_scores_bench [--benchmark_filter=...]
// Counters: GFLOPS (2 * rows * centroids * d per call; for the pair scores,
// 2 * d per pair), candidates_per_row. Single-threaded except BM_Nearest*,
// which use LANCER_THREADS threads (default: all cores).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "core/executor.h"
#include "linalg/nearest.h"
#include "simd/bf16_scores.h"
#include "simd/codeword.h"

namespace {

using namespace lancer;

// Clustered rows: `centres` Gaussian centres plus unit noise; the centroids
// are `k` other rows of the same distribution (near where k-means puts them).
std::vector<float> make_rows(size_t n, size_t d, uint32_t seed, size_t centres = 2000) {
  std::mt19937 gen(1234);
  std::normal_distribution<float> g;
  std::vector<float> c(centres * d);
  for (auto& v : c) v = 0.5f * g(gen);
  gen.seed(seed);
  std::uniform_int_distribution<size_t> pick(0, centres - 1);
  std::vector<float> x(n * d);
  for (size_t i = 0; i < n; ++i) {
    const size_t p = pick(gen);
    for (size_t j = 0; j < d; ++j) x[i * d + j] = c[p * d + j] + 0.3f * g(gen);
  }
  return x;
}

struct Shape {
  size_t m, k, d;
};
Shape shape(const benchmark::State& state) {
  return {static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)),
          static_cast<size_t>(state.range(2))};
}

void BM_Bf16Scores(benchmark::State& state) {
  if (!simd::bf16_scores_available()) return state.SkipWithError("no AVX512-BF16");
  const auto [m, k, d] = shape(state);
  const size_t pairs = simd::bf16_pairs(d), kp = simd::bf16_round_up(k, simd::kBf16Panel);
  const size_t mp = simd::bf16_round_up(m, simd::kBf16RowTile);
  const auto x = make_rows(m, d, 1), c = make_rows(k, d, 2);
  std::vector<uint32_t> rows(simd::bf16_round_up(m, simd::kBf16RowTile) * simd::bf16_pairs(d)), panels(kp * pairs);
  std::vector<float> out(mp * kp);
  simd::bf16_pack_rows(x.data(), m, d, d, nullptr, rows.data());
  simd::bf16_pack_panels(c.data(), k, d, nullptr, panels.data());
  for (auto _ : state) {
    simd::bf16_scores(rows.data(), mp, panels.data(), kp, pairs, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOPS"] =
      benchmark::Counter(2.0 * double(m * k * d) * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

void BM_Bf16PackRows(benchmark::State& state) {
  if (!simd::bf16_scores_available()) return state.SkipWithError("no AVX512-BF16");
  const auto [m, k, d] = shape(state);
  const auto x = make_rows(m, d, 1);
  std::vector<float> shift(d, 0.1f);
  std::vector<uint32_t> rows(simd::bf16_round_up(m, simd::kBf16RowTile) * simd::bf16_pairs(d));
  for (auto _ : state) {
    simd::bf16_pack_rows(x.data(), m, d, d, shift.data(), rows.data());
    benchmark::DoNotOptimize(rows.data());
  }
  state.counters["GB_per_s"] =
      benchmark::Counter(4.0 * double(m * d) * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

// Canonical scores of m rows' candidates (one per row, range 3 more for every
// range-3-th row) against k centroids: scalar chains (range 4 = 0) or packed (1).
void BM_PairScores(benchmark::State& state) {
  if (!simd::bf16_scores_available()) return state.SkipWithError("no AVX512-BF16");
  const auto [m, k, d] = shape(state);
  const bool packed = state.range(3) != 0;
  const auto x = make_rows(m, d, 1), c = make_rows(k, d, 2);
  std::vector<float> cb(k * d), cnorm(k), xt(simd::packed_size(m, d)), cbt(simd::packed_size(k, d));
  simd::prepare_codewords(c.data(), k, d, cb.data(), cnorm.data());
  simd::pack_blocks(cb.data(), k, d, d, cbt.data());
  std::vector<uint32_t> rows, cols;
  for (size_t r = 0; r < m; ++r) {
    rows.push_back(static_cast<uint32_t>(r));
    cols.push_back(static_cast<uint32_t>((r * 7) % k));
    if (r % 5 == 0) {
      rows.push_back(static_cast<uint32_t>(r));
      cols.push_back(static_cast<uint32_t>((r * 7 + 1) % k));
    }
  }
  std::vector<float> out(rows.size());
  for (auto _ : state) {
    if (packed) {
      simd::pack_blocks(x.data(), m, d, d, xt.data());  // part of the packed path's cost
      simd::canonical_pair_scores_packed(xt.data(), m, cbt.data(), k, d, cnorm.data(), rows.data(), cols.data(),
                                         rows.size(), out.data());
    } else {
      simd::canonical_pair_scores(x.data(), d, d, cb.data(), cnorm.data(), rows.data(), cols.data(), rows.size(),
                                  out.data());
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["ns_per_pair_element"] = benchmark::Counter(double(rows.size() * d) * double(state.iterations()) / 1e9,
                                                             benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// The whole assignment, bfloat16 proposal (range 3 = 1) or the canonical kernel alone (0).
void BM_Nearest(benchmark::State& state) {
  const auto [n, k, d] = shape(state);
  const bool bf16 = state.range(3) != 0;
  if (bf16 && !simd::bf16_scores_available()) return state.SkipWithError("no AVX512-BF16");
  const char* env = std::getenv("LANCER_THREADS");
  core::ThreadPool pool(env ? std::atoi(env) : 0);
  const auto x = make_rows(n, d, 1), c = make_rows(k, d, 2);
  std::vector<uint32_t> labels(n);
  linalg::NearestScratch scratch;
  linalg::NearestOptions options;
  options.bf16 = bf16;
  options.scratch = &scratch;
  for (auto _ : state) {
    auto st =
        linalg::nearest_centroids({x.data(), n, d}, {c.data(), k, d}, simd::Metric::kL2, labels, {}, pool, options);
    if (!st.ok()) return state.SkipWithError(st.to_string().c_str());
    benchmark::DoNotOptimize(labels.data());
  }
  state.counters["GFLOPS"] =
      benchmark::Counter(2.0 * double(n * k * d) * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_Bf16Scores)
    ->Args({64, 1131, 2048})
    ->Args({512, 1131, 2048})
    ->Args({64, 245, 1024})
    ->Args({64, 256, 128})
    ->Args({512, 33, 2048});
BENCHMARK(BM_PairScores)
    ->Args({64, 48, 2048, 0})
    ->Args({64, 48, 2048, 1})
    ->Args({32, 33, 2048, 0})
    ->Args({32, 33, 2048, 1});
BENCHMARK(BM_Bf16PackRows)->Args({64, 1131, 2048});
BENCHMARK(BM_Nearest)
    ->Args({16384, 1131, 2048, 1})
    ->Args({16384, 1131, 2048, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();

// Speed of phase 1 (training) and the inner loops of phase 2 (assignment and
// encoding) on synthetic data, against the SGEMM peak measured in the same run.
//   build/bench/train_bench [--benchmark_filter=...]
//   BM_TrainRanks: distributed training (threads as ranks) against one process.
// Counters: GFLOPS (2*n*k*d per assignment), pct_peak (of the SGEMM peak of
// this run: independent single-threaded SGEMMs, one per executor thread),
// vectors_per_s, GB_per_s. LANCER_THREADS sets the executor size (default: all cores).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "core/executor.h"
#include "linalg/blas.h"
#include "linalg/nearest.h"
#include "simd/distance.h"
#include "train/kmeans.h"
#include "train/pq.h"
#include "train/sq.h"
// Test-only ranks as threads, shared with tests/cpp/train/distributed_test.cc.
#include "../tests/cpp/train/thread_collective.h"

namespace {

using namespace lancer;

int threads() {
  const char* env = std::getenv("LANCER_THREADS");
  return env ? std::atoi(env) : 0;
}

core::ThreadPool& pool() {
  static core::ThreadPool p(threads());
  return p;
}

// Clustered data: `centres` Gaussian centres, unit noise with a decaying
// spectrum (a crude stand-in for real embeddings).
std::vector<float> make_data(size_t n, size_t d, uint32_t seed, size_t centres = 1000) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> g;
  std::vector<float> c(centres * d), scale(d);
  for (auto& v : c) v = 2.0f * g(gen);
  for (size_t j = 0; j < d; ++j) scale[j] = 1.0f / std::sqrt(1.0f + float(j) / 16.0f);
  std::vector<float> x(n * d);
  std::uniform_int_distribution<size_t> pick(0, centres - 1);
  for (size_t i = 0; i < n; ++i) {
    const size_t k = pick(gen);
    for (size_t j = 0; j < d; ++j) x[i * d + j] = c[k * d + j] + scale[j] * g(gen);
  }
  return x;
}

// The SGEMM peak of this machine, measured in this run: the better of
// (a) independent single-threaded 1024^3 SGEMMs, one per pool thread, and
// (b) one 2048^3 SGEMM with OpenBLAS's own threads; best of 6 tries each.
double measure_peak() {
  static double peak = [] {
    const size_t s = 1024;
    const int t = pool().num_threads();
    std::vector<std::vector<float>> a(t, std::vector<float>(s * s, 1.0f)), c(t, std::vector<float>(s * s));
    double best = 0;
    for (int rep = 0; rep < 6; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      pool().parallel_for(t, 1, [&](size_t b, size_t e) {
        for (size_t i = b; i < e; ++i)
          linalg::sgemm_nt(s, s, s, 1.0f, a[i].data(), s, a[i].data(), s, 0.0f, c[i].data(), s);
      });
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, 2.0 * s * s * s * t / sec / 1e9);
    }
    const size_t b = 2048;
    std::vector<float> big(b * b, 1.0f), out(b * b);
    const int prev = linalg::set_blas_threads(t);
    for (int rep = 0; rep < 6; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      linalg::sgemm_nt(b, b, b, 1.0f, big.data(), b, big.data(), b, 0.0f, out.data(), b);
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, 2.0 * b * b * b / sec / 1e9);
    }
    linalg::set_blas_threads(prev);
    // OpenBLAS's own threads spin (sched_yield) for a while after their last
    // job; let them go to sleep before anything else is timed.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    return best;
  }();
  return peak;
}

void BM_SgemmPeak(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(measure_peak());
  state.counters["GFLOPS"] = measure_peak();
  state.counters["threads"] = pool().num_threads();
  state.SetLabel(linalg::blas_config());
}
BENCHMARK(BM_SgemmPeak)->Iterations(1)->Unit(benchmark::kMillisecond);

// One multithreaded OpenBLAS SGEMM (for the BLAS-threading decision).
void BM_SgemmOpenBlasThreads(benchmark::State& state) {
  const size_t s = 2048;
  std::vector<float> a(s * s, 1.0f), c(s * s);
  const int prev = linalg::set_blas_threads(static_cast<int>(state.range(0)));
  for (auto _ : state) linalg::sgemm_nt(s, s, s, 1.0f, a.data(), s, a.data(), s, 0.0f, c.data(), s);
  linalg::set_blas_threads(prev);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let OpenBLAS's spinning threads sleep
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * s * s * s / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_SgemmOpenBlasThreads)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void set_flops(benchmark::State& state, double flops_per_iter) {
  state.counters["GFLOPS"] = benchmark::Counter(flops_per_iter / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_GFLOPS"] = measure_peak();
}

// IVF assignment of n vectors to k centroids (fused GEMM + arg-min).
void BM_Assign(benchmark::State& state) {
  const size_t d = state.range(0), k = state.range(1), n = 65536;
  measure_peak();
  auto x = make_data(n, d, 1), c = make_data(k, d, 2);
  std::vector<uint32_t> labels(n);
  std::vector<float> dist(n);
  for (auto _ : state) {
    auto st =
        linalg::nearest_centroids({x.data(), n, d}, {c.data(), k, d}, simd::Metric::kL2, labels, dist, pool());
    if (!st.ok()) state.SkipWithError(st.to_string().c_str());
  }
  set_flops(state, 2.0 * n * k * d);
}
// The (d, k) shapes of BM_Assign and BM_SgemmShape.
void assignment_shapes(benchmark::internal::Benchmark* b) {
  for (auto [d, k] : {std::pair{128, 256}, {128, 447}, {128, 1024}, {128, 4096}, {256, 1024}, {768, 1024}, {1024, 245},
                      {1024, 1024}})
    b->Args({d, k});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}
BENCHMARK(BM_Assign)->Apply(assignment_shapes);

// OpenBLAS alone on the assignment's blocks: the same row blocks, one
// single-threaded SGEMM each on the pool, no arg-min. The assignment cannot be
// faster than this; BM_Assign / BM_SgemmShape is its overhead over the GEMM.
void BM_SgemmShape(benchmark::State& state) {
  const size_t d = state.range(0), k = state.range(1), n = 65536;
  measure_peak();
  auto x = make_data(n, d, 1), c = make_data(k, d, 2);
  const size_t cols = std::min(k, linalg::kNearestColBlock), rows = linalg::nearest_row_block(k);
  const size_t blocks = (n + rows - 1) / rows;
  for (auto _ : state) {
    pool().parallel_for(blocks, 1, [&](size_t b0, size_t b1) {
      thread_local std::vector<float> scores;  // one score block per pool thread, as the assignment has
      scores.resize(rows * cols);
      for (size_t b = b0; b < b1; ++b) {
        const size_t r0 = b * rows, m = std::min(rows, n - r0);
        float* out = scores.data();
        for (size_t c0 = 0; c0 < k; c0 += cols)
          linalg::sgemm_nt(m, std::min(cols, k - c0), d, -2.0f, x.data() + r0 * d, d, c.data() + c0 * d, d, 0.0f,
                           out, cols);
      }
    });
  }
  set_flops(state, 2.0 * n * k * d);
}
BENCHMARK(BM_SgemmShape)->Apply(assignment_shapes);

// lancer's assignment against the BLAS designs it replaced (d=128, k=1024;
// docs/decisions/blas-threading.md, same-bytes-any-hardware.md):
//   mode 0: lancer: the pool runs fixed blocks through the exact codeword kernel (no BLAS);
//   mode 2: FAISS-style: one multi-threaded SGEMM per 4096-row block, then the arg-min on the pool.
void BM_AssignBlasMode(benchmark::State& state) {
  const size_t d = 128, k = 1024, n = 65536, mode = state.range(0);
  measure_peak();
  auto x = make_data(n, d, 1), c = make_data(k, d, 2);
  std::vector<uint32_t> labels(n);
  std::vector<float> dist(n), norms(k), scores(4096 * k), best(4096);
  for (size_t i = 0; i < k; ++i) {
    double s = 0;
    for (size_t j = 0; j < d; ++j) s += double(c[i * d + j]) * c[i * d + j];
    norms[i] = float(s);
  }
  const int prev = linalg::set_blas_threads(mode == 0 ? 1 : pool().num_threads());
  for (auto _ : state) {
    if (mode == 0) {
      auto st =
          linalg::nearest_centroids({x.data(), n, d}, {c.data(), k, d}, simd::Metric::kL2, labels, dist, pool());
      if (!st.ok()) state.SkipWithError(st.to_string().c_str());
    } else {
      for (size_t r0 = 0; r0 < n; r0 += 4096) {
        linalg::sgemm_nt(4096, k, d, -2.0f, x.data() + r0 * d, d, c.data(), d, 0.0f, scores.data(), k);
        pool().parallel_for(4096, 256, [&](size_t b, size_t e) {
          std::fill(best.begin() + b, best.begin() + e, 1e30f);
          simd::argmin_update(scores.data() + b * k, e - b, k, k, norms.data(), 0, best.data() + b,
                              labels.data() + r0 + b);
        });
      }
    }
  }
  linalg::set_blas_threads(prev);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let OpenBLAS's spinning threads sleep
  set_flops(state, 2.0 * n * k * d);
  state.SetLabel(linalg::blas_config());
}
BENCHMARK(BM_AssignBlasMode)->Arg(0)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Full IVF k-means: sample of 256 * k rows (Lance's default), max_iters
// iterations (tolerance 0). GFLOPS counts the assignments of the whole run;
// iter_GFLOPS the iterations alone: (run of N iterations - run of 1) / (N - 1),
// which removes the set-up (checks, init, norms) shared by both runs.
void BM_KMeans(benchmark::State& state) {
  const size_t d = state.range(0), k = state.range(1), iters = state.range(2);
  const size_t n = 256 * k;
  measure_peak();
  auto x = make_data(n, d, 3);
  train::KMeansParams p;
  p.num_clusters = static_cast<int>(k);
  p.tolerance = 0;
  p.hierarchical_fanout = 0;  // flat: every iteration assigns all n rows to all k centroids
  p.init = train::KMeansInit::kRandom;
  auto timed = [&](int max_iters, int* ran) {
    p.max_iters = max_iters;
    const auto t0 = std::chrono::steady_clock::now();
    auto m = train::train_kmeans({x.data(), n, d}, p, pool());
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!m.ok()) state.SkipWithError(m.status().to_string().c_str());
    *ran = (*m)->iterations;
    return sec;
  };
  int ran = 0, one = 0;
  double t_one = 0, t_all = 0;
  for (auto _ : state) {
    t_one = timed(1, &one);
    t_all = timed(static_cast<int>(iters), &ran);
  }
  const double flops_iter = 2.0 * n * k * d;
  state.counters["GFLOPS"] = flops_iter * ran / t_all / 1e9;
  state.counters["iter_GFLOPS"] = flops_iter * (ran - 1) / (t_all - t_one) / 1e9;
  state.counters["iterations"] = ran;
  state.counters["seconds"] = t_all;
  state.counters["peak_GFLOPS"] = measure_peak();
}
BENCHMARK(BM_KMeans)
    ->Args({128, 256, 10})
    ->Args({128, 1024, 5})
    ->Args({256, 1024, 5})
    ->Args({1024, 256, 5})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

// PQ training: n x dim residual-like data, m sub-vectors, 50 iterations.
void BM_PqTrain(benchmark::State& state) {
  const size_t n = state.range(0), d = state.range(1), m = state.range(2);
  auto x = make_data(n, d, 4, 1);  // one centre: residual-like
  train::PqParams p;
  p.num_sub_vectors = static_cast<int>(m);
  p.num_bits = static_cast<int>(state.range(3));
  p.max_iters = 50;
  p.tolerance = 0;
  double searched = 0;
  for (auto _ : state) {
    auto model = train::train_pq({x.data(), n, d}, p, pool());
    if (!model.ok()) state.SkipWithError(model.status().to_string().c_str());
    searched = (*model)->searched_fraction;
  }
  state.counters["searched"] = searched;
}
BENCHMARK(BM_PqTrain)
    ->Args({65536, 1024, 128, 8})
    ->Args({65536, 1024, 64, 8})
    ->Args({65536, 128, 16, 8})
    ->Args({65536, 1024, 128, 4})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

// PQ encoding: args dim, m, nbits, method (0 auto, 1 SIMD kernel, 2 SGEMM + arg-min).
void BM_PqEncode(benchmark::State& state) {
  const size_t d = state.range(0), m = state.range(1), n = 65536;
  const int nbits = static_cast<int>(state.range(2));
  const auto method = static_cast<train::PqEncodeMethod>(state.range(3));
  auto x = make_data(n, d, 5, 1);
  // a codebook of residual-like codewords: [m][ksub][dsub] is ksub * m rows of d / m
  std::vector<float> cb = make_data((size_t{1} << nbits) * m, d / m, 6, 1);
  auto model = train::pq_from_codebook(cb, static_cast<int>(d), static_cast<int>(m), nbits);
  std::vector<uint8_t> codes(n * (*model)->code_size());
  for (auto _ : state) {
    auto st = train::pq_encode(**model, {x.data(), n, d}, codes, pool(), method);
    if (!st.ok()) state.SkipWithError(st.to_string().c_str());
  }
  state.counters["vectors_per_s"] = benchmark::Counter(double(n), benchmark::Counter::kIsIterationInvariantRate);
  set_flops(state, 2.0 * n * d * (size_t{1} << nbits));
}
BENCHMARK(BM_PqEncode)
    ->ArgsProduct({{1024}, {128, 64, 32, 16, 8}, {8}, {1, 2}})
    ->Args({1024, 256, 4, 0})
    ->Args({1024, 128, 8, 0})
    ->Args({128, 16, 8, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Distributed training on this machine: `ranks` threads acting as the ranks
// of one job (tests/cpp/train/thread_collective.h), each with a one-thread
// executor, against one process with a one-thread executor, timed alternately
// in the same run (best of 2 each). Args: ranks, problem (0: k-means flat
// d=128 k=256 n=65536 10 iterations; 1: k-means two-level d=128 k=1024
// n=65536; 2: PQ d=128 m=16 8 bits n=65536 25 iterations).
void BM_TrainRanks(benchmark::State& state) {
  const int ranks = static_cast<int>(state.range(0)), problem = static_cast<int>(state.range(1));
  const size_t d = 128, n = 65536;
  auto x = make_data(n, d, problem == 2 ? 4 : 3, problem == 2 ? 1 : 1000);
  const linalg::MatrixView<const float> view(x.data(), n, d);
  auto train = [&](core::Executor& ex, core::Collective* c) -> Status {
    if (problem == 2) {
      train::PqParams p;
      p.num_sub_vectors = 16;
      p.max_iters = 25;
      p.tolerance = 0;
      return train::train_pq(view, p, ex, c).status();
    }
    train::KMeansParams p;
    p.num_clusters = problem == 0 ? 256 : 1024;
    p.max_iters = 10;
    p.tolerance = 0;
    p.init = train::KMeansInit::kRandom;
    p.hierarchical_fanout = problem == 0 ? 0 : train::kAutoFanout;
    return train::train_kmeans(view, p, ex, c).status();
  };
  // Wall seconds, and the largest CPU seconds of one rank's thread: on a busy
  // machine the wall-clock speedup says little, while one(cpu) / max rank(cpu)
  // is the speedup that idle cores would give (less waiting for the slowest rank).
  auto thread_cpu = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  };
  auto timed = [&](int r, double* cpu) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<double> rank_cpu(static_cast<size_t>(r));
    auto run_rank = [&](core::Collective* c) {
      const double c0 = thread_cpu();
      core::InlineExecutor ex;
      auto st = train(ex, c);
      if (!st.ok()) state.SkipWithError(st.to_string().c_str());
      rank_cpu[c ? static_cast<size_t>(c->rank()) : 0] = thread_cpu() - c0;
    };
    if (r == 1) {
      run_rank(nullptr);
    } else {
      testing::run_ranks(r, [&](core::Collective& c) { run_rank(&c); });
    }
    *cpu = *std::max_element(rank_cpu.begin(), rank_cpu.end());
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  double one = 1e30, many = 1e30, one_cpu = 1e30, many_cpu = 1e30, cpu = 0;
  for (auto _ : state) {
    for (int rep = 0; rep < 2; ++rep) {
      one = std::min(one, timed(1, &cpu));
      one_cpu = std::min(one_cpu, cpu);
      many = std::min(many, timed(ranks, &cpu));
      many_cpu = std::min(many_cpu, cpu);
    }
  }
  state.counters["seconds_1_rank"] = one;
  state.counters["seconds"] = many;
  state.counters["speedup"] = one / many;
  state.counters["cpu_speedup"] = one_cpu / many_cpu;
}
BENCHMARK(BM_TrainRanks)
    ->Args({2, 0})
    ->Args({2, 1})
    ->Args({2, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

// SQ encoding of state.range(0) values (2^16: cache-resident, compute speed;
// 2^26: from DRAM, compare with BM_MemoryReadWrite).
void BM_SqEncode(benchmark::State& state) {
  const size_t d = 1024, n = state.range(0) / d;
  auto x = make_data(n, d, 7, 4);
  auto model = train::sq_from_bounds(static_cast<int>(d), -8.0, 8.0);
  std::vector<uint8_t> codes(n * d);
  for (auto _ : state) {
    auto st = train::sq_encode(**model, {x.data(), n, d}, codes, pool());
    if (!st.ok()) state.SkipWithError(st.to_string().c_str());
  }
  state.counters["GB_per_s"] =
      benchmark::Counter(double(n * d * 5) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_SqEncode)->Arg(1 << 16)->Arg(1 << 26)->Unit(benchmark::kMillisecond)->UseRealTime();

// Memory bandwidth reference for SQ: the same traffic (read 4 bytes, write 1
// per value) with no arithmetic: a SIMD sum over the input and a memset of the output.
void BM_MemoryReadWrite(benchmark::State& state) {
  const size_t n = (1 << 16) * 1024, chunk = 1 << 16;
  std::vector<float> x(n, 1.0f);
  std::vector<uint8_t> out(n);
  std::vector<float> sums(n / chunk);
  for (auto _ : state) {
    pool().parallel_for(n / chunk, 1, [&](size_t b, size_t e) {
      for (size_t c = b; c < e; ++c) {
        sums[c] = simd::dot(x.data() + c * chunk, x.data() + c * chunk, chunk);
        std::memset(out.data() + c * chunk, static_cast<int>(c), chunk);
      }
    });
    benchmark::DoNotOptimize(out.data());
    benchmark::DoNotOptimize(sums.data());
  }
  state.counters["GB_per_s"] = benchmark::Counter(double(n * 5) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_MemoryReadWrite)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  lancer::linalg::reexec_with_better_openblas(argv);  // the kernels the CLI would use
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

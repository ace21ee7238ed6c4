// The RaBitQ (IVF_RQ) encode alone, one thread: residual, rotation, codes and
// factors of 4,096 clustered vectors per iteration (the figure is CPU time per
// batch; divide by 4,096 for one vector). Args: dim (128 and 1,024 take the
// FWHT path, 96 Kac's), num_bits, metric (0 l2, 1 cosine, 2 dot). The label is
// an FNV-1a digest of the encoded rows: it must not change when the encoder is
// made faster. Run: build/bench/rq_encode_bench
#include <benchmark/benchmark.h>

#include <cstdio>
#include <random>
#include <vector>

#include "core/executor.h"
#include "quant/rq_codec.h"

namespace {

using lancer::simd::Metric;

void BM_RqEncode(benchmark::State& state) {
  const uint32_t dim = static_cast<uint32_t>(state.range(0));
  const int num_bits = static_cast<int>(state.range(1));
  const Metric metric = state.range(2) == 0 ? Metric::kL2 : state.range(2) == 1 ? Metric::kCosine : Metric::kDot;
  const size_t n = 4096, parts = 16;
  std::mt19937 rng(dim * 16 + static_cast<uint32_t>(num_bits));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto model = std::make_shared<lancer::quant::RqModel>();
  model->dim = dim;
  model->num_bits = num_bits;
  model->signs.resize(4 * dim / 8);
  for (auto& s : model->signs) s = static_cast<uint8_t>(rng());
  std::vector<float> centroids(parts * dim), x(n * dim);
  for (float& v : centroids) v = 4.0f * normal(rng);
  std::vector<uint32_t> labels(n);
  for (size_t i = 0; i < n; ++i) {
    labels[i] = static_cast<uint32_t>(rng() % parts);
    for (size_t j = 0; j < dim; ++j) x[i * dim + j] = centroids[labels[i] * dim + j] + normal(rng);
  }
  const auto codec = lancer::quant::make_rq_codec(model);
  size_t row_bytes = 0;
  for (const auto& c : codec->columns()) row_bytes += c.row_bytes();
  std::vector<uint8_t> rows(n * row_bytes);
  lancer::core::InlineExecutor executor;
  for (auto _ : state) {
    auto st = codec->encode({x.data(), n, dim}, labels, centroids.data(), metric, rows, executor);
    if (!st.ok()) state.SkipWithError(st.to_string().c_str());
    benchmark::DoNotOptimize(rows.data());
  }
  uint64_t digest = 14695981039346656037ull;
  for (uint8_t b : rows) digest = (digest ^ b) * 1099511628211ull;
  char label[32];
  std::snprintf(label, sizeof label, "%016llx", static_cast<unsigned long long>(digest));
  state.SetLabel(label);
}
BENCHMARK(BM_RqEncode)
    ->ArgsProduct({{128, 1024, 96}, {1, 5, 9}, {0}})
    ->Args({128, 5, 1})
    ->Args({128, 5, 2})
    ->Args({1024, 5, 2})
    ->Args({200, 4, 2})
    ->Args({200, 8, 0})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

// Streams one vector column of an existing dataset (LANCER_BENCH_DATASET,
// LANCER_BENCH_COLUMN, default "vector") with the reader on one thread and
// reports bytes/s, vectors/s and the process's peak resident memory.
// bench/reader_bench.sh makes a >= 1 GB dataset and runs this.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdlib>
#include <string>

#include "dataset/vector_stream.h"

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

double peak_rss_mb() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

void BM_StreamVectors(benchmark::State& state) {
  const std::string uri = env_or("LANCER_BENCH_DATASET", "");
  if (uri.empty()) {
    state.SkipWithError("set LANCER_BENCH_DATASET to a Lance dataset (bench/reader_bench.sh makes one)");
    return;
  }
  auto ds = lancer::dataset::Dataset::open(uri);
  if (!ds.ok()) {
    state.SkipWithError(ds.status().to_string().c_str());
    return;
  }
  uint64_t rows = 0, bytes = 0;
  for (auto _ : state) {
    lancer::dataset::StreamOptions options;
    options.batch_bytes = static_cast<size_t>(state.range(0)) << 20;
    auto stream = lancer::dataset::VectorStream::open(*ds, env_or("LANCER_BENCH_COLUMN", "vector"), options);
    if (!stream.ok()) {
      state.SkipWithError(stream.status().to_string().c_str());
      return;
    }
    lancer::dataset::VectorBatch batch;
    for (;;) {
      auto more = (*stream)->next(&batch);
      if (!more.ok()) {
        state.SkipWithError(more.status().to_string().c_str());
        return;
      }
      if (!*more) break;
      benchmark::DoNotOptimize(batch.values.data());
      rows += batch.num_rows;
      bytes += batch.values.size();
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(static_cast<int64_t>(rows));
  state.counters["peak_rss_MB"] = peak_rss_mb();
}
BENCHMARK(BM_StreamVectors)->Arg(1)->Arg(4)->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

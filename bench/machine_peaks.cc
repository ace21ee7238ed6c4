// The machine's arithmetic and memory peaks, the yardsticks of docs/performance.md's floors:
// float32 FMA, bfloat16 dot products (AVX512-BF16), int8 dot products (AVX512-VNNI) and
// streaming read bandwidth, on one thread and on every thread. Usage: machine_peaks [seconds]
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
volatile double g_sink;  // keeps each loop's result alive
constexpr int kAcc = 12;  // independent chains: enough to cover any of these instructions' latency

__attribute__((target("avx512f,fma"))) double fp32_flops(long iters) {
  __m512 acc[kAcc];
  for (auto& a : acc) a = _mm512_setzero_ps();
  __m512 x = _mm512_set1_ps(1.0f), y = _mm512_set1_ps(1e-7f);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < kAcc; ++j) acc[j] = _mm512_fmadd_ps(x, y, acc[j]);
  }
  float s = 0;
  for (auto& a : acc) s += _mm512_reduce_add_ps(a);
  g_sink = s;
  return 32.0 * kAcc * static_cast<double>(iters);
}

__attribute__((target("avx512f,avx512bf16"))) double bf16_flops(long iters) {
  __m512 acc[kAcc];
  for (auto& a : acc) a = _mm512_setzero_ps();
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3380);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < kAcc; ++j) acc[j] = _mm512_dpbf16_ps(acc[j], x, y);
  }
  float s = 0;
  for (auto& a : acc) s += _mm512_reduce_add_ps(a);
  g_sink = static_cast<double>(s);
  return 64.0 * kAcc * static_cast<double>(iters);
}

__attribute__((target("avx512f,avx512vnni"))) double int8_ops(long iters) {
  __m512i acc[kAcc];
  for (auto& a : acc) a = _mm512_setzero_si512();
  const __m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(1);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < kAcc; ++j) acc[j] = _mm512_dpbusd_epi32(acc[j], x, y);
  }
  long s = 0;
  for (auto& a : acc) s += _mm512_reduce_add_epi32(a);
  g_sink = static_cast<double>(s);
  return 128.0 * kAcc * static_cast<double>(iters);
}

// Sums a 256 MiB buffer (larger than any cache) with 64-byte loads.
__attribute__((target("avx512f"))) double read_bytes(const std::vector<float>& buf, int passes) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int p = 0; p < passes; ++p) {
    for (size_t i = 0; i + 64 <= buf.size(); i += 64) {
      for (int j = 0; j < 4; ++j) acc[j] = _mm512_add_ps(acc[j], _mm512_loadu_ps(buf.data() + i + 16 * j));
    }
  }
  float s = 0;
  for (auto& a : acc) s += _mm512_reduce_add_ps(a);
  g_sink = static_cast<double>(s);
  return 4.0 * static_cast<double>(buf.size()) * passes;
}

// Runs f on `threads` threads at once; the total work over the wall time.
template <class F>
double rate(int threads, F f) {
  std::vector<double> work(threads);
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { work[t] = f(); });
  for (auto& th : pool) th.join();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  double total = 0;
  for (double w : work) total += w;
  return total / s / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if (!avx512) {
    std::puts("machine_peaks: no AVX-512 on this CPU: nothing measured");
    return 0;
  }
  const int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const long iters = static_cast<long>(2e8 * seconds / 2);
  std::vector<float> buf(size_t{64} << 20, 1.0f);
  for (int threads : {1, all}) {
    std::printf("%d thread(s):\n", threads);
    std::printf("  fp32 FMA          %7.1f GFLOPS\n", rate(threads, [&] { return fp32_flops(iters); }));
    if (__builtin_cpu_supports("avx512bf16")) {
      std::printf("  bf16 dot (BF16)   %7.1f GFLOPS\n", rate(threads, [&] { return bf16_flops(iters); }));
    }
    if (__builtin_cpu_supports("avx512vnni")) {
      std::printf("  int8 dot (VNNI)   %7.1f GOPS\n", rate(threads, [&] { return int8_ops(iters); }));
    }
    std::printf("  streaming read    %7.1f GB/s\n", rate(threads, [&] { return read_bytes(buf, 4); }));
  }
  return 0;
}

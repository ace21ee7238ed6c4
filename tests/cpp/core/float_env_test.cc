#include "core/float_env.h"

#include <gtest/gtest.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/executor.h"

namespace lancer::core {
namespace {

constexpr unsigned kFtzDaz = 0x8040u;

// What a library built with -ffast-math does to the thread that loads it.
struct FastMathThread {
  unsigned saved = _mm_getcsr();
  FastMathThread() { _mm_setcsr(saved | kFtzDaz | 0x6000u); }
  ~FastMathThread() { _mm_setcsr(saved); }
};

volatile float tiny = 1e-40f;  // subnormal

TEST(IeeeFloatScope, KeepsSubnormalsAndRestoresTheHostsState) {
  FastMathThread host;
  const unsigned before = _mm_getcsr();
  EXPECT_EQ(tiny * 1.0f, 0.0f);  // DAZ: the subnormal input reads as zero
  {
    IeeeFloatScope ieee;
    EXPECT_EQ(_mm_getcsr() & (kFtzDaz | 0x6000u), 0u);
    EXPECT_EQ(tiny * 1.0f, 1e-40f);
    EXPECT_EQ(1.0f / 3.0f, 0.333333343f);  // round to nearest
  }
  EXPECT_EQ(_mm_getcsr(), before);
}

TEST(IeeeFloatScope, PoolThreadsDoNotInheritTheHostsState) {
  FastMathThread host;
  ThreadPool pool(3);  // its workers are created by a thread with FTZ/DAZ set
  const auto caller = std::this_thread::get_id();
  std::atomic<int> on_workers{0}, non_ieee{0};
  pool.parallel_for(64, 1, [&](size_t, size_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // let the workers take chunks
    if (std::this_thread::get_id() == caller) return;           // the host's thread keeps the host's state
    ++on_workers;
    if ((_mm_getcsr() & kFtzDaz) != 0) ++non_ieee;
  });
  EXPECT_GT(on_workers.load(), 0);
  EXPECT_EQ(non_ieee.load(), 0);
}

}  // namespace
}  // namespace lancer::core
#endif

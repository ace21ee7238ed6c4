#include "linalg/permute_rows.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/executor.h"

namespace lancer::linalg {
namespace {

// Row r holds r * dim, r * dim + 1, ...: every value names its row and column.
std::vector<float> numbered_rows(size_t rows, size_t dim) {
  std::vector<float> data(rows * dim);
  std::iota(data.begin(), data.end(), 0.0f);
  return data;
}

std::vector<float> gathered_copy(const std::vector<float>& data, size_t dim, const std::vector<uint32_t>& order) {
  std::vector<float> out(data.size());
  for (size_t i = 0; i < order.size(); ++i)
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(order[i] * dim), dim,
                out.begin() + static_cast<std::ptrdiff_t>(i * dim));
  return out;
}

// Permutations whose cycles fall in different places relative to the cuts between chunks.
std::vector<std::pair<std::string, std::vector<uint32_t>>> permutations(size_t n) {
  std::vector<std::pair<std::string, std::vector<uint32_t>>> out;
  std::vector<uint32_t> p(n);
  std::iota(p.begin(), p.end(), 0u);
  out.emplace_back("identity", p);
  std::mt19937_64 rng(7);
  std::vector<uint32_t> random = p;
  std::shuffle(random.begin(), random.end(), rng);
  out.emplace_back("random", random);
  std::vector<uint32_t> one_cycle(n);  // a single cycle through every row
  for (size_t i = 0; i < n; ++i) one_cycle[i] = static_cast<uint32_t>((i + 1) % n);
  out.emplace_back("one cycle", one_cycle);
  std::vector<uint32_t> swaps = p;  // n / 2 cycles of two
  for (size_t i = 0; i + 1 < n; i += 2) std::swap(swaps[i], swaps[i + 1]);
  out.emplace_back("swaps", swaps);
  std::vector<uint32_t> reversed(p.rbegin(), p.rend());
  out.emplace_back("reversed", reversed);
  std::vector<uint32_t> mixed = p;  // some fixed points, short and long cycles
  std::shuffle(mixed.begin(), mixed.begin() + static_cast<std::ptrdiff_t>(n / 3), rng);
  for (size_t i = n / 2; i + 3 < n; i += 3)
    std::rotate(mixed.begin() + i, mixed.begin() + i + 1, mixed.begin() + i + 3);
  out.emplace_back("mixed", mixed);
  return out;
}

TEST(PermuteRows, EqualsAGatheredCopyOnAnyThreadCount) {
  core::InlineExecutor one;
  core::ThreadPool two(2), five(5);
  for (size_t dim : {1, 3, 128}) {
    for (size_t n : {0, 1, 2, 5, 1000, 20011}) {
      const auto data = numbered_rows(n, dim);
      for (const auto& [name, order] : permutations(n)) {
        const auto expect = gathered_copy(data, dim, order);
        for (core::Executor* executor : std::initializer_list<core::Executor*>{&one, &two, &five}) {
          auto got = data;
          gather_rows_in_place(got.data(), dim, order, *executor);
          ASSERT_EQ(got, expect) << name << ", n " << n << ", dim " << dim << ", " << executor->num_threads()
                                 << " threads";
        }
      }
    }
  }
}

}  // namespace
}  // namespace lancer::linalg

#include "linalg/blas.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <iterator>
#include <thread>
#include <vector>

#include "linalg/gaussian.h"

namespace lancer::linalg {
namespace {

size_t process_threads() {
  const std::filesystem::directory_iterator tasks("/proc/self/task");
  return static_cast<size_t>(std::distance(begin(tasks), end(tasks)));
}

double max_error(size_t m, size_t n, size_t k) {
  auto a = gaussian(m * k, 1), b = gaussian(n * k, 2);
  std::vector<float> c(m * n);
  sgemm_nt(m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
  double worst = 0;
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) {
      double s = 0;
      for (size_t t = 0; t < k; ++t) s += double(a[i * k + t]) * b[j * k + t];
      worst = std::max(worst, std::abs(c[i * n + j] - s));
    }
  }
  return worst;
}

TEST(Blas, ReleasedThreadsAreGoneAndComeBackForAThreadedGemm) {
  const size_t before = process_threads();
  release_blas_threads();
  const size_t after = process_threads();
  // The pthread OpenBLAS starts hardware_concurrency - 1 threads when it is loaded.
  if (blas_config().find("(pthreads)") != std::string::npos && std::thread::hardware_concurrency() > 1) {
    EXPECT_LT(after, before);
  }
  EXPECT_LE(after, before);
  EXPECT_LT(max_error(64, 48, 32), 1e-3);  // one thread: no server needed
  const int previous = set_blas_threads(2);
  EXPECT_EQ(previous, 1);
  EXPECT_LT(max_error(512, 512, 256), 1e-2);  // large enough to split: the threads start again
  set_blas_threads(previous);
  release_blas_threads();
  EXPECT_LE(process_threads(), after);
  EXPECT_LT(max_error(64, 48, 32), 1e-3);
}

}  // namespace
}  // namespace lancer::linalg

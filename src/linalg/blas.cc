#include "linalg/blas.h"

#include <cblas.h>
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

// OpenBLAS extensions, weak so that any CBLAS can be linked in their place.
extern "C" {
void openblas_set_num_threads(int) __attribute__((weak));
char* openblas_get_config(void) __attribute__((weak));
char* openblas_get_corename(void) __attribute__((weak));
int openblas_get_parallel(void) __attribute__((weak));
// Stops the pthread build's server threads (what OpenBLAS does itself before a fork); its next
// multi-threaded call starts them again.
int blas_thread_shutdown_(void) __attribute__((weak));
}

namespace lancer::linalg {
namespace {

std::atomic<int> g_blas_threads{0};  // 0: not configured yet

void ensure_configured() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (g_blas_threads.load() == 0) {
      if (openblas_set_num_threads) openblas_set_num_threads(1);
      g_blas_threads.store(1);
    }
  });
}

}  // namespace

void release_blas_threads() {
  ensure_configured();
  if (g_blas_threads.load() == 1 && blas_thread_shutdown_) (void)blas_thread_shutdown_();
}

int set_blas_threads(int threads) {
  ensure_configured();
  const int previous = g_blas_threads.exchange(threads);
  if (openblas_set_num_threads) openblas_set_num_threads(threads);
  return previous;
}

std::string blas_config() {
  if (!openblas_get_config) return "unknown BLAS";
  std::string config = openblas_get_config();
  if (openblas_get_parallel) {
    const int p = openblas_get_parallel();
    config += p == 0 ? " (sequential)" : p == 1 ? " (pthreads)" : p == 2 ? " (OpenMP)" : "";
  }
  return config;
}

std::string blas_kernel() {
  return openblas_get_corename ? openblas_get_corename() : "";
}

std::string blas_library_path() {
  // dlsym, not &cblas_sgemm: in an executable that address may be its own PLT entry.
  void* symbol = dlsym(RTLD_DEFAULT, "cblas_sgemm");
  Dl_info info{};
  if (symbol == nullptr || dladdr(symbol, &info) == 0 || info.dli_fname == nullptr) return "";
  return info.dli_fname;
}

void sgemm_nt(size_t m, size_t n, size_t k, float alpha, const float* a, size_t lda, const float* b, size_t ldb,
              float beta, float* c, size_t ldc) {
  ensure_configured();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
              alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

void sgemm_nn(size_t m, size_t n, size_t k, float alpha, const float* a, size_t lda, const float* b, size_t ldb,
              float beta, float* c, size_t ldc) {
  ensure_configured();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
              alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

const char* better_openblas_coretype() {
  if (!openblas_get_corename) return nullptr;
  const std::string core = openblas_get_corename();
  // What DYNAMIC_ARCH falls back to for unknown x86-64 models.
  if (core != "Prescott" && core != "Core2" && core != "Nehalem" && core != "Sandybridge") return nullptr;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return core == "Haswell" ? nullptr : "Haswell";
  return nullptr;
}

void reexec_with_better_openblas(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  if (const char* core = better_openblas_coretype()) {
    ::setenv("OPENBLAS_CORETYPE", core, 1);
    ::execv("/proc/self/exe", argv);  // returns only on failure: carry on as we are
  }
}

}  // namespace lancer::linalg

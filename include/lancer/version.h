// Public API: what this build of lancer is and what it runs with, for `lancer --version`,
// `lancer.__version__` and bug reports. Stateless; safe from any thread.
#pragma once

#include <string>
#include <vector>

namespace lancer {

struct BuildInfo {
  std::string version;                    // the project version in CMakeLists.txt, the one place it is set
  std::string git_revision;               // 12 hex digits, "-dirty" with uncommitted changes; "unknown" outside git
  std::vector<std::string> simd_kernels;  // levels with kernels in this binary (scalar, avx2, avx512)
  std::string simd_cpu;                   // the best level this CPU runs
  std::string simd_in_use;                // the one kernels use: simd_cpu capped by LANCER_SIMD
  std::string blas;                       // the BLAS library loaded (OpenBLAS's configuration string)
  std::string blas_kernel;                // the kernel set it picked for this CPU ("Haswell"), or ""
  std::string blas_library;               // the file it was loaded from, or ""
  bool object_store = false;              // s3://, gs://, az:// built in (LANCER_OBJECT_STORE)
  bool bf16_proposal = false;             // nearest centroids proposed by AVX512-BF16 products (exact either way)
  bool amx_tiles = false;                 // ... and those products on AMX tiles
};

BuildInfo build_info();
// build_info() as the lines `lancer --version` prints.
std::string build_info_text(const BuildInfo& info);

}  // namespace lancer

// lancer/version.h: the version and revision this binary was built from, and what it picked at
// run time (SIMD level, BLAS kernels), read from the stages that own them.
#include <cstdlib>

#include "lancer/storage.h"
#include "lancer/version.h"
#include "lancer_build_version.h"  // generated: LANCER_VERSION, LANCER_GIT_REVISION
#include "linalg/blas.h"
#include "simd/bf16_scores.h"
#include "simd/bf16_scores_amx.h"
#include "simd/level.h"

namespace lancer {

BuildInfo build_info() {
  BuildInfo info;
  info.version = LANCER_VERSION;
  info.git_revision = LANCER_GIT_REVISION;
  for (auto level : {simd::SimdLevel::kScalar, simd::SimdLevel::kAvx2, simd::SimdLevel::kAvx512}) {
    info.simd_kernels.emplace_back(simd::simd_level_name(level));
  }
  info.simd_cpu = simd::simd_level_name(simd::cpu_simd_level());
  info.simd_in_use = simd::simd_level_name(simd::best_simd_level());
  info.blas = linalg::blas_config();
  info.blas_kernel = linalg::blas_kernel();
  info.blas_library = linalg::blas_library_path();
  info.object_store = object_store_supported();
  info.bf16_proposal = simd::bf16_scores_available();
  info.amx_tiles = simd::amx_bf16_available();
  return info;
}

std::string build_info_text(const BuildInfo& info) {
  std::string text = "lancer " + info.version + " (git " + info.git_revision + ")\n";
  text += "SIMD: " + info.simd_in_use + " in use (this CPU: " + info.simd_cpu;
  if (const char* cap = std::getenv("LANCER_SIMD")) text += std::string(", LANCER_SIMD=") + cap;
  text += "; kernels built:";
  for (const auto& level : info.simd_kernels) text += " " + level;
  text += ")\n";
  text += "BLAS: " + info.blas;
  if (!info.blas_kernel.empty()) text += ", kernel " + info.blas_kernel;
  if (const char* core = std::getenv("OPENBLAS_CORETYPE")) text += std::string(" (OPENBLAS_CORETYPE=") + core + ")";
  if (!info.blas_library.empty()) text += " from " + info.blas_library;
  text += "\n";
  text += info.bf16_proposal ? (info.amx_tiles ? "nearest centroid: AVX512-BF16 proposal on AMX tiles, exact decision\n"
                                                : "nearest centroid: AVX512-BF16 proposal, exact decision\n")
                             : "nearest centroid: exact FMA kernel (no AVX512-BF16 proposal: CPU, SIMD level or LANCER_BF16=0)\n";
  text += info.object_store ? "object stores: s3:// gs:// az://" : "object stores: not built (LANCER_OBJECT_STORE=OFF)";
  return text;
}

}  // namespace lancer

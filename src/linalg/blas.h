// The SGEMM wrapper over OpenBLAS, and how lancer threads it.
//
// lancer calls BLAS from inside its own executor, one single-threaded GEMM per
// fixed block (docs/decisions/blas-threading.md): OpenBLAS's own threads are
// switched off the first time any wrapper here runs, so the two pools never
// fight and every block is computed the same way for any thread count.
// Thread-safe: GEMMs may run concurrently on different threads.
#pragma once

#include <cstddef>
#include <string>

namespace lancer::linalg {

// C[m x n] = alpha * A[m x k] * B[n x k]^T + beta * C, all row-major with
// leading dimensions lda, ldb, ldc.
void sgemm_nt(size_t m, size_t n, size_t k, float alpha, const float* a, size_t lda, const float* b, size_t ldb,
              float beta, float* c, size_t ldc);

// C[m x n] = alpha * A[m x k] * B[k x n] + beta * C (row-major).
void sgemm_nn(size_t m, size_t n, size_t k, float alpha, const float* a, size_t lda, const float* b, size_t ldb,
              float beta, float* c, size_t ldc);

// Ends OpenBLAS's own threads while it is kept at 1 thread. The pthread build starts them when it
// is loaded, and each spins (sched_yield) for ~2^28 cycles before it sleeps although a build makes
// no BLAS call: on a 2-core machine 50-100 ms of CPU taken from the sample and IVF training. The
// CLI calls this first thing. (A later multi-threaded GEMM starts them again.)
void release_blas_threads();

// Threads OpenBLAS itself may use inside one GEMM. lancer keeps this at 1; the
// benchmarks raise it to measure the alternatives. Returns the previous value.
int set_blas_threads(int threads);
// "OpenBLAS 0.3.21 ... Cooperlake" or "unknown BLAS".
std::string blas_config();
// The kernel set OpenBLAS picked for this CPU ("Haswell"; OPENBLAS_CORETYPE overrides), or "".
std::string blas_kernel();
// The file cblas_sgemm was loaded from: which of several BLAS libraries, or the copy a wheel
// carries (the program itself when BLAS is linked in statically); "" when unknown.
std::string blas_library_path();

// OpenBLAS picks its kernels from the CPU model when it is loaded. On a CPU
// it does not recognise (virtual machines often hide the model) it falls back
// to its generic SSE3 "Prescott" kernels, about 3x slower here, although
// OPENBLAS_CORETYPE could select AVX-512 ones. Returns the core type to ask
// for (from the CPU's features) when OpenBLAS fell back to a weaker one, else
// nullptr. The CLI re-executes itself once with it (docs/decisions/blas-threading.md).
const char* better_openblas_coretype();

// For programs (the CLI, the benchmarks): when better_openblas_coretype() has
// an answer and OPENBLAS_CORETYPE is unset, sets it and re-executes
// /proc/self/exe with argv; returns (doing nothing) otherwise or if exec fails.
void reexec_with_better_openblas(char** argv);

}  // namespace lancer::linalg

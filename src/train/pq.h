// Product quantisation: train codebooks, encode vectors to codes.
// The codebook is laid out sub-vector-major [m][2^nbits][dim/m], exactly as
// Lance stores it (lance-format.md 5.5). Codes: 8-bit, m bytes per vector; 4-bit,
// m/2 bytes with sub-vector 2i in the low nibble of byte i. The caller passes
// residuals for l2 / cosine and raw vectors for dot (Lance's residual rule);
// codes are always the nearest codeword by squared L2.
// PqModel is immutable once built and shared as shared_ptr<const PqModel>.
// Training is deterministic for any executor (one task per sub-vector).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/collective.h"
#include "core/executor.h"
#include "lancer/status.h"
#include "linalg/matrix.h"

namespace lancer::train {

using linalg::MatrixView;

struct PqParams {
  int num_sub_vectors = 0;
  int num_bits = 8;         // 8 or 4
  int max_iters = 50;       // Lloyd iterations per sub-quantizer
  double tolerance = 1e-4;  // Lance's relative loss rule; 0 runs max_iters
  uint64_t seed = 0;
};

struct PqModel {
  int dim = 0;
  int num_sub_vectors = 0;
  int num_bits = 8;
  std::vector<float> codebook;   // [m][2^nbits][dim/m]
  double loss = 0;               // training reconstruction error (sum of squares); 0 if supplied
  double searched_fraction = 0;  // share of point-iterations that needed a full search (Hamerly)

  int sub_dim() const { return dim / num_sub_vectors; }
  int num_codewords() const { return 1 << num_bits; }
  int code_size() const { return num_sub_vectors * num_bits / 8; }
  const float* codeword(int s, int k) const {
    return codebook.data() + (static_cast<size_t>(s) * num_codewords() + k) * sub_dim();
  }
};

// Errors (InvalidArgument): dim % num_sub_vectors != 0, num_bits not 4 or 8,
// odd num_sub_vectors with 4 bits, fewer rows than 2^num_bits, non-finite input.
// Distributed (collective not null): every rank passes the same data and
// params; rank r trains the sub-quantizers core::owned_range(m, r, size) and
// all ranks end with the same model, bit-identical to one process's.
Result<std::shared_ptr<const PqModel>> train_pq(MatrixView<const float> data, const PqParams& params,
                                                core::Executor& executor, core::Collective* collective = nullptr);

// A user-supplied codebook ([m][2^nbits][dim/m]) skips training.
Result<std::shared_ptr<const PqModel>> pq_from_codebook(std::vector<float> codebook, int dim, int num_sub_vectors,
                                                        int num_bits);

// How codes are searched. kAuto is the SIMD kernel, which was the faster one at
// every sub-vector width measured (docs/decisions/pq-encode.md); kGemm is kept
// to repeat that measurement.
enum class PqEncodeMethod {
  kAuto,
  kKernel,  // SIMD nearest-codeword kernel over transposed blocks of 16 vectors
  kGemm,    // one SGEMM per sub-vector and block of rows, then a fused arg-min
};

// codes: x.rows * code_size() bytes, row-major (one vector after another; the
// index writer transposes them per partition, lance-format.md 5.5).
Status pq_encode(const PqModel& model, MatrixView<const float> x, std::span<uint8_t> codes, core::Executor& executor,
                 PqEncodeMethod method = PqEncodeMethod::kAuto);

// Reconstructs one vector from its code (dim floats).
void pq_decode(const PqModel& model, const uint8_t* code, float* out);

}  // namespace lancer::train

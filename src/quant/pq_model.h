// The product-quantisation model (codebook) and its encoder. The codebook is
// laid out sub-vector-major [m][2^nbits][dim/m], exactly as Lance stores it
// (lance-format.md 5.5). Codes: 8-bit, m bytes per vector; 4-bit, m/2 bytes
// with sub-vector 2i in the low nibble of byte i; always the nearest codeword
// by squared L2. Training lives in train/pq.h; the codec (residuals, storage,
// scoring) in quant/pq_codec.h. PqModel is immutable once built and shared as
// shared_ptr<const PqModel>; encoding is deterministic for any executor.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/executor.h"
#include "lancer/status.h"
#include "linalg/matrix.h"

namespace lancer::quant {

using linalg::MatrixView;

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

// InvalidArgument unless dim % m == 0, nbits is 4 or 8, and m is even for 4 bits.
Status check_pq_shape(int dim, int num_sub_vectors, int num_bits);

// A user-supplied (or read back) codebook ([m][2^nbits][dim/m]) skips training.
Result<std::shared_ptr<const PqModel>> pq_from_codebook(std::vector<float> codebook, int dim, int num_sub_vectors,
                                                        int num_bits);

// How codes are searched. kAuto is the SIMD kernel, which was the faster one at
// every sub-vector width measured (docs/decisions/pq-encode.md); kGemm is kept
// to repeat that measurement.
enum class PqEncodeMethod {
  kAuto,
  kKernel,  // SIMD nearest-codeword kernel over transposed blocks of 16 vectors
  kGemm,    // one SGEMM per sub-vector and block of rows, then a fused arg-min: benchmarks only, its
            // codes follow the BLAS kernel's rounding (docs/decisions/same-bytes-any-hardware.md)
};

// The codebook as the encode kernels read it (scaled codewords, their norms, int8 copies). A
// caller that encodes many batches with one model prepares it once: per batch, preparing 128
// sub-codebooks was ~5 % of a 2,048-d build task.
struct PqEncodeTables;
std::shared_ptr<const PqEncodeTables> prepare_pq_encode(const PqModel& model);

// codes: x.rows * code_size() bytes, row-major (one vector after another; the
// index writer transposes them per partition, lance-format.md 5.5).
Status pq_encode(const PqModel& model, const PqEncodeTables& tables, MatrixView<const float> x,
                 std::span<uint8_t> codes, core::Executor& executor, PqEncodeMethod method = PqEncodeMethod::kAuto);
// The same, preparing the tables for this call.
Status pq_encode(const PqModel& model, MatrixView<const float> x, std::span<uint8_t> codes, core::Executor& executor,
                 PqEncodeMethod method = PqEncodeMethod::kAuto);

// Reconstructs one vector from its code (dim floats).
void pq_decode(const PqModel& model, const uint8_t* code, float* out);

}  // namespace lancer::quant

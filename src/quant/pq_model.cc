#include "quant/pq_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "linalg/blas.h"
#include "simd/codeword.h"
#include "simd/codeword_i8.h"

namespace lancer::quant {

namespace {

constexpr size_t kEncodeRows = 128;  // rows per encoding block (fixed)

}  // namespace

Status check_pq_shape(int dim, int m, int nbits) {
  if (dim < 1) return Status::InvalidArgument("PQ: dimension must be at least 1");
  if (m < 1) return Status::InvalidArgument("PQ: num_sub_vectors must be at least 1");
  if (dim % m != 0)
    return Status::InvalidArgument("PQ: dimension " + std::to_string(dim) + " is not divisible by num_sub_vectors " +
                                   std::to_string(m) + " (dim % num_sub_vectors must be 0)");
  if (nbits != 8 && nbits != 4)
    return Status::InvalidArgument("PQ: num_bits must be 4 or 8, got " + std::to_string(nbits));
  if (nbits == 4 && m % 2 != 0)
    return Status::InvalidArgument("PQ: 4-bit codes need an even num_sub_vectors, got " + std::to_string(m));
  return Status::OK();
}

Result<std::shared_ptr<const PqModel>> pq_from_codebook(std::vector<float> codebook, int dim, int num_sub_vectors,
                                                        int num_bits) {
  LANCER_RETURN_IF_ERROR(check_pq_shape(dim, num_sub_vectors, num_bits));
  const size_t expected = (size_t{1} << num_bits) * static_cast<size_t>(dim);
  if (codebook.size() != expected)
    return Status::InvalidArgument("PQ: a codebook for dim " + std::to_string(dim) + " and " +
                                   std::to_string(num_bits) + " bits holds " + std::to_string(expected) +
                                   " values, got " + std::to_string(codebook.size()));
  for (float v : codebook)
    if (!std::isfinite(v)) return Status::InvalidArgument("PQ: the codebook holds NaN or infinite values");
  auto model = std::make_shared<PqModel>();
  model->dim = dim;
  model->num_sub_vectors = num_sub_vectors;
  model->num_bits = num_bits;
  model->codebook = std::move(codebook);
  return std::shared_ptr<const PqModel>(std::move(model));
}

struct PqEncodeTables {
  std::vector<float> cb2, cnorm;          // [m][ksub][dsub], [m][ksub]: simd::prepare_codewords
  std::vector<simd::I8Codebook> books;    // [m] where the int8 proposals apply, else empty
};

std::shared_ptr<const PqEncodeTables> prepare_pq_encode(const PqModel& model) {
  const size_t m = static_cast<size_t>(model.num_sub_vectors), dsub = static_cast<size_t>(model.sub_dim());
  const size_t ksub = static_cast<size_t>(model.num_codewords());
  auto t = std::make_shared<PqEncodeTables>();
  t->cb2.resize(m * ksub * dsub);
  t->cnorm.resize(m * ksub);
  for (size_t s = 0; s < m; ++s)
    simd::prepare_codewords(model.codebook.data() + s * ksub * dsub, ksub, dsub, t->cb2.data() + s * ksub * dsub,
                            t->cnorm.data() + s * ksub);
  // int8 proposals decided exactly (simd/codeword_i8.h): the same codes.
  t->books.resize(simd::codeword_i8_supported(ksub, dsub) ? m : 0);
  for (size_t s = 0; s < t->books.size(); ++s)
    simd::prepare_codewords_i8(model.codebook.data() + s * ksub * dsub, ksub, dsub, &t->books[s]);
  return t;
}

Status pq_encode(const PqModel& model, MatrixView<const float> x, std::span<uint8_t> codes, core::Executor& executor,
                 PqEncodeMethod method) {
  return pq_encode(model, *prepare_pq_encode(model), x, codes, executor, method);
}

Status pq_encode(const PqModel& model, const PqEncodeTables& tables, MatrixView<const float> x,
                 std::span<uint8_t> codes, core::Executor& executor, PqEncodeMethod method) {
  if (x.dim != static_cast<size_t>(model.dim))
    return Status::InvalidArgument("PQ encode: vectors have dimension " + std::to_string(x.dim) + ", the model " +
                                   std::to_string(model.dim));
  const size_t code_size = static_cast<size_t>(model.code_size());
  if (codes.size() != x.rows * code_size)
    return Status::InvalidArgument("PQ encode: codes must hold rows * code_size bytes");
  const size_t m = static_cast<size_t>(model.num_sub_vectors), dsub = static_cast<size_t>(model.sub_dim());
  const size_t ksub = static_cast<size_t>(model.num_codewords());
  const std::vector<float>& cb2 = tables.cb2;
  const std::vector<float>& cnorm = tables.cnorm;
  const std::vector<simd::I8Codebook>& books = tables.books;
  const simd::Kernels& kern = simd::best_kernels();
  const size_t blocks = (x.rows + kEncodeRows - 1) / kEncodeRows;
  const size_t threads = static_cast<size_t>(std::max(1, executor.num_threads()));
  if (method == PqEncodeMethod::kAuto) method = PqEncodeMethod::kKernel;
  const bool gemm = method == PqEncodeMethod::kGemm;
  executor.parallel_for(blocks, std::max<size_t>(1, blocks / (threads * 8)), [&](size_t b0, size_t b1) {
    std::vector<float> xt(gemm ? 0 : simd::packed_size(kEncodeRows, dsub)), best(kEncodeRows);
    std::vector<float> scores(gemm ? kEncodeRows * ksub : 0);
    std::vector<uint32_t> idx(kEncodeRows);
    for (size_t b = b0; b < b1; ++b) {
      const size_t r0 = b * kEncodeRows, rows = std::min(kEncodeRows, x.rows - r0);
      uint8_t* out = codes.data() + r0 * code_size;
      if (model.num_bits == 4) std::memset(out, 0, rows * code_size);
      for (size_t s = 0; s < m; ++s) {
        if (gemm) {
          const float* cb = model.codebook.data() + s * ksub * dsub;
          linalg::sgemm_nt(rows, ksub, dsub, -2.0f, x.row(r0) + s * dsub, x.dim, cb, dsub, 0.0f, scores.data(), ksub);
          std::fill(best.begin(), best.begin() + rows, std::numeric_limits<float>::infinity());
          kern.argmin_update(scores.data(), rows, ksub, ksub, cnorm.data() + s * ksub, 0, best.data(), idx.data());
        } else {
          simd::pack_blocks(x.row(r0) + s * dsub, rows, x.dim, dsub, xt.data());
          simd::CodewordSearch a;
          a.xt = xt.data();
          a.num_blocks = (rows + simd::kCodewordBlock - 1) / simd::kCodewordBlock;
          a.cb = cb2.data() + s * ksub * dsub;
          a.cnorm = cnorm.data() + s * ksub;
          a.ksub = ksub;
          a.dsub = dsub;
          a.best_idx = idx.data();
          a.best = best.data();
          if (books.empty()) {
            kern.nearest_codeword(a);
          } else {
            simd::nearest_codewords_i8(a, books[s]);
          }
        }
        if (model.num_bits == 8) {
          for (size_t i = 0; i < rows; ++i) out[i * code_size + s] = static_cast<uint8_t>(idx[i]);
        } else {
          const int shift = (s % 2 == 0) ? 0 : 4;
          for (size_t i = 0; i < rows; ++i) out[i * code_size + s / 2] |= static_cast<uint8_t>(idx[i] << shift);
        }
      }
    }
  });
  return Status::OK();
}

void pq_decode(const PqModel& model, const uint8_t* code, float* out) {
  const int m = model.num_sub_vectors, dsub = model.sub_dim();
  for (int s = 0; s < m; ++s) {
    const int k = model.num_bits == 8 ? code[s] : ((code[s / 2] >> ((s % 2) * 4)) & 0xf);
    std::memcpy(out + static_cast<size_t>(s) * dsub, model.codeword(s, k), sizeof(float) * dsub);
  }
}

}  // namespace lancer::quant

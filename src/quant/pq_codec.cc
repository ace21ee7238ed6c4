#include "quant/pq_codec.h"

#include <mutex>
#include <nlohmann/json.hpp>

#include "core/buffer.h"
#include "core/half.h"
#include "simd/pq_table.h"

namespace lancer::quant {

namespace {

bool pq_uses_residual(Metric metric) { return metric != Metric::kDot; }

// ADC: table[s][k] = |r_s - codeword|^2 (l2, cosine: residual r = q - c_p) or
// q_s . codeword (dot, subtracted from 1).
class PqScanner final : public PartitionScanner {
 public:
  PqScanner(const PqModel& m, bool transposed, const float* query, Metric metric, bool half)
      : m_(m), q_(query, query + m.dim), resid_(m.dim), table_(size_t(m.num_sub_vectors) * m.num_codewords()),
        metric_(metric), half_(half), transposed_(transposed) {}

  void set_partition(const float* centroid) override {
    const bool residual = pq_uses_residual(metric_);
    for (size_t j = 0; j < q_.size(); ++j) resid_[j] = residual ? q_[j] - centroid[j] : q_[j];
    if (half_) {
      for (auto& x : resid_) x = core::round_to_half(x);  // the residual is a half-precision vector too
    }
    const size_t m = size_t(m_.num_sub_vectors), k = size_t(m_.num_codewords()), sd = size_t(m_.sub_dim());
    if (metric_ == Metric::kDot) {
      simd::pq_dot_table(resid_.data(), m_.codebook.data(), m, k, sd, table_.data());
    } else {
      simd::pq_l2_table(resid_.data(), m_.codebook.data(), m, k, sd, table_.data());
    }
  }

  void scan(const uint8_t* rows, size_t n, float* distances) override {
    const size_t bytes = size_t(m_.code_size());
    const bool dot = metric_ == Metric::kDot;
    const float* t = table_.data();
    for (size_t r = 0; r < n; ++r) {
      float dist = dot ? 1.0f : 0.0f;
      for (size_t b = 0; b < bytes; ++b) {
        const uint8_t code = transposed_ ? rows[b * n + r] : rows[r * bytes + b];
        // 4-bit: sub-vector 2b in the low nibble, 2b + 1 in the high one
        const float v = m_.num_bits == 8 ? t[b * 256 + code]
                                         : t[2 * b * 16 + (code & 0xF)] + t[(2 * b + 1) * 16 + (code >> 4)];
        dist = dot ? dist - v : dist + v;
      }
      distances[r] = dist;
    }
  }

 private:
  const PqModel& m_;
  std::vector<float> q_, resid_, table_;
  Metric metric_;
  bool half_, transposed_;
};

class PqCodec final : public Codec {
 public:
  PqCodec(std::shared_ptr<const PqModel> model, bool transposed) : model_(std::move(model)) {
    column_.name = "__pq_code";
    column_.element = "uint8";
    column_.width = static_cast<uint32_t>(model_->code_size());
    column_.nullable = true;
    column_.transposed = transposed;
  }
  const PqModel& model() const { return *model_; }
  QuantizerKind kind() const override { return QuantizerKind::kPq; }
  uint32_t dim() const override { return static_cast<uint32_t>(model_->dim); }
  bool uses_residual(Metric metric) const override { return pq_uses_residual(metric); }
  std::span<const AuxColumnSpec> columns() const override { return {&column_, 1}; }

  Status encode(MatrixView<const float> x, std::span<const uint32_t> labels, const float* centroids, Metric metric,
                std::span<uint8_t> rows, core::Executor& executor) const override {
    if (!uses_residual(metric)) return pq_encode(*model_, tables(), x, rows, executor);
    if (labels.size() != x.rows || x.dim != dim()) {
      return Status::InvalidArgument("PQ encode: shapes of vectors and labels do not match");
    }
    const size_t d = x.dim;
    core::UninitVector<float> resid(x.size());  // every element written below
    executor.parallel_for(x.rows, 4096, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) {
        const float* c = centroids + labels[i] * d;
        const float* v = x.row(i);
        float* o = resid.data() + i * d;
        for (size_t j = 0; j < d; ++j) o[j] = v[j] - c[j];
      }
    });
    return pq_encode(*model_, tables(), MatrixView<const float>(resid.data(), x.rows, d), rows, executor);
  }

  std::string storage_metadata() const override {
    return "{\"codebook_position\":2,\"nbits\":" + std::to_string(model_->num_bits) +
           ",\"num_sub_vectors\":" + std::to_string(model_->num_sub_vectors) +
           ",\"dimension\":" + std::to_string(model_->dim) + ",\"codebook_tensor\":[],\"transposed\":true}";
  }
  std::vector<CodecBuffer> global_buffers() const override {
    return {CodecBuffer{2, {static_cast<uint32_t>(model_->num_codewords()), dim()}, &model_->codebook}};
  }

  const char* model_key() const override { return pq_quantizer().model_key; }
  std::string model_header() const override {
    nlohmann::ordered_json h = {{"num_sub_vectors", model_->num_sub_vectors},
                                {"num_bits", model_->num_bits},
                                {"loss", model_->loss}};
    return h.dump();
  }
  std::span<const float> model_floats() const override { return model_->codebook; }

  std::unique_ptr<PartitionScanner> scanner(const float* query, Metric metric, bool half) const override {
    return std::make_unique<PqScanner>(*model_, column_.transposed, query, metric, half);
  }
  Status reconstruct(const uint8_t* rows, size_t n, float* out) const override {
    const size_t code = model_->code_size(), d = static_cast<size_t>(model_->dim);
    for (size_t i = 0; i < n; ++i) pq_decode(*model_, rows + i * code, out + i * d);
    return Status::OK();
  }

 private:
  // Prepared on the first encode (a codec read back for searching never needs them).
  const PqEncodeTables& tables() const {
    std::call_once(tables_once_, [this] { tables_ = prepare_pq_encode(*model_); });
    return *tables_;
  }

  std::shared_ptr<const PqModel> model_;
  AuxColumnSpec column_;
  mutable std::once_flag tables_once_;
  mutable std::shared_ptr<const PqEncodeTables> tables_;
};

Result<std::shared_ptr<const Codec>> from_storage(const StoredCodec& s) {
  LANCER_ASSIGN_OR_RETURN(nlohmann::json q, s.metadata_object());
  if (!q.contains("num_sub_vectors") || !q["num_sub_vectors"].is_number_unsigned()) {
    return s.bad_key("num_sub_vectors");
  }
  if (!q.contains("nbits") || !q["nbits"].is_number_unsigned()) return s.bad_key("nbits");
  if (!q.contains("codebook_position") || !q["codebook_position"].is_number_unsigned()) {
    return s.bad_key("codebook_position");
  }
  LANCER_ASSIGN_OR_RETURN(auto codebook, s.read_tensor(q["codebook_position"].get<uint64_t>()));
  return read_pq_codec(std::move(codebook), s.dim, q["num_sub_vectors"].get<int>(), q["nbits"].get<int>(),
                       q.value("transposed", false), s.where);
}

Result<std::shared_ptr<const Codec>> from_model(const ModelSection& s, size_t* used) {
  LANCER_ASSIGN_OR_RETURN(nlohmann::json h, s.header_object("pq"));
  auto m = std::make_shared<PqModel>();
  try {
    m->dim = static_cast<int>(s.dim);
    m->num_sub_vectors = h.at("num_sub_vectors");
    m->num_bits = h.at("num_bits");
    m->loss = h.at("loss");
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("bad \"pq\" section: ") + e.what());
  }
  if (m->num_bits < 0 || m->num_bits > 16) return Status::InvalidArgument("bad \"pq\" num_bits");
  const size_t n = (size_t{1} << m->num_bits) * s.dim;
  if (n > s.floats.size()) return Status::InvalidArgument("arrays longer than the file");
  m->codebook.assign(s.floats.begin(), s.floats.begin() + static_cast<std::ptrdiff_t>(n));
  *used = n;
  return make_pq_codec(std::move(m));
}

}  // namespace

std::shared_ptr<const Codec> make_pq_codec(std::shared_ptr<const PqModel> model, bool transposed) {
  return std::make_shared<const PqCodec>(std::move(model), transposed);
}

Result<std::shared_ptr<const Codec>> read_pq_codec(std::vector<float> codebook, uint32_t dim, int m, int nbits,
                                                   bool transposed, const std::string& where) {
  if (nbits != 8 && nbits != 4) return Status::NotSupported(where + ": " + std::to_string(nbits) + "-bit PQ");
  if (m <= 0 || dim % static_cast<uint32_t>(m) != 0 || (nbits == 4 && m % 2 != 0)) {
    return Status::Corruption(where + ": " + std::to_string(m) + " sub-vectors of " + std::to_string(nbits) +
                              " bits for dimension " + std::to_string(dim));
  }
  const size_t codewords = size_t{1} << nbits;
  if (codebook.size() != codewords * dim) {
    return Status::Corruption(where + ": the PQ codebook holds " + std::to_string(codebook.size()) + " floats, not " +
                              std::to_string(codewords) + " x " + std::to_string(dim));
  }
  auto model = std::make_shared<PqModel>();
  model->dim = static_cast<int>(dim);
  model->num_sub_vectors = m;
  model->num_bits = nbits;
  model->codebook = std::move(codebook);
  return make_pq_codec(std::move(model), transposed);
}

const PqModel* pq_model(const Codec& codec) {
  const auto* pq = dynamic_cast<const PqCodec*>(&codec);
  return pq ? &pq->model() : nullptr;
}

namespace {

LanceCompression lance_compression(const Codec& codec) {
  const PqModel& m = *pq_model(codec);
  return {"pq",
          {{"num_bits", static_cast<uint32_t>(m.num_bits)},
           {"num_sub_vectors", static_cast<uint32_t>(m.num_sub_vectors)}}};
}

}  // namespace

const QuantizerEntry& pq_quantizer() {
  static const QuantizerEntry entry{
      .kind = QuantizerKind::kPq,
      .name = "PQ",
      .uses_residual = pq_uses_residual,
      .trains_on_sample = true,
      .model_key = "pq",
      .from_storage = from_storage,
      .from_model = from_model,
      .lance_compression = lance_compression,
  };
  return entry;
}

}  // namespace lancer::quant

#include "quant/sq_codec.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "simd/distance.h"

namespace lancer::quant {

namespace {

class SqScanner final : public PartitionScanner {
 public:
  SqScanner(const SqModel& m, const float* query, Metric metric)
      : q_(query, query + m.dim), qc_(m.dim), v_(m.dim), start_(m.start), scale_((m.end - m.start) / 255.0),
        metric_(metric) {
    // l2 / cosine: the query is quantized too and compared in code space
    // (scale^2 * sum (qc - c)^2), which is what Lance's distances match.
    for (size_t j = 0; j < q_.size(); ++j) {
      double c = std::floor((double(q_[j]) - m.start) * 255.0 / (m.end - m.start));
      qc_[j] = static_cast<float>(std::isnan(c) ? 0.0 : std::clamp(c, 0.0, 255.0));
    }
  }
  void set_partition(const float*) override {}
  void scan(const uint8_t* rows, size_t n, float* distances) override {
    const size_t d = q_.size();
    for (size_t r = 0; r < n; ++r) {
      if (metric_ == Metric::kDot) {
        for (size_t j = 0; j < d; ++j) v_[j] = static_cast<float>(start_ + rows[r * d + j] * scale_);
        distances[r] = 1.0f - simd::dot(q_.data(), v_.data(), d);
      } else {
        for (size_t j = 0; j < d; ++j) v_[j] = static_cast<float>(rows[r * d + j]);
        distances[r] = static_cast<float>(scale_ * scale_) * simd::l2_sqr(qc_.data(), v_.data(), d);
      }
    }
  }

 private:
  std::vector<float> q_, qc_, v_;
  double start_, scale_;
  Metric metric_;
};

class SqCodec final : public Codec {
 public:
  explicit SqCodec(std::shared_ptr<const SqModel> model) : model_(std::move(model)) {
    column_.name = "__sq_code";
    column_.element = "uint8";
    column_.width = static_cast<uint32_t>(model_->dim);
    column_.nullable = true;
  }
  const SqModel& model() const { return *model_; }
  QuantizerKind kind() const override { return QuantizerKind::kSq; }
  uint32_t dim() const override { return static_cast<uint32_t>(model_->dim); }
  bool uses_residual(Metric) const override { return false; }
  std::span<const AuxColumnSpec> columns() const override { return {&column_, 1}; }
  Status encode(MatrixView<const float> x, std::span<const uint32_t>, const float*, Metric, std::span<uint8_t> rows,
                core::Executor& executor) const override {
    return sq_encode(*model_, x, rows, executor);
  }
  std::string storage_metadata() const override {
    return "{\"dim\":" + std::to_string(model_->dim) + ",\"num_bits\":8,\"bounds\":{\"start\":" +
           json_double(model_->start) + ",\"end\":" + json_double(model_->end) + "}}";
  }
  const char* model_key() const override { return sq_quantizer().model_key; }
  std::string model_header() const override {
    nlohmann::ordered_json h = {{"num_bits", model_->num_bits}, {"start", model_->start}, {"end", model_->end}};
    return h.dump();
  }
  std::unique_ptr<PartitionScanner> scanner(const float* query, Metric metric, bool) const override {
    return std::make_unique<SqScanner>(*model_, query, metric);
  }
  Status reconstruct(const uint8_t* rows, size_t n, float* out) const override {
    // Lance's SQ storage distance: differences of codes times (end - start) / 255.
    const float scale = static_cast<float>((model_->end - model_->start) / 255.0);
    const float start = static_cast<float>(model_->start);
    for (size_t i = 0; i < n * static_cast<size_t>(model_->dim); ++i) out[i] = start + float(rows[i]) * scale;
    return Status::OK();
  }

 private:
  std::shared_ptr<const SqModel> model_;
  AuxColumnSpec column_;
};

Result<std::shared_ptr<const Codec>> from_storage(const StoredCodec& s) {
  LANCER_ASSIGN_OR_RETURN(nlohmann::json q, s.metadata_object());
  if (!q.contains("bounds") || !q["bounds"].is_object()) return s.bad_key("bounds");
  const auto& bounds = q["bounds"];
  if (!bounds.contains("start") || !bounds["start"].is_number()) return s.bad_key("bounds.start");
  if (!bounds.contains("end") || !bounds["end"].is_number()) return s.bad_key("bounds.end");
  if (q.value("num_bits", 8) != 8) return Status::NotSupported("searching SQ with other than 8 bits");
  auto m = std::make_shared<SqModel>();  // as stored: search does not second-guess the bounds
  m->dim = static_cast<int>(s.dim);
  m->start = bounds["start"].get<double>();
  m->end = bounds["end"].get<double>();
  return make_sq_codec(std::move(m));
}

Result<std::shared_ptr<const Codec>> from_model(const ModelSection& s, size_t*) {
  LANCER_ASSIGN_OR_RETURN(nlohmann::json h, s.header_object("sq"));
  auto m = std::make_shared<SqModel>();
  try {
    m->dim = static_cast<int>(s.dim);
    m->num_bits = h.at("num_bits");
    m->start = h.at("start");
    m->end = h.at("end");
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("bad \"sq\" section: ") + e.what());
  }
  return make_sq_codec(std::move(m));
}

}  // namespace

std::shared_ptr<const Codec> make_sq_codec(std::shared_ptr<const SqModel> model) {
  return std::make_shared<const SqCodec>(std::move(model));
}

const SqModel* sq_model(const Codec& codec) {
  const auto* sq = dynamic_cast<const SqCodec*>(&codec);
  return sq ? &sq->model() : nullptr;
}

const QuantizerEntry& sq_quantizer() {
  static const QuantizerEntry entry{
      .kind = QuantizerKind::kSq,
      .name = "SQ",
      .uses_residual = [](Metric) { return false; },
      .trains_on_sample = true,
      .model_key = "sq",
      .from_storage = from_storage,
      .from_model = from_model,
      // Lance records 8 bits: the only width lancer builds and searches.
      .lance_compression = [](const Codec&) { return LanceCompression{"sq", {{"num_bits", 8}}}; },
  };
  return entry;
}

}  // namespace lancer::quant

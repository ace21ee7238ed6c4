#include "quant/flat_codec.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/half.h"
#include "simd/distance.h"

namespace lancer::quant {

namespace {

class FlatScanner final : public PartitionScanner {
 public:
  FlatScanner(const float* query, Metric metric, uint32_t dim, bool half)
      : q_(query, query + dim), metric_(metric), half_(half) {}
  void set_partition(const float*) override {}
  void scan(const uint8_t* rows, size_t n, float* distances) override {
    const size_t d = q_.size();
    v_.resize(n * d);
    if (half_) {
      halves_.resize(n * d);  // the kernel reads whole uint16s: copy out of the byte buffer first
      std::memcpy(halves_.data(), rows, n * d * 2);
      simd::f16_to_f32(halves_.data(), n * d, v_.data());
    } else {
      std::memcpy(v_.data(), rows, n * d * 4);
    }
    for (size_t r = 0; r < n; ++r) distances[r] = exact_distance(metric_, q_.data(), v_.data() + r * d, d);
  }

 private:
  std::vector<float> q_, v_;
  std::vector<uint16_t> halves_;
  Metric metric_;
  bool half_;
};

class FlatCodec final : public Codec {
 public:
  FlatCodec(uint32_t dim, bool half) : dim_(dim), half_(half) {
    column_.name = "flat";
    column_.element = half ? "halffloat" : "float";
    column_.element_bits = half ? 16 : 32;
    column_.width = dim;
  }
  QuantizerKind kind() const override { return QuantizerKind::kFlat; }
  uint32_t dim() const override { return dim_; }
  bool uses_residual(Metric) const override { return false; }
  std::span<const AuxColumnSpec> columns() const override { return {&column_, 1}; }
  Status encode(MatrixView<const float> x, std::span<const uint32_t>, const float*, Metric, std::span<uint8_t> rows,
                core::Executor&) const override {
    if (x.dim != dim_ || rows.size() != x.rows * row_bytes()) {
      return Status::InvalidArgument("FLAT encode: shapes of vectors and rows do not match the codec");
    }
    if (!half_) {
      std::memcpy(rows.data(), x.data, x.size() * 4);
      return Status::OK();
    }
    for (size_t i = 0; i < x.size(); ++i) {  // stored as the column's float16
      const uint16_t h = core::float_to_half(x.data[i]);
      std::memcpy(rows.data() + i * 2, &h, 2);
    }
    return Status::OK();
  }
  std::string storage_metadata() const override { return "{\"dim\":" + std::to_string(dim_) + "}"; }
  std::unique_ptr<PartitionScanner> scanner(const float* query, Metric metric, bool half) const override {
    return std::make_unique<FlatScanner>(query, metric, dim_, half);
  }
  Status reconstruct(const uint8_t* rows, size_t n, float* out) const override {
    if (!half_) {
      std::memcpy(out, rows, n * dim_ * 4);
      return Status::OK();
    }
    for (size_t i = 0; i < n * dim_; ++i) {
      uint16_t h;
      std::memcpy(&h, rows + i * 2, 2);
      out[i] = core::half_to_float(h);
    }
    return Status::OK();
  }

 private:
  uint32_t dim_;
  bool half_;
  AuxColumnSpec column_;
};

Result<std::shared_ptr<const Codec>> from_storage(const StoredCodec& s) {
  LANCER_RETURN_IF_ERROR(s.metadata_object().status());
  return make_flat_codec(s.dim, s.half);
}
Result<std::shared_ptr<const Codec>> from_model(const ModelSection& s, size_t*) {
  return make_flat_codec(s.dim, s.half);
}

}  // namespace

std::shared_ptr<const Codec> make_flat_codec(uint32_t dim, bool half) {
  return std::make_shared<const FlatCodec>(dim, half);
}

const QuantizerEntry& flat_quantizer() {
  static const QuantizerEntry entry{
      .kind = QuantizerKind::kFlat,
      .name = "FLAT",
      .uses_residual = [](Metric) { return false; },
      .trains_on_sample = false,
      .model_key = nullptr,
      .from_storage = from_storage,
      .from_model = from_model,
      .lance_compression = [](const Codec&) { return LanceCompression{"flat", {}}; },
  };
  return entry;
}

}  // namespace lancer::quant

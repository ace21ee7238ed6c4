#include "quant/rq_codec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <mutex>

#include "core/half.h"
#include "simd/rq_lanes.h"

namespace lancer::quant {

namespace {

constexpr size_t kBatch = 32;  // Lance's FastScan batch: full batches use the u8 table

// Byte offsets of the pieces inside one storage row (the columns concatenated).
struct RowLayout {
  size_t codes = 0, add = 0, scale = 0, error = 0, ex = 0, add_ex = 0, scale_ex = 0, bytes = 0;
  explicit RowLayout(const RqModel& m) {
    add = m.code_bytes();
    scale = add + 4;
    error = scale + 4;
    ex = error + 4;
    add_ex = ex + m.ex_code_bytes();
    scale_ex = add_ex + 4;
    bytes = m.ex_bits() > 0 ? scale_ex + 4 : ex;
  }
};

float load_f32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}
void store_f32(float v, uint8_t* p) {
  std::memcpy(p, &v, 4);
}

// x rounded to the nearest integer, ties to even, with fixed-mode operations (as Lance's round_ties_even_fixed).
float round_half_even(float x) {
  const float lower = std::floor(x);
  const float frac = x - lower;
  const bool up = frac > 0.5f || (frac == 0.5f && (static_cast<int64_t>(lower) & 1) != 0);
  return lower + (up ? 1.0f : 0.0f);
}

constexpr uint8_t kPerm0[16] = {0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15};

// Row-major codes (n x width) from one partition of Lance's "packed": true
// `_rabit_codes` (bq/storage.rs pack_codes; format notes 5.2): blocks of 32
// rows, 32 bytes per code byte k, where row i < 16 has its low nibble in the
// low nibble of byte PERM0^-1[i] and its high nibble in the low nibble of byte
// PERM0^-1[i] + 16 (rows 16..31: the high nibbles); the last n % 32 rows
// column-major.
void unpack_fastscan_codes(const uint8_t* packed, size_t n, size_t width, uint8_t* out) {
  uint8_t inverse[16];
  for (uint8_t i = 0; i < 16; ++i) inverse[kPerm0[i]] = i;
  const size_t full = n - n % kBatch;
  for (size_t b = 0; b < full; b += kBatch) {
    const uint8_t* blocks = packed + b * width;
    for (size_t i = 0; i < kBatch; ++i) {
      const size_t idx = inverse[i % 16];
      for (size_t k = 0; k < width; ++k) {
        const uint8_t lo = blocks[k * kBatch + idx], hi = blocks[k * kBatch + idx + 16];
        out[(b + i) * width + k] =
            i < 16 ? static_cast<uint8_t>((lo & 0x0f) | (hi << 4)) : static_cast<uint8_t>((lo >> 4) | (hi & 0xf0));
      }
    }
  }
  const size_t rem = n - full;
  for (size_t j = 0; j < rem; ++j) {
    for (size_t k = 0; k < width; ++k) out[(full + j) * width + k] = packed[full * width + k * rem + j];
  }
}

// Lance 14's raw-query estimator (bq/storage.rs): the rotated raw query q',
// sum(q'), a 4-bit table of partial sums of q' per group of 4 dims, exact for
// the rows past the partition's last full 32-row batch and quantized to u8
// (round half to even) for the rows in full batches.
class RqScanner final : public PartitionScanner {
 public:
  RqScanner(const RqModel& m, bool packed, const float* query, Metric metric)
      : m_(m), layout_(m), packed_(packed), metric_(metric), q_(query, query + m.dim), rq_(m.dim), rc_(m.dim) {
    rq_rotate(m_, q_.data(), rq_.data());
    for (float v : rq_) sum_q_ += v;
    const size_t segments = m_.dim / 4;
    table_.assign(segments * 16, 0.0f);
    for (size_t s = 0; s < segments; ++s) {
      float* t = table_.data() + s * 16;
      for (int j = 1; j < 16; ++j) {
        const int low = j & -j;
        t[j] = t[j - low] + rq_[s * 4 + static_cast<size_t>(std::countr_zero(static_cast<unsigned>(low)))];
      }
    }
    qmin_ = INFINITY;
    qmax_ = -INFINITY;
    for (float v : table_) {
      qmin_ = v < qmin_ ? v : qmin_;
      qmax_ = v > qmax_ ? v : qmax_;
    }
    quantized_.assign(table_.size(), 0);
    const float factor = 255.0f / (qmax_ - qmin_);
    if (std::isfinite(factor)) {
      for (size_t i = 0; i < table_.size(); ++i) {
        quantized_[i] = static_cast<uint8_t>(round_half_even((table_[i] - qmin_) * factor));
      }
    }
    ex_values_.resize((m_.dim + 63) / 64 * 64);
  }

  void set_partition(const float* centroid) override {
    const size_t d = m_.dim;
    if (metric_ == Metric::kDot) {
      // add = 1 - q'.c'; the stored add factors (1 - r'.c' + ...) are scaled by alpha = q'.c' / |c'|^2.
      rq_rotate(m_, centroid, rc_.data());
      float ip = 0.0f, norm_square = 0.0f;
      for (size_t i = 0; i < d; ++i) ip += rq_[i] * rc_[i];
      for (size_t i = 0; i < d; ++i) norm_square += rc_[i] * rc_[i];
      const float alpha = ip / norm_square;
      add_scale_ = std::isfinite(alpha) ? alpha : 0.0f;
      add_offset_ = 1.0f;
      query_factor_ = 1.0f - ip;
      return;
    }
    // l2, and cosine on normalised vectors: |q - c|^2 (what pylance 14's _distance matches for both).
    float dist = 0.0f;
    for (size_t i = 0; i < d; ++i) {
      const float diff = q_[i] - centroid[i];
      dist += diff * diff;
    }
    add_scale_ = 1.0f;
    add_offset_ = 0.0f;
    query_factor_ = dist;
  }

  void scan(const uint8_t* rows, size_t n, float* distances) override {
    const size_t code_bytes = m_.code_bytes(), segments = m_.dim / 4;
    const size_t full = n - n % kBatch;
    const float range = (qmax_ - qmin_) / 255.0f;
    const float sum_min = static_cast<float>(segments) * qmin_;
    const int ex_bits = m_.ex_bits();
    const float code_scale = static_cast<float>(1u << ex_bits);
    const float code_bias = -(code_scale - 0.5f);
    if (packed_) {  // the partition's `_rabit_codes` bytes, in file order, arrive split across the rows
      packed_codes_.resize(n * code_bytes);
      unpacked_codes_.resize(n * code_bytes);
      for (size_t r = 0; r < n; ++r) {
        std::memcpy(packed_codes_.data() + r * code_bytes, rows + r * layout_.bytes, code_bytes);
      }
      unpack_fastscan_codes(packed_codes_.data(), n, code_bytes, unpacked_codes_.data());
    }
    for (size_t r = 0; r < n; ++r) {
      const uint8_t* row = rows + r * layout_.bytes;
      const uint8_t* codes = packed_ ? unpacked_codes_.data() + r * code_bytes : row;
      float bip;
      if (r < full) {
        uint32_t sum = 0;
        for (size_t k = 0; k < code_bytes; ++k) {
          sum += quantized_[(2 * k) * 16 + (codes[k] & 0x0f)] + quantized_[(2 * k + 1) * 16 + (codes[k] >> 4)];
        }
        bip = static_cast<float>(sum) * range + sum_min;
      } else {
        bip = 0.0f;
        for (size_t k = 0; k < code_bytes; ++k) {
          bip += table_[(2 * k) * 16 + (codes[k] & 0x0f)] + table_[(2 * k + 1) * 16 + (codes[k] >> 4)];
        }
      }
      if (ex_bits == 0) {
        distances[r] = (bip - 0.5f * sum_q_) * load_f32(row + layout_.scale) +
                       add_scale_ * (load_f32(row + layout_.add) - add_offset_) + query_factor_;
        continue;
      }
      const size_t block_bytes = size_t{64} * static_cast<size_t>(ex_bits) / 8;
      for (size_t b = 0; b * 64 < ex_values_.size(); ++b) {
        rq_unpack_ex_block(ex_bits, row + layout_.ex + b * block_bytes, ex_values_.data() + b * 64);
      }
      float ex = 0.0f;
      for (size_t i = 0; i < m_.dim; ++i) ex += rq_[i] * static_cast<float>(ex_values_[i]);
      const float full_dot = code_scale * bip + ex + code_bias * sum_q_;
      distances[r] = full_dot * load_f32(row + layout_.scale_ex) +
                     add_scale_ * (load_f32(row + layout_.add_ex) - add_offset_) + query_factor_;
    }
  }

 private:
  const RqModel& m_;
  RowLayout layout_;
  bool packed_;
  Metric metric_;
  std::vector<float> q_, rq_, rc_, table_;
  std::vector<uint8_t> quantized_, ex_values_, packed_codes_, unpacked_codes_;
  float sum_q_ = 0.0f, qmin_ = 0.0f, qmax_ = 0.0f;
  float add_scale_ = 1.0f, add_offset_ = 0.0f, query_factor_ = 0.0f;
};

AuxColumnSpec bytes_column(const char* name, size_t width) {
  AuxColumnSpec c;
  c.name = name;
  c.element = "uint8";
  c.width = static_cast<uint32_t>(width);
  c.nullable = true;
  return c;
}

AuxColumnSpec float_column(const char* name) {
  AuxColumnSpec c;
  c.name = name;
  c.element = "float";
  c.element_bits = 32;
  c.scalar = true;
  c.nullable = true;
  return c;
}

class RqCodec final : public Codec {
 public:
  RqCodec(std::shared_ptr<const RqModel> model, bool half, bool packed)
      : model_(std::move(model)), layout_(*model_), half_(half), packed_(packed) {
    columns_ = {bytes_column("_rabit_codes", model_->code_bytes()), float_column("__add_factors"),
                float_column("__scale_factors"), float_column("__error_factors")};
    if (model_->ex_bits() > 0) {
      columns_.push_back(bytes_column("__blocked_ex_codes", model_->ex_code_bytes()));
      columns_.push_back(float_column("__add_factors_ex"));
      columns_.push_back(float_column("__scale_factors_ex"));
    }
  }
  const RqModel& model() const { return *model_; }
  QuantizerKind kind() const override { return QuantizerKind::kRq; }
  uint32_t dim() const override { return model_->dim; }
  bool uses_residual(Metric) const override { return true; }
  std::span<const AuxColumnSpec> columns() const override { return columns_; }

  Status encode(MatrixView<const float> x, std::span<const uint32_t> labels, const float* centroids, Metric metric,
                std::span<uint8_t> rows, core::Executor& executor) const override {
    const size_t d = model_->dim;
    if (labels.size() != x.rows || x.dim != d || rows.size() != x.rows * layout_.bytes) {
      return Status::InvalidArgument("RQ encode: shapes of vectors, labels and rows do not match");
    }
    // R(c) of the partitions present.
    uint32_t nlist = 0;
    for (uint32_t l : labels) nlist = std::max(nlist, l + 1);
    std::vector<float> rotated_centroids(size_t{nlist} * d);
    std::vector<uint8_t> used(nlist, 0);
    for (uint32_t l : labels) used[l] = 1;
    executor.parallel_for(nlist, 32, [&](size_t p0, size_t p1) {  // every encode call: not on one thread
      for (size_t p = p0; p < p1; ++p) {
        if (used[p]) rq_rotate(*model_, centroids + p * d, rotated_centroids.data() + p * d);
      }
    });
    // Several vectors side by side, one per SIMD lane, where the CPU has the lanes (the same bytes).
    const simd::RqLanesKernels* lanes =
        d < (size_t{1} << 24) ? simd::rq_lanes_kernels(simd::best_simd_level()) : nullptr;
    // Lane scratch (megabytes with many ex bits) is handed from chunk to chunk rather than faulted in anew.
    std::mutex pool_mutex;
    std::vector<std::unique_ptr<RqLanesScratch>> pool;
    executor.parallel_for(x.rows, 256, [&](size_t b, size_t e) {
      if (lanes) {
        std::unique_ptr<RqLanesScratch> scratch;
        {
          std::lock_guard<std::mutex> lock(pool_mutex);
          if (!pool.empty()) {
            scratch = std::move(pool.back());
            pool.pop_back();
          }
        }
        if (!scratch) scratch = std::make_unique<RqLanesScratch>();
        encode_lanes(*lanes, x, labels, centroids, rotated_centroids.data(), metric, rows, b, e, scratch.get());
        std::lock_guard<std::mutex> lock(pool_mutex);
        pool.push_back(std::move(scratch));
        return;
      }
      std::vector<float> residual(d), rotated(d);
      RqScratch scratch;
      for (size_t i = b; i < e; ++i) {
        float norm_square = 0.0f;
        residual_of(x.row(i), centroids + size_t{labels[i]} * d, metric, residual.data(), &norm_square);
        rq_rotate(*model_, residual.data(), rotated.data());
        uint8_t* row = rows.data() + i * layout_.bytes;
        RqEncoded out{row, row + layout_.ex};
        rq_encode_rotated(*model_, metric, rotated.data(), rotated_centroids.data() + size_t{labels[i]} * d,
                          norm_square, &out, &scratch);
        store_factors(out, row);
      }
    });
    return Status::OK();
  }

  std::string storage_metadata() const override { return rq_metadata_json(*model_); }

  const char* model_key() const override { return rq_quantizer().model_key; }
  std::string model_header() const override { return rq_metadata_json(*model_); }

  std::unique_ptr<PartitionScanner> scanner(const float* query, Metric metric, bool) const override {
    return std::make_unique<RqScanner>(*model_, packed_, query, metric);
  }

 private:
  // float16 columns: Lance normalises (cosine) and subtracts the centroid in float16, so the vector and
  // the residual it rotates are rounded to half; l2's |v - c|^2 is its distance to the centroid, computed
  // before rounding; dot's is the norm of the (rounded) residual.
  void residual_of(const float* v, const float* c, Metric metric, float* residual, float* norm_square) const {
    const size_t d = model_->dim;
    float sum = 0.0f;
    for (size_t j = 0; j < d; ++j) {
      const float value = half_ && metric == Metric::kCosine ? core::round_to_half(v[j]) : v[j];
      const float diff = value - c[j];
      residual[j] = half_ ? core::round_to_half(diff) : diff;
      sum += metric == Metric::kDot ? residual[j] * residual[j] : diff * diff;
    }
    *norm_square = sum;
  }

  void store_factors(const RqEncoded& out, uint8_t* row) const {
    store_f32(out.add, row + layout_.add);
    store_f32(out.scale, row + layout_.scale);
    store_f32(out.error, row + layout_.error);
    if (model_->ex_bits() > 0) {
      store_f32(out.add_ex, row + layout_.add_ex);
      store_f32(out.scale_ex, row + layout_.scale_ex);
    }
  }

  // Rows [b, e) kernels.width at a time. Without float16 the residual v - c and its squared norm (the
  // same sum for every metric then) are formed in the lanes too.
  void encode_lanes(const simd::RqLanesKernels& kernels, MatrixView<const float> x, std::span<const uint32_t> labels,
                    const float* centroids, const float* rotated_centroids, Metric metric, std::span<uint8_t> rows,
                    size_t b, size_t e, RqLanesScratch* scratch) const {
    const size_t d = model_->dim, w = kernels.width;
    std::vector<float> residuals(half_ ? w * d : 0);
    const float* vectors[RqLanesScratch::kMaxWidth];
    const float* own_centroids[RqLanesScratch::kMaxWidth];
    const float* rotated[RqLanesScratch::kMaxWidth];
    float norm_square[RqLanesScratch::kMaxWidth];
    RqEncoded out[RqLanesScratch::kMaxWidth];
    for (size_t i0 = b; i0 < e; i0 += w) {
      const size_t count = std::min(w, e - i0);
      for (size_t l = 0; l < count; ++l) {
        const size_t i = i0 + l;
        own_centroids[l] = centroids + size_t{labels[i]} * d;
        rotated[l] = rotated_centroids + size_t{labels[i]} * d;
        if (half_) {
          residual_of(x.row(i), own_centroids[l], metric, residuals.data() + l * d, &norm_square[l]);
          vectors[l] = residuals.data() + l * d;
        } else {
          vectors[l] = x.row(i);
        }
        uint8_t* row = rows.data() + i * layout_.bytes;
        out[l] = RqEncoded{row, row + layout_.ex};
      }
      rq_encode_lanes(*model_, metric, kernels, count, vectors, half_ ? nullptr : own_centroids, rotated, norm_square,
                      out, scratch);
      for (size_t l = 0; l < count; ++l) store_factors(out[l], rows.data() + (i0 + l) * layout_.bytes);
    }
  }

  std::shared_ptr<const RqModel> model_;
  RowLayout layout_;
  bool half_;    // the indexed column holds float16
  bool packed_;  // read back from a Lance build: codes in the FastScan layout (search only)
  std::vector<AuxColumnSpec> columns_;
};

Result<std::shared_ptr<const Codec>> from_storage(const StoredCodec& s) {
  bool packed = false;
  auto model = rq_model_from_json(s.metadata, s.dim, s.where, &packed);
  if (!model.ok()) return Status::Corruption(model.status().message());
  // Lance's own builds store _rabit_codes in the FastScan layout per partition (format notes 5.2).
  return std::shared_ptr<const Codec>(std::make_shared<const RqCodec>(*std::move(model), s.half, packed));
}

Result<std::shared_ptr<const Codec>> from_model(const ModelSection& s, size_t*) {
  LANCER_ASSIGN_OR_RETURN(auto model, rq_model_from_json(s.header, s.dim, "the \"rq\" section"));
  return make_rq_codec(std::move(model), s.half);
}

LanceCompression lance_compression(const Codec& codec) {
  // rotation_type FAST (0) is proto3's default and left out, as Lance writes it.
  return {"rq", {{"num_bits", static_cast<uint32_t>(rq_model(codec)->num_bits)}}};
}

}  // namespace

std::shared_ptr<const Codec> make_rq_codec(std::shared_ptr<const RqModel> model, bool half) {
  return std::make_shared<const RqCodec>(std::move(model), half, false);
}

const RqModel* rq_model(const Codec& codec) {
  const auto* rq = dynamic_cast<const RqCodec*>(&codec);
  return rq ? &rq->model() : nullptr;
}

const QuantizerEntry& rq_quantizer() {
  static const QuantizerEntry entry{
      .kind = QuantizerKind::kRq,
      .name = "RQ",
      .uses_residual = [](Metric) { return true; },
      .trains_on_sample = false,
      .model_key = "rq",
      .from_storage = from_storage,
      .from_model = from_model,
      .lance_compression = lance_compression,
      .index_version = 2,
  };
  return entry;
}

}  // namespace lancer::quant

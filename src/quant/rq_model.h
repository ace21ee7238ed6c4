// The RaBitQ model of IVF_RQ (Lance's "fast" rotation: random sign flips and
// Walsh-Hadamard / Kac mixing, no matrix) and its encoder, reproducing Lance
// 14's bq/{rotation,builder,transform,ex_dot}.rs in plain f32 scalar code so
// that codes and factors are the same on every machine
// (docs/decisions/same-bytes-any-hardware.md). rq_encode_lanes runs 8 or 16
// vectors side by side, one per SIMD lane (simd/rq_lanes.h), each lane doing
// its vector's operations in the same order: the same bytes, 1.8x faster with
// 5 bits (8x with 1 bit) on one core. Per residual r = v - c:
// 1 sign bit per rotated dim, num_bits - 1 "ex" bits per dim in the blocked
// layout, and the raw-query factors (format notes 5.2). Immutable once built.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "lancer/status.h"
#include "simd/metric.h"

namespace lancer::simd {
struct RqLanesKernels;
}

namespace lancer::quant {

inline constexpr int kRqMinBits = 1;
inline constexpr int kRqMaxBits = 9;  // Lance's RABIT_MAX_NUM_BITS (8 ex bits)
inline constexpr int kRqDefaultBits = 5;

struct RqModel {
  uint32_t dim = 0;               // = code_dim; a multiple of 8
  int num_bits = kRqDefaultBits;  // 1 sign bit + ex_bits()
  std::vector<uint8_t> signs;     // 4 rounds x ceil(dim / 8) bytes, LSB-first

  int ex_bits() const { return num_bits - 1; }
  size_t code_bytes() const { return (dim + 7) / 8; }
  // next_multiple_of(dim, 64) * ex_bits / 8; 0 for 1 bit.
  size_t ex_code_bytes() const { return size_t{(dim + 63) / 64 * 64} * ex_bits() / 8; }
};

// InvalidArgument unless dim % 8 == 0 (Lance's words), num_bits in 1..9 and
// there are 4 * dim / 8 sign bytes.
Status check_rq_model(const RqModel& model);

// Lance's fast rotation of x (dim floats) into out (dim floats).
void rq_rotate(const RqModel& model, const float* x, float* out);

// Packs 64 ex-code values (natural dim order) into the blocked layout of
// `ex_bits` (1..8): 64 * ex_bits / 8 bytes (Lance's ex_dot.rs pack_block).
void rq_pack_ex_block(int ex_bits, const uint8_t values[64], uint8_t* out);
// The inverse: 64 values from one block.
void rq_unpack_ex_block(int ex_bits, const uint8_t* block, uint8_t values[64]);

// Lance's best_ex_rescale_factor: the rescale t maximising the cosine of the
// ex code with |r'| / ||r'|| (abs_normalized, dim values).
float rq_best_rescale(std::span<const float> abs_normalized, int ex_bits);

// One encoded vector: the pieces of a storage row.
struct RqEncoded {
  uint8_t* codes;     // code_bytes()
  uint8_t* ex_codes;  // ex_code_bytes(); unused for 1 bit
  float add = 0, scale = 0, error = 0, add_ex = 0, scale_ex = 0;
};

// Reusable buffers of one encoding thread (no allocation per row once grown).
struct RqScratch {
  std::vector<float> abs_normalized;
  std::vector<uint8_t> ex_values;
  std::vector<uint32_t> codes;
  std::vector<uint64_t> events, sorted;           // the rescale events' keys in emission order, then sorted
  std::vector<uint32_t> bucket_of, bucket_start;  // the counting sort's
  std::vector<float> numerators, denominators;    // after each event
};

// Encodes one residual. rotated_residual: R(v - c); rotated_centroid: R(c);
// norm_square: ||v - c||^2 (Lance's distance to the centroid for l2 / cosine,
// the residual's squared norm for dot).
void rq_encode_rotated(const RqModel& model, simd::Metric metric, const float* rotated_residual,
                       const float* rotated_centroid, float norm_square, RqEncoded* out, RqScratch* scratch);

// Buffers of one thread encoding vectors side by side (rq_encode_lanes).
struct RqLanesScratch {
  static constexpr size_t kMaxWidth = 16;
  std::vector<float> floats;      // the residual, centroid and abs_normalized lanes (64-byte aligned inside)
  std::vector<int32_t> ints;      // the sign-code bytes and the ex codes, lanes
  std::vector<float> rows;        // abs_normalized of each vector, row-major
  std::vector<float> increments;  // the rescale events' increments, lanes
  std::vector<uint8_t> ex_values;
  RqScratch lane[kMaxWidth];  // each vector's rescale events
};

// Encodes count <= kernels.width vectors side by side, one per SIMD lane, each
// lane doing rq_rotate's and rq_encode_rotated's operations for its vector in
// their order: the same bytes as encoding them one by one. rows: the vectors,
// whose residuals are row - centroid (and norm_square[l] is then set to the
// sum of their squares, in dimension order), or, with centroids null, the
// residuals (norm_square[l] given). rotated_centroids: R(c) of each.
// Dimensions below 2^24.
void rq_encode_lanes(const RqModel& model, simd::Metric metric, const simd::RqLanesKernels& kernels, size_t count,
                     const float* const* rows, const float* const* centroids, const float* const* rotated_centroids,
                     float* norm_square, RqEncoded* out, RqLanesScratch* scratch);

// The storage_metadata JSON (serde order, "packed": false, "raw_query").
std::string rq_metadata_json(const RqModel& model);
// Parses Lance's RabitQuantizationMetadata (storage_metadata or build_rq_model
// output). `where` names the source in errors; *packed is its "packed".
Result<std::shared_ptr<const RqModel>> rq_model_from_json(const std::string& json, uint32_t dim,
                                                          const std::string& where, bool* packed = nullptr);

}  // namespace lancer::quant

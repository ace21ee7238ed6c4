#include "quant/rq_model.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "simd/rq_lanes.h"

namespace lancer::quant {

namespace {

constexpr int kRounds = 4;
constexpr float kExEpsilon = 1.0e-5f;
constexpr float kTightStart[9] = {0.0f, 0.15f, 0.20f, 0.52f, 0.59f, 0.71f, 0.75f, 0.77f, 0.81f};
constexpr float kErrorEpsilon = 1.9f;
constexpr int32_t kEventChunk = 8;  // rescale events emitted per round, per dimension
// 8 lanes (two SSE registers without AVX): each lane the scalar operation.
using V8f = float __attribute__((vector_size(32)));
using V8i = int32_t __attribute__((vector_size(32)));
using V8ui = uint32_t __attribute__((vector_size(32)));
using V8u = uint64_t __attribute__((vector_size(64)));
constexpr V8i kLane = {0, 1, 2, 3, 4, 5, 6, 7};

// The sum of the 8 lanes, halving: 3 shuffles and adds rather than 8 extractions.
inline int32_t lane_sum(V8i x) {
  x += __builtin_shufflevector(x, x, 4, 5, 6, 7, 0, 1, 2, 3);
  x += __builtin_shufflevector(x, x, 2, 3, 0, 1, 2, 3, 0, 1);
  x += __builtin_shufflevector(x, x, 1, 0, 1, 0, 1, 0, 1, 0);
  return x[0];
}

void fwht(float* x, size_t n) {
  size_t first = 1;
  if (n % 8 == 0) {
    // The stages half = 1, 2, 4 stay inside groups of 8: one group at a time in registers (each
    // element gets the same adds and subtractions as in the plain stage order).
    for (size_t g = 0; g < n; g += 8) {
      float* y = x + g;
      float a[8], b[8];
      for (int i = 0; i < 8; i += 2) a[i] = y[i] + y[i + 1], a[i + 1] = y[i] - y[i + 1];
      for (int i = 0; i < 8; i += 4) {
        b[i] = a[i] + a[i + 2], b[i + 2] = a[i] - a[i + 2];
        b[i + 1] = a[i + 1] + a[i + 3], b[i + 3] = a[i + 1] - a[i + 3];
      }
      for (int i = 0; i < 4; ++i) y[i] = b[i] + b[i + 4], y[i + 4] = b[i] - b[i + 4];
    }
    first = 8;
  }
  for (size_t half = first; half < n; half *= 2) {
    for (size_t block = 0; block < n; block += 2 * half) {
      for (size_t i = block; i < block + half; ++i) {
        const float a = x[i], b = x[i + half];
        x[i] = a + b;
        x[i + half] = a - b;
      }
    }
  }
}

// Bit i of the round's bytes set: x[i] changes sign (the f32 sign bit, as Lance toggles it).
// XOR of the sign bit with a mask rather than a branch: the random signs would
// mispredict half the time, and negation is exactly that bit flip.
void flip_signs(float* x, size_t n, const uint8_t* signs) {
  for (size_t i = 0; i < n; ++i) {
    const uint32_t flip = static_cast<uint32_t>((signs[i / 8] >> (i % 8)) & 1) << 31;
    x[i] = std::bit_cast<float>(std::bit_cast<uint32_t>(x[i]) ^ flip);
  }
}

void rescale(float* x, size_t n, float factor) {
  for (size_t i = 0; i < n; ++i) x[i] *= factor;
}

bool sign_positive(float v) {
  return !std::signbit(v);
}

float ratio(float numerator, float denominator) {
  return denominator == 0.0f ? 0.0f : numerator / denominator;
}

// The top bit (`top_bit`) of each of 64 codes: dim 16k + b at bit 8 * (b % 8) + 2k + b / 8.
uint64_t pack_top_plane(const uint8_t v[64], int top_bit) {
  uint64_t plane = 0;
  for (int k = 0; k < 4; ++k) {
    for (int b = 0; b < 16; ++b) {
      const uint64_t bit = (v[16 * k + b] >> top_bit) & 1;
      plane |= bit << (8 * (b % 8) + 2 * k + b / 8);
    }
  }
  return plane;
}

int top_plane_bit(uint64_t plane, int k, int b) {
  return static_cast<int>((plane >> (8 * (b % 8) + 2 * k + b / 8)) & 1);
}

void store_le64(uint64_t v, uint8_t* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t load_le64(const uint8_t* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{in[i]} << (8 * i);
  return v;
}

}  // namespace

Status check_rq_model(const RqModel& m) {
  if (m.dim == 0 || m.dim % 8 != 0) {
    return Status::InvalidArgument("vector dimension must be divisible by 8 for IVF_RQ (got " + std::to_string(m.dim) +
                                   ")");
  }
  if (m.num_bits < kRqMinBits || m.num_bits > kRqMaxBits) {
    return Status::InvalidArgument("IVF_RQ num_bits must be in 1..=9, got " + std::to_string(m.num_bits));
  }
  if (m.signs.size() != kRounds * m.code_bytes()) {
    return Status::InvalidArgument("fast_rotation_signs length=" + std::to_string(m.signs.size()) +
                                   " does not match expected length=" + std::to_string(kRounds * m.code_bytes()) +
                                   " for dimension=" + std::to_string(m.dim));
  }
  return Status::OK();
}

// AVX2 widens the butterflies, sign flips and rescales lane by lane: the same operations.
__attribute__((target_clones("avx2", "default"))) void rq_rotate(const RqModel& m, const float* x, float* out) {
  const size_t d = m.dim, bpr = m.code_bytes();
  std::copy(x, x + d, out);
  if (d == 0) return;
  const size_t t = size_t{1} << std::bit_width(d) >> 1;  // 2^floor(log2 d)
  const float scale = 1.0f / std::sqrt(static_cast<float>(t));
  if (t == d) {
    for (int r = 0; r < kRounds; ++r) {
      flip_signs(out, d, m.signs.data() + r * bpr);
      fwht(out, d);
      rescale(out, d, scale);
    }
    return;
  }
  for (int r = 0; r < kRounds; ++r) {
    flip_signs(out, d, m.signs.data() + r * bpr);
    float* window = r % 2 == 0 ? out : out + (d - t);  // head, then tail
    fwht(window, t);
    rescale(window, t, scale);
    const size_t h = d / 2;  // Kac's walk: (x, y) -> (x + y, x - y) across the halves
    for (size_t i = 0; i < h; ++i) {
      const float a = out[i], b = out[i + h];
      out[i] = a + b;
      out[i + h] = a - b;
    }
  }
  rescale(out, d, 0.25f);
}

void rq_pack_ex_block(int ex_bits, const uint8_t v[64], uint8_t* out) {
  switch (ex_bits) {
    case 1:
      for (int b = 0; b < 8; ++b) {
        uint8_t byte = 0;
        for (int t = 0; t < 8; ++t) byte |= static_cast<uint8_t>((v[8 * b + t] & 1) << t);
        out[b] = byte;
      }
      break;
    case 2:
    case 3:
      for (int b = 0; b < 16; ++b) {
        out[b] =
            static_cast<uint8_t>((v[b] & 3) | ((v[16 + b] & 3) << 2) | ((v[32 + b] & 3) << 4) | ((v[48 + b] & 3) << 6));
      }
      if (ex_bits == 3) store_le64(pack_top_plane(v, 2), out + 16);
      break;
    case 4:
      for (int unit = 0; unit < 4; ++unit) {
        for (int b = 0; b < 8; ++b) {
          out[8 * unit + b] = static_cast<uint8_t>((v[16 * unit + b] & 0x0f) | ((v[16 * unit + 8 + b] & 0x0f) << 4));
        }
      }
      break;
    case 5:
      for (int b = 0; b < 16; ++b) {
        out[b] = static_cast<uint8_t>((v[b] & 0x0f) | ((v[16 + b] & 0x0f) << 4));
        out[16 + b] = static_cast<uint8_t>((v[32 + b] & 0x0f) | ((v[48 + b] & 0x0f) << 4));
      }
      store_le64(pack_top_plane(v, 4), out + 32);
      break;
    case 6:
    case 7:
      // Runs 0..2 keep their 6 low bits; run 3's dims are split into three 2-bit pieces in their top bits.
      for (int k = 0; k < 3; ++k) {
        for (int b = 0; b < 16; ++b) {
          out[16 * k + b] = static_cast<uint8_t>((v[16 * k + b] & 0x3f) | (((v[48 + b] >> (2 * k)) & 3) << 6));
        }
      }
      if (ex_bits == 7) store_le64(pack_top_plane(v, 6), out + 48);
      break;
    case 8: std::memcpy(out, v, 64); break;
    default: break;
  }
}

void rq_unpack_ex_block(int ex_bits, const uint8_t* in, uint8_t out[64]) {
  switch (ex_bits) {
    case 1:
      for (int i = 0; i < 64; ++i) out[i] = (in[i / 8] >> (i % 8)) & 1;
      break;
    case 2:
    case 3: {
      const uint64_t plane = ex_bits == 3 ? load_le64(in + 16) : 0;
      for (int k = 0; k < 4; ++k) {
        for (int b = 0; b < 16; ++b) {
          out[16 * k + b] = static_cast<uint8_t>(((in[b] >> (2 * k)) & 3) | (top_plane_bit(plane, k, b) << 2));
        }
      }
      break;
    }
    case 4:
      for (int unit = 0; unit < 4; ++unit) {
        for (int b = 0; b < 8; ++b) {
          out[16 * unit + b] = in[8 * unit + b] & 0x0f;
          out[16 * unit + 8 + b] = in[8 * unit + b] >> 4;
        }
      }
      break;
    case 5: {
      const uint64_t plane = load_le64(in + 32);
      for (int k = 0; k < 4; ++k) {
        for (int b = 0; b < 16; ++b) {
          const int nibble = (in[16 * (k / 2) + b] >> (4 * (k % 2))) & 0x0f;
          out[16 * k + b] = static_cast<uint8_t>(nibble | (top_plane_bit(plane, k, b) << 4));
        }
      }
      break;
    }
    case 6:
    case 7: {
      const uint64_t plane = ex_bits == 7 ? load_le64(in + 48) : 0;
      for (int k = 0; k < 3; ++k) {
        for (int b = 0; b < 16; ++b) out[16 * k + b] = in[16 * k + b] & 0x3f;
      }
      for (int b = 0; b < 16; ++b) {
        out[48 + b] = static_cast<uint8_t>((in[b] >> 6) | ((in[16 + b] >> 6) << 2) | ((in[32 + b] >> 6) << 4));
      }
      if (ex_bits == 7) {
        for (int k = 0; k < 4; ++k) {
          for (int b = 0; b < 16; ++b) out[16 * k + b] |= static_cast<uint8_t>(top_plane_bit(plane, k, b) << 6);
        }
      }
      break;
    }
    case 8: std::memcpy(out, in, 64); break;
    default: std::memset(out, 0, 64); break;
  }
}

namespace {

// An event: where a dimension's code grows to `next` as the rescale passes its
// threshold next / v. One sortable key: the threshold's f32 bits above (positive
// floats order as their bits), then the dimension, then next, so that the keys
// order events by threshold and equal thresholds by emission order (dimension,
// then code: a dimension's thresholds are distinct), and no two keys are equal.
constexpr uint32_t kEventDimShift = 8;  // below: next (<= 255)
inline uint32_t event_dim(uint64_t key) {
  return static_cast<uint32_t>(key) >> kEventDimShift;
}
inline uint32_t event_code(uint64_t key) {
  return static_cast<uint32_t>(key) & 0xffu;
}
inline float event_threshold(uint64_t key) {
  return std::bit_cast<float>(static_cast<uint32_t>(key >> 32));
}

// Sorts the n event keys (s->events) into s->sorted: a counting sort on the
// threshold's bits above t_start's (monotone in the threshold; clamped) cut to
// about 2n buckets, then an insertion pass that mostly only swaps neighbours
// (a branch-free min / max with the previous key) and walks back only when a
// bucket holds three or more keys out of order. The keys are distinct, so any
// correct sort gives the one order of std::sort by (threshold, emission).
// (It replaced a counting sort on float buckets of two arrays, threshold and
// payload, followed by a plain insertion sort whose branch mispredicted on
// every bucket shared out of order: the same order, and with the 8-lane count
// and the branch-free start_code below bench/rq_encode_bench's 128 dims / 5
// bits went from 10.6 to 8.2-8.4 ms CPU per 4,096 vectors. 2n buckets measured
// faster than n, and than 4n with the prefix sums below vectorized.)
// AVX2 widens the bucket loop (integer operations: the same buckets).
__attribute__((target_clones("avx2", "default"))) void sort_events(RqScratch* s, size_t n, float t_start, float t_end) {
  const uint64_t* keys = s->events.data();
  // Thresholds are positive finite floats (bits below 2^31): their differences fit in int32.
  const int32_t base = static_cast<int32_t>(std::bit_cast<uint32_t>(t_start));
  const int32_t range = std::max<int32_t>(static_cast<int32_t>(std::bit_cast<uint32_t>(t_end)) - base, 0);
  const uint64_t target = 2 * uint64_t{n};  // few shared buckets: few moves
  int shift = 0;
  while (static_cast<uint64_t>(range >> shift) >= target) ++shift;
  const int32_t last = range >> shift;  // buckets 0..last
  // Room for the prefix sums' 8-wide steps past the last bucket.
  s->bucket_start.assign((static_cast<size_t>(last) + 2 + 7) / 8 * 8, 0);
  uint32_t* start = s->bucket_start.data();
  auto bucket = [&](uint64_t key) {
    const int32_t d = std::clamp<int32_t>(static_cast<int32_t>(key >> 32) - base, 0, range);
    return d >> shift;
  };
  s->bucket_of.resize(n);
  uint32_t* bucket_of = s->bucket_of.data();
  // The buckets in a loop of their own, which vectorizes; then the counts.
  for (size_t k = 0; k < n; ++k) bucket_of[k] = static_cast<uint32_t>(bucket(keys[k]));
  for (size_t k = 0; k < n; ++k) ++start[bucket_of[k] + 1];
  // The running sum of the counts, 8 at a time: each 8 summed in the register by three shifted adds,
  // then the carry of those before (integer adds: the same sums in any order).
  V8i carry = V8i{};
  for (size_t b = 0; b < s->bucket_start.size(); b += 8) {
    V8i x;
    std::memcpy(&x, start + b, sizeof x);
    const V8i zero = V8i{};
    x += __builtin_shufflevector(zero, x, 0, 8, 9, 10, 11, 12, 13, 14);
    x += __builtin_shufflevector(zero, x, 0, 1, 8, 9, 10, 11, 12, 13);
    x += __builtin_shufflevector(zero, x, 0, 1, 2, 3, 8, 9, 10, 11);
    // The carry chain is one add per 8 buckets: these 8's total is taken before the carry joins.
    const V8i total = __builtin_shufflevector(x, x, 7, 7, 7, 7, 7, 7, 7, 7);
    x += carry;
    std::memcpy(start + b, &x, sizeof x);
    carry += total;
  }
  s->sorted.resize(n);
  uint64_t* a = s->sorted.data();
  for (size_t k = 0; k < n; ++k) a[start[bucket_of[k]]++] = keys[k];
  uint64_t top = a[0], below = 0;  // a[k - 1] and a[k - 2] (0: below every key)
  for (size_t k = 1; k < n; ++k) {
    const uint64_t x = a[k];
    const uint64_t lo = x < top ? x : top;
    top = x < top ? top : x;
    a[k - 1] = lo;
    if (below > lo) [[unlikely]] {  // lo belongs further back
      size_t j = k - 1;
      while (j > 0 && a[j - 1] > lo) {
        a[j] = a[j - 1];
        --j;
      }
      a[j] = lo;
    }
    below = a[k - 1];
  }
  a[n - 1] = top;
}

// best_rescale's search range, from the largest finite normalized value (> 0).
struct RescaleRange {
  float t_start, t_end;
};
RescaleRange rescale_range(float max_value, uint32_t max_code, int ex_bits) {
  const float t_end = static_cast<float>(max_code + 10) / max_value;
  return {t_end * kTightStart[ex_bits], t_end};
}

// The code of a dimension at t_start (v > 0 and finite).
// std::clamp's comparisons written as selects (max, then min: the same value for every non-NaN
// input), so that the compiler emits no branch: dimensions reach the top code at random.
uint32_t start_code(float t_start, float v, uint32_t max_code) {
  const float x = std::floor(t_start * v + kExEpsilon), top = static_cast<float>(max_code);
  const float low = x < 0.0f ? 0.0f : x;
  return static_cast<uint32_t>(top < low ? top : low);
}

// The rescale events of `a` (thresholds next / v in [t_start, t_end) where a dimension's code grows to
// next), emitted by dimension then code: their keys into s->events. Returns how many.
// AVX2 only widens the vectorized loops (exact per-lane divisions; no FMA: "avx2" does not enable it
// and the project builds with -ffp-contract=off): the same bits either way.
__attribute__((target_clones("avx2", "default"))) size_t emit_events(std::span<const float> a, uint32_t max_code,
                                                                     float t_start, float t_end, RqScratch* s) {
  // A raw array, grown (rarely) before a dimension that could overflow it: a dimension writes fewer
  // than max_code + kEventChunk entries. (Not sized for the worst case, max_code per dimension: with 8
  // ex bits that is megabytes per vector.)
  uint64_t* ev = s->events.data();
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const float v = a[i];
    if (v <= 0.0f || !std::isfinite(v)) continue;
    if (n + max_code + kEventChunk > s->events.size()) {
      s->events.resize(std::max(2 * s->events.size(), n + max_code + kEventChunk + 4 * a.size()));
      ev = s->events.data();
    }
    const uint32_t current = start_code(t_start, v, max_code);
    // The events of a dimension are a prefix of next = current + 1, ..., max_code (next / v
    // grows with next): 8 candidates at a time, all stored, the valid ones counted, so that the
    // loop ends on a count (mostly after one round) rather than on a branch per event.
    const V8u low = V8u{} + (uint64_t{i} << kEventDimShift);
    for (int32_t first = static_cast<int32_t>(current) + 1;; first += kEventChunk) {
      const V8i next = kLane + first;
      const V8f threshold = __builtin_convertvector(next, V8f) / v;  // the division itself: its bits are kept
      const V8u key = (__builtin_convertvector(reinterpret_cast<V8ui>(threshold), V8u) << 32) | low |
                      __builtin_convertvector(next & 0xff, V8u);
      std::memcpy(ev + n, &key, sizeof key);
      const V8i ok = (next <= static_cast<int32_t>(max_code)) & (threshold < t_end);  // lanes -1 or 0
      const uint32_t valid = static_cast<uint32_t>(-lane_sum(ok));
      n += valid;
      if (valid < kEventChunk) break;
    }
  }
  return n;
}

// The rescale events of `a` sorted by threshold, equal ones in emission order: their keys into s->sorted.
// Returns how many. kernels: the ISA's emission where it has one (the same keys), else emit_events.
size_t sorted_events(std::span<const float> a, uint32_t max_code, float t_start, float t_end, RqScratch* s,
                     const simd::RqLanesKernels* kernels = nullptr) {
  size_t n = 0;
  if (kernels != nullptr && kernels->rescale_events != nullptr) {
    if (s->events.size() < 4 * a.size() + 16) s->events.resize(4 * a.size() + 16);
    n = kernels->rescale_events(a.data(), a.size(), max_code, t_start, t_end, s->events.data(), s->events.size());
    if (n + 16 > s->events.size()) {  // more than it had room for: again with room for all
      s->events.resize(n + 16);
      n = kernels->rescale_events(a.data(), a.size(), max_code, t_start, t_end, s->events.data(), s->events.size());
    }
  } else {
    n = emit_events(a, max_code, t_start, t_end, s);
  }
  if (n > 0) sort_events(s, n, t_start, t_end);  // by threshold, then emission order
  return n;
}

// Lance's best_ex_rescale_factor. Thresholds are visited in increasing order,
// equal ones in the order they were emitted (by dimension, then code).
// AVX2 only widens the vectorized loops (exact per-lane divisions and square roots): the same bits.
__attribute__((target_clones("avx2", "default"))) float best_rescale(std::span<const float> a, int ex_bits,
                                                                     RqScratch* s) {
  float max_value = 0.0f;
  for (float v : a) {
    if (std::isfinite(v)) max_value = std::max(max_value, v);
  }
  if (max_value <= 0.0f) return 0.0f;
  const uint32_t max_code = (1u << ex_bits) - 1;
  const auto [t_start, t_end] = rescale_range(max_value, max_code, ex_bits);
  s->codes.assign(a.size(), 0);
  uint32_t* codes = s->codes.data();
  float squared_denominator = static_cast<float>(a.size()) * 0.25f;
  float numerator = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) {
    const float v = a[i];
    if (v <= 0.0f || !std::isfinite(v)) continue;
    const uint32_t current = start_code(t_start, v, max_code);
    codes[i] = current;
    squared_denominator += static_cast<float>(current * current + current);
    numerator += (static_cast<float>(current) + 0.5f) * v;
  }
  const size_t n = sorted_events(a, max_code, t_start, t_end, s);
  if (n == 0) return t_start;
  const uint64_t* sorted = s->sorted.data();
  // The running sums event by event (a chain of adds, in Lance's order), then every event's
  // ratio in a loop of its own, which the compiler vectorizes (IEEE division and square root
  // round the same in every lane), then the first strict improvement as Lance takes it.
  const float best_start = numerator / std::sqrt(squared_denominator);
  s->numerators.resize(n);
  s->denominators.resize(n);
  float* ratio = s->numerators.data();
  float* den = s->denominators.data();
  for (size_t k = 0; k < n; ++k) {
    const uint32_t i = event_dim(sorted[k]);
    const uint32_t updated = ++codes[i];
    squared_denominator += static_cast<float>(2 * updated);
    numerator += a[i];
    ratio[k] = numerator;
    den[k] = squared_denominator;
  }
  for (size_t k = 0; k < n; ++k) ratio[k] = ratio[k] / std::sqrt(den[k]);
  float best = best_start;
  size_t best_k = n;
  for (size_t k = 0; k < n; ++k) {
    if (ratio[k] > best) {
      best = ratio[k];
      best_k = k;
    }
  }
  return best_k == n ? t_start : event_threshold(sorted[best_k]);
}

// The factors of one row from rq_encode_rotated's sums.
void finish_factors(size_t d, int ex_bits, simd::Metric metric, float norm_square, float binary_res_dot,
                    float binary_cent_dot, float residual_centroid_dot, float ex_res_dot, float ex_cent_dot,
                    RqEncoded* out) {
  const float binary_correction = ratio(norm_square * binary_cent_dot, binary_res_dot);
  float error = 0.0f;
  if (d > 1 && norm_square > 0.0f && binary_res_dot != 0.0f) {
    const float code_norm_square = static_cast<float>(d) * 0.25f;
    const float alignment = norm_square * code_norm_square / (binary_res_dot * binary_res_dot);
    const float angular = std::sqrt(std::max(alignment - 1.0f, 0.0f) / (static_cast<float>(d) - 1.0f));
    error = std::sqrt(norm_square) * kErrorEpsilon * angular;
    if (metric != simd::Metric::kDot) error = 2.0f * error;
  }
  out->error = error;
  const float ex_correction = ex_bits > 0 ? ratio(norm_square * ex_cent_dot, ex_res_dot) : 0.0f;
  if (metric == simd::Metric::kDot) {
    const float dot_base = 1.0f - residual_centroid_dot;
    out->add = dot_base + binary_correction;
    out->scale = ratio(-norm_square, binary_res_dot);
    out->add_ex = dot_base + ex_correction;
    out->scale_ex = ratio(-norm_square, ex_res_dot);
  } else {
    out->add = norm_square + 2.0f * binary_correction;
    out->scale = ratio(-2.0f * norm_square, binary_res_dot);
    out->add_ex = norm_square + 2.0f * ex_correction;
    out->scale_ex = ratio(-2.0f * norm_square, ex_res_dot);
  }
}

}  // namespace

float rq_best_rescale(std::span<const float> a, int ex_bits) {
  RqScratch scratch;
  return best_rescale(a, ex_bits, &scratch);
}

void rq_encode_rotated(const RqModel& m, simd::Metric metric, const float* r, const float* c, float norm_square,
                       RqEncoded* out, RqScratch* scratch) {
  const size_t d = m.dim;
  const int ex_bits = m.ex_bits();
  std::memset(out->codes, 0, m.code_bytes());
  // Two passes over the dimensions, each carrying several accumulators side by side (every one
  // still a chain of adds in dimension order, as Lance's RabitRowFactors::observe): first what
  // needs no ex code, then the ex codes with the sums that use them.
  float rotated_norm_square = 0.0f;
  float binary_res_dot = 0.0f, binary_cent_dot = 0.0f, residual_centroid_dot = 0.0f;
  const bool dot = metric == simd::Metric::kDot;
  for (size_t i = 0; i < d; ++i) {
    const bool positive = sign_positive(r[i]);
    out->codes[i / 8] |= static_cast<uint8_t>(uint32_t{positive} << (i % 8));
    const float binary_factor = positive ? 0.5f : -0.5f;
    rotated_norm_square += r[i] * r[i];
    binary_res_dot += r[i] * binary_factor;
    binary_cent_dot += c[i] * binary_factor;
    if (dot) residual_centroid_dot += r[i] * c[i];
  }
  float ex_res_dot = 0.0f, ex_cent_dot = 0.0f;
  if (ex_bits > 0) {
    // ex code values per dim (0 when the residual is too short to scale), then packed.
    std::vector<uint8_t>& ex_values = scratch->ex_values;
    ex_values.assign((d + 63) / 64 * 64, 0);
    const float code_bias = -(static_cast<float>(1u << ex_bits) - 0.5f);
    if (rotated_norm_square > 1.1920929e-07f && std::isfinite(rotated_norm_square)) {  // f32::EPSILON
      const float norm = std::sqrt(rotated_norm_square);
      std::vector<float>& abs_normalized = scratch->abs_normalized;
      abs_normalized.resize(d);
      for (size_t i = 0; i < d; ++i) abs_normalized[i] = std::fabs(r[i]) / norm;
      const float t = best_rescale(abs_normalized, ex_bits, scratch);
      const uint8_t mask = static_cast<uint8_t>((1u << ex_bits) - 1);
      for (size_t i = 0; i < d; ++i) {
        uint8_t e = static_cast<uint8_t>(
            std::clamp(std::floor(t * abs_normalized[i] + kExEpsilon), 0.0f, static_cast<float>(mask)));
        if (std::signbit(r[i])) e = static_cast<uint8_t>(~e & mask);
        const float ex_factor = static_cast<float>((uint32_t{sign_positive(r[i])} << ex_bits) + e) + code_bias;
        ex_res_dot += r[i] * ex_factor;
        ex_cent_dot += c[i] * ex_factor;
        ex_values[i] = e;
      }
    } else {
      for (size_t i = 0; i < d; ++i) {
        ex_cent_dot += c[i] * (static_cast<float>(uint32_t{sign_positive(r[i])} << ex_bits) + code_bias);
      }
    }
    const size_t block_bytes = size_t{64} * ex_bits / 8;
    for (size_t base = 0, k = 0; base < d; base += 64, ++k) {
      rq_pack_ex_block(ex_bits, ex_values.data() + base, out->ex_codes + k * block_bytes);
    }
  }
  finish_factors(d, ex_bits, metric, norm_square, binary_res_dot, binary_cent_dot, residual_centroid_dot, ex_res_dot,
                 ex_cent_dot, out);
}

namespace {

// n elements of v, 64-byte aligned.
template <typename T>
T* aligned(std::vector<T>& v, size_t n) {
  constexpr size_t kAlign = 64 / sizeof(T);
  if (v.size() < n + kAlign) v.resize(n + kAlign);
  const auto address = reinterpret_cast<uintptr_t>(v.data());
  return v.data() + (((address + 63) & ~uintptr_t{63}) - address) / sizeof(T);
}

// Rows (count of them; the lanes past count zero) into lanes: 16 dimensions at a time, so that each
// row's cache line is used whole (rows 4 KiB apart share L1 sets).
void to_lanes(const float* const* rows, const float* const* minus, size_t count, size_t width, size_t d, float* lanes) {
  for (size_t j0 = 0; j0 < d; j0 += 16) {
    const size_t j1 = std::min(d, j0 + 16);
    for (size_t l = 0; l < width; ++l) {
      float* out = lanes + l;
      if (l >= count) {
        for (size_t j = j0; j < j1; ++j) out[j * width] = 0.0f;
      } else if (minus) {
        for (size_t j = j0; j < j1; ++j) out[j * width] = rows[l][j] - minus[l][j];
      } else {
        for (size_t j = j0; j < j1; ++j) out[j * width] = rows[l][j];
      }
    }
  }
}

}  // namespace

void rq_encode_lanes(const RqModel& m, simd::Metric metric, const simd::RqLanesKernels& k, size_t count,
                     const float* const* rows, const float* const* centroids, const float* const* rotated_centroids,
                     float* norm_square, RqEncoded* out, RqLanesScratch* s) {
  const size_t d = m.dim, w = k.width;
  const int ex_bits = m.ex_bits();
  float* r = aligned(s->floats, 3 * d * w);
  float* c = r + d * w;
  float* a = c + d * w;
  int32_t* code_bytes = aligned(s->ints, d * w + d / 8 * w);
  int32_t* ex = code_bytes + d / 8 * w;
  constexpr size_t kMax = RqLanesScratch::kMaxWidth;  // per-lane values
  alignas(64) float sums[4 * kMax], norm[kMax], max_value[kMax], t_start[kMax], numerator[kMax], denominator[kMax],
      t[kMax], ex_sums[2 * kMax];
  alignas(64) int32_t best_k[kMax], valid[kMax];

  to_lanes(rows, centroids, count, w, d, r);
  if (centroids) {
    k.sum_squares(r, d, sums);
    for (size_t l = 0; l < count; ++l) norm_square[l] = sums[l];
  }
  to_lanes(rotated_centroids, nullptr, count, w, d, c);
  k.rotate(m.signs.data(), d, r);
  k.sign_sums(r, c, d, metric == simd::Metric::kDot, reinterpret_cast<uint32_t*>(code_bytes), sums);
  for (size_t l = 0; l < count; ++l) {
    for (size_t b = 0; b < d / 8; ++b) out[l].codes[b] = static_cast<uint8_t>(code_bytes[b * w + l]);
  }
  if (ex_bits > 0) {
    // rq_encode_rotated: the residual is scaled only when its rotated norm is a usable divisor.
    for (size_t l = 0; l < w; ++l) {
      const float rotated_norm_square = sums[l];
      const bool ok = l < count && rotated_norm_square > 1.1920929e-07f && std::isfinite(rotated_norm_square);
      valid[l] = ok ? 1 : 0;
      norm[l] = ok ? std::sqrt(rotated_norm_square) : 0.0f;
    }
    k.normalize(r, norm, d, a, max_value);
    // best_rescale per lane: the events and their order one vector at a time, the running sums in lanes.
    // The emission is the ISA's kernel where it has one (AVX-512: 16 dimensions per division, keys
    // compressed); the scalar loop spent about 60 instructions per dimension, and neither staging every
    // dimension's first 8 events, nor an AVX-512 clone of that loop, nor the start codes in a loop of
    // their own made it faster.
    const uint32_t max_code = (1u << ex_bits) - 1;
    float* a_rows = aligned(s->rows, w * d);
    size_t events[RqLanesScratch::kMaxWidth] = {};
    size_t most = 0;
    for (size_t l = 0; l < w; ++l) {
      t_start[l] = 0.0f;
      if (!valid[l] || !(max_value[l] > 0.0f)) continue;
      float* row = a_rows + l * d;
      for (size_t j = 0; j < d; ++j) row[j] = a[j * w + l];
      const RescaleRange range = rescale_range(max_value[l], max_code, ex_bits);
      t_start[l] = range.t_start;
      events[l] = sorted_events({row, d}, max_code, range.t_start, range.t_end, &s->lane[l], &k);
      most = std::max(most, events[l]);
    }
    // The events' increments, lanes, a block at a time (kept in L1; 8 ex bits give thousands of events).
    constexpr size_t kBlock = 256;
    float* inc_num = aligned(s->increments, 2 * kBlock * w);
    float* inc_den = inc_num + kBlock * w;
    k.rescale_start(a, d, t_start, max_code, numerator, denominator);
    alignas(64) float state[4 * kMax];
    for (size_t l = 0; l < w; ++l) {
      state[l] = numerator[l];
      state[w + l] = denominator[l];
      state[2 * w + l] = numerator[l] / std::sqrt(denominator[l]);  // best_start
      state[3 * w + l] = std::bit_cast<float>(int32_t{-1});
    }
    for (size_t first = 0; first < most; first += kBlock) {
      const size_t block = std::min(kBlock, most - first);
      for (size_t l = 0; l < w; ++l) {
        const float* row = a_rows + l * d;
        const uint64_t* keys = s->lane[l].sorted.data();
        const size_t own = events[l] > first ? std::min(block, events[l] - first) : 0;
        for (size_t e = 0; e < own; ++e) {
          const uint64_t key = keys[first + e];
          inc_num[e * w + l] = row[event_dim(key)];
          inc_den[e * w + l] = static_cast<float>(2 * event_code(key));  // 2 x the code it reaches
        }
        for (size_t e = own; e < block; ++e) inc_num[e * w + l] = inc_den[e * w + l] = 0.0f;
      }
      k.rescale_best(inc_num, inc_den, block, first, state);
    }
    for (size_t l = 0; l < w; ++l) best_k[l] = std::bit_cast<int32_t>(state[3 * w + l]);
    for (size_t l = 0; l < w; ++l) {
      t[l] = !valid[l] || !(max_value[l] > 0.0f) ? 0.0f
             : best_k[l] < 0                     ? t_start[l]
                                                 : event_threshold(s->lane[l].sorted[static_cast<size_t>(best_k[l])]);
    }
    k.ex_codes(r, c, a, d, ex_bits, t, valid, ex, ex_sums);
    const size_t padded = (d + 63) / 64 * 64, block_bytes = size_t{64} * ex_bits / 8;
    s->ex_values.assign(padded, 0);
    for (size_t l = 0; l < count; ++l) {
      for (size_t j = 0; j < d; ++j) s->ex_values[j] = static_cast<uint8_t>(ex[j * w + l]);
      for (size_t base = 0, b = 0; base < d; base += 64, ++b) {
        rq_pack_ex_block(ex_bits, s->ex_values.data() + base, out[l].ex_codes + b * block_bytes);
      }
    }
  }
  for (size_t l = 0; l < count; ++l) {
    finish_factors(d, ex_bits, metric, norm_square[l], sums[w + l], sums[2 * w + l], sums[3 * w + l],
                   ex_bits > 0 ? ex_sums[l] : 0.0f, ex_bits > 0 ? ex_sums[w + l] : 0.0f, &out[l]);
  }
}

std::string rq_metadata_json(const RqModel& m) {
  std::string signs = "[";
  for (size_t i = 0; i < m.signs.size(); ++i) signs += (i ? "," : "") + std::to_string(m.signs[i]);
  return "{\"rotate_mat_position\":null,\"fast_rotation_signs\":" + signs +
         "],\"rotation_type\":\"fast\",\"code_dim\":" + std::to_string(m.dim) +
         ",\"num_bits\":" + std::to_string(m.num_bits) + ",\"packed\":false,\"query_estimator\":\"raw_query\"}";
}

Result<std::shared_ptr<const RqModel>> rq_model_from_json(const std::string& text, uint32_t dim,
                                                          const std::string& where, bool* packed) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return Status::InvalidArgument(where + ": the RaBitQ model is not a JSON object");
  auto bad = [&](const char* key) {
    return Status::InvalidArgument(where + ": the RaBitQ model has no valid \"" + std::string(key) + "\"");
  };
  if (j.contains("rotation_type") && j["rotation_type"] != "fast") {
    return Status::NotSupported(where + ": RaBitQ rotation_type " + j["rotation_type"].dump() +
                                " (lancer reads the \"fast\" rotation only)");
  }
  if (j.contains("query_estimator") && j["query_estimator"] != "raw_query") {
    return Status::NotSupported(where + ": RaBitQ query_estimator " + j["query_estimator"].dump() +
                                " (lancer reads \"raw_query\" only)");
  }
  if (!j.contains("num_bits") || !j["num_bits"].is_number_unsigned()) return bad("num_bits");
  if (!j.contains("code_dim") || !j["code_dim"].is_number_unsigned()) return bad("code_dim");
  if (!j.contains("fast_rotation_signs") || !j["fast_rotation_signs"].is_array()) return bad("fast_rotation_signs");
  auto m = std::make_shared<RqModel>();
  m->dim = j["code_dim"].get<uint32_t>();
  if (m->dim != dim) {
    return Status::InvalidArgument(where + ": rabitq_model dimension=" + std::to_string(m->dim) +
                                   " does not match vector dimension=" + std::to_string(dim));
  }
  m->num_bits = j["num_bits"].get<int>();
  for (const auto& s : j["fast_rotation_signs"]) {
    if (!s.is_number_unsigned() || s.get<uint64_t>() > 255) return bad("fast_rotation_signs");
    m->signs.push_back(static_cast<uint8_t>(s.get<uint32_t>()));
  }
  if (packed) *packed = j.value("packed", false);
  Status st = check_rq_model(*m);
  if (!st.ok()) return Status::InvalidArgument(where + ": " + st.message());
  return std::shared_ptr<const RqModel>(std::move(m));
}

}  // namespace lancer::quant

// The body of the RqLanesKernels (simd/rq_lanes.h), included by one file per ISA
// inside its anonymous namespace, after it defines kWidth, VF / VI (GCC vectors
// of kWidth floats / int32), sqrt_lanes / floor_lanes (exact per lane) and
// kRescaleEvents (its kernel or null). Each
// comment names the per-vector loop of quant/rq_model.cc a kernel reproduces.
// No includes here, no library templates: everything stays local to its ISA.

constexpr float kExEpsilon = 1.0e-5f;

inline VF load(const float* p) {
  return *reinterpret_cast<const VF*>(p);
}
inline VI load(const int32_t* p) {
  return *reinterpret_cast<const VI*>(p);
}
inline VI bits(VF x) {
  return reinterpret_cast<VI>(x);
}
inline VF from_bits(VI x) {
  return reinterpret_cast<VF>(x);
}
inline VI finite(VF x) {
  return (bits(x) & 0x7f800000) != 0x7f800000;
}
// x if the lane's mask is set, else +0.0f (adding it leaves a sum's bits unchanged).
inline VF keep(VI mask, VF x) {
  return from_bits(bits(x) & mask);
}
// std::clamp(x, lo, hi) of each lane.
inline VF clamp_lanes(VF x, float lo, float hi) {
  const VF l = VF{} + lo, h = VF{} + hi;
  return x < l ? l : (h < x ? h : x);
}

// fwht: the butterflies (a + b, a - b) stage by stage (half = 1, 2, 4, ...); the stages below 64 rows
// block by block so that a block stays in L1 (every element still meets the same butterflies in order).
void fwht_lanes(VF* x, size_t n) {
  const size_t block = n < 64 ? n : 64;
  for (size_t base = 0; base < n; base += block) {
    for (size_t half = 1; half < block; half *= 2) {
      for (size_t g = base; g < base + block; g += 2 * half) {
        for (size_t i = g; i < g + half; ++i) {
          const VF a = x[i], b = x[i + half];
          x[i] = a + b;
          x[i + half] = a - b;
        }
      }
    }
  }
  for (size_t half = block; half < n; half *= 2) {
    for (size_t g = 0; g < n; g += 2 * half) {
      for (size_t i = g; i < g + half; ++i) {
        const VF a = x[i], b = x[i + half];
        x[i] = a + b;
        x[i + half] = a - b;
      }
    }
  }
}

// rq_rotate: flip_signs (the sign bit XOR), fwht, rescale; Kac's walk and the final x 0.25 off powers of two.
void rotate(const uint8_t* signs, size_t d, float* data) {
  VF* x = reinterpret_cast<VF*>(data);
  const size_t bpr = d / 8;
  size_t t = 1;
  while (t * 2 <= d) t *= 2;
  const float scale = 1.0f / __builtin_sqrtf(static_cast<float>(t));
  for (int r = 0; r < 4; ++r) {
    const uint8_t* s = signs + r * bpr;
    for (size_t j = 0; j < d; ++j) {
      const int32_t flip = static_cast<int32_t>(static_cast<uint32_t>((s[j / 8] >> (j % 8)) & 1) << 31);
      x[j] = from_bits(bits(x[j]) ^ flip);
    }
    VF* window = r % 2 == 0 ? x : x + (d - t);
    fwht_lanes(window, t);
    for (size_t i = 0; i < t; ++i) window[i] = window[i] * scale;
    if (t != d) {
      const size_t h = d / 2;
      for (size_t i = 0; i < h; ++i) {
        const VF a = x[i], b = x[i + h];
        x[i] = a + b;
        x[i + h] = a - b;
      }
    }
  }
  if (t != d) {
    for (size_t j = 0; j < d; ++j) x[j] = x[j] * 0.25f;
  }
}

// The codec's norm_square += diff * diff.
void sum_squares(const float* data, size_t d, float* out) {
  const VF* x = reinterpret_cast<const VF*>(data);
  VF sum = VF{};
  for (size_t j = 0; j < d; ++j) sum += x[j] * x[j];
  *reinterpret_cast<VF*>(out) = sum;
}

// rq_encode_rotated's first pass.
template <bool kDot>
void sign_sums_impl(const float* rd, const float* cd, size_t d, uint32_t* code_bytes, float* sums) {
  const VF* r = reinterpret_cast<const VF*>(rd);
  const VF* c = reinterpret_cast<const VF*>(cd);
  VI* bytes = reinterpret_cast<VI*>(code_bytes);
  VF norm_square = VF{}, res_dot = VF{}, cent_dot = VF{}, res_cent = VF{};
  const VF plus = VF{} + 0.5f, minus = VF{} - 0.5f;
  VI byte = VI{};
  for (size_t j = 0; j < d; ++j) {
    const VF x = r[j], y = c[j];
    const VI negative = bits(x) >> 31;  // -1 where the sign bit is set (-0.0 included), else 0
    byte |= (negative + 1) << static_cast<int32_t>(j % 8);
    const VF factor = negative ? minus : plus;
    norm_square += x * x;
    res_dot += x * factor;
    cent_dot += y * factor;
    if constexpr (kDot) res_cent += x * y;
    if (j % 8 == 7) {
      bytes[j / 8] = byte;
      byte = VI{};
    }
  }
  VF* out = reinterpret_cast<VF*>(sums);
  out[0] = norm_square;
  out[1] = res_dot;
  out[2] = cent_dot;
  out[3] = res_cent;
}
void sign_sums(const float* r, const float* c, size_t d, bool dot, uint32_t* code_bytes, float* sums) {
  if (dot) {
    sign_sums_impl<true>(r, c, d, code_bytes, sums);
  } else {
    sign_sums_impl<false>(r, c, d, code_bytes, sums);
  }
}

// abs_normalized[i] = fabs(r[i]) / norm, and best_rescale's max_value.
void normalize(const float* rd, const float* norm, size_t d, float* ad, float* max_value) {
  const VF* r = reinterpret_cast<const VF*>(rd);
  VF* a = reinterpret_cast<VF*>(ad);
  const VF n = load(norm);
  const VI valid = n > 0.0f;
  const VF divisor = valid ? n : VF{} + 1.0f;
  VF best = VF{};
  for (size_t j = 0; j < d; ++j) {
    const VF v = keep(valid, from_bits(bits(r[j]) & 0x7fffffff) / divisor);
    a[j] = v;
    best = (finite(v) & (best < v)) ? v : best;  // std::max(best, v) of the finite values
  }
  *reinterpret_cast<VF*>(max_value) = best;
}

// best_rescale's first loop: codes at t_start and the sums they give (dimensions with v <= 0 or not
// finite add nothing).
void rescale_start(const float* ad, size_t d, const float* t_start, uint32_t max_code, float* numerator,
                   float* denominator) {
  const VF* a = reinterpret_cast<const VF*>(ad);
  const VF t = load(t_start);
  VF den = VF{} + static_cast<float>(d) * 0.25f, num = VF{};
  for (size_t j = 0; j < d; ++j) {
    const VF v = a[j];
    const VI ok = (v > 0.0f) & finite(v);
    const VI current =
        __builtin_convertvector(clamp_lanes(floor_lanes(t * v + kExEpsilon), 0.0f, static_cast<float>(max_code)), VI);
    den += keep(ok, __builtin_convertvector(current * current + current, VF));
    num += keep(ok, (__builtin_convertvector(current, VF) + 0.5f) * v);
  }
  *reinterpret_cast<VF*>(numerator) = num;
  *reinterpret_cast<VF*>(denominator) = den;
}

// best_rescale's running sums event by event, each event's ratio and the first strict improvement.
void rescale_best(const float* inc_numerator, const float* inc_denominator, size_t n, size_t first, float* state) {
  const VF* in = reinterpret_cast<const VF*>(inc_numerator);
  const VF* id = reinterpret_cast<const VF*>(inc_denominator);
  VF* carried = reinterpret_cast<VF*>(state);
  VF num = carried[0], den = carried[1], best = carried[2];
  VI best_at = bits(carried[3]);
  for (size_t k = 0; k < n; ++k) {
    num += in[k];
    den += id[k];
    const VF ratio = num / sqrt_lanes(den);
    const VI better = ratio > best;
    best = better ? ratio : best;
    best_at = better ? VI{} + static_cast<int32_t>(first + k) : best_at;
  }
  carried[0] = num;
  carried[1] = den;
  carried[2] = best;
  carried[3] = from_bits(best_at);
}

// rq_encode_rotated's ex-code pass (and its "too short to scale" branch where valid is 0).
void ex_codes(const float* rd, const float* cd, const float* ad, size_t d, int ex_bits, const float* t_lanes,
              const int32_t* valid_lanes, int32_t* ex, float* sums) {
  const VF* r = reinterpret_cast<const VF*>(rd);
  const VF* c = reinterpret_cast<const VF*>(cd);
  const VF* a = reinterpret_cast<const VF*>(ad);
  VI* e_out = reinterpret_cast<VI*>(ex);
  const VF t = load(t_lanes);
  const VI valid = load(valid_lanes) != 0;
  const int32_t mask = (1 << ex_bits) - 1;
  const float code_bias = -(static_cast<float>(1u << ex_bits) - 0.5f);
  VF res_dot = VF{}, cent_dot = VF{};
  for (size_t j = 0; j < d; ++j) {
    const VF x = r[j];
    const VI negative = bits(x) >> 31;
    VI e = __builtin_convertvector(clamp_lanes(floor_lanes(t * a[j] + kExEpsilon), 0.0f, static_cast<float>(mask)), VI);
    e = (negative ? (~e & mask) : e) & valid;
    const VF factor = __builtin_convertvector(((negative + 1) << ex_bits) + e, VF) + code_bias;
    res_dot += keep(valid, x * factor);
    cent_dot += c[j] * factor;
    e_out[j] = e;
  }
  VF* out = reinterpret_cast<VF*>(sums);
  out[0] = res_dot;
  out[1] = cent_dot;
}

constexpr RqLanesKernels kKernels{kWidth,        rotate,       sum_squares, sign_sums,     normalize,
                                  rescale_start, rescale_best, ex_codes,    kRescaleEvents};

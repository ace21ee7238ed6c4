// Scalar reference kernels: plain loops, the definition every ISA file is
// tested against. Compiled without any -m flags.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/half.h"
#include "simd/codeword.h"
#include "simd/kernels.h"

namespace lancer::simd {
namespace {

float l2_sqr(const float* a, const float* b, size_t d) {
  float s = 0;
  for (size_t j = 0; j < d; ++j) {
    const float t = a[j] - b[j];
    s += t * t;
  }
  return s;
}

float dot(const float* a, const float* b, size_t d) {
  float s = 0;
  for (size_t j = 0; j < d; ++j) s += a[j] * b[j];
  return s;
}

float norm_sqr(const float* a, size_t d) {
  return dot(a, a, d);
}

void l2_sqr_batch(const float* q, const float* x, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = l2_sqr(q, x + i * d, d);
}

void dot_batch(const float* q, const float* x, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dot(q, x + i * d, d);
}

void cosine_batch(const float* q, const float* x, size_t n, size_t d, float* out) {
  const float qq = norm_sqr(q, d);
  for (size_t i = 0; i < n; ++i) {
    const float* r = x + i * d;
    out[i] = 1.0f - dot(q, r, d) / std::sqrt(qq * norm_sqr(r, d));
  }
}

void norm_sqr_batch(const float* x, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = norm_sqr(x + i * d, d);
}

void f16_to_f32(const uint16_t* in, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = core::half_to_float(in[i]);
}

void u8_to_f32(const uint8_t* in, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i]);
}

void argmin_update(const float* block, size_t rows, size_t cols, size_t ld, const float* bias, uint32_t col0,
                   float* best, uint32_t* best_idx) {
  for (size_t i = 0; i < rows; ++i) {
    const float* r = block + i * ld;
    float b = best[i];
    uint32_t bi = best_idx[i];
    for (size_t j = 0; j < cols; ++j) {
      const float v = bias ? r[j] + bias[j] : r[j];
      if (v < b) {
        b = v;
        bi = col0 + static_cast<uint32_t>(j);
      }
    }
    best[i] = b;
    best_idx[i] = bi;
  }
}

// The lanes of a block are independent chains, so they are advanced together
// (codeword by codeword, component by component): the same operations per lane
// as one lane at a time, without waiting on one FMA's latency per step.
[[gnu::always_inline]] inline void nearest_codeword_body(const CodewordSearch& a) {
  constexpr size_t w = kCodewordBlock;
  const bool want_second = a.second != nullptr;
  for (size_t blk = 0; blk < a.num_blocks; ++blk) {
    const float* xt = a.xt + blk * a.dsub * w;
    float best[w], second[w], v[w];
    uint32_t idx[w] = {};
    std::fill_n(best, w, std::numeric_limits<float>::infinity());
    std::fill_n(second, w, std::numeric_limits<float>::infinity());
    for (size_t k = 0; k < a.ksub; ++k) {
      std::fill_n(v, w, a.cnorm[k]);
      for (size_t j = 0; j < a.dsub; ++j) {
        const float c = a.cb[k * a.dsub + j];
        for (size_t lane = 0; lane < w; ++lane) v[lane] = std::fma(xt[j * w + lane], c, v[lane]);
      }
      for (size_t lane = 0; lane < w; ++lane) {
        if (want_second) {  // min(second, max(best, v)) as minps/maxps take it (inputs are finite)
          const float hi = best[lane] > v[lane] ? best[lane] : v[lane];
          second[lane] = second[lane] < hi ? second[lane] : hi;
        }
        if (v[lane] < best[lane]) {
          best[lane] = v[lane];
          idx[lane] = static_cast<uint32_t>(k);
        }
      }
    }
    std::copy_n(idx, w, a.best_idx + blk * w);
    std::copy_n(best, w, a.best + blk * w);
    if (want_second) std::copy_n(second, w, a.second + blk * w);
  }
}

// std::fma is exact everywhere; on a CPU with FMA it is one instruction when
// the compiler may use it, a library call otherwise (about 60x slower here).
// The kernels that chain FMAs come in both builds, picked by cpu_has_fma().
bool cpu_has_fma() {
  static const bool fma = __builtin_cpu_supports("fma");
  return fma;
}

__attribute__((target("fma"))) void nearest_codeword_fma(const CodewordSearch& a) {
  nearest_codeword_body(a);
}
void nearest_codeword_call(const CodewordSearch& a) {
  nearest_codeword_body(a);
}

void nearest_codeword(const CodewordSearch& a) {
  return cpu_has_fma() ? nearest_codeword_fma(a) : nearest_codeword_call(a);
}

[[gnu::always_inline]] inline size_t bounds_pass_body(const BoundsPass& a) {
  const size_t w = kCodewordBlock, D = a.dsub;
  size_t count = 0;
  for (size_t i = 0; i < a.n; ++i) {
    const uint32_t c = a.label[i];
    float u = a.upper[i] + a.drift[c];
    const float l = a.lower[i] - (c == a.drift_argmax ? a.drift_second : a.drift_max);
    a.lower[i] = l;
    float m = std::max(a.half_gap[c], l);
    if (a.xn) m = bounds_room(m, a.xn[i], a.err_slack, a.cmax);
    if (u > m) {
      const float* xt = a.xt + (i / w) * D * w + (i % w);
      float s = 0;
      for (size_t j = 0; j < D; ++j) {
        const float t = xt[j * w] - a.centroids[c * D + j];
        s = std::fma(t, t, s);
      }
      u = std::sqrt(s) * kBoundsSlack;
      if (u > m) a.todo[count++] = static_cast<uint32_t>(i);
    }
    a.upper[i] = u;
  }
  return count;
}

__attribute__((target("fma"))) size_t bounds_pass_fma(const BoundsPass& a) {
  return bounds_pass_body(a);
}
size_t bounds_pass_call(const BoundsPass& a) {
  return bounds_pass_body(a);
}

size_t bounds_pass(const BoundsPass& a) {
  const size_t count = cpu_has_fma() ? bounds_pass_fma(a) : bounds_pass_call(a);
  if (a.todo_xt) pack_selected(a.xt, a.dsub, a.todo, count, a.todo_xt);
  return count;
}

void add_rows_f64(const float* x, size_t d, const uint32_t* rows, size_t count, double* acc) {
  for (size_t r = 0; r < count; ++r) {
    const float* row = x + static_cast<size_t>(rows[r]) * d;
    for (size_t j = 0; j < d; ++j) acc[j] += static_cast<double>(row[j]);
  }
}

void add_rows_fixed(const float* x, size_t ld, size_t d, size_t count, const uint32_t* dest, double scale,
                    int64_t* acc) {
  constexpr double kMagic = 6755399441055744.0;  // 1.5 * 2^52: v + kMagic keeps round(v) in the low mantissa bits
  int64_t magic_bits;
  std::memcpy(&magic_bits, &kMagic, sizeof magic_bits);
  for (size_t i = 0; i < count; ++i) {
    const float* row = x + i * ld;
    int64_t* a = acc + static_cast<size_t>(dest[i]) * d;
    for (size_t j = 0; j < d; ++j) {
      const double t = static_cast<double>(row[j]) * scale + kMagic;
      int64_t bits;
      std::memcpy(&bits, &t, sizeof bits);
      a[j] += bits - magic_bits;
    }
  }
}

void sq_encode(const float* x, size_t n, double start, double range, uint8_t* out) {
  for (size_t i = 0; i < n; ++i) {
    double t = (static_cast<double>(x[i]) - start) * 255.0 / range;
    t = t > 0.0 ? t : 0.0;  // NaN -> 0
    t = t < 255.0 ? t : 255.0;
    out[i] = static_cast<uint8_t>(static_cast<int>(t));
  }
}

void pq_l2_table(const float* q, const float* codebook, size_t m, size_t ksub, size_t dsub, float* table) {
  for (size_t s = 0; s < m; ++s)
    for (size_t k = 0; k < ksub; ++k)
      table[s * ksub + k] = l2_sqr(q + s * dsub, codebook + (s * ksub + k) * dsub, dsub);
}

void pq_dot_table(const float* q, const float* codebook, size_t m, size_t ksub, size_t dsub, float* table) {
  for (size_t s = 0; s < m; ++s)
    for (size_t k = 0; k < ksub; ++k) table[s * ksub + k] = dot(q + s * dsub, codebook + (s * ksub + k) * dsub, dsub);
}

}  // namespace

const Kernels& scalar_kernels() {
  static const Kernels k{
      .level = SimdLevel::kScalar,
      .l2_sqr = l2_sqr,
      .dot = dot,
      .norm_sqr = norm_sqr,
      .l2_sqr_batch = l2_sqr_batch,
      .dot_batch = dot_batch,
      .cosine_batch = cosine_batch,
      .norm_sqr_batch = norm_sqr_batch,
      .f16_to_f32 = f16_to_f32,
      .u8_to_f32 = u8_to_f32,
      .argmin_update = argmin_update,
      .nearest_codeword = nearest_codeword,
      .bounds_pass = bounds_pass,
      .add_rows_f64 = add_rows_f64,
      .add_rows_fixed = add_rows_fixed,
      .sq_encode = sq_encode,
      .pq_l2_table = pq_l2_table,
      .pq_dot_table = pq_dot_table,
  };
  return k;
}

}  // namespace lancer::simd

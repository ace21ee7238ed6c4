// RaBitQ's (IVF_RQ's) dimension-order loops run for several vectors side by
// side, one vector per SIMD lane: 8 with AVX2, 16 with AVX-512. Buffers are
// dimension-major ("lanes"): element j of lane l at [j * width + l], 64-byte
// aligned. Every lane performs exactly the IEEE operations, in the same order,
// that quant/rq_model.cc's per-vector encoder performs for its vector (plain
// multiplies and adds, never fused; no reassociation): the lanes only remove
// the latency of those chains, so the codes and factors keep their bits. The
// scalar level has no kernels: quant encodes one vector at a time there.
#pragma once

#include <cstddef>
#include <cstdint>

#include "simd/level.h"

namespace lancer::simd {

struct RqLanesKernels {
  size_t width;  // vectors per call
  // x: dim lanes, in place: Lance's fast rotation (4 rounds of sign flips, FWHT on the 2^k window, Kac's
  // walk when dim is not a power of two); signs: 4 x dim / 8 bytes.
  void (*rotate)(const uint8_t* signs, size_t dim, float* x);
  // out[l] = sum over j, in order, of x[j][l]^2.
  void (*sum_squares)(const float* x, size_t dim, float* out);
  // The sign code and the sums that need no ex code. code_bytes: dim / 8 lanes of uint32, each the byte of
  // 8 sign bits; sums: 4 lanes of rotated_norm_square, binary_res_dot, binary_cent_dot and (dot) r.c.
  void (*sign_sums)(const float* r, const float* c, size_t dim, bool dot, uint32_t* code_bytes, float* sums);
  // a = |r| / norm where norm[l] > 0 (else 0); max_value[l]: the largest finite a of the lane.
  void (*normalize)(const float* r, const float* norm, size_t dim, float* a, float* max_value);
  // The rescale search's starting sums at t_start: numerator and squared denominator per lane.
  void (*rescale_start)(const float* a, size_t dim, const float* t_start, uint32_t max_code, float* numerator,
                        float* denominator);
  // The running sums over n more events (inc_*: n lanes, zero past a lane's own events), carried in
  // state (4 lanes: numerator, denominator, best ratio, best event as int32 bits; -1 for none: the caller
  // starts it at the start sums, their ratio and -1), events numbered from `first`: the first strict
  // improvement of numerator / sqrt(denominator).
  void (*rescale_best)(const float* inc_numerator, const float* inc_denominator, size_t n, size_t first, float* state);
  // The ex codes at rescale t (dim lanes of int32) and ex_res_dot / ex_cent_dot (sums: 2 lanes); lanes with
  // valid[l] == 0 get no ex code (as a residual too short to scale).
  void (*ex_codes)(const float* r, const float* c, const float* a, size_t dim, int ex_bits, const float* t,
                   const int32_t* valid, int32_t* ex, float* sums);
  // One vector's rescale events (a: its dim values of abs_normalized, row-major), 16 dimensions at a time:
  // for each dimension j with a[j] > 0 and finite, its start code c = clamp(floor(t_start * a[j] + 1e-5),
  // 0, max_code) and every next in c + 1 .. max_code with next / a[j] < t_end, the key (f32 bits of
  // next / a[j]) << 32 | j << 8 | (next & 0xff), in no particular order (the caller sorts them; keys
  // are distinct). Returns how many: all stored if that count + 16 <= capacity, else call again with at
  // least that much room. Null where the ISA has no compress (AVX2): quant's own loop then.
  size_t (*rescale_events)(const float* a, size_t dim, uint32_t max_code, float t_start, float t_end, uint64_t* keys,
                           size_t capacity);
};

// The kernels of `level` (capped at what the CPU supports); null for the scalar level.
const RqLanesKernels* rq_lanes_kernels(SimdLevel level);

namespace detail {
const RqLanesKernels* rq_lanes_avx2();
const RqLanesKernels* rq_lanes_avx512();
}  // namespace detail

}  // namespace lancer::simd

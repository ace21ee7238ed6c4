#include "linalg/nearest_bf16.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "simd/bf16_scores.h"
#include "simd/codeword.h"
#include "simd/distance.h"

namespace lancer::linalg {
namespace {

constexpr double kU = 0x1p-24;    // float32 unit roundoff
constexpr double kUb = 0x1p-8;    // bfloat16 unit roundoff
constexpr double kTiny = 0x1p-120;  // flushed subnormals and underflow, generously

double gamma(size_t n) {
  const double nu = static_cast<double>(n) * kU;
  return nu / (1 - nu);
}

// The pivot search: at least this many centroids and dimensions, the first
// d / 16 dimensions to find the pivot, and at most this many candidates
// per row on average, at most kPivotRowLimit for one row (else the full
// proposal searches that row).
constexpr size_t kPivotMinCentroids = 64;
constexpr size_t kPivotMinDim = 512;
constexpr size_t kPivotCandidatesPerRow = 8;
constexpr size_t kPivotRowLimit = 16;  // more candidates than this: the row goes to the full proposal

// A non-negative double rounded to a float upwards / downwards.
float float_up(double v) {
  float f = static_cast<float>(v);
  if (static_cast<double>(f) < v) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  return f;
}
float float_down(double v) {
  float f = static_cast<float>(v);
  if (static_cast<double>(f) > v) f = std::nextafter(f, 0.0f);
  return f;
}

}  // namespace

bool Bf16Proposal::worthwhile(size_t k, size_t d) {
  return simd::bf16_scores_available() && k >= 32 && d >= 64;
}

// The bound, per (row x, centroid c), with x' = x - s, c' = c - s (s = shift):
// - proposal a = |c'|^2 - 2 p (l2) or -p (dot), p the bfloat16 dot product of
//   x' (x for dot) and c'. Each factor is rounded twice (to float after the
//   shift, then to bfloat16): relative error delta = ub + u + ub u, so a
//   product is off by (2 delta + delta^2) |x'_j c'_j|; the hardware's float
//   sums add gamma_d (1 + delta)^2 sum |x'_j c'_j|, taken as gamma_2d (an
//   add may be off by a whole unit, not half, if AMX's tiles truncate:
//   their rounding is not documented step by step); and sum |x'_j c'_j| <=
//   |x'| |c'|. So |p - x'.c'| <= rho |x'| |c'| + tiny terms.
// - the canonical score v = cnorm + sum fma(x_j, -2 c_j) is off from
//   |c|^2 - 2 x.c by at most gamma_{d+1} (2 |c|^2 + 2 |x| |c|) (l2: cnorm's
//   own rounding included) or gamma_{d+1} |x| |c| (dot), in any order.
// For every c the exact |x - c|^2 minus a per-row constant lies within
// a +- (proposal error + canonical error): the margin. Float roundings of a
// and of the margin itself are covered by doubling u's share and 1 + 2^-10.
Bf16Proposal::Bf16Proposal(MatrixView<const float> centroids, bool l2, const float* cb, const float* cnorm)
    : k_(centroids.rows),
      d_(centroids.dim),
      kp_(simd::bf16_round_up(centroids.rows, simd::kBf16Panel)),
      pairs_(simd::bf16_pairs(centroids.dim)),
      l2_(l2),
      cb_(cb),
      cnorm_(cnorm),
      shift_(d_, 0.0f),
      panels_(kp_ * pairs_),
      cn_(k_),
      alpha_(k_),
      beta_(k_),
      eta_(k_) {
  std::vector<double> mean(d_, 0.0);
  for (size_t c = 0; c < k_; ++c) {
    for (size_t j = 0; j < d_; ++j) mean[j] += centroids.data[c * d_ + j];
  }
  for (size_t j = 0; j < d_; ++j) shift_[j] = static_cast<float>(mean[j] / static_cast<double>(k_));
  simd::bf16_pack_panels(centroids.data, k_, d_, shift_.data(), panels_.data());
  if (k_ <= simd::kPackedPairsMax) {
    cbt_.resize(simd::packed_size(k_, d_));
    simd::pack_blocks(cb_, k_, d_, d_, cbt_.data());
  }
  const double delta = kUb + kU + kUb * kU;
  const double rho = 2 * delta + delta * delta + gamma(2 * d_) * (1 + delta) * (1 + delta) + 8 * kU;
  const double gc = gamma(d_ + 1);
  const double slack = 1 + 0x1p-10;
  const double tiny = kTiny * static_cast<double>(d_ + 1);
  std::vector<double> shifted_norms(k_);  // |c - shift|^2
  for (size_t c = 0; c < k_; ++c) {
    // In double, in kLanes interleaved sums (vectorised; the order only moves
    // these norms by ~d 2^-53 relative, far inside the margin's 2^-10 slack).
    constexpr size_t kLanes = 8;
    double shifted_lanes[kLanes] = {}, plain_lanes[kLanes] = {};
    const float* row = centroids.data + c * d_;
    size_t j = 0;
    for (; j + kLanes <= d_; j += kLanes) {
      for (size_t l = 0; l < kLanes; ++l) {
        const double v = row[j + l], t = v - static_cast<double>(shift_[j + l]);
        shifted_lanes[l] += t * t;
        plain_lanes[l] += v * v;
      }
    }
    for (; j < d_; ++j) {
      const double v = row[j], t = v - static_cast<double>(shift_[j]);
      shifted_lanes[0] += t * t;
      plain_lanes[0] += v * v;
    }
    double shifted = 0, plain = 0;
    for (size_t l = 0; l < kLanes; ++l) {
      shifted += shifted_lanes[l];
      plain += plain_lanes[l];
    }
    const double ns = std::sqrt(shifted), np = std::sqrt(plain);
    shifted_norms[c] = shifted;
    if (!(plain <= cmax2_)) cmax2_ = plain;  // NaN carries on, and turns the pivot search off
    cn_[c] = static_cast<float>(shifted);
    if (l2) {
      alpha_[c] = static_cast<float>(slack * (2 * rho * ns + 2 * tiny));
      beta_[c] = static_cast<float>(slack * (2 * gc * np + tiny));
      eta_[c] = static_cast<float>(slack * (8 * kU * shifted + 2 * gc * plain + 4 * tiny * (1 + ns)));
    } else {
      alpha_[c] = static_cast<float>(slack * (rho * ns + tiny));
      beta_[c] = static_cast<float>(slack * (gc * np + tiny));
      eta_[c] = static_cast<float>(slack * 4 * tiny * (1 + ns));
    }
  }
  cmax2_ *= 1 + 0x1p-30;  // the double sums' rounding, from above
  if (l2 && k_ >= kPivotMinCentroids && d_ >= kPivotMinDim && std::isfinite(cmax2_))
    init_pivot(centroids, shifted_norms, rho);
}

void Bf16Proposal::init_pivot(MatrixView<const float> centroids, const std::vector<double>& shifted_norms, double rho) {
  pivot_ = true;
  low_d_ = simd::bf16_round_up(d_ / 16, 2);
  std::vector<float> low(k_ * low_d_);
  low_cn_.assign(k_, 0.0f);
  for (size_t c = 0; c < k_; ++c) {
    std::copy_n(centroids.data + c * d_, low_d_, low.data() + c * low_d_);
    for (size_t j = 0; j < low_d_; ++j) {
      const float t = low[c * low_d_ + j] - shift_[j];
      low_cn_[c] += t * t;
    }
  }
  low_panels_.resize(kp_ * simd::bf16_pairs(low_d_));
  simd::bf16_pack_panels(low.data(), k_, low_d_, shift_.data(), low_panels_.data());
  centroids_.resize(k_ * d_);
  std::copy_n(centroids.data, k_ * d_, centroids_.data());
  // |c - c'| from below, from bfloat16 products of the shifted centroids (as
  // the rows': |p - c'.b'| <= rho |c'| |b'| plus tiny terms) and the shifted
  // norms (double sums, relative error far below 2^-30):
  // |c - b|^2 = |c'|^2 + |b'|^2 - 2 c'.b'.
  const size_t kr = simd::bf16_round_up(k_, simd::kBf16RowTile);
  core::UninitVector<uint32_t> rows(kr * pairs_);
  core::UninitVector<float> gram(kr * kp_);
  simd::bf16_pack_rows(centroids.data, k_, d_, d_, shift_.data(), rows.data());
  simd::bf16_scores(rows.data(), kr, panels_.data(), kp_, pairs_, gram.data());
  std::vector<double> norm(k_);
  for (size_t c = 0; c < k_; ++c) norm[c] = std::sqrt(shifted_norms[c]) * (1 + 0x1p-30);
  const double tiny = kTiny * static_cast<double>(d_ + 1);
  apart_.resize(k_ * k_);
  for (size_t a = 0; a < k_; ++a) {
    for (size_t b = 0; b < k_; ++b) {
      const double lo = (shifted_norms[a] + shifted_norms[b]) * (1 - 0x1p-30) -
                        2 * static_cast<double>(gram[a * kp_ + b]) -
                        (2 * rho * norm[a] * norm[b] + 8 * tiny * (1 + norm[a] + norm[b])) * (1 + 0x1p-10);
      apart_[a * k_ + b] = a == b || !(lo > 0) ? 0.0f : float_down(std::sqrt(lo) * (1 - 0x1p-40));
    }
  }
}

bool Bf16Proposal::pivot_live() const {
  const uint32_t failed = pivot_failed_.load(std::memory_order_relaxed);
  return failed < 8 || failed * 4 <= pivot_ok_.load(std::memory_order_relaxed);
}

// For a row x and any centroid c0 (the pivot), with t >= |x - c0| and
// E = gamma_{d+1} (2 max|c|^2 + 2 |x| max|c|) (the canonical score's error,
// above): a centroid with |c - c0| > 2 t + sqrt(2 E) has
// |x - c| >= |c - c0| - |x - c0| > |x - c0| + sqrt(2 E), so
// |x - c|^2 - |x - c0|^2 > sqrt(2 E) (|x - c| + |x - c0|) >= 2 E, and its
// canonical score is strictly above c0's: it is neither the minimum nor tied
// with it. Every other centroid (c0 among them) is a candidate. How well c0 is
// chosen only decides how many candidates there are.
size_t Bf16Proposal::pivot_candidates(const float* x, size_t m, NearestScratch::Buffers& buf) const {
  const size_t low_pairs = simd::bf16_pairs(low_d_);
  const size_t mp = simd::bf16_round_up(m, simd::kBf16RowTile);
  buf.bf16_rows.resize(mp * low_pairs);
  buf.bf16_scores.resize(mp * kp_);
  buf.pivot_norms.resize(m);
  simd::bf16_pack_rows(x, m, d_, low_d_, shift_.data(), buf.bf16_rows.data());
  simd::bf16_scores(buf.bf16_rows.data(), mp, low_panels_.data(), kp_, low_pairs, buf.bf16_scores.data());
  simd::norm_sqr_batch(x, m, d_, buf.pivot_norms.data());
  buf.pivot_rows.resize(m);
  simd::bf16_pivots(buf.bf16_scores.data(), m, kp_, k_, low_cn_.data(), buf.pivot_rows.data());
  const size_t cap = kPivotCandidatesPerRow * m;
  buf.cand_rows.resize(cap);
  buf.cand_cols.resize(cap);
  buf.pivot_hard.clear();
  const double g = gamma(d_ + 2), gc = gamma(d_ + 1), tiny = kTiny * static_cast<double>(d_ + 2);
  const double cmax = std::sqrt(cmax2_) * (1 + 0x1p-40);
  size_t count = 0;
  for (size_t r = 0; r < m; ++r) {
    const float* xr = x + r * d_;
    const size_t c0 = buf.pivot_rows[r];
    // |x - c0| and |x| from above (float sums of non-negative terms, as for apart_).
    const double d0 = simd::l2_sqr(xr, centroids_.data() + c0 * d_, d_);
    const double nx = buf.pivot_norms[r];
    const double t0 = std::sqrt(d0 / (1 - g) + tiny) * (1 + 0x1p-40);
    const double xn = std::sqrt(nx / (1 - g) + tiny) * (1 + 0x1p-40);
    const double e = gc * (2 * cmax2_ + 2 * xn * cmax) * (1 + 0x1p-20) + tiny;
    const double bound = (2 * t0 + std::sqrt(2 * e)) * (1 + 0x1p-20);
    if (!std::isfinite(bound)) return SIZE_MAX;
    const float limit = float_up(bound);
    const size_t room = std::min(kPivotRowLimit, cap - count);
    const size_t n = simd::indices_at_most(apart_.data() + c0 * k_, k_, limit, buf.cand_cols.data() + count, room);
    if (n > room) {  // a row the pivot search is no use for
      buf.pivot_hard.push_back(static_cast<uint32_t>(r));
      if (2 * buf.pivot_hard.size() > m) return SIZE_MAX;
      continue;
    }
    std::fill_n(buf.cand_rows.data() + count, n, static_cast<uint32_t>(r));
    count += n;
  }
  return count;
}

size_t Bf16Proposal::full_candidates(const float* x, size_t m, NearestScratch::Buffers& buf, uint32_t* rows,
                                     uint32_t* cols, size_t cap) const {
  const size_t mp = simd::bf16_round_up(m, simd::kBf16RowTile);
  buf.bf16_rows.resize(mp * pairs_);
  buf.bf16_scores.resize(mp * kp_);
  simd::bf16_pack_rows(x, m, d_, d_, l2_ ? shift_.data() : nullptr, buf.bf16_rows.data());
  simd::bf16_scores(buf.bf16_rows.data(), mp, panels_.data(), kp_, pairs_, buf.bf16_scores.data());
  return simd::bf16_candidates(x, m, d_, l2_ ? shift_.data() : nullptr, buf.bf16_scores.data(), kp_, k_,
                               l2_ ? cn_.data() : nullptr, alpha_.data(), beta_.data(), eta_.data(), rows, cols, cap);
}

bool Bf16Proposal::assign(const float* x, size_t m, NearestScratch::Buffers& buf, uint32_t* labels, float* best) const {
  size_t found = SIZE_MAX;
  if (pivot_ && pivot_live()) {
    found = pivot_candidates(x, m, buf);
    (found == SIZE_MAX ? pivot_failed_ : pivot_ok_).fetch_add(1, std::memory_order_relaxed);
  }
  if (found != SIZE_MAX && !buf.pivot_hard.empty()) {
    // The rows the pivot could not prune for go through the full proposal, and
    // their candidates join the others in row order.
    const size_t h = buf.pivot_hard.size();
    buf.hard_x.resize(h * d_);
    for (size_t i = 0; i < h; ++i) std::copy_n(x + buf.pivot_hard[i] * d_, d_, buf.hard_x.data() + i * d_);
    const size_t cap = std::max<size_t>(4 * h, h * k_ / 8);
    buf.hard_rows.resize(cap);
    buf.hard_cols.resize(cap);
    const size_t more = full_candidates(buf.hard_x.data(), h, buf, buf.hard_rows.data(), buf.hard_cols.data(), cap);
    if (more == SIZE_MAX) return false;
    buf.hard_rows.resize(cap + found + more);
    buf.hard_cols.resize(cap + found + more);
    for (size_t i = 0; i < more; ++i) buf.hard_rows[i] = buf.pivot_hard[buf.hard_rows[i]];
    // Merge (both lists are in row order, no row in both) into the tail of hard_*, then move it to cand_*.
    buf.cand_rows.resize(found + more);
    buf.cand_cols.resize(found + more);
    size_t a = 0, b = 0, o = cap;
    while (a < found || b < more) {
      const bool take_a = b == more || (a < found && buf.cand_rows[a] < buf.hard_rows[b]);
      if (take_a) {
        buf.hard_rows[o] = buf.cand_rows[a];
        buf.hard_cols[o++] = buf.cand_cols[a++];
      } else {
        buf.hard_rows[o] = buf.hard_rows[b];
        buf.hard_cols[o++] = buf.hard_cols[b++];
      }
    }
    found += more;
    std::copy_n(buf.hard_rows.data() + cap, found, buf.cand_rows.data());
    std::copy_n(buf.hard_cols.data() + cap, found, buf.cand_cols.data());
  }
  if (found == SIZE_MAX) {
    const size_t cap = std::max<size_t>(4 * m, m * k_ / 8);  // beyond this the canonical kernel is cheaper
    buf.cand_rows.resize(cap);
    buf.cand_cols.resize(cap);
    found = full_candidates(x, m, buf, buf.cand_rows.data(), buf.cand_cols.data(), cap);
    if (found == SIZE_MAX) return false;
  }
  // A row with one candidate has its label; its score is computed only if asked for.
  size_t count = 0;
  for (size_t i = 0; i < found;) {
    size_t e = i + 1;
    while (e < found && buf.cand_rows[e] == buf.cand_rows[i]) ++e;
    if (e - i == 1 && best == nullptr) {
      labels[buf.cand_rows[i]] = buf.cand_cols[i];
    } else {
      for (; i < e; ++i, ++count) {
        buf.cand_rows[count] = buf.cand_rows[i];
        buf.cand_cols[count] = buf.cand_cols[i];
      }
    }
    i = e;
  }
  buf.cand_scores.resize(count);
  // Few centroids and most rows scored (k-means' groups): 16 pairs to a register
  // from packed rows and centroids (1.4-1.7x the scalar chains with the packing,
  // bench/bf16_scores_bench BM_PairScores); the same bits.
  if (!cbt_.empty() && m <= simd::kPackedPairsMax && 2 * count >= m) {
    if (buf.packed.size() < simd::packed_size(m, d_)) buf.packed.resize(simd::packed_size(m, d_));
    simd::pack_blocks(x, m, d_, d_, buf.packed.data());
    simd::canonical_pair_scores_packed(buf.packed.data(), m, cbt_.data(), k_, d_, cnorm_, buf.cand_rows.data(),
                                       buf.cand_cols.data(), count, buf.cand_scores.data());
  } else {
    simd::canonical_pair_scores(x, d_, d_, cb_, cnorm_, buf.cand_rows.data(), buf.cand_cols.data(), count,
                                buf.cand_scores.data());
  }
  // Candidates are in row order, then centroid order: the first strict minimum is the kernel's.
  for (size_t i = 0; i < count;) {
    const uint32_t r = buf.cand_rows[i];
    float v = std::numeric_limits<float>::infinity();
    uint32_t label = buf.cand_cols[i];
    for (; i < count && buf.cand_rows[i] == r; ++i) {
      if (buf.cand_scores[i] < v) {
        v = buf.cand_scores[i];
        label = buf.cand_cols[i];
      }
    }
    if (!std::isfinite(v)) return false;
    labels[r] = label;
    if (best) best[r] = v;
  }
  return true;
}

}  // namespace lancer::linalg

#include "linalg/nearest_bf16.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "simd/bf16_scores.h"
#include "simd/codeword.h"

namespace lancer::linalg {
namespace {

constexpr double kU = 0x1p-24;    // float32 unit roundoff
constexpr double kUb = 0x1p-8;    // bfloat16 unit roundoff
constexpr double kTiny = 0x1p-120;  // flushed subnormals and underflow, generously

double gamma(size_t n) {
  const double nu = static_cast<double>(n) * kU;
  return nu / (1 - nu);
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
//   sums add gamma_d (1 + delta)^2 sum |x'_j c'_j|; and sum |x'_j c'_j| <=
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
  const double rho = 2 * delta + delta * delta + gamma(d_) * (1 + delta) * (1 + delta) + 8 * kU;
  const double gc = gamma(d_ + 1);
  const double slack = 1 + 0x1p-10;
  const double tiny = kTiny * static_cast<double>(d_ + 1);
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
}

bool Bf16Proposal::assign(const float* x, size_t m, NearestScratch::Buffers& buf, uint32_t* labels,
                          float* best) const {
  const size_t mp = simd::bf16_round_up(m, simd::kBf16RowTile);
  buf.bf16_rows.resize(mp * pairs_);
  buf.bf16_scores.resize(mp * kp_);
  simd::bf16_pack_rows(x, m, d_, d_, l2_ ? shift_.data() : nullptr, buf.bf16_rows.data());
  simd::bf16_scores(buf.bf16_rows.data(), mp, panels_.data(), kp_, pairs_, buf.bf16_scores.data());

  const size_t cap = std::max<size_t>(4 * m, m * k_ / 8);  // beyond this the canonical kernel is cheaper
  buf.cand_rows.resize(cap);
  buf.cand_cols.resize(cap);
  const size_t found = simd::bf16_candidates(x, m, d_, l2_ ? shift_.data() : nullptr, buf.bf16_scores.data(), kp_,
                                             k_, l2_ ? cn_.data() : nullptr, alpha_.data(), beta_.data(), eta_.data(),
                                             buf.cand_rows.data(), buf.cand_cols.data(), cap);
  if (found == SIZE_MAX) return false;
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

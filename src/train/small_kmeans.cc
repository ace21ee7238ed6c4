#include "train/small_kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "simd/codeword.h"
#include "simd/codeword_i8.h"
#include "train/random.h"

namespace lancer::train {
namespace {

constexpr size_t W = simd::kCodewordBlock;
constexpr size_t kChunk = 4096;  // points a bounds pass and search: 256 KB of 16-float points
// Slack on squared distances formed as |x|^2 + (|c|^2 - 2 x.c) in f32: the
// D fused multiply-adds of the kernel round at most D + 1 times, each by at most
// 2^-24 of a partial sum bounded by 2 (|x|^2 + |c|^2); 2e-7 (D + 4) covers that
// with a margin. Relative to |x|^2 + max |c|^2.
inline float slack_for(size_t dsub) { return 2e-7f * static_cast<float>(dsub + 4); }

struct Searcher {
  size_t dsub, k;
  const simd::Kernels& kern = simd::best_kernels();
  // int8 proposals decided exactly (simd/codeword_i8.h): the same results.
  const bool i8 = simd::codeword_i8_supported(k, dsub);
  std::vector<float> cb2, cnorm;
  float cmax = 0;  // max |c|^2
  simd::I8Codebook ibook;
  void prepare(const float* centroids) {
    cb2.resize(k * dsub);
    cnorm.resize(k);
    simd::prepare_codewords(centroids, k, dsub, cb2.data(), cnorm.data());
    cmax = *std::max_element(cnorm.begin(), cnorm.end());
    if (i8) simd::prepare_codewords_i8(centroids, k, dsub, &ibook);
  }
  void search(const float* xt, size_t blocks, uint32_t* idx, float* best, float* second) const {
    simd::CodewordSearch a;
    a.xt = xt;
    a.num_blocks = blocks;
    a.cb = cb2.data();
    a.cnorm = cnorm.data();
    a.ksub = k;
    a.dsub = dsub;
    a.best_idx = idx;
    a.best = best;
    a.second = second;
    a.bounds_suffice = true;  // best and second only feed the bounds below
    if (i8) {
      simd::nearest_codewords_i8(a, ibook);
    } else {
      kern.nearest_codeword(a);
    }
  }
};

}  // namespace

SmallKMeansResult small_kmeans(const float* x, size_t n, size_t stride, size_t dsub, size_t k, int max_iters,
                               double tolerance, uint64_t seed, float* centroids) {
  const size_t D = dsub;
  const size_t blocks = (n + W - 1) / W;
  std::vector<float> xt(blocks * W * D);
  simd::pack_blocks(x, n, stride, D, xt.data());
  auto comp = [&](size_t i, size_t j) { return xt[((i / W) * D + j) * W + (i % W)]; };

  std::vector<float> xn(blocks * W, 0.0f);
  double energy = 0;  // sum |x|^2
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (size_t j = 0; j < D; ++j) s += static_cast<double>(comp(i, j)) * comp(i, j);
    xn[i] = static_cast<float>(s);
    energy += s;
  }

  {  // random init: k distinct rows
    Random rng(seed);
    const std::vector<uint32_t> rows = sample_distinct(n, k, rng);
    for (size_t c = 0; c < k; ++c)
      for (size_t j = 0; j < D; ++j) centroids[c * D + j] = comp(rows[c], j);
  }

  Searcher searcher{D, k};
  const float slack = slack_for(D);
  std::vector<uint32_t> label(blocks * W), idx(blocks * W);
  std::vector<float> upper(blocks * W), lower(blocks * W), best(blocks * W), second(blocks * W);

  // First assignment: every point searched.
  searcher.prepare(centroids);
  searcher.search(xt.data(), blocks, label.data(), best.data(), second.data());
  for (size_t i = 0; i < n; ++i) {
    const float err = slack * (xn[i] + searcher.cmax);
    upper[i] = std::sqrt(std::max(0.0f, best[i] + xn[i] + err));
    lower[i] = std::sqrt(std::max(0.0f, second[i] + xn[i] - err));
  }
  size_t searched = n;

  std::vector<double> sums(k * D, 0.0), cnorm_d(k);
  std::vector<uint64_t> counts(k, 0), split_counts;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t c = label[i];
    ++counts[c];
    for (size_t j = 0; j < D; ++j) sums[c * D + j] += comp(i, j);
  }
  std::vector<float> old(k * D), drift(k), half_gap(k);
  std::vector<uint32_t> todo;
  std::vector<float> gather, todo_xt(std::min(xt.size(), kChunk * D));
  todo.resize(std::min(n, kChunk));
  SmallKMeansResult result;
  double prev_loss = std::numeric_limits<double>::infinity();
  size_t changed = n;

  for (int it = 1; it <= max_iters; ++it) {
    // Loss of this assignment against the current centroids, from the sums:
    // sum |x - c_a|^2 = sum |x|^2 - 2 sum_c c . S_c + sum_c n_c |c|^2.
    double loss = energy;
    for (size_t c = 0; c < k; ++c) {
      double cs = 0, cc = 0;
      for (size_t j = 0; j < D; ++j) {
        const double v = centroids[c * D + j];
        cs += v * sums[c * D + j];
        cc += v * v;
      }
      loss += static_cast<double>(counts[c]) * cc - 2.0 * cs;
    }
    result.loss = std::max(0.0, loss);
    result.iterations = it;
    if (changed == 0) break;  // fixed point

    // Update: means, then split empty clusters from the largest.
    std::copy_n(centroids, k * D, old.data());
    for (size_t c = 0; c < k; ++c) {
      if (counts[c] == 0) continue;
      const double inv = 1.0 / static_cast<double>(counts[c]);
      for (size_t j = 0; j < D; ++j) centroids[c * D + j] = static_cast<float>(sums[c * D + j] * inv);
    }
    split_counts = counts;
    const float eps = 1.0f / 1024.0f;
    for (size_t i = 0; i < k; ++i) {
      if (split_counts[i] != 0) continue;
      const size_t j =
          static_cast<size_t>(std::max_element(split_counts.begin(), split_counts.end()) - split_counts.begin());
      if (split_counts[j] < 2) break;
      split_counts[i] = split_counts[j] / 2;
      split_counts[j] -= split_counts[i];
      for (size_t t = 0; t < D; ++t) {
        const float v = centroids[j * D + t];
        centroids[i * D + t] = (t % 2 == 0) ? v * (1 + eps) : v * (1 - eps);
        centroids[j * D + t] = (t % 2 == 0) ? v * (1 - eps) : v * (1 + eps);
      }
    }
    if (std::abs(prev_loss - result.loss) < tolerance * result.loss) break;
    prev_loss = result.loss;
    if (it == max_iters) break;

    // Bounds for the next assignment.
    float p1 = 0, p2 = 0;
    size_t p1_idx = 0;
    for (size_t c = 0; c < k; ++c) {
      double s = 0;
      for (size_t j = 0; j < D; ++j) {
        const double t = static_cast<double>(centroids[c * D + j]) - old[c * D + j];
        s += t * t;
      }
      drift[c] = static_cast<float>(std::sqrt(s)) * (1.0f + 1e-6f);
      if (drift[c] > p1) {
        p2 = p1;
        p1 = drift[c];
        p1_idx = c;
      } else if (drift[c] > p2) {
        p2 = drift[c];
      }
    }
    searcher.prepare(centroids);
    {  // half the distance from each centroid to its nearest other centroid
      const size_t cblocks = (k + W - 1) / W;
      gather.resize(cblocks * W * D);
      simd::pack_blocks(centroids, k, D, D, gather.data());
      std::vector<uint32_t> ci(cblocks * W);
      std::vector<float> cb(cblocks * W), cs(cblocks * W);
      searcher.search(gather.data(), cblocks, ci.data(), cb.data(), cs.data());
      for (size_t c = 0; c < k; ++c) {
        const float cn = searcher.cnorm[c];
        const float err = slack * 2 * searcher.cmax;
        half_gap[c] = 0.5f * std::sqrt(std::max(0.0f, cs[c] + cn - err));
      }
    }
    // Bounds, search and updates a chunk at a time: the chunk's packed points stay in cache
    // between the bounds pass and the search. Points are updated in increasing order, as one
    // pass over all would.
    changed = 0;
    for (size_t c0 = 0; c0 < n; c0 += kChunk) {
      const size_t cn = std::min(kChunk, n - c0);
      simd::BoundsPass bp;
      bp.xt = xt.data() + (c0 / W) * D * W;
      bp.n = cn;
      bp.dsub = D;
      bp.label = label.data() + c0;
      bp.upper = upper.data() + c0;
      bp.lower = lower.data() + c0;
      bp.drift = drift.data();
      bp.half_gap = half_gap.data();
      bp.drift_max = p1;
      bp.drift_second = p2;
      bp.drift_argmax = static_cast<uint32_t>(p1_idx);
      bp.centroids = centroids;
      bp.todo = todo.data();
      bp.todo_xt = todo_xt.data();  // the points to re-search, packed for the search below
      // Kept-out points keep their labels: room for the canonical scores' error makes each such
      // label the canonical kernel's winner, whatever bounds this machine's search returned.
      bp.xn = xn.data() + c0;
      bp.err_slack = slack;
      bp.cmax = searcher.cmax;
      const size_t found = searcher.kern.bounds_pass(bp);
      searched += found;
      // Full search of the points whose bounds did not settle.
      searcher.search(todo_xt.data(), (found + W - 1) / W, idx.data(), best.data(), second.data());
      for (size_t t = 0; t < found; ++t) {
        const size_t i = c0 + todo[t];
        const float err = slack * (xn[i] + searcher.cmax);
        upper[i] = std::sqrt(std::max(0.0f, best[t] + xn[i] + err));
        lower[i] = std::sqrt(std::max(0.0f, second[t] + xn[i] - err));
        const uint32_t from = label[i], to = idx[t];
        if (from == to) continue;
        ++changed;
        label[i] = to;
        --counts[from];
        ++counts[to];
        // The point's components from the search's own packed copy: read in order, just
        // used (xt's copy is D cache lines a point, anywhere in the sub-space).
        const float* p = todo_xt.data() + (t / W) * D * W + t % W;
        for (size_t j = 0; j < D; ++j) {
          const double v = p[j * W];
          sums[from * D + j] -= v;
          sums[to * D + j] += v;
        }
      }
    }
  }
  result.searched = static_cast<double>(searched) / (static_cast<double>(n) * std::max(1, result.iterations));
  return result;
}

}  // namespace lancer::train

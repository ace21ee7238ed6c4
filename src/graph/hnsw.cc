#include "graph/hnsw.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>

#include "graph/hnsw_internal.h"
#include "graph/level_rng.h"
#include "simd/codeword.h"
#include "simd/gram.h"
#include "simd/lanes16.h"
#include "simd/lanes16_rows.h"

namespace lancer::graph {

namespace {

using internal::Candidates;

// What the last neighbour selection of a list decided about an edge; select()
// uses them to re-judge only what can have changed (see there).
enum Verdict : uint8_t { kUnknown = 0, kKept = 1, kPruned = 2 };

struct Cand {
  float dist;
  uint32_t id;
  uint8_t verdict = kUnknown;
  uint32_t witness = 0;  // kPruned: a kept entry, closer than this one, that prunes it
};
// The one order of the build: distance, then node id.
inline bool closer(const Cand& a, const Cand& b) {
  return a.dist < b.dist || (a.dist == b.dist && a.id < b.id);
}
// As function objects, so the heap and sort calls inline them.
struct Closer {
  bool operator()(const Cand& a, const Cand& b) const { return closer(a, b); }
};
// (distance, id) as one integer in the same order, for the beam's heaps: the
// float's bits mapped to an order-preserving u32 (-0 as +0) above the id.
inline uint64_t key_of(const Cand& c) {
  uint32_t u;
  const float d = c.dist + 0.0f;  // -0 becomes +0
  std::memcpy(&u, &d, 4);
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (uint64_t{u} << 32) | c.id;
}
inline Cand cand_of(uint64_t key) {
  uint32_t u = static_cast<uint32_t>(key >> 32);
  u = (u & 0x80000000u) ? (u & 0x7fffffffu) : ~u;
  Cand c{0.0f, static_cast<uint32_t>(key)};
  std::memcpy(&c.dist, &u, 4);
  return c;
}

// Sorts keys, already ascending in their low 32 bits (the ids, in order),
// by their high 32 bits (the distance): LSD radix on those 4 bytes, skipping
// the bytes every key shares (most of a row's float exponent). Branch-free
// passes, where a comparison sort of a few hundred keys mispredicts half its
// branches; the passes are stable.
void radix_sort_high(std::vector<uint64_t>& keys, std::vector<uint64_t>& tmp) {
  const size_t n = keys.size();
  if (n < 2) return;
  // Every byte's counts in one pass (the order of the keys does not change them).
  uint32_t count[4][256];
  std::memset(count, 0, sizeof count);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t d = static_cast<uint32_t>(keys[i] >> 32);
    ++count[0][d & 0xff];
    ++count[1][(d >> 8) & 0xff];
    ++count[2][(d >> 16) & 0xff];
    ++count[3][d >> 24];
  }
  tmp.resize(n);
  for (unsigned byte = 0; byte < 4; ++byte) {
    const unsigned shift = 32 + 8 * byte;
    uint32_t* c = count[byte];
    if (c[(keys[0] >> shift) & 0xff] == n) continue;  // the same in every key
    uint32_t sum = 0;
    for (unsigned v = 0; v < 256; ++v) {
      const uint32_t here = c[v];
      c[v] = sum;
      sum += here;
    }
    const uint64_t* src = keys.data();
    uint64_t* dst = tmp.data();
    for (size_t i = 0; i < n; ++i) dst[c[(src[i] >> shift) & 0xff]++] = src[i];
    keys.swap(tmp);
  }
}

inline Cand kept(Cand c) {
  c.verdict = kKept;
  return c;
}
inline Cand pruned(Cand c, uint32_t witness) {
  c.verdict = kPruned;
  c.witness = witness;
  return c;
}

// One neighbour list: `cap` slots, one more than the list may keep, so that an
// edge can be appended before the list is pruned back.
// A list's entries are in selection form when its last change was a selection
// of the list itself: the kept entries ascending, then the pruned ones
// ascending (what select writes), with `*kept` kept entries; otherwise
// `*kept` is kNotSelected.
constexpr uint32_t kNotSelected = std::numeric_limits<uint32_t>::max();
struct ListRef {
  Cand* data;
  uint32_t* count;
  uint32_t* kept;
  uint32_t* ids;  // the beam path's copy of the entries' ids: a quarter of the cache lines to read
};

class Builder {
 public:
  Builder(linalg::MatrixView<const float> v, GraphDistance d, const HnswParams& p, Candidates c,
          core::Executor* executor)
      : executor_(executor),
        vectors_(v),
        distance_(d),
        params_(p),
        n_(static_cast<uint32_t>(v.rows)),
        exact_(c == Candidates::kExact || (c == Candidates::kBySize && n_ <= internal::kExactNodes)),
        rows_(simd::lanes16_rows(d == GraphDistance::kL2)) {}

  HnswGraph run();

 private:
  // Symmetric by construction: always called as (smaller id, larger id).
  float compute(uint32_t a, uint32_t b) const {
    const float* x = vectors_.row(a);
    const float* y = vectors_.row(b);
    return distance_ == GraphDistance::kL2 ? simd::lanes16_l2_sqr(x, y, vectors_.dim)
                                           : 1.0f - simd::lanes16_dot(x, y, vectors_.dim);
  }
  // The matrix holds both (a, b) and (b, a), so a loop over b reads along one
  // row: callers put the id that varies least first.
  float dist(uint32_t a, uint32_t b) const {
    if (matrix_) return matrix_[size_t{a} * ld_ + b];
    return a < b ? compute(a, b) : compute(b, a);
  }
  // dist(query, ids[i]) into out[i]. lanes16 is symmetric to the bit ((x - y)^2
  // = (y - x)^2, x y = y x), so the rows kernel with the query first matches compute().
  void dists(uint32_t query, const uint32_t* ids, size_t n, float* out) const {
    if (matrix_) {
      const float* row = &matrix_[size_t{query} * ld_];
      for (size_t i = 0; i < n; ++i) out[i] = row[ids[i]];
      return;
    }
    rows_(vectors_.row(query), vectors_.data, vectors_.dim, ids, n, out);
    if (distance_ == GraphDistance::kOneMinusDot) {
      for (size_t i = 0; i < n; ++i) out[i] = 1.0f - out[i];
    }
  }
  // One of ids[0..n) at least as close to c.id as c is to the node (c is then
  // not diverse), or kNotSelected. Any one serves as a witness; with the
  // matrix the loop reads one row and has no early exit, so no branch to miss.
  uint32_t find_witness(const Cand& c, const uint32_t* ids, size_t n) const {
    uint32_t witness = kNotSelected;
    if (matrix_) {
      const float* row = &matrix_[size_t{c.id} * ld_];
      for (size_t i = 0; i < n; ++i) witness = c.dist < row[ids[i]] ? witness : ids[i];
      return witness;
    }
    for (size_t i = 0; i < n; ++i) {
      if (!(c.dist < dist(c.id, ids[i]))) return ids[i];
    }
    return witness;
  }
  void fill_matrix();
  // The exact ef_construction nearest nodes inserted before `node` on `level`, into keys_, ascending.
  void exact_candidates(uint32_t node, uint32_t level);
  ListRef list(uint32_t node, uint32_t level) {
    const size_t at0 = size_t{node} * cap0_;
    if (level == 0) return {&lists0_[at0], &count0_[node], &kept0_[node], ids0_.empty() ? nullptr : &ids0_[at0]};
    const size_t row = upper_base_[node] + level - 1, at = row * cap_upper_;
    return {&lists_upper_[at], &count_upper_[row], &kept_upper_[row], ids_upper_.empty() ? nullptr : &ids_upper_[at]};
  }
  void next_epoch() {
    if (++epoch_ == 0) {
      std::fill(visited_.begin(), visited_.end(), 0);
      epoch_ = 1;
    }
  }
  Cand greedy(Cand ep, uint32_t level, uint32_t query);
  void search_level(Cand ep, uint32_t level, uint32_t query);  // into results_, ascending
  // HNSW Algorithm 4 with keepPrunedConnections (Lance's select_neighbors_heuristic):
  // `cands` (any order) down to at most k entries, written to `out`.
  // `sorted`: cands are already in (distance, id) order. Sets last_kept_.
  uint32_t select(std::vector<Cand>& cands, uint32_t k, Cand* out, bool sorted = false);
  // select() for candidates in (distance, id) order that no selection has judged yet (a node's own list).
  // Candidates as keys (key_of), ascending.
  uint32_t select_fresh(const std::vector<uint64_t>& keys, uint32_t k, Cand* out);
  // A full list in selection form given one more entry, when the new selection
  // follows from the old verdicts (false: the caller runs select).
  bool add_to_selected(const ListRef& l, Cand c, uint32_t limit);
  void insert(uint32_t node);
  // c as a reverse edge of list l, pruned back to `limit` entries.
  void add_reverse(const ListRef& l, const Cand& c, uint32_t limit);
  static void sync_ids(const ListRef& l) {
    for (uint32_t i = 0; i < *l.count; ++i) l.ids[i] = l.data[i].id;
  }

  core::Executor* executor_;  // or null
  linalg::MatrixView<const float> vectors_;
  GraphDistance distance_;
  HnswParams params_;
  uint32_t n_;
  bool exact_;
  simd::Lanes16RowsFn rows_;
  std::vector<uint16_t> levels_;
  uint32_t entry_ = 0;
  uint32_t cap0_ = 0, cap_upper_ = 0;
  std::vector<Cand> lists0_, lists_upper_;
  std::vector<uint32_t> ids0_, ids_upper_;  // beam path only
  std::vector<uint32_t> count0_, count_upper_, upper_base_, kept0_, kept_upper_;
  uint32_t last_kept_ = kNotSelected;
  std::vector<uint32_t> kept_mark_;  // == stamp_: kept by the selection under way
  uint32_t stamp_ = 0;
  std::unique_ptr<float[]> matrix_;  // with the exact candidates: n rows of distances, stride ld_
  size_t ld_ = 0;                    // n rounded up to the gram kernel's tile
  std::vector<uint32_t> visited_;
  uint32_t epoch_ = 0;
  // Buffers reused by every insertion.
  std::vector<uint64_t> result_keys_;  // the beam, ascending
  std::vector<uint64_t> keys_, radix_tmp_, batch_, merged_keys_;
  std::vector<uint8_t> merged_expanded_;
  std::vector<uint8_t> expanded_;  // parallel to result_keys_
  std::vector<uint32_t> ids_;      // a list's ids to score
  std::vector<float> scores_;
  std::vector<Cand> results_, sorted_, kept_, pruned_;
  std::vector<uint32_t> kept_ids_, fresh_ids_;  // of the selection under way; fresh: kept now, not before
  std::vector<Cand> alive_;                     // select_fresh's candidates no kept one has pruned
  std::vector<std::vector<Cand>> selected_;     // per level of the node being inserted
};

Cand Builder::greedy(Cand ep, uint32_t level, uint32_t query) {
  for (;;) {
    Cand best = ep;
    const ListRef l = list(ep.id, level);
    ids_.resize(*l.count);
    scores_.resize(*l.count);
    std::copy(l.ids, l.ids + *l.count, ids_.begin());
    dists(query, ids_.data(), ids_.size(), scores_.data());
    for (uint32_t i = 0; i < *l.count; ++i) {
      const Cand c{scores_[i], ids_[i]};
      if (closer(c, best)) best = c;
    }
    if (best.id == ep.id) return ep;
    ep = best;
  }
}

// The closest unexpanded result is expanded until every result has been: the
// same nodes, in the same order, as a candidate min-heap beside a bounded
// result max-heap (a candidate that fell out of the results would end that
// loop), but with one sorted array of at most ef keys and no heaps. A list's
// unvisited neighbours are scored together, then considered in list order.
void Builder::search_level(Cand ep, uint32_t level, uint32_t query) {
  const size_t ef = params_.ef_construction;
  next_epoch();
  visited_[ep.id] = epoch_;
  result_keys_.assign(1, key_of(ep));
  expanded_.assign(1, 0);
  size_t next = 0;  // the first unexpanded result
  while (next < result_keys_.size()) {
    expanded_[next] = 1;
    size_t lowest = next + 1;  // where the next unexpanded result may be
    const ListRef l = list(static_cast<uint32_t>(result_keys_[next]), level);
    // Unvisited neighbours, without a branch on each (a list's ids are distinct).
    ids_.resize(*l.count);
    size_t fresh = 0;
    for (uint32_t i = 0; i < *l.count; ++i) {
      const uint32_t nb = l.ids[i];
      ids_[fresh] = nb;
      fresh += visited_[nb] != epoch_;
      visited_[nb] = epoch_;
    }
    ids_.resize(fresh);
    scores_.resize(ids_.size());
    dists(query, ids_.data(), ids_.size(), scores_.data());
    // Inserting the list's entries one by one (each evicting the farthest of a
    // full beam) leaves the ef smallest of the old results and the entries:
    // they are sorted and merged in once.
    batch_.clear();
    for (size_t i = 0; i < ids_.size(); ++i) {
      const uint64_t c = key_of(Cand{scores_[i], ids_[i]});
      if (result_keys_.size() < ef || c < result_keys_.back()) batch_.push_back(c);
    }
    if (!batch_.empty()) {
      std::sort(batch_.begin(), batch_.end());
      const size_t total = std::min(ef, result_keys_.size() + batch_.size());
      merged_keys_.resize(total);
      merged_expanded_.resize(total);
      size_t a = 0, b = 0;
      for (size_t out = 0; out < total; ++out) {
        if (b < batch_.size() && (a == result_keys_.size() || batch_[b] < result_keys_[a])) {
          lowest = std::min(lowest, out);
          merged_keys_[out] = batch_[b++];
          merged_expanded_[out] = 0;
        } else {
          merged_keys_[out] = result_keys_[a];
          merged_expanded_[out] = expanded_[a++];
        }
      }
      result_keys_.swap(merged_keys_);
      expanded_.swap(merged_expanded_);
    }
    next = lowest;
    while (next < result_keys_.size() && expanded_[next]) ++next;
  }
  results_.clear();
  for (uint64_t k : result_keys_) results_.push_back(cand_of(k));
}

void Builder::exact_candidates(uint32_t node, uint32_t level) {
  const float* row = &matrix_[size_t{node} * ld_];
  keys_.clear();
  if (level == 0) {
    for (uint32_t j = 0; j < node; ++j) keys_.push_back(key_of(Cand{row[j], j}));
  } else {
    for (uint32_t j = 0; j < node; ++j) {
      if (levels_[j] >= level) keys_.push_back(key_of(Cand{row[j], j}));
    }
  }
  // The entry point went in first; it is on every level the node is.
  if (entry_ > node) keys_.push_back(key_of(Cand{row[entry_], entry_}));
  const size_t ef = params_.ef_construction;
  if (keys_.size() > 2 * ef) {
    // Only the keys in the 256ths of the distance range up to the one that
    // holds the ef-th smallest can be among the ef smallest: a count and a
    // compaction (which keeps the id order) instead of a selection.
    uint32_t lo = std::numeric_limits<uint32_t>::max(), hi = 0;
    for (uint64_t k : keys_) {
      lo = std::min(lo, static_cast<uint32_t>(k >> 32));
      hi = std::max(hi, static_cast<uint32_t>(k >> 32));
    }
    unsigned shift = 0;
    while (((hi - lo) >> shift) >= 256) ++shift;
    uint32_t count[256] = {};
    for (uint64_t k : keys_) ++count[(static_cast<uint32_t>(k >> 32) - lo) >> shift];
    uint32_t last = 0;  // the bucket of the ef-th smallest
    for (size_t seen = count[0]; seen < ef; seen += count[++last]) {
    }
    size_t survivors = 0;
    for (uint64_t k : keys_) {
      keys_[survivors] = k;
      survivors += ((static_cast<uint32_t>(k >> 32) - lo) >> shift) <= last;
    }
    keys_.resize(survivors);
  }
  radix_sort_high(keys_, radix_tmp_);  // the keys are in id order: sorting by distance is enough
  if (keys_.size() > ef) keys_.resize(ef);
}

// Gives the verdicts a full pass of Algorithm 4 over the sorted candidates
// would, with fewer distances, from the verdicts of the list's last selection
// (every entry of a list came from it or was appended since, unjudged; the
// relative order of the judged entries is the same). An old pruned entry is
// still pruned if its witness is kept now (the witness is closer, so it was
// judged first). An old kept entry passed every entry kept before it then, so
// now it only needs checking against the fresh ones: kept now, but not then.
uint32_t Builder::select(std::vector<Cand>& cands, uint32_t k, Cand* out, bool sorted) {
  if (cands.size() <= k) {  // kept as they are, in their order
    std::copy(cands.begin(), cands.end(), out);
    last_kept_ = kNotSelected;
    return static_cast<uint32_t>(cands.size());
  }
  if (!sorted) std::sort(cands.begin(), cands.end(), Closer());
  if (++stamp_ == 0) {
    std::fill(kept_mark_.begin(), kept_mark_.end(), 0);
    stamp_ = 1;
  }
  kept_.clear();
  pruned_.clear();
  kept_ids_.clear();
  fresh_ids_.clear();
  for (const Cand& c : cands) {
    if (kept_.size() >= k) break;
    if (c.verdict == kPruned && kept_mark_[c.witness] == stamp_) {
      pruned_.push_back(c);
      continue;
    }
    // Kept when closer to the node than to every neighbour kept so far.
    const std::vector<uint32_t>& against = c.verdict == kKept ? fresh_ids_ : kept_ids_;
    const uint32_t witness = find_witness(c, against.data(), against.size());
    if (witness != kNotSelected) {
      pruned_.push_back(pruned(c, witness));
      continue;
    }
    kept_mark_[c.id] = stamp_;
    if (c.verdict != kKept) fresh_ids_.push_back(c.id);
    kept_ids_.push_back(c.id);
    kept_.push_back(kept(c));
  }
  last_kept_ = static_cast<uint32_t>(kept_.size());
  for (size_t i = 0; kept_.size() < k && i < pruned_.size(); ++i) kept_.push_back(pruned_[i]);
  std::copy(kept_.begin(), kept_.end(), out);
  return static_cast<uint32_t>(kept_.size());
}

// The same verdicts as select, found the other way round: each newly kept
// candidate judges, in one branch-free pass over its distances, every later
// candidate that no kept one has pruned yet, and the first survivor is the
// next one kept (it passed every kept one). A pruned candidate is compared with
// the kept ones up to its first witness only (select compares it with all of
// them), and with the matrix each pass reads one row.
uint32_t Builder::select_fresh(const std::vector<uint64_t>& keys, uint32_t k, Cand* out) {
  const size_t n = keys.size();
  if (n <= k) {  // kept as they are, in their order
    for (size_t i = 0; i < n; ++i) out[i] = cand_of(keys[i]);
    last_kept_ = kNotSelected;
    return static_cast<uint32_t>(n);
  }
  if (++stamp_ == 0) {
    std::fill(kept_mark_.begin(), kept_mark_.end(), 0);
    stamp_ = 1;
  }
  alive_.resize(n);
  for (size_t i = 0; i < n; ++i) alive_[i] = cand_of(keys[i]);
  uint32_t count = 0;
  size_t head = 0, end = n;  // alive: [head, end), in order
  while (head < end) {
    const Cand c = kept(alive_[head++]);
    kept_mark_[c.id] = stamp_;
    out[count++] = c;
    if (count == k) break;
    // Those at least as close to it as to the node are pruned; the rest stay alive.
    size_t live = head;
    if (matrix_) {
      const float* row = &matrix_[size_t{c.id} * ld_];
      for (size_t i = head; i < end; ++i) {
        const Cand e = alive_[i];
        alive_[live] = e;
        live += e.dist < row[e.id];
      }
    } else {
      ids_.resize(end - head);
      scores_.resize(end - head);
      for (size_t i = head; i < end; ++i) ids_[i - head] = alive_[i].id;
      dists(c.id, ids_.data(), ids_.size(), scores_.data());
      for (size_t i = head; i < end; ++i) {
        const Cand e = alive_[i];
        alive_[live] = e;
        live += e.dist < scores_[i - head];
      }
    }
    end = live;
  }
  last_kept_ = count;
  if (count < k) {  // every candidate judged: the closest pruned ones fill the list
    kept_ids_.clear();
    for (size_t i = 0; i < n && count < k; ++i) {
      const Cand c = cand_of(keys[i]);
      if (kept_mark_[c.id] == stamp_) {
        kept_ids_.push_back(c.id);  // the kept ones closer than the next
      } else {
        out[count++] = pruned(c, find_witness(c, kept_ids_.data(), kept_ids_.size()));
      }
    }
  }
  return count;
}

// The list holds `limit` entries: K kept ascending, then P pruned ascending,
// |K| < limit, so a selection over the list plus c evaluates every entry (the
// kept count cannot reach limit before the last one) and keeps |K| or |K| + 1.
// If c is pruned by a closer kept entry nothing else changes: the result is K,
// then the first entries of P + c. If c is kept and prunes none of the kept
// entries farther than it, the old pruned entries keep their blockers: the
// result is K + c, then P less its last entry. Otherwise select decides.
bool Builder::add_to_selected(const ListRef& l, Cand c, uint32_t limit) {
  const uint32_t nk = *l.kept;
  Cand* data = l.data;
  uint32_t pos = 0;  // c's place among the kept entries
  uint32_t witness = kNotSelected;
  for (; pos < nk && closer(data[pos], c); ++pos) {
    if (witness == kNotSelected && !(c.dist < dist(c.id, data[pos].id))) witness = data[pos].id;
  }
  if (witness != kNotSelected) {
    if (!closer(c, data[limit - 1])) return true;  // c is the pruned entry left out
    uint32_t at = limit - 1;                       // c's place in P, the last entry of P dropped
    for (; at > nk && closer(c, data[at - 1]); --at) data[at] = data[at - 1];
    data[at] = pruned(c, witness);
    return true;
  }
  for (uint32_t i = pos; i < nk; ++i) {
    if (!(data[i].dist < dist(c.id, data[i].id))) return false;
  }
  std::copy_backward(data + pos, data + limit - 1, data + limit);
  data[pos] = kept(c);
  *l.kept = nk + 1;
  return true;
}

void Builder::insert(uint32_t node) {
  const uint32_t target = levels_[node];
  if (exact_) {
    for (uint32_t level = target + 1; level-- > 0;) {
      exact_candidates(node, level);
      const ListRef own = list(node, level);
      *own.count = select_fresh(keys_, params_.m, own.data);
      *own.kept = last_kept_;
      selected_[level].assign(own.data, own.data + *own.count);
    }
  } else {
    const uint32_t top = levels_[entry_];
    Cand ep{dist(node, entry_), entry_};
    for (uint32_t level = top; level > target; --level) ep = greedy(ep, level, node);
    for (uint32_t level = target + 1; level-- > 0;) {
      search_level(ep, level, node);
      const ListRef own = list(node, level);
      *own.count = select_fresh(result_keys_, params_.m, own.data);
      *own.kept = last_kept_;
      selected_[level].assign(own.data, own.data + *own.count);
      ep = results_.front();
    }
  }
  // Reverse edges, each list pruned back to its cap by the same heuristic.
  for (uint32_t level = 0; level <= target; ++level) {
    const uint32_t limit = level == 0 ? 2 * params_.m : params_.m;
    if (!exact_) sync_ids(list(node, level));
    for (const Cand& s : selected_[level]) {
      const ListRef l = list(s.id, level);
      add_reverse(l, Cand{s.dist, node, kUnknown}, limit);
      if (!exact_) sync_ids(l);
    }
  }
}

void Builder::add_reverse(const ListRef& l, const Cand& c, uint32_t limit) {
  if (*l.count == limit && *l.kept < limit && add_to_selected(l, c, limit)) return;
  if (*l.count == limit && *l.kept != kNotSelected) {  // two sorted runs and c: merged, not sorted
    sorted_.resize(limit);
    std::merge(l.data, l.data + *l.kept, l.data + *l.kept, l.data + limit, sorted_.begin(), Closer());
    sorted_.insert(std::upper_bound(sorted_.begin(), sorted_.end(), c, Closer()), c);
    *l.count = select(sorted_, limit, l.data, /*sorted=*/true);
    *l.kept = last_kept_;
    return;
  }
  l.data[(*l.count)++] = c;
  if (*l.count > limit) {
    sorted_.assign(l.data, l.data + *l.count);
    *l.count = select(sorted_, limit, l.data);
    *l.kept = last_kept_;
  } else {
    *l.kept = kNotSelected;
  }
}

// The exact path's distances, one fixed sequence of float operations per pair
// (the same bits on any CPU, symmetric to the bit):
//   g(a, b) = one fused-multiply-add chain over the components in index order
//   kL2:          max(0, (g(a, a) + g(b, b)) - 2 g(a, b)) over the rows centred on their mean
//   kOneMinusDot: 1 - g(a, b)
// The chains come from the gram kernel, 16 x 16 pairs at a time, each loaded
// component serving 16 others (at FMA speed, where a difference per pair costs
// three operations per component). The squared norms are the matrix's own
// diagonal, so an exact duplicate is at distance 0. Centring removes the
// common offset that makes |a|^2 + |b|^2 - 2 a.b cancel for close points far
// from the origin (an IVF partition lies around its centroid); translation
// does not change L2. The tiles below the diagonal are computed, then mirrored.
void Builder::fill_matrix() {
  const size_t n = n_, dim = vectors_.dim;
  constexpr size_t w = simd::kCodewordBlock;
  const size_t blocks = (n + w - 1) / w;
  ld_ = blocks * w;
  // The mean in float, summed in row order: any translation leaves L2 as it is,
  // so it only has to be near the rows (and the same everywhere).
  std::vector<float> mean(dim, 0.0f);
  const bool l2 = distance_ == GraphDistance::kL2;
  if (l2) {
    for (size_t i = 0; i < n; ++i) {
      const float* r = vectors_.row(i);
      for (size_t j = 0; j < dim; ++j) mean[j] += r[j];
    }
    for (size_t j = 0; j < dim; ++j) mean[j] /= static_cast<float>(n);
  }
  std::vector<float> packed(simd::packed_size(n, dim));
  simd::pack_blocks(vectors_.data, n, dim, dim, packed.data(), l2 ? mean.data() : nullptr);
  matrix_.reset(new float[ld_ * ld_]);  // every entry read is written
  const simd::GramTileFn gram = simd::gram_tile();
  std::vector<float> norm(ld_, 0.0f);
  // Row bx of tiles: the gram tiles (bx, by <= bx), then (once the diagonal
  // tiles, and so every norm, exist) the distances, each tile also written to
  // its mirror (by, bx). Rows of tiles write disjoint tiles, so a large graph
  // spreads them over the executor.
  auto grams = [&](size_t b0, size_t b1) {
    for (size_t bx = b0; bx < b1; ++bx) {
      for (size_t by = 0; by <= bx; ++by) {
        gram(&packed[bx * dim * w], &packed[by * dim * w], dim, &matrix_[bx * w * ld_ + by * w], ld_);
      }
      for (size_t i = bx * w; i < std::min(n, (bx + 1) * w); ++i) norm[i] = matrix_[i * ld_ + i];
    }
  };
  auto distances = [&](size_t b0, size_t b1) {
    for (size_t bx = b0; bx < b1; ++bx) {
      for (size_t by = 0; by <= bx; ++by) {
        for (size_t r = bx * w; r < (bx + 1) * w; ++r) {
          float* row = &matrix_[r * ld_];
          for (size_t c = by * w; c < std::min(r, (by + 1) * w); ++c) {
            float d;
            if (l2) {
              d = (norm[r] + norm[c]) - 2.0f * row[c];
              d = d > 0.0f ? d : 0.0f;
            } else {
              d = 1.0f - row[c];
            }
            row[c] = d;
            matrix_[c * ld_ + r] = d;
          }
        }
      }
    }
  };
  constexpr size_t kSpreadBlocks = 32;  // 512 nodes: below that a graph is cheap next to its neighbours'
  if (executor_ && executor_->num_threads() > 1 && blocks >= kSpreadBlocks) {
    executor_->parallel_for(blocks, 1, grams);
    executor_->parallel_for(blocks, 1, distances);
  } else {
    grams(0, blocks);
    distances(0, blocks);
  }
}

HnswGraph Builder::run() {
  HnswGraph g;
  g.num_nodes = n_;
  if (n_ == 0) return g;
  levels_ = hnsw_levels(n_, params_.m, params_.max_level);
  entry_ = hnsw_entry_point(levels_);
  const uint32_t top = levels_[entry_];
  cap0_ = 2 * params_.m + 1;
  cap_upper_ = params_.m + 1;
  lists0_.resize(size_t{n_} * cap0_);
  if (!exact_) ids0_.resize(lists0_.size());
  count0_.assign(n_, 0);
  kept0_.assign(n_, kNotSelected);
  upper_base_.assign(n_, 0);
  size_t upper_rows = 0;
  for (uint32_t i = 0; i < n_; ++i) {
    upper_base_[i] = static_cast<uint32_t>(upper_rows);
    upper_rows += levels_[i];
  }
  lists_upper_.resize(upper_rows * cap_upper_);
  if (!exact_) ids_upper_.resize(lists_upper_.size());
  count_upper_.assign(upper_rows, 0);
  kept_upper_.assign(upper_rows, kNotSelected);
  if (exact_) fill_matrix();
  visited_.assign(n_, 0);
  kept_mark_.assign(n_, 0);
  selected_.resize(top + 1);
  // The entry point is the graph's seed; every other node is inserted in id order.
  for (uint32_t node = 0; node < n_; ++node) {
    if (node != entry_) insert(node);
  }

  g.entry_point = entry_;
  g.levels.resize(top + 1);
  for (uint32_t level = 0; level <= top; ++level) {
    HnswGraph::Level& out = g.levels[level];
    out.offsets.push_back(0);
    for (uint32_t node = 0; node < n_; ++node) {
      if (levels_[node] < level) continue;
      const ListRef l = list(node, level);
      out.nodes.push_back(node);
      for (uint32_t i = 0; i < *l.count; ++i) {
        out.neighbors.push_back(l.data[i].id);
        out.distances.push_back(l.data[i].dist);
      }
      out.offsets.push_back(out.neighbors.size());
    }
  }
  return g;
}

}  // namespace

uint64_t HnswGraph::num_rows() const {
  uint64_t rows = 0;
  for (const Level& l : levels) rows += l.nodes.size();
  return rows;
}

Status check_hnsw_params(const HnswParams& p) {
  if (p.max_level == 0 || p.max_level > std::numeric_limits<uint16_t>::max()) {
    return Status::InvalidArgument("HNSW max_level must be in 1..65535, got " + std::to_string(p.max_level));
  }
  if (p.m < 4) return Status::InvalidArgument("HNSW m must be at least 4, got " + std::to_string(p.m));
  if (p.ef_construction < p.m) {
    return Status::InvalidArgument("HNSW ef_construction must be at least m (" + std::to_string(p.m) + "), got " +
                                   std::to_string(p.ef_construction));
  }
  return Status::OK();
}

Result<HnswGraph> build_hnsw(linalg::MatrixView<const float> vectors, GraphDistance distance, const HnswParams& params,
                             core::Executor* executor) {
  return internal::build_hnsw(vectors, distance, params, Candidates::kBySize, executor);
}

Result<HnswGraph> internal::build_hnsw(linalg::MatrixView<const float> vectors, GraphDistance distance,
                                       const HnswParams& params, Candidates candidates, core::Executor* executor) {
  LANCER_RETURN_IF_ERROR(check_hnsw_params(params));
  if (vectors.rows > std::numeric_limits<uint32_t>::max()) {
    return Status::InvalidArgument("an HNSW graph holds at most 2^32 - 1 nodes, got " + std::to_string(vectors.rows));
  }
  // Non-finite values would make distances unordered (NaN) and the graph depend on the order of comparisons.
  // (All exponent bits set: infinite or NaN. An integer test, so the loop over a row vectorises.)
  for (size_t r = 0; r < vectors.rows; ++r) {
    const float* row = vectors.row(r);
    uint32_t non_finite = 0;
    for (size_t j = 0; j < vectors.dim; ++j) {
      uint32_t bits;
      std::memcpy(&bits, &row[j], 4);
      non_finite |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    if (non_finite) return Status::InvalidArgument("HNSW input row " + std::to_string(r) + " holds a non-finite value");
  }
  return Builder(vectors, distance, params, candidates, executor).run();
}

std::string hnsw_partition_json(const HnswGraph& g, const HnswParams& p) {
  std::string s = "{\"entry_point\":" + std::to_string(g.entry_point) +
                  ",\"params\":{\"max_level\":" + std::to_string(p.max_level) + ",\"m\":" + std::to_string(p.m) +
                  ",\"ef_construction\":" + std::to_string(p.ef_construction) +
                  ",\"prefetch_distance\":2},\"level_offsets\":[0";
  uint64_t rows = 0;
  for (uint32_t level = 0; level < p.max_level; ++level) {
    if (level < g.levels.size()) rows += g.levels[level].nodes.size();
    s += "," + std::to_string(rows);
  }
  return s + "]}";
}

}  // namespace lancer::graph

// Sampling that reads only the sample. The sample is chosen by the hash of
// each row's id (sample.h), and a fragment's row ids come from its metadata
// (addresses, or its stable row-id sequence, less its deletion file), so the
// rows to read are known before any vector is: the lowest hashes are read by
// position, and only null or non-finite ones among them make a further round
// read the next lowest. The rows, and so the sample, are the scan's.
#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>

#include "dataset/fragment.h"
#include "dataset/take.h"
#include "pipeline/index_build.h"
#include "pipeline/sample.h"
#include "pipeline/vector_rows.h"

namespace lancer::pipeline {

namespace {

struct Candidate {
  uint64_t hash = 0;
  uint32_t fragment = 0;  // index into the share's fragment list
  uint32_t offset = 0;    // physical row in the fragment
};

bool by_hash(const Candidate& a, const Candidate& b) {
  return a.hash < b.hash;
}

// Rows read per step of one fragment: bounds the scratch a thread holds.
constexpr size_t kChunkBytes = size_t{16} << 20;
// Rows closer than this many bytes are read with one read (one syscall costs
// about as much as copying a few KiB).
constexpr size_t kGapBytes = 4096;

}  // namespace

Result<size_t> IndexBuild::take_sample(const std::vector<uint64_t>& fragment_ids, size_t want,
                                       core::Collective* collective, core::Executor& executor,
                                       core::UninitVector<float>* sample, float* shared) const {
  const size_t dim = column_.type.dim, rb = column_.type.row_bytes();
  const bool stable = dataset_->has_stable_row_ids();
  const SampleCollector hasher(0, dim, record_.params.seed);  // the sample's hash of a row id
  std::vector<size_t> index(fragment_ids.size());
  for (size_t f = 0; f < fragment_ids.size(); ++f) {
    auto i = dataset_->fragment_index(fragment_ids[f]);
    if (!i) return Status::NotFound("fragment " + std::to_string(fragment_ids[f]) + " is not in the dataset");
    index[f] = *i;
  }

  // The `limit` live rows of the share whose hashes are lowest above `floor` (all of them
  // when there is no floor yet), in no order; *cut says whether rows above them were left
  // out. Kept to at most twice `limit` while listing, so memory follows the sample, not the
  // dataset's rows.
  std::mutex mu;
  auto list = [&](std::optional<uint64_t> floor, size_t limit, bool* cut) -> Result<std::vector<Candidate>> {
    auto keep_lowest = [limit](std::vector<Candidate>& v, bool* dropped) {
      if (v.size() <= limit) return;
      std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(limit), v.end(), by_hash);
      v.resize(limit);
      *dropped = true;
    };
    std::vector<Candidate> all;
    Status error;
    *cut = false;
    executor.parallel_for(fragment_ids.size(), 1, [&](size_t f0, size_t f1) {
      std::vector<Candidate> mine;
      bool dropped = false;
      for (size_t f = f0; f < f1; ++f) {
        dataset::Fragment frag(*dataset_, index[f]);
        auto deleted = frag.deletions();
        auto ids = stable ? frag.stable_row_ids() : Result<std::vector<uint64_t>>(std::vector<uint64_t>());
        if (!deleted.ok() || !ids.ok()) {
          std::lock_guard lock(mu);
          if (error.ok()) error = deleted.ok() ? ids.status() : deleted.status();
          return;
        }
        size_t d = 0;
        for (uint64_t off = 0; off < frag.physical_rows(); ++off) {
          if (d < deleted->size() && (*deleted)[d] == off) {
            ++d;
            continue;
          }
          const uint64_t hash = hasher.hash_of(stable ? (*ids)[off] : frag.address(off));
          if (floor && hash <= *floor) continue;
          mine.push_back({hash, static_cast<uint32_t>(f), static_cast<uint32_t>(off)});
          if (mine.size() >= 2 * limit + 1024) keep_lowest(mine, &dropped);
        }
      }
      keep_lowest(mine, &dropped);
      std::lock_guard lock(mu);
      all.insert(all.end(), mine.begin(), mine.end());
      if (all.size() >= 2 * limit + 1024) keep_lowest(all, &dropped);  // amortised over many fragments
      *cut = *cut || dropped;
    });
    LANCER_RETURN_IF_ERROR(error);
    keep_lowest(all, cut);
    return all;
  };

  bool cut = false;
  std::vector<Candidate> cands;

  // Reads cands[b, e) (in hash order) into rows 0.. of `out`, fragment by fragment
  // in parallel, and keeps the valid, finite ones in that order. Returns how many.
  // With `to`, cands[b + i] goes to row (*to)[i] of `out` instead, and the rows stay
  // where they are (the kept ones' hashes still come first in cands[b, e)).
  auto read = [&](size_t b, size_t e, float* out, const std::vector<uint32_t>* to) -> Result<size_t> {
    // Slots by fragment and offset, so that each fragment is read in file order.
    std::vector<std::pair<uint64_t, uint32_t>> keyed(e - b);  // ((fragment << 32) | offset, slot)
    for (size_t i = 0; i < keyed.size(); ++i) {
      keyed[i] = {(uint64_t{cands[b + i].fragment} << 32) | cands[b + i].offset, static_cast<uint32_t>(i)};
    }
    std::sort(keyed.begin(), keyed.end());
    std::vector<uint32_t> order(keyed.size());
    for (size_t i = 0; i < keyed.size(); ++i) order[i] = keyed[i].second;
    std::vector<std::pair<uint64_t, uint32_t>>().swap(keyed);
    std::vector<size_t> starts;  // runs of one fragment, cut into chunks
    const size_t chunk_rows = std::max<size_t>(1, kChunkBytes / rb);
    for (size_t i = 0; i < order.size(); ++i) {
      if (i == 0 || cands[b + order[i]].fragment != cands[b + order[i - 1]].fragment || i - starts.back() >= chunk_rows)
        starts.push_back(i);
    }
    starts.push_back(order.size());
    std::vector<uint8_t> keep(order.size(), 0);
    Status error;
    // One range per thread (grain 0): its buffers are reused from chunk to chunk.
    executor.parallel_for(starts.size() - 1, 0, [&](size_t c0, size_t c1) {
      std::vector<uint32_t> offsets;
      core::UninitVector<uint8_t> values, valid, scratch;
      std::vector<float> f32;
      for (size_t c = c0; c < c1; ++c) {
        const size_t s = starts[c], n = starts[c + 1] - s;
        offsets.resize(n);
        for (size_t i = 0; i < n; ++i) offsets[i] = cands[b + order[s + i]].offset;
        values.resize(n * rb);
        valid.resize(n);
        Status st = dataset::take_fragment_rows(*dataset_, column_, index[cands[b + order[s]].fragment], offsets,
                                                kGapBytes / rb, values.data(), valid.data(), &scratch);
        if (!st.ok()) {
          std::lock_guard lock(mu);
          if (error.ok()) error = st;
          return;
        }
        const float* v = reinterpret_cast<const float*>(values.data());
        if (column_.type.element != lance::ElementType::kFloat32) {
          simd::to_float32(values.data(), n * dim, column_.type.element, &f32);
          v = f32.data();
        }
        for (size_t i = 0; i < n; ++i) {
          const uint32_t slot = order[s + i];
          keep[slot] = valid[i] && finite_row(v + i * dim, dim);
          if (keep[slot]) std::memcpy(out + size_t{to ? (*to)[slot] : slot} * dim, v + i * dim, dim * 4);
        }
      }
    });
    LANCER_RETURN_IF_ERROR(error);
    size_t kept = 0;  // compact, in hash order
    for (size_t slot = 0; slot < keep.size(); ++slot) {
      if (!keep[slot]) continue;
      if (kept != slot && !to) std::memcpy(out + kept * dim, out + slot * dim, dim * 4);
      cands[b + kept].hash = cands[b + slot].hash;  // the kept rows' hashes, for the gather
      ++kept;
    }
    return kept;
  };

  // A round of a shared sample: every rank knows every rank's hashes of the round, so
  // the rows' places in hash order are known before they are read, and each rank reads
  // its rows straight into them (no exchange of rows, no reordering). Rows that turn out
  // null or not finite leave gaps, which rank 0 closes up. Returns the rows kept.
  auto take_shared_round = [&](core::Collective& comm, const std::vector<std::string>& shares, uint64_t bar, size_t b,
                               size_t e, size_t have, float* rows) -> Result<size_t> {
    std::vector<uint64_t> round;  // every rank's hashes of the round, ascending
    for (const auto& sh : shares) {
      for (size_t i = 0; i + 8 <= sh.size(); i += 8) {
        uint64_t h;
        std::memcpy(&h, sh.data() + i, 8);
        if (h <= bar) round.push_back(h);
      }
    }
    std::sort(round.begin(), round.end());
    std::vector<uint32_t> to(e - b);
    for (size_t i = 0; i < to.size(); ++i) {
      to[i] = static_cast<uint32_t>(std::lower_bound(round.begin(), round.end(), cands[b + i].hash) - round.begin());
    }
    LANCER_ASSIGN_OR_RETURN(const size_t kept, read(b, e, rows + have * dim, &to));
    std::string mine(kept * 8, '\0');
    for (size_t i = 0; i < kept; ++i) std::memcpy(mine.data() + i * 8, &cands[b + i].hash, 8);
    // Also the barrier after which every rank's rows are in place.
    LANCER_ASSIGN_OR_RETURN(auto kept_shares, comm.all_gather(std::move(mine)));
    std::vector<uint64_t> kept_all;
    for (const auto& sh : kept_shares) {
      if (sh.size() % 8 != 0) return Status::Corruption("sample: a rank's kept hashes are not a list of hashes");
      const size_t at = kept_all.size();
      kept_all.resize(at + sh.size() / 8);
      if (!sh.empty()) std::memcpy(kept_all.data() + at, sh.data(), sh.size());
    }
    if (kept_all.size() > round.size()) return Status::Internal("sample: more rows kept than read");
    if (kept_all.size() == round.size()) return kept_all.size();
    if (comm.rank() == 0) {
      std::sort(kept_all.begin(), kept_all.end());
      for (size_t p = 0, j = 0; p < round.size() && j < kept_all.size(); ++p) {
        if (round[p] != kept_all[j]) continue;
        if (p != j) std::memcpy(rows + (have + j) * dim, rows + (have + p) * dim, dim * 4);
        ++j;
      }
    }
    LANCER_RETURN_IF_ERROR(comm.barrier());  // the rows closed up, for every rank
    return kept_all.size();
  };

  // Rounds: the `need` lowest hashes not yet read (over every rank), until the
  // sample is full or no row is left. One round unless rows were null or not
  // finite; a round's hashes all exceed the one before's, so the sample grows
  // in hash order by appending.
  sample->clear();
  LANCER_ASSIGN_OR_RETURN(cands, list(std::nullopt, want, &cut));
  std::optional<uint64_t> floor;  // every row of the share hashing at or below it was read
  size_t have = 0, done = 0;
  while (have < want) {
    const size_t need = want - have;
    if (cut && cands.size() - done < need) {  // the list ran short: list the next ones
      LANCER_ASSIGN_OR_RETURN(cands, list(floor, need, &cut));
      done = 0;
    }
    const size_t k = std::min(need, cands.size() - done);
    auto first = cands.begin() + static_cast<std::ptrdiff_t>(done);
    auto kth = first + static_cast<std::ptrdiff_t>(k);
    if (kth != cands.end()) std::nth_element(first, kth, cands.end(), by_hash);
    std::sort(first, kth, by_hash);
    uint64_t bar;
    std::vector<size_t> slots;  // with several ranks: where each rank's rows of the round go
    std::vector<std::string> shares;  // with several ranks: every rank's lowest hashes
    if (collective) {
      std::string hashes(k * 8, '\0');
      for (size_t i = 0; i < k; ++i) std::memcpy(hashes.data() + i * 8, &cands[done + i].hash, 8);
      LANCER_ASSIGN_OR_RETURN(shares, collective->all_gather(std::move(hashes)));
      bool any = false;
      for (const auto& sh : shares) any = any || !sh.empty();
      if (!any) break;
      LANCER_ASSIGN_OR_RETURN(bar, sample_threshold(shares, need));
      LANCER_ASSIGN_OR_RETURN(slots, sample_slots(shares, bar, have));
    } else {
      if (k == 0) break;
      bar = k == need ? cands[done + k - 1].hash : UINT64_MAX;
    }
    size_t end = done;
    while (end < done + k && cands[end].hash <= bar) ++end;
    if (end > done) floor = cands[end - 1].hash;  // before read() reorders them
    if (!collective) {
      sample->resize((have + end - done) * dim);
      LANCER_ASSIGN_OR_RETURN(const size_t kept, read(done, end, sample->data() + have * dim, nullptr));
      have += kept;
      sample->resize(have * dim);
    } else if (shared) {
      LANCER_ASSIGN_OR_RETURN(const size_t merged,
                              take_shared_round(*collective, shares, bar, done, end, have, shared));
      have += merged;
    } else {
      // Each rank reads its rows of the round straight into its slot of the sample
      // (uninitialised), then every rank's are merged in place by hash.
      const size_t me = static_cast<size_t>(collective->rank());
      if (slots[me + 1] - slots[me] != end - done) return Status::Internal("sample: this rank's slot does not fit");
      sample->resize(slots.back() * dim);
      LANCER_ASSIGN_OR_RETURN(const size_t kept, read(done, end, sample->data() + slots[me] * dim, nullptr));
      std::vector<uint64_t> kept_hashes(kept);
      for (size_t i = 0; i < kept; ++i) kept_hashes[i] = cands[done + i].hash;
      LANCER_ASSIGN_OR_RETURN(const size_t merged,
                              merge_sample_ranks(*collective, kept_hashes, slots, dim, sample->data(), executor));
      have += merged;
      sample->resize(have * dim);
    }
    done = end;
  }
  return have;
}

}  // namespace lancer::pipeline

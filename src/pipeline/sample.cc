#include "pipeline/sample.h"

#include <algorithm>
#include <cstring>

#include "linalg/permute_rows.h"
#include "train/random.h"

namespace lancer::pipeline {

SampleCollector::SampleCollector(size_t want, size_t dim, uint64_t seed)
    : want_(want), dim_(dim), seed_(train::derive_seed(seed, 1)) {}

void SampleCollector::reserve(size_t rows) {
  rows = std::min(rows, want_);
  hashes_.reserve(rows);
  heap_.reserve(rows);
  data_.reserve(rows * dim_);
}

void SampleCollector::offer(uint64_t row_id, const float* vector) {
  offer_hashed(hash_of(row_id), vector);
}

// derive_seed is a bijection of the row id for a fixed seed: no ties.
uint64_t SampleCollector::hash_of(uint64_t row_id) const { return train::derive_seed(seed_, row_id); }

uint64_t SampleCollector::bar() const {
  return want_ == 0 ? 0 : hashes_.size() < want_ ? UINT64_MAX : hashes_[heap_.front()];
}

void SampleCollector::offer_hashed(uint64_t hash, const float* vector) {
  if (want_ == 0) return;
  auto by_hash = [this](uint32_t a, uint32_t b) { return hashes_[a] < hashes_[b]; };
  uint32_t slot;
  if (hashes_.size() < want_) {
    slot = static_cast<uint32_t>(hashes_.size());
    hashes_.push_back(hash);
    data_.insert(data_.end(), vector, vector + dim_);  // (not resized then copied: one pass)
    heap_.push_back(slot);
  } else {
    if (hash >= hashes_[heap_.front()]) return;
    std::pop_heap(heap_.begin(), heap_.end(), by_hash);
    slot = heap_.back();
    hashes_[slot] = hash;
    std::memcpy(data_.data() + size_t{slot} * dim_, vector, dim_ * 4);
  }
  std::push_heap(heap_.begin(), heap_.end(), by_hash);
}

std::string SampleCollector::serialize_hashes() const {
  std::string out(hashes_.size() * 8, '\0');
  if (!hashes_.empty()) std::memcpy(out.data(), hashes_.data(), out.size());
  return out;
}

Result<std::vector<size_t>> sample_slots(const std::vector<std::string>& hash_shares, uint64_t max_hash, size_t first) {
  std::vector<size_t> slots{first};
  for (const auto& s : hash_shares) {
    if (s.size() % 8 != 0)
      return Status::Corruption("a sample share of " + std::to_string(s.size()) + " bytes is not a list of hashes");
    size_t n = 0;
    for (size_t i = 0; i < s.size(); i += 8) {
      uint64_t h;
      std::memcpy(&h, s.data() + i, 8);
      n += h <= max_hash;
    }
    slots.push_back(slots.back() + n);
  }
  return slots;
}

Result<size_t> merge_sample_ranks(core::Collective& collective, const std::vector<uint64_t>& hashes,
                                  const std::vector<size_t>& slots, size_t dim, float* rows, core::Executor& executor) {
  const size_t ranks = static_cast<size_t>(collective.size()), me = static_cast<size_t>(collective.rank());
  if (slots.size() != ranks + 1 || hashes.size() > slots[me + 1] - slots[me])
    return Status::Internal("merge_sample_ranks: this rank's rows do not fit its slot");
  std::string mine(hashes.size() * 8, '\0');
  if (!hashes.empty()) std::memcpy(mine.data(), hashes.data(), mine.size());
  LANCER_ASSIGN_OR_RETURN(auto shares, collective.all_gather(std::move(mine)));
  if (shares.size() != ranks) return Status::Internal("merge_sample_ranks: a rank's hashes are missing");
  // (hash, row within the slots) of every rank's rows; hashes are distinct, so sorting fixes one order.
  std::vector<std::pair<uint64_t, uint32_t>> keyed;
  std::vector<std::pair<size_t, size_t>> parts(ranks);
  for (size_t r = 0; r < ranks; ++r) {
    const std::string& sh = shares[r];
    const size_t n = sh.size() / 8;
    if (sh.size() % 8 != 0 || n > slots[r + 1] - slots[r])
      return Status::Corruption("a sample share of " + std::to_string(sh.size()) + " bytes does not fit rank " +
                                std::to_string(r) + "'s " + std::to_string(slots[r + 1] - slots[r]) + " rows");
    for (size_t i = 0; i < n; ++i) {
      uint64_t h;
      std::memcpy(&h, sh.data() + i * 8, 8);
      keyed.emplace_back(h, static_cast<uint32_t>(slots[r] - slots[0] + i));
    }
    parts[r] = {slots[r] * dim * 4, n * dim * 4};
  }
  std::vector<std::string>().swap(shares);
  LANCER_RETURN_IF_ERROR(collective.all_gather_in_place(reinterpret_cast<char*>(rows), parts));
  std::sort(keyed.begin(), keyed.end());
  // A permutation of the slots' rows: the merged rows first, then the unused ends of slots.
  const size_t total = slots[ranks] - slots[0], n = keyed.size();
  std::vector<uint32_t> order(total);
  std::vector<uint8_t> used(total, 0);
  for (size_t i = 0; i < n; ++i) {
    order[i] = keyed[i].second;
    used[keyed[i].second] = 1;
  }
  for (size_t i = 0, at = n; i < total; ++i)
    if (!used[i]) order[at++] = static_cast<uint32_t>(i);
  linalg::gather_rows_in_place(rows + slots[0] * dim, dim, order, executor);
  return n;
}

Result<uint64_t> sample_threshold(const std::vector<std::string>& hash_shares, size_t want) {
  std::vector<uint64_t> all;
  for (const auto& s : hash_shares) {
    if (s.size() % 8 != 0)
      return Status::Corruption("a sample share of " + std::to_string(s.size()) + " bytes is not a list of hashes");
    const size_t at = all.size();
    all.resize(at + s.size() / 8);
    if (!s.empty()) std::memcpy(all.data() + at, s.data(), s.size());
  }
  if (want == 0) return uint64_t{0};
  if (all.size() <= want) return UINT64_MAX;
  std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(want - 1), all.end());
  return all[want - 1];
}

core::UninitVector<float> SampleCollector::take_sorted() {
  core::InlineExecutor inline_executor;
  return take_sorted(inline_executor);
}

core::UninitVector<float> SampleCollector::take_sorted(core::Executor& executor, std::vector<uint64_t>* hashes) {
  const size_t n = hashes_.size();
  // (hash, slot) pairs sorted in pieces on the threads, then merged; hashes are
  // distinct, so the order is the same for any split.
  std::vector<std::pair<uint64_t, uint32_t>> keyed(n);
  for (size_t i = 0; i < n; ++i) keyed[i] = {hashes_[i], static_cast<uint32_t>(i)};
  const size_t pieces = std::clamp<size_t>(n / 16384, 1, static_cast<size_t>(std::max(1, executor.num_threads())));
  auto piece_start = [&](size_t p) { return static_cast<std::ptrdiff_t>(n * p / pieces); };
  executor.parallel_for(pieces, 1, [&](size_t p0, size_t p1) {
    for (size_t p = p0; p < p1; ++p) std::sort(keyed.begin() + piece_start(p), keyed.begin() + piece_start(p + 1));
  });
  for (size_t width = 1; width < pieces; width *= 2) {
    for (size_t p = 0; p + width < pieces; p += 2 * width) {
      std::inplace_merge(keyed.begin() + piece_start(p), keyed.begin() + piece_start(p + width),
                         keyed.begin() + piece_start(std::min(pieces, p + 2 * width)));
    }
  }
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = keyed[i].second;
  if (hashes) {
    hashes->resize(n);
    for (size_t i = 0; i < n; ++i) (*hashes)[i] = keyed[i].first;
  }
  std::vector<std::pair<uint64_t, uint32_t>>().swap(keyed);
  // In place: the sample is the largest thing a build holds, so it is never copied.
  linalg::gather_rows_in_place(data_.data(), dim_, order, executor);
  core::UninitVector<float> out = std::move(data_);
  data_.clear();
  hashes_.clear();
  heap_.clear();
  return out;
}

}  // namespace lancer::pipeline

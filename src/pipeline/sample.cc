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
  row_ids_.reserve(rows);
  heap_.reserve(rows);
  data_.reserve(rows * dim_);
}

void SampleCollector::offer(uint64_t row_id, const float* vector) { offer_hashed(hash_of(row_id), row_id, vector); }

// derive_seed is a bijection of the row id for a fixed seed: no ties.
uint64_t SampleCollector::hash_of(uint64_t row_id) const { return train::derive_seed(seed_, row_id); }

uint64_t SampleCollector::bar() const {
  return want_ == 0 ? 0 : hashes_.size() < want_ ? UINT64_MAX : hashes_[heap_.front()];
}

void SampleCollector::offer_hashed(uint64_t hash, uint64_t row_id, const float* vector) {
  if (want_ == 0) return;
  auto by_hash = [this](uint32_t a, uint32_t b) { return hashes_[a] < hashes_[b]; };
  uint32_t slot;
  if (hashes_.size() < want_) {
    slot = static_cast<uint32_t>(hashes_.size());
    hashes_.push_back(hash);
    row_ids_.push_back(row_id);
    data_.insert(data_.end(), vector, vector + dim_);  // (not resized then copied: one pass)
    heap_.push_back(slot);
  } else {
    if (hash >= hashes_[heap_.front()]) return;
    std::pop_heap(heap_.begin(), heap_.end(), by_hash);
    slot = heap_.back();
    hashes_[slot] = hash;
    row_ids_[slot] = row_id;
    std::memcpy(data_.data() + size_t{slot} * dim_, vector, dim_ * 4);
  }
  std::push_heap(heap_.begin(), heap_.end(), by_hash);
}

std::string SampleCollector::serialize(uint64_t max_hash) const {
  std::vector<uint32_t> keep;
  keep.reserve(hashes_.size());
  for (uint32_t i = 0; i < hashes_.size(); ++i)
    if (hashes_[i] <= max_hash) keep.push_back(i);
  const uint64_t n = keep.size();
  std::string out(8 + n * 16 + n * dim_ * 4, '\0');
  char* p = out.data();
  std::memcpy(p, &n, 8);
  for (uint64_t i = 0; i < n; ++i) {
    std::memcpy(p + 8 + i * 16, &hashes_[keep[i]], 8);
    std::memcpy(p + 16 + i * 16, &row_ids_[keep[i]], 8);
    std::memcpy(p + 8 + n * 16 + i * dim_ * 4, data_.data() + size_t{keep[i]} * dim_, dim_ * 4);
  }
  return out;
}

std::string SampleCollector::serialize_hashes() const {
  std::string out(hashes_.size() * 8, '\0');
  if (!hashes_.empty()) std::memcpy(out.data(), hashes_.data(), out.size());
  return out;
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

Status SampleCollector::merge(const std::string& s) {
  uint64_t n = 0;
  if (s.size() >= 8) std::memcpy(&n, s.data(), 8);
  if (s.size() < 8 || n > s.size() / 16 || s.size() != 8 + n * 16 + n * dim_ * 4) {
    return Status::Corruption("a sample share of " + std::to_string(s.size()) + " bytes does not match its header");
  }
  const char* p = s.data();
  const float* vectors = reinterpret_cast<const float*>(p + 8 + n * 16);
  std::vector<float> row(dim_);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t hash, id;
    std::memcpy(&hash, p + 8 + i * 16, 8);
    std::memcpy(&id, p + 16 + i * 16, 8);
    std::memcpy(row.data(), vectors + i * dim_, dim_ * 4);  // the share may be unaligned
    offer_hashed(hash, id, row.data());
  }
  return Status::OK();
}

core::UninitVector<float> SampleCollector::take_sorted() {
  core::InlineExecutor inline_executor;
  return take_sorted(inline_executor);
}

core::UninitVector<float> SampleCollector::take_sorted(core::Executor& executor) {
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
  std::vector<std::pair<uint64_t, uint32_t>>().swap(keyed);
  // In place: the sample is the largest thing a build holds, so it is never copied.
  linalg::gather_rows_in_place(data_.data(), dim_, order, executor);
  core::UninitVector<float> out = std::move(data_);
  data_.clear();
  hashes_.clear();
  row_ids_.clear();
  heap_.clear();
  return out;
}

}  // namespace lancer::pipeline

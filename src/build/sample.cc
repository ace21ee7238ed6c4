#include "build/sample.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "train/random.h"

namespace lancer::build {

SampleCollector::SampleCollector(size_t want, size_t dim, uint64_t seed)
    : want_(want), dim_(dim), seed_(train::derive_seed(seed, 1)) {}

void SampleCollector::reserve(size_t rows) {
  rows = std::min(rows, want_);
  hashes_.reserve(rows);
  row_ids_.reserve(rows);
  heap_.reserve(rows);
  data_.reserve(rows * dim_);
}

void SampleCollector::offer(uint64_t row_id, const float* vector) {
  // derive_seed is a bijection of the row id for a fixed seed: no ties.
  offer_hashed(train::derive_seed(seed_, row_id), row_id, vector);
}

void SampleCollector::offer_hashed(uint64_t hash, uint64_t row_id, const float* vector) {
  if (want_ == 0) return;
  auto by_hash = [this](uint32_t a, uint32_t b) { return hashes_[a] < hashes_[b]; };
  uint32_t slot;
  if (hashes_.size() < want_) {
    slot = static_cast<uint32_t>(hashes_.size());
    hashes_.push_back(hash);
    row_ids_.push_back(row_id);
    data_.resize(data_.size() + dim_);
    heap_.push_back(slot);
  } else {
    if (hash >= hashes_[heap_.front()]) return;
    std::pop_heap(heap_.begin(), heap_.end(), by_hash);
    slot = heap_.back();
    hashes_[slot] = hash;
    row_ids_[slot] = row_id;
  }
  std::memcpy(data_.data() + size_t{slot} * dim_, vector, dim_ * 4);
  std::push_heap(heap_.begin(), heap_.end(), by_hash);
}

std::string SampleCollector::serialize() const {
  const uint64_t n = hashes_.size();
  std::string out(8 + n * 16 + data_.size() * 4, '\0');
  char* p = out.data();
  std::memcpy(p, &n, 8);
  for (uint64_t i = 0; i < n; ++i) {
    std::memcpy(p + 8 + i * 16, &hashes_[i], 8);
    std::memcpy(p + 16 + i * 16, &row_ids_[i], 8);
  }
  std::memcpy(p + 8 + n * 16, data_.data(), data_.size() * 4);
  return out;
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

std::vector<float> SampleCollector::take_sorted() {
  const size_t n = hashes_.size();
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [this](uint32_t a, uint32_t b) { return hashes_[a] < hashes_[b]; });
  // Permute the rows in place (cycle by cycle): the sample is the largest
  // thing a build holds, so it is never copied.
  std::vector<float> tmp(dim_);
  std::vector<bool> placed(n, false);
  for (size_t start = 0; start < n; ++start) {
    if (placed[start] || order[start] == start) continue;
    std::memcpy(tmp.data(), data_.data() + start * dim_, dim_ * 4);
    size_t at = start;
    while (order[at] != start) {
      std::memcpy(data_.data() + at * dim_, data_.data() + size_t{order[at]} * dim_, dim_ * 4);
      placed[at] = true;
      at = order[at];
    }
    std::memcpy(data_.data() + at * dim_, tmp.data(), dim_ * 4);
    placed[at] = true;
  }
  std::vector<float> out = std::move(data_);
  data_.clear();
  hashes_.clear();
  row_ids_.clear();
  heap_.clear();
  return out;
}

}  // namespace lancer::build

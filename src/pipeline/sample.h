// The training sample: the `want` finite vectors whose row ids hash lowest
// (bottom-k sampling with a seeded bijective hash). The result depends only on
// the dataset, not on how its fragments are split over tasks, threads or
// ranks: each worker collects its share, serialises it, and merging the
// shares gives the same sample in the same order (by hash). Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/executor.h"
#include "lancer/status.h"

namespace lancer::pipeline {

class SampleCollector {
 public:
  SampleCollector(size_t want, size_t dim, uint64_t seed);
  void reserve(size_t rows);
  void offer(uint64_t row_id, const float* vector);
  // The rank of a row in the sample order, and the bar it must pass: rows
  // hashing at or above bar() would be refused now (UINT64_MAX while the
  // collector is not full), so a scan may skip them without reading further.
  uint64_t hash_of(uint64_t row_id) const;
  uint64_t bar() const;
  void offer_hashed(uint64_t hash, uint64_t row_id, const float* vector);
  // [u64 rows][rows x (u64 hash, u64 row id)][rows x dim f32], the rows whose
  // hash is at most max_hash.
  std::string serialize(uint64_t max_hash = UINT64_MAX) const;
  // [rows x u64 hash]: what a gather exchanges first (see sample_threshold).
  std::string serialize_hashes() const;
  Status merge(const std::string& serialized);
  size_t rows() const { return hashes_.size(); }
  // Rows ordered by hash; the collector is left empty. The executor only
  // shares out the work: the rows are the same on any number of threads.
  // (Uninitialised storage: whoever takes the sample writes every row before reading it.)
  core::UninitVector<float> take_sorted(core::Executor& executor);
  core::UninitVector<float> take_sorted();  // on the calling thread

 private:
  size_t want_, dim_;
  uint64_t seed_;
  std::vector<uint64_t> hashes_, row_ids_;
  core::UninitVector<float> data_;
  std::vector<uint32_t> heap_;  // slots, max-heap by hash
};

// The largest hash of the `want` lowest over all shares of serialize_hashes()
// (UINT64_MAX when they hold fewer): ranks then exchange only the rows at or
// below it, so a gather moves one sample in all instead of one per rank.
Result<uint64_t> sample_threshold(const std::vector<std::string>& hash_shares, size_t want);

}  // namespace lancer::pipeline

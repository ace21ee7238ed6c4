// The training sample: the `want` finite vectors whose row ids hash lowest
// (bottom-k sampling with a seeded bijective hash). The result depends only on
// the dataset, not on how its fragments are split over tasks, threads or
// ranks: each worker collects its share, and merging the shares
// (merge_sample_ranks) gives the same sample in the same order (by hash).
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/collective.h"
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
  void offer_hashed(uint64_t hash, const float* vector);
  // [rows x u64 hash]: what a gather exchanges first (see sample_threshold).
  std::string serialize_hashes() const;
  size_t rows() const { return hashes_.size(); }
  // Rows ordered by hash; the collector is left empty. The executor only
  // shares out the work: the rows are the same on any number of threads.
  // With `hashes`, also the rows' hashes, in the same order. (Uninitialised
  // storage: whoever takes the sample writes every row before reading it.)
  core::UninitVector<float> take_sorted(core::Executor& executor, std::vector<uint64_t>* hashes = nullptr);
  core::UninitVector<float> take_sorted();  // on the calling thread

 private:
  size_t want_, dim_;
  uint64_t seed_;
  std::vector<uint64_t> hashes_;
  core::UninitVector<float> data_;
  std::vector<uint32_t> heap_;  // slots, max-heap by hash
};

// The largest hash of the `want` lowest over all shares of serialize_hashes()
// (UINT64_MAX when they hold fewer): ranks then exchange only the rows at or
// below it, so a gather moves one sample in all instead of one per rank.
Result<uint64_t> sample_threshold(const std::vector<std::string>& hash_shares, size_t want);

// Where each rank's rows at or below `max_hash` go before they are merged: rank r's
// rows start at row slots[r] (slots[0] = first), and slots[ranks] ends the last.
Result<std::vector<size_t>> sample_slots(const std::vector<std::string>& hash_shares, uint64_t max_hash, size_t first);

// The last step of a distributed sample, however the ranks sampled (reads of the
// sampled rows, or a scan): rank r has put its rows of the sample, whose hashes are
// `hashes` (ascending), at the start of its slot in `rows` (rows [slots[r], slots[r + 1]),
// the same slots on every rank). The hashes travel first (8 bytes a row), then every
// rank's rows once, straight into their slots (Collective::all_gather_in_place), and the
// rows are put in hash order in place: rows [slots[0], slots[0] + n) then hold every
// rank's rows in hash order, the same on every rank. Returns n.
Result<size_t> merge_sample_ranks(core::Collective& collective, const std::vector<uint64_t>& hashes,
                                  const std::vector<size_t>& slots, size_t dim, float* rows, core::Executor& executor);

}  // namespace lancer::pipeline

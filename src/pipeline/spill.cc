#include "pipeline/spill.h"

#include <algorithm>
#include <cstring>

#include "core/checksum.h"

namespace lancer::pipeline {

namespace {

// Version 2 adds a checksum of each (run, partition) to the run table; version 1 files (an older
// lancer's, resumed by this one) are still read, their data unchecked (docs/build-staging.md).
constexpr char kMagic[8] = {'L', 'N', 'C', 'R', 'S', 'P', 'L', '2'};
constexpr char kMagicV1[8] = {'L', 'N', 'C', 'R', 'S', 'P', 'L', '1'};
constexpr size_t kFooterWords = 5;  // runs, partitions, row_bytes, rows, table checksum
constexpr size_t kFooterBytes = kFooterWords * 8 + sizeof(kMagic);

// A partition's rows in one run: its ids, then their storage.
uint64_t partition_checksum(const uint64_t* ids, const uint8_t* storage, size_t rows, size_t row_bytes) {
  return core::xxh64(storage, rows * row_bytes, core::xxh64(ids, rows * 8));
}

}  // namespace

Result<std::unique_ptr<SpillFile>> SpillFile::create(const std::string& path, uint32_t num_partitions,
                                                     size_t row_bytes) {
  auto s = std::unique_ptr<SpillFile>(new SpillFile());
  s->path_ = path;
  LANCER_ASSIGN_OR_RETURN(s->out_, storage::OutputFile::create(path));
  s->num_partitions_ = num_partitions;
  s->row_bytes_ = row_bytes;
  return s;
}

Result<std::unique_ptr<SpillFile>> SpillFile::open(const std::string& path, uint32_t num_partitions, size_t row_bytes,
                                                   uint64_t size_hint) {
  auto s = std::unique_ptr<SpillFile>(new SpillFile());
  s->path_ = path;
  s->num_partitions_ = num_partitions;
  s->row_bytes_ = row_bytes;
  LANCER_ASSIGN_OR_RETURN(
      s->in_, size_hint ? storage::RandomAccessFile::open(path, size_hint) : storage::RandomAccessFile::open(path));
  s->remote_ = storage::is_object_store(path);
  const uint64_t size = s->in_->size();
  auto bad = [&](const std::string& why) { return Status::Corruption("spill file " + path + ": " + why); };
  if (size < kFooterBytes) return bad("too short for a footer");
  uint64_t footer[kFooterWords];
  char magic[8];
  LANCER_RETURN_IF_ERROR(s->in_->read_at(size - kFooterBytes, kFooterWords * 8, footer));
  LANCER_RETURN_IF_ERROR(s->in_->read_at(size - sizeof(kMagic), sizeof(kMagic), magic));
  const bool v1 = std::memcmp(magic, kMagicV1, sizeof(kMagic)) == 0;
  if (!v1 && std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) return bad("no spill footer (an unfinished write?)");
  s->checked_ = !v1;
  const uint64_t runs = footer[0];
  if (footer[1] != num_partitions || footer[2] != row_bytes) {
    return bad("written for " + std::to_string(footer[1]) + " partitions of " + std::to_string(footer[2]) +
               "-byte rows, expected " + std::to_string(num_partitions) + " of " + std::to_string(row_bytes));
  }
  // Per run: its offset, num_partitions + 1 starts and (version 2) num_partitions checksums.
  const uint64_t table_words = runs * (2 + uint64_t{num_partitions} * (v1 ? 1 : 2));
  if (runs > size / 8 || table_words * 8 > size - kFooterBytes) return bad("run table larger than the file");
  const uint64_t table_at = size - kFooterBytes - table_words * 8;
  std::vector<uint64_t> table(table_words);
  LANCER_RETURN_IF_ERROR(s->in_->read_at(table_at, table_words * 8, table.data()));
  if (core::fnv1a64(table.data(), table.size() * 8) != footer[4]) return bad("run table checksum mismatch");
  s->run_offsets_.assign(table.begin(), table.begin() + static_cast<ptrdiff_t>(runs));
  uint64_t rows = 0;
  for (uint64_t r = 0; r < runs; ++r) {
    auto first = table.begin() + static_cast<ptrdiff_t>(runs + r * (num_partitions + 1));
    std::vector<uint64_t> starts(first, first + num_partitions + 1);
    for (uint32_t p = 0; p < num_partitions; ++p) {
      if (starts[p + 1] < starts[p]) return bad("run table is not monotonic");
    }
    const uint64_t n = starts[num_partitions];
    if (starts[0] != 0 || s->run_offsets_[r] > table_at || n > (table_at - s->run_offsets_[r]) / (8 + row_bytes)) {
      return bad("run " + std::to_string(r) + " lies outside the data region");
    }
    rows += n;
    s->run_starts_.push_back(std::move(starts));
  }
  if (!v1) {
    const auto sums = table.begin() + static_cast<ptrdiff_t>(runs * (2 + uint64_t{num_partitions}));
    s->partition_sums_.assign(sums, table.end());
  }
  if (rows != footer[3]) return bad("row count mismatch");
  s->rows_ = rows;
  return s;
}

SpillFile::~SpillFile() = default;

void SpillFile::add(uint32_t partition, uint64_t row_id, const uint8_t* storage) {
  pending_partition_.push_back(partition);
  pending_ids_.push_back(row_id);
  pending_storage_.insert(pending_storage_.end(), storage, storage + row_bytes_);
}

void SpillFile::reserve(size_t rows) {
  pending_partition_.reserve(rows);
  pending_ids_.reserve(rows);
  pending_storage_.reserve(rows * row_bytes_);
}

void SpillFile::add_rows(size_t n, const uint32_t* partitions, const uint64_t* row_ids, const uint8_t* storage) {
  pending_partition_.insert(pending_partition_.end(), partitions, partitions + n);
  pending_ids_.insert(pending_ids_.end(), row_ids, row_ids + n);
  pending_storage_.insert(pending_storage_.end(), storage, storage + n * row_bytes_);
}

Status SpillFile::maybe_flush(size_t run_bytes) {
  return pending_storage_.size() + pending_ids_.size() * 8 >= run_bytes ? flush() : Status::OK();
}

Status SpillFile::flush() {
  const size_t n = pending_ids_.size();
  if (n == 0) return Status::OK();
  // Counting sort by partition; stable, so rows keep stream order within a partition.
  std::vector<uint32_t> counts(num_partitions_, 0);
  for (uint32_t p : pending_partition_) ++counts[p];
  std::vector<uint64_t> start(num_partitions_ + 1, 0);
  for (uint32_t p = 0; p < num_partitions_; ++p) start[p + 1] = start[p] + counts[p];
  std::vector<size_t> order(n);
  {
    std::vector<uint64_t> next(start.begin(), start.end() - 1);
    for (size_t i = 0; i < n; ++i) order[next[pending_partition_[i]]++] = i;
  }
  // Written partition by partition straight from the pending rows: no sorted copy.
  core::UninitVector<uint64_t> ids;
  core::ByteBuffer storage;
  run_offsets_.push_back(position_);
  const size_t sums_at = partition_sums_.size();
  partition_sums_.resize(sums_at + num_partitions_, partition_checksum(nullptr, nullptr, 0, row_bytes_));
  for (uint32_t p = 0; p < num_partitions_; ++p) {
    const size_t c = counts[p];
    if (c == 0) continue;
    ids.resize(c);
    storage.resize(c * row_bytes_);
    for (size_t k = 0; k < c; ++k) {
      const size_t i = order[start[p] + k];
      ids[k] = pending_ids_[i];
      std::memcpy(storage.data() + k * row_bytes_, pending_storage_.data() + i * row_bytes_, row_bytes_);
    }
    partition_sums_[sums_at + p] = partition_checksum(ids.data(), storage.data(), c, row_bytes_);
    LANCER_RETURN_IF_ERROR(out_->write(ids.data(), c * 8));
    LANCER_RETURN_IF_ERROR(out_->write(storage.data(), c * row_bytes_));
    position_ += c * (8 + row_bytes_);
  }
  run_starts_.push_back(std::move(start));
  rows_ += n;
  pending_partition_.clear();
  pending_ids_.clear();
  pending_storage_.clear();
  return Status::OK();
}

Result<uint64_t> SpillFile::seal() {
  if (out_ == nullptr) return Status::Internal("spill file " + path_ + " finished twice");
  if (sealed_) return out_->written();
  LANCER_RETURN_IF_ERROR(flush());
  std::vector<uint64_t> table(run_offsets_);
  for (const auto& s : run_starts_) table.insert(table.end(), s.begin(), s.end());
  table.insert(table.end(), partition_sums_.begin(), partition_sums_.end());
  const uint64_t footer[kFooterWords] = {run_offsets_.size(), num_partitions_, row_bytes_, rows_,
                                         core::fnv1a64(table.data(), table.size() * 8)};
  LANCER_RETURN_IF_ERROR(out_->write(table.data(), table.size() * 8));
  LANCER_RETURN_IF_ERROR(out_->write(footer, sizeof(footer)));
  LANCER_RETURN_IF_ERROR(out_->write(kMagic, sizeof(kMagic)));
  sealed_ = true;
  return out_->written();
}

Result<uint64_t> SpillFile::finish() {
  LANCER_RETURN_IF_ERROR(seal().status());
  LANCER_RETURN_IF_ERROR(out_->finish().context("spill file " + path_));
  const uint64_t size = out_->written();
  out_.reset();
  remote_ = storage::is_object_store(path_);
  LANCER_ASSIGN_OR_RETURN(in_, storage::RandomAccessFile::open(path_, size));
  return in_->size();
}

uint64_t SpillFile::rows_in(uint32_t partition) const {
  uint64_t n = 0;
  for (const auto& starts : run_starts_) n += starts[partition + 1] - starts[partition];
  return n;
}

Status SpillFile::read_partition(uint32_t partition, uint64_t* ids, uint8_t* storage) const {
  if (in_ == nullptr) return Status::Internal("spill file " + path_ + " read before finish()");
  for (size_t r = 0; r < run_starts_.size(); ++r) {
    const uint64_t offset = run_offsets_[r] + run_starts_[r][partition] * (8 + row_bytes_);
    const size_t c = run_starts_[r][partition + 1] - run_starts_[r][partition];
    if (c == 0) continue;
    LANCER_RETURN_IF_ERROR(read_run(r, offset, c * 8, ids));
    LANCER_RETURN_IF_ERROR(read_run(r, offset + c * 8, c * row_bytes_, storage));
    if (checked_ &&
        partition_checksum(ids, storage, c, row_bytes_) != partition_sums_[r * num_partitions_ + partition]) {
      return Status::Corruption("spill file " + path_ + ": partition " + std::to_string(partition) + " of run " +
                                std::to_string(r) + " does not match its checksum (damaged on disk?)");
    }
    ids += c;
    storage += c * row_bytes_;
  }
  return Status::OK();
}

// The merge reads every run front to back, partition by partition: on an object store each
// run keeps a window of the next kRemoteWindow bytes, so one request serves many partitions.
Status SpillFile::read_run(size_t run, uint64_t offset, uint64_t length, void* out) const {
  if (!remote_) return in_->read_at(offset, length, out);
  constexpr uint64_t kRemoteWindow = 4u << 20;
  if (windows_.size() != run_offsets_.size()) windows_.resize(run_offsets_.size());
  Window& w = windows_[run];
  if (offset < w.start || offset + length > w.start + w.bytes.size()) {
    const uint64_t run_end = run + 1 < run_offsets_.size() ? run_offsets_[run + 1] : in_->size() - kFooterBytes;
    const uint64_t end = std::max(offset + length, std::min(run_end, offset + kRemoteWindow));
    w.start = offset;
    w.bytes.resize(end - offset);
    LANCER_RETURN_IF_ERROR(in_->read_at(offset, end - offset, w.bytes.data()));
  }
  std::memcpy(out, w.bytes.data() + (offset - w.start), length);
  return Status::OK();
}

}  // namespace lancer::pipeline

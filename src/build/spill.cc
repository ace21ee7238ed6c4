#include "build/spill.h"

#include <cerrno>
#include <cstring>

namespace lancer::build {

Result<std::unique_ptr<SpillFile>> SpillFile::create(const std::string& path, uint32_t num_partitions,
                                                     size_t row_bytes) {
  auto s = std::unique_ptr<SpillFile>(new SpillFile());
  s->path_ = path;
  s->out_ = std::fopen(path.c_str(), "wb");
  if (s->out_ == nullptr) return Status::IOError("cannot create spill file " + path + ": " + std::strerror(errno));
  s->num_partitions_ = num_partitions;
  s->row_bytes_ = row_bytes;
  return s;
}

SpillFile::~SpillFile() {
  if (out_ != nullptr) std::fclose(out_);
}

void SpillFile::add(uint32_t partition, uint64_t row_id, const uint8_t* storage) {
  pending_partition_.push_back(partition);
  pending_ids_.push_back(row_id);
  pending_storage_.insert(pending_storage_.end(), storage, storage + row_bytes_);
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
  std::vector<uint64_t> ids(n);
  std::vector<uint8_t> storage(n * row_bytes_);
  for (size_t k = 0; k < n; ++k) {
    ids[k] = pending_ids_[order[k]];
    std::memcpy(storage.data() + k * row_bytes_, pending_storage_.data() + order[k] * row_bytes_, row_bytes_);
  }
  run_offsets_.push_back(position_);
  for (uint32_t p = 0; p < num_partitions_; ++p) {
    const size_t c = counts[p];
    if (c == 0) continue;
    if (std::fwrite(ids.data() + start[p], 8, c, out_) != c ||
        std::fwrite(storage.data() + start[p] * row_bytes_, row_bytes_, c, out_) != c) {
      return Status::IOError("cannot write spill file " + path_ + ": " + std::strerror(errno));
    }
    position_ += c * (8 + row_bytes_);
  }
  run_starts_.push_back(std::move(start));
  rows_ += n;
  pending_partition_.clear();
  pending_ids_.clear();
  pending_storage_.clear();
  return Status::OK();
}

Status SpillFile::read_partition(uint32_t partition, std::vector<uint64_t>* ids, std::vector<uint8_t>* storage) {
  if (out_ != nullptr) {
    LANCER_RETURN_IF_ERROR(flush());
    if (std::fclose(out_) != 0) return Status::IOError("cannot close spill file " + path_);
    out_ = nullptr;
    LANCER_ASSIGN_OR_RETURN(in_, core::RandomAccessFile::open(path_));
  }
  ids->clear();
  storage->clear();
  for (size_t r = 0; r < run_starts_.size(); ++r) {
    const uint64_t offset = run_offsets_[r] + run_starts_[r][partition] * (8 + row_bytes_);
    const size_t c = run_starts_[r][partition + 1] - run_starts_[r][partition];
    if (c == 0) continue;
    const size_t at = ids->size();
    ids->resize(at + c);
    storage->resize((at + c) * row_bytes_);
    LANCER_RETURN_IF_ERROR(in_->read_at(offset, c * 8, ids->data() + at));
    LANCER_RETURN_IF_ERROR(in_->read_at(offset + c * 8, c * row_bytes_, storage->data() + at * row_bytes_));
  }
  return Status::OK();
}

}  // namespace lancer::build

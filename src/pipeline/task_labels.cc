#include "pipeline/task_labels.h"

#include <cstring>

#include "core/checksum.h"
#include "storage/file_io.h"

namespace lancer::pipeline {

namespace {

// [u32 label per physical row] then the footer: u64 physical rows, u64 partitions, u64 indexed
// rows, u64 XXH64 of the labels, the magic.
constexpr char kMagic[8] = {'L', 'N', 'C', 'R', 'L', 'B', 'L', '1'};
constexpr size_t kFooterWords = 4;
constexpr size_t kFooterBytes = kFooterWords * 8 + sizeof(kMagic);

uint64_t indexed_rows(std::span<const uint32_t> labels) {
  uint64_t n = 0;
  for (uint32_t l : labels) n += l != TaskLabels::kNotIndexed;
  return n;
}

}  // namespace

TaskLabels::TaskLabels(std::string path, uint32_t num_partitions, uint64_t physical_rows)
    : path_(std::move(path)), num_partitions_(num_partitions), labels_(physical_rows, kNotIndexed) {}

uint64_t TaskLabels::seal() const {
  return labels_.size() * 4 + kFooterBytes;
}

Result<uint64_t> TaskLabels::finish() {
  LANCER_ASSIGN_OR_RETURN(auto out, storage::OutputFile::create(path_));
  const uint64_t footer[kFooterWords] = {labels_.size(), num_partitions_, indexed_rows(labels_),
                                         core::xxh64(labels_.data(), labels_.size() * 4)};
  LANCER_RETURN_IF_ERROR(out->write(labels_.data(), labels_.size() * 4));
  LANCER_RETURN_IF_ERROR(out->write(footer, sizeof(footer)));
  LANCER_RETURN_IF_ERROR(out->write(kMagic, sizeof(kMagic)));
  LANCER_RETURN_IF_ERROR(out->finish().context("labels file " + path_));
  return out->written();
}

Result<std::unique_ptr<TaskLabels>> TaskLabels::open(const std::string& path, uint32_t num_partitions,
                                                     uint64_t physical_rows, uint64_t size_hint) {
  LANCER_ASSIGN_OR_RETURN(
      auto in, size_hint ? storage::RandomAccessFile::open(path, size_hint) : storage::RandomAccessFile::open(path));
  auto bad = [&](const std::string& why) { return Status::Corruption("labels file " + path + ": " + why); };
  if (in->size() != physical_rows * 4 + kFooterBytes) {
    return bad("holds " + std::to_string(in->size()) + " bytes, not the " +
               std::to_string(physical_rows * 4 + kFooterBytes) + " of " + std::to_string(physical_rows) + " rows");
  }
  auto t = std::make_unique<TaskLabels>(path, num_partitions, 0);
  t->labels_.resize(physical_rows);
  LANCER_RETURN_IF_ERROR(in->read_at(0, physical_rows * 4, t->labels_.data()));
  uint64_t footer[kFooterWords];
  char magic[sizeof(kMagic)];
  LANCER_RETURN_IF_ERROR(in->read_at(physical_rows * 4, sizeof(footer), footer));
  LANCER_RETURN_IF_ERROR(in->read_at(physical_rows * 4 + sizeof(footer), sizeof(magic), magic));
  if (std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) return bad("no labels footer (an unfinished write?)");
  if (footer[0] != physical_rows || footer[1] != num_partitions) {
    return bad("written for " + std::to_string(footer[0]) + " rows and " + std::to_string(footer[1]) +
               " partitions, expected " + std::to_string(physical_rows) + " and " + std::to_string(num_partitions));
  }
  if (core::xxh64(t->labels_.data(), physical_rows * 4) != footer[3]) return bad("checksum mismatch");
  for (uint32_t l : t->labels_) {
    if (l != kNotIndexed && l >= num_partitions) return bad("a label past the partitions");
  }
  if (indexed_rows(t->labels_) != footer[2]) return bad("indexed row count mismatch");
  return t;
}

}  // namespace lancer::pipeline

#include "lance/file_reader.h"

#include <algorithm>

#include "core/bytes.h"
#include "file2.pb.h"
#include "google/protobuf/any.pb.h"

namespace lancer::lance {

namespace {

constexpr uint64_t kFooterSize = 40;
constexpr uint64_t kBufferAlignment = 64;
constexpr uint64_t kTailReadSize = 64 * 1024;
constexpr char kMagic[4] = {'L', 'A', 'N', 'C'};
// Generous bound on metadata counts so a flipped bit cannot make us allocate terabytes.
constexpr uint64_t kMaxColumns = 1u << 20;
constexpr uint64_t kMaxGlobalBuffers = 1u << 20;

Result<FileVersion> normalise_version(uint16_t major, uint16_t minor) {
  if ((major == 0 && minor == 3) || (major == 2 && minor == 0)) return FileVersion{2, 0};
  if (major == 2 && (minor == 1 || minor == 2)) return FileVersion{2, minor};
  if (major == 0 && (minor == 1 || minor == 2)) {
    return Status::NotSupported("legacy Lance v1 file (footer version 0." + std::to_string(minor) +
                                "); only file versions 2.0, 2.1 and 2.2 are supported");
  }
  return Status::NotSupported("file version " + std::to_string(major) + "." + std::to_string(minor) +
                              " is not supported (supported: 2.0, 2.1, 2.2)");
}

bool range_inside(uint64_t offset, uint64_t size, uint64_t file_size) {
  return offset <= file_size && size <= file_size - offset;
}

std::string range_text(uint64_t offset, uint64_t size) {
  return "[" + std::to_string(offset) + ", +" + std::to_string(size) + ")";
}

}  // namespace

Result<std::shared_ptr<const LanceFile>> LanceFile::open(const std::string& path, const std::string& display_name,
                                                         uint64_t size_hint) {
  auto file = std::shared_ptr<LanceFile>(new LanceFile());
  file->name_ = display_name;
  auto opened = size_hint ? storage::RandomAccessFile::open(path, size_hint) : storage::RandomAccessFile::open(path);
  if (!opened.ok()) return opened.status().context("opening data file " + display_name);
  file->file_ = std::move(opened).value();
  Status st = file->parse(file->file_->size());
  if (!st.ok()) return st.context(display_name);
  return std::shared_ptr<const LanceFile>(std::move(file));
}

Status LanceFile::parse(uint64_t size) {
  if (size < kFooterSize) {
    return Status::Corruption("file is " + std::to_string(size) + " bytes, shorter than the 40-byte footer");
  }
  const uint64_t tail_size = std::min(size, kTailReadSize);
  const uint64_t tail_start = size - tail_size;
  LANCER_ASSIGN_OR_RETURN(std::vector<uint8_t> tail, file_->read_range(tail_start, tail_size));
  const uint8_t* footer = tail.data() + tail_size - kFooterSize;
  if (std::memcmp(footer + 36, kMagic, 4) != 0) {
    return Status::Corruption("bad magic at the end of the file (expected \"LANC\")");
  }
  const auto major = core::load_le<uint16_t>(footer + 32);
  const auto minor = core::load_le<uint16_t>(footer + 34);
  // A legacy (v1) 16-byte footer ends with the same u16 major, u16 minor, magic.
  LANCER_ASSIGN_OR_RETURN(version_, normalise_version(major, minor));

  const auto column_meta_start = core::load_le<uint64_t>(footer + 0);
  const auto cmo_pos = core::load_le<uint64_t>(footer + 8);
  const auto gbo_pos = core::load_le<uint64_t>(footer + 16);
  const auto num_gb = core::load_le<uint32_t>(footer + 24);
  const auto num_cols = core::load_le<uint32_t>(footer + 28);
  const uint64_t meta_end = size - kFooterSize;
  if (num_gb < 1 || num_gb > kMaxGlobalBuffers || num_cols > kMaxColumns) {
    return Status::Corruption("footer claims " + std::to_string(num_gb) + " global buffers and " +
                              std::to_string(num_cols) + " columns");
  }
  if (!range_inside(cmo_pos, uint64_t{num_cols} * 16, meta_end) ||
      !range_inside(gbo_pos, uint64_t{num_gb} * 16, meta_end) || column_meta_start > cmo_pos ||
      column_meta_start > gbo_pos) {
    return Status::Corruption("footer offset tables point outside the file (column metadata " +
                              std::to_string(column_meta_start) + ", CMO " + std::to_string(cmo_pos) + ", GBO " +
                              std::to_string(gbo_pos) + ", file size " + std::to_string(size) + ")");
  }

  // Everything from column_meta_start to the footer is metadata; read it at once.
  std::vector<uint8_t> meta_storage;
  const uint8_t* meta;
  if (column_meta_start >= tail_start) {
    meta = tail.data() + (column_meta_start - tail_start);
  } else {
    LANCER_ASSIGN_OR_RETURN(meta_storage, file_->read_range(column_meta_start, meta_end - column_meta_start));
    meta = meta_storage.data();
  }
  auto meta_at = [&](uint64_t pos) { return meta + (pos - column_meta_start); };

  global_buffers_.resize(num_gb);
  for (uint32_t i = 0; i < num_gb; ++i) {
    const uint8_t* e = meta_at(gbo_pos + 16ull * i);
    BufferRange r{core::load_le<uint64_t>(e), core::load_le<uint64_t>(e + 8)};
    if (!range_inside(r.offset, r.size, size)) {
      return Status::Corruption("global buffer " + std::to_string(i) + " " + range_text(r.offset, r.size) +
                                " lies outside the file of " + std::to_string(size) + " bytes");
    }
    global_buffers_[i] = r;
  }
  LANCER_ASSIGN_OR_RETURN(std::vector<uint8_t> schema_bytes, read_global_buffer(0));
  if (!descriptor_.ParseFromArray(schema_bytes.data(), static_cast<int>(schema_bytes.size()))) {
    return Status::Corruption("global buffer 0 is not a valid FileDescriptor (schema)");
  }

  columns_.resize(num_cols);
  for (uint32_t c = 0; c < num_cols; ++c) {
    const uint8_t* e = meta_at(cmo_pos + 16ull * c);
    const uint64_t off = core::load_le<uint64_t>(e);
    const uint64_t len = core::load_le<uint64_t>(e + 8);
    const std::string where = "column " + std::to_string(c);
    if (off < column_meta_start || !range_inside(off, len, meta_end)) {
      return Status::Corruption(where + " metadata " + range_text(off, len) + " lies outside the metadata region");
    }
    ::lance::file::v2::ColumnMetadata cm;
    if (!cm.ParseFromArray(meta_at(off), static_cast<int>(len))) {
      return Status::Corruption(where + " metadata is not a valid ColumnMetadata protobuf");
    }
    ColumnInfo& info = columns_[c];
    info.pages.reserve(cm.pages_size());
    for (int p = 0; p < cm.pages_size(); ++p) {
      const auto& page = cm.pages(p);
      const std::string pwhere = where + " page " + std::to_string(p);
      if (page.buffer_offsets_size() != page.buffer_sizes_size()) {
        return Status::Corruption(pwhere + " has " + std::to_string(page.buffer_offsets_size()) +
                                  " buffer offsets but " + std::to_string(page.buffer_sizes_size()) + " sizes");
      }
      PageInfo pi;
      pi.num_rows = page.length();
      for (int b = 0; b < page.buffer_offsets_size(); ++b) {
        BufferRange r{page.buffer_offsets(b), page.buffer_sizes(b)};
        if (!range_inside(r.offset, r.size, size)) {
          return Status::Corruption(pwhere + " buffer " + std::to_string(b) + " " + range_text(r.offset, r.size) +
                                    " points past the end of the file (" + std::to_string(size) + " bytes)");
        }
        // Lance pads every page buffer to 64 bytes and writes them all before the
        // metadata; without checksums this is what exposes a damaged offset.
        if (r.size != 0 && (r.offset % kBufferAlignment != 0 || r.offset + r.size > column_meta_start)) {
          return Status::Corruption(pwhere + " buffer " + std::to_string(b) + " " + range_text(r.offset, r.size) +
                                    " is not a 64-byte aligned buffer of the data region (which ends at " +
                                    std::to_string(column_meta_start) + ")");
        }
        pi.buffers.push_back(r);
      }
      if (page.encoding().location_case() != ::lance::file::v2::Encoding::kDirect) {
        return Status::NotSupported(pwhere + " uses an indirect or empty encoding, which Lance does not write");
      }
      google::protobuf::Any any;
      if (!any.ParseFromString(page.encoding().direct().encoding())) {
        return Status::Corruption(pwhere + " encoding is not a valid google.protobuf.Any");
      }
      pi.encoding_type_url = any.type_url();
      pi.encoding = any.value();
      info.pages.push_back(std::move(pi));
    }
  }
  return check_no_overlap();
}

// No two buffers share bytes: a damaged offset that still lands on an aligned
// spot inside the data region almost always lands on another buffer.
Status LanceFile::check_no_overlap() const {
  std::vector<std::pair<BufferRange, std::string>> all;
  for (size_t i = 0; i < global_buffers_.size(); ++i)
    all.push_back({global_buffers_[i], "global buffer " + std::to_string(i)});
  for (size_t c = 0; c < columns_.size(); ++c) {
    for (size_t p = 0; p < columns_[c].pages.size(); ++p) {
      for (size_t b = 0; b < columns_[c].pages[p].buffers.size(); ++b) {
        all.push_back({columns_[c].pages[p].buffers[b],
                       "column " + std::to_string(c) + " page " + std::to_string(p) + " buffer " + std::to_string(b)});
      }
    }
  }
  std::erase_if(all, [](const auto& e) { return e.first.size == 0; });
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first.offset < b.first.offset; });
  for (size_t i = 1; i < all.size(); ++i) {
    const BufferRange& prev = all[i - 1].first;
    if (all[i].first.offset < prev.offset + prev.size) {
      return Status::Corruption(all[i].second + " " + range_text(all[i].first.offset, all[i].first.size) +
                                " overlaps " + all[i - 1].second + " " + range_text(prev.offset, prev.size));
    }
  }
  return Status::OK();
}

Result<std::vector<uint8_t>> LanceFile::read_global_buffer(size_t i) const {
  if (i >= global_buffers_.size()) {
    return Status::Corruption("global buffer " + std::to_string(i) + " does not exist (the file has " +
                              std::to_string(global_buffers_.size()) + ")");
  }
  return file_->read_range(global_buffers_[i].offset, global_buffers_[i].size);
}

}  // namespace lancer::lance

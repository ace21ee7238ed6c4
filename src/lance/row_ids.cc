#include "lance/row_ids.h"

#include <google/protobuf/unknown_field_set.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <limits>

#include "core/bytes.h"
#include "rowids.pb.h"

namespace lancer::lance {
namespace {

using core::load_le;
namespace pb = ::lance::table;

// An unset oneof with unknown fields is a kind newer than this reader.
bool has_unknown_fields(const google::protobuf::Message& m) {
  return m.GetReflection()->GetUnknownFields(m).field_count() > 0;
}

// Row addresses keep a 32-bit offset, so no fragment has more rows than this.
constexpr uint64_t kMaxIdsPerSequence = uint64_t{1} << 32;

// An EncodedU64Array viewed in place: base + little-endian u16/u32 offsets, or
// plain u64 values. Validated on construction (width, no u64 overflow).
class ArrayView {
 public:
  static Result<ArrayView> make(const pb::EncodedU64Array& a) {
    ArrayView v;
    switch (a.array_case()) {
      case pb::EncodedU64Array::kU16Array:
        v.width_ = 2, v.base_ = a.u16_array().base(), v.bytes_ = &a.u16_array().offsets();
        break;
      case pb::EncodedU64Array::kU32Array:
        v.width_ = 4, v.base_ = a.u32_array().base(), v.bytes_ = &a.u32_array().offsets();
        break;
      case pb::EncodedU64Array::kU64Array: v.width_ = 8, v.base_ = 0, v.bytes_ = &a.u64_array().values(); break;
      case pb::EncodedU64Array::ARRAY_NOT_SET:
        if (has_unknown_fields(a)) return Status::NotSupported("unknown EncodedU64Array kind");
        return Status::Corruption("EncodedU64Array has no kind set");
    }
    if (v.bytes_->size() % v.width_ != 0) {
      return Status::Corruption(std::to_string(v.bytes_->size()) + " bytes is not a whole number of " +
                                std::to_string(v.width_) + "-byte values");
    }
    if (v.width_ < 8) {
      uint64_t max_offset = 0;
      for (size_t i = 0; i < v.size(); ++i) max_offset = std::max(max_offset, v.offset(i));
      if (max_offset > std::numeric_limits<uint64_t>::max() - v.base_) {
        return Status::Corruption("base " + std::to_string(v.base_) + " + offset " + std::to_string(max_offset) +
                                  " overflows u64");
      }
    }
    return v;
  }

  size_t size() const { return bytes_->size() / width_; }
  uint64_t operator[](size_t i) const { return base_ + offset(i); }

 private:
  uint64_t offset(size_t i) const {
    const auto* p = reinterpret_cast<const uint8_t*>(bytes_->data()) + i * width_;
    return width_ == 2 ? load_le<uint16_t>(p) : width_ == 4 ? load_le<uint32_t>(p) : load_le<uint64_t>(p);
  }

  size_t width_ = 8;
  uint64_t base_ = 0;
  const std::string* bytes_ = nullptr;
};

Status check_range(uint64_t start, uint64_t end) {
  if (start > end) return Status::Corruption("range start " + std::to_string(start) + " > end " + std::to_string(end));
  return Status::OK();
}

Status check_strictly_ascending(const ArrayView& v, const char* what) {
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] <= v[i - 1])
      return Status::Corruption(std::string(what) + " not strictly ascending at index " + std::to_string(i));
  }
  return Status::OK();
}

// Validates one segment and returns how many ids it yields, allocating nothing.
// Semantics (lance-table rowids/segment.rs): holes are absolute ids that are
// absent from [start, end); a bitmap bit set means start + i is present, bit i
// of byte i / 8 counted from the least significant bit.
Result<uint64_t> count_segment(const pb::U64Segment& s) {
  switch (s.segment_case()) {
    case pb::U64Segment::kRange:
      LANCER_RETURN_IF_ERROR(check_range(s.range().start(), s.range().end()));
      return s.range().end() - s.range().start();
    case pb::U64Segment::kRangeWithHoles: {
      const auto& r = s.range_with_holes();
      LANCER_RETURN_IF_ERROR(check_range(r.start(), r.end()));
      if (!r.has_holes()) return Status::Corruption("range_with_holes has no holes array");
      LANCER_ASSIGN_OR_RETURN(ArrayView holes, ArrayView::make(r.holes()));
      LANCER_RETURN_IF_ERROR(check_strictly_ascending(holes, "holes"));
      if (holes.size() > 0 && (holes[0] < r.start() || holes[holes.size() - 1] >= r.end())) {
        return Status::Corruption("holes [" + std::to_string(holes[0]) + ", " +
                                  std::to_string(holes[holes.size() - 1]) + "] leave the range [" +
                                  std::to_string(r.start()) + ", " + std::to_string(r.end()) + ")");
      }
      return r.end() - r.start() - holes.size();  // holes are distinct and inside, so no underflow
    }
    case pb::U64Segment::kRangeWithBitmap: {
      const auto& r = s.range_with_bitmap();
      LANCER_RETURN_IF_ERROR(check_range(r.start(), r.end()));
      const uint64_t len = r.end() - r.start();
      const uint64_t want_bytes = len / 8 + (len % 8 != 0);
      if (r.bitmap().size() != want_bytes) {
        return Status::Corruption("bitmap of " + std::to_string(r.bitmap().size()) + " bytes for a range of " +
                                  std::to_string(len) + " ids (needs " + std::to_string(want_bytes) + ")");
      }
      const auto* bits = reinterpret_cast<const uint8_t*>(r.bitmap().data());
      if (len % 8 != 0 && (bits[want_bytes - 1] >> (len % 8)) != 0) {
        return Status::Corruption("bitmap has bits set past the end of its range");
      }
      uint64_t present = 0;
      for (uint64_t i = 0; i < want_bytes; ++i) present += std::popcount(bits[i]);
      return present;
    }
    case pb::U64Segment::kSortedArray: {
      LANCER_ASSIGN_OR_RETURN(ArrayView v, ArrayView::make(s.sorted_array()));
      LANCER_RETURN_IF_ERROR(check_strictly_ascending(v, "sorted_array"));
      return uint64_t{v.size()};
    }
    case pb::U64Segment::kArray: {
      LANCER_ASSIGN_OR_RETURN(ArrayView v, ArrayView::make(s.array()));
      return uint64_t{v.size()};
    }
    case pb::U64Segment::SEGMENT_NOT_SET: break;
  }
  if (has_unknown_fields(s)) return Status::NotSupported("unknown segment kind");
  return Status::Corruption("segment has no kind set");
}

// Appends a validated segment's ids.
void emit_segment(const pb::U64Segment& s, std::vector<uint64_t>& out) {
  switch (s.segment_case()) {
    case pb::U64Segment::kRange:
      for (uint64_t id = s.range().start(); id < s.range().end(); ++id) out.push_back(id);
      break;
    case pb::U64Segment::kRangeWithHoles: {
      const auto& r = s.range_with_holes();
      const ArrayView holes = *ArrayView::make(r.holes());
      size_t next_hole = 0;
      for (uint64_t id = r.start(); id < r.end(); ++id) {
        if (next_hole < holes.size() && holes[next_hole] == id) {
          ++next_hole;
        } else {
          out.push_back(id);
        }
      }
      break;
    }
    case pb::U64Segment::kRangeWithBitmap: {
      const auto& r = s.range_with_bitmap();
      const auto* bits = reinterpret_cast<const uint8_t*>(r.bitmap().data());
      for (uint64_t i = 0; i < r.end() - r.start(); ++i) {
        if ((bits[i / 8] >> (i % 8)) & 1) out.push_back(r.start() + i);
      }
      break;
    }
    case pb::U64Segment::kSortedArray:
    case pb::U64Segment::kArray: {
      const ArrayView v = *ArrayView::make(s.has_sorted_array() ? s.sorted_array() : s.array());
      for (size_t i = 0; i < v.size(); ++i) out.push_back(v[i]);
      break;
    }
    case pb::U64Segment::SEGMENT_NOT_SET: break;
  }
}

const char* segment_kind(const pb::U64Segment& s) {
  switch (s.segment_case()) {
    case pb::U64Segment::kRange: return "range";
    case pb::U64Segment::kRangeWithHoles: return "range_with_holes";
    case pb::U64Segment::kRangeWithBitmap: return "range_with_bitmap";
    case pb::U64Segment::kSortedArray: return "sorted_array";
    case pb::U64Segment::kArray: return "array";
    case pb::U64Segment::SEGMENT_NOT_SET: break;
  }
  return "unset";
}

}  // namespace

Result<std::vector<uint64_t>> decode_row_id_sequence(const uint8_t* data, size_t size, const std::string& what,
                                                     std::optional<uint64_t> expected_count) {
  const std::string where = what + ": row id sequence";
  if (size > static_cast<size_t>(INT_MAX))
    return Status::Corruption(where + ": " + std::to_string(size) + " bytes is too large");
  pb::RowIdSequence seq;
  if (!seq.ParseFromArray(data, static_cast<int>(size))) {
    return Status::Corruption(where + ": not a valid RowIdSequence protobuf (" + std::to_string(size) + " bytes)");
  }

  uint64_t total = 0;
  for (int i = 0; i < seq.segments_size(); ++i) {
    const pb::U64Segment& s = seq.segments(i);
    Result<uint64_t> n = count_segment(s);
    if (!n.ok()) return n.status().context(where + ": segment " + std::to_string(i) + " (" + segment_kind(s) + ")");
    if (*n > kMaxIdsPerSequence - total) {
      return Status::Corruption(where + ": more than 2^32 ids (a fragment holds at most 2^32 rows)");
    }
    total += *n;
  }
  if (expected_count && total != *expected_count) {
    return Status::Corruption(where + ": holds " + std::to_string(total) + " ids, the fragment has " +
                              std::to_string(*expected_count) + " physical rows");
  }

  std::vector<uint64_t> ids;
  ids.reserve(total);
  for (const pb::U64Segment& s : seq.segments()) emit_segment(s, ids);
  return ids;
}

}  // namespace lancer::lance

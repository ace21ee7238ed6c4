#include "lance/roaring.h"

#include <roaring/roaring.h>

#include <bit>
#include <cassert>
#include <memory>
#include <new>

#include "core/bytes.h"

namespace lancer::lance {
namespace {

using core::load_le;

// RoaringFormatSpec constants.
constexpr uint32_t kCookieNoRuns = 12346;
constexpr uint16_t kCookieRuns = 12347;
constexpr uint32_t kNoOffsetThreshold = 4;  // 12347 omits the offset table below this many containers
constexpr uint32_t kMaxContainers = 1u << 16;
constexpr uint32_t kMaxArrayCardinality = 4096;
constexpr size_t kBitmapContainerBytes = 8192;

struct RoaringDeleter {
  void operator()(roaring_bitmap_t* r) const { roaring_bitmap_free(r); }
};
using RoaringPtr = std::unique_ptr<roaring_bitmap_t, RoaringDeleter>;

// Walks the serialized bytes and checks what CRoaring's "safe" deserializer
// only bounds-checks: ascending keys, strictly ascending array values, run
// containers inside their 16-bit space, and cardinalities that match the
// contents (CRoaring trusts a bitmap container's stored cardinality, and
// roaring_bitmap_to_uint32_array sizes its output from it). Returns the number
// of bytes the bitmap occupies.
class PortableValidator {
 public:
  PortableValidator(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  Result<size_t> run() {
    LANCER_ASSIGN_OR_RETURN(uint32_t cookie, u32("cookie"));
    uint32_t count = 0;
    bool has_runs = false;
    const uint8_t* run_flags = nullptr;
    if (cookie == kCookieNoRuns) {
      LANCER_ASSIGN_OR_RETURN(count, u32("container count"));
      if (count > kMaxContainers) return error("container count " + std::to_string(count) + " exceeds 65536");
    } else if ((cookie & 0xFFFF) == kCookieRuns) {
      has_runs = true;
      count = (cookie >> 16) + 1;
      run_flags = data_ + pos_;
      LANCER_RETURN_IF_ERROR(skip((count + 7) / 8, "run-container flags"));
    } else {
      return error("unknown cookie " + std::to_string(cookie & 0xFFFF) + " (expected 12346 or 12347)");
    }

    const uint8_t* descriptors = data_ + pos_;
    LANCER_RETURN_IF_ERROR(skip(size_t{count} * 4, "container descriptors"));
    // The offset table is redundant with the sequential layout; readers
    // (CRoaring, the Rust crate) skip it, and so do we.
    if (!has_runs || count >= kNoOffsetThreshold) LANCER_RETURN_IF_ERROR(skip(size_t{count} * 4, "offset table"));

    for (uint32_t i = 0; i < count; ++i) {
      const uint16_t key = load_le<uint16_t>(descriptors + 4 * i);
      const uint32_t cardinality = uint32_t{load_le<uint16_t>(descriptors + 4 * i + 2)} + 1;
      if (i > 0 && key <= load_le<uint16_t>(descriptors + 4 * (i - 1))) {
        return error("container keys are not strictly ascending at container " + std::to_string(i));
      }
      const bool is_run = has_runs && ((run_flags[i / 8] >> (i % 8)) & 1);
      Status st = is_run                                ? check_run_container(cardinality)
                  : cardinality <= kMaxArrayCardinality ? check_array_container(cardinality)
                                                        : check_bitmap_container(cardinality);
      if (!st.ok()) {
        return error("container " + std::to_string(i) + " (key " + std::to_string(key) + "): " + st.message());
      }
    }
    return pos_;
  }

 private:
  static Status error(const std::string& msg) { return Status::Corruption(msg); }

  Status skip(size_t n, const char* part) {
    if (n > size_ - pos_) {
      return error("truncated in the " + std::string(part) + ": needs " + std::to_string(n) + " bytes at offset " +
                   std::to_string(pos_) + ", buffer has " + std::to_string(size_));
    }
    pos_ += n;
    return Status::OK();
  }
  Result<uint32_t> u32(const char* part) {
    const size_t at = pos_;
    LANCER_RETURN_IF_ERROR(skip(4, part));
    return load_le<uint32_t>(data_ + at);
  }

  Status check_array_container(uint32_t cardinality) {
    const uint8_t* p = data_ + pos_;
    LANCER_RETURN_IF_ERROR(skip(size_t{cardinality} * 2, "array container"));
    for (uint32_t j = 1; j < cardinality; ++j) {
      if (load_le<uint16_t>(p + 2 * j) <= load_le<uint16_t>(p + 2 * (j - 1))) {
        return error("array container values are not strictly ascending");
      }
    }
    return Status::OK();
  }

  Status check_bitmap_container(uint32_t cardinality) {
    const uint8_t* p = data_ + pos_;
    LANCER_RETURN_IF_ERROR(skip(kBitmapContainerBytes, "bitmap container"));
    uint32_t ones = 0;
    for (size_t w = 0; w < kBitmapContainerBytes / 8; ++w) ones += std::popcount(load_le<uint64_t>(p + 8 * w));
    if (ones != cardinality) {
      return error("bitmap container has " + std::to_string(ones) + " bits set but claims cardinality " +
                   std::to_string(cardinality));
    }
    return Status::OK();
  }

  Status check_run_container(uint32_t cardinality) {
    const size_t at = pos_;
    LANCER_RETURN_IF_ERROR(skip(2, "run container"));
    const uint16_t n_runs = load_le<uint16_t>(data_ + at);
    const uint8_t* p = data_ + pos_;
    LANCER_RETURN_IF_ERROR(skip(size_t{n_runs} * 4, "run container"));
    uint64_t total = 0;
    uint32_t prev_last = 0;
    for (uint32_t j = 0; j < n_runs; ++j) {
      const uint32_t start = load_le<uint16_t>(p + 4 * j);
      const uint32_t last = start + load_le<uint16_t>(p + 4 * j + 2);
      if (last > 0xFFFF) return error("run " + std::to_string(j) + " runs past the end of its 16-bit container");
      if (j > 0 && start <= prev_last) return error("runs overlap or are out of order at run " + std::to_string(j));
      total += last - start + 1;
      prev_last = last;
    }
    if (total != cardinality) {
      return error("runs hold " + std::to_string(total) + " values but the descriptor claims " +
                   std::to_string(cardinality));
    }
    return Status::OK();
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace

Result<std::vector<uint32_t>> roaring_decode(const uint8_t* data, size_t size, const std::string& what) {
  auto fail = [&](const std::string& msg) { return Status::Corruption(what + ": roaring bitmap: " + msg); };
  if (data == nullptr || size == 0) return fail("empty buffer");

  auto validated = PortableValidator(data, size).run();
  if (!validated.ok()) return fail(validated.status().message());
  const size_t used = *validated;
  if (used != size) {
    return fail(std::to_string(size - used) + " trailing bytes after a " + std::to_string(used) + "-byte bitmap");
  }

  const char* bytes = reinterpret_cast<const char*>(data);
  if (roaring_bitmap_portable_deserialize_size(bytes, size) != used) {
    return fail("CRoaring measures a different serialized size");
  }
  RoaringPtr bitmap(roaring_bitmap_portable_deserialize_safe(bytes, size));
  if (bitmap == nullptr) return fail("CRoaring refused to deserialize it");

  // Safe: the validator proved every stored cardinality equals the contents.
  std::vector<uint32_t> values(roaring_bitmap_get_cardinality(bitmap.get()));
  roaring_bitmap_to_uint32_array(bitmap.get(), values.data());
  return values;
}

std::string roaring_encode(const std::vector<uint32_t>& values) {
  RoaringPtr bitmap(roaring_bitmap_of_ptr(values.size(), values.data()));
  if (bitmap == nullptr) throw std::bad_alloc();
  // add_many never creates run containers; stay explicit so the cookie is
  // always 12346 (Lance 10 reads both, but we promise the simpler form).
  roaring_bitmap_remove_run_compression(bitmap.get());
  std::string out(roaring_bitmap_portable_size_in_bytes(bitmap.get()), '\0');
  [[maybe_unused]] const size_t written = roaring_bitmap_portable_serialize(bitmap.get(), out.data());
  assert(written == out.size());
  assert(out.size() >= 4 && load_le<uint32_t>(reinterpret_cast<const uint8_t*>(out.data())) == kCookieNoRuns);
  return out;
}

}  // namespace lancer::lance

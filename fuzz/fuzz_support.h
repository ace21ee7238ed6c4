// Shared by the libFuzzer harnesses (docs/fuzzing.md): parsers that read a path get the input
// written to a per-process scratch file first; a crash, sanitizer report or hang is the finding,
// a returned error is the expected outcome for most inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lancer::fuzz {

// A folder of this process's own under $TMPDIR (or /tmp), created once.
const std::string& scratch_dir();
// Writes `size` bytes to `<scratch_dir>/<name>` (replacing it) and returns the path.
std::string write_scratch(const std::string& name, const uint8_t* data, size_t size);

// Reads the input front to back; past its end every read yields zeros / empty ranges.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(u8()) << (8 * i);
    return v;
  }
  // The next `n` bytes (fewer at the end).
  std::string take(size_t n) {
    n = n < size_ - pos_ ? n : size_ - pos_;
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  const uint8_t* rest() const { return data_ + pos_; }
  size_t rest_size() const { return size_ - pos_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace lancer::fuzz

// Internal to src/train: the byte strings that distributed training passes
// through core::Collective. Values are copied with memcpy in the machine's own
// representation, so every rank of a job must run on the same architecture
// (endianness, float format); a distributed job is one binary on one kind of
// node. A string of the wrong length from another rank is an Internal error.
#pragma once

#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/collective.h"
#include "lancer/status.h"

namespace lancer::train::exchange {

template <class T>
void put(std::string& out, const T* values, size_t count) {
  static_assert(std::is_trivially_copyable_v<T>);
  out.append(reinterpret_cast<const char*>(values), count * sizeof(T));
}

class Reader {
 public:
  explicit Reader(const std::string& bytes) : bytes_(bytes) {}
  // Copies the next `count` values; false if the string is too short.
  template <class T>
  [[nodiscard]] bool get(T* values, size_t count) {
    static_assert(std::is_trivially_copyable_v<T>);
    const char* p = take(count * sizeof(T));
    if (p == nullptr) return false;
    if (count != 0) std::memcpy(values, p, count * sizeof(T));
    return true;
  }
  // The next `bytes` bytes in place (unaligned), or null if too short.
  const char* take(size_t bytes) {
    if (bytes_.size() - pos_ < bytes) return nullptr;
    const char* p = bytes_.data() + pos_;
    pos_ += bytes;
    return p;
  }
  bool done() const { return pos_ == bytes_.size(); }

 private:
  const std::string& bytes_;
  size_t pos_ = 0;
};

// all_gather that checks every rank answered.
inline Result<std::vector<std::string>> all_gather(core::Collective& collective, std::string mine) {
  LANCER_ASSIGN_OR_RETURN(auto all, collective.all_gather(std::move(mine)));
  if (all.size() != static_cast<size_t>(collective.size()))
    return Status::Internal("training: all_gather returned " + std::to_string(all.size()) + " parts for " +
                            std::to_string(collective.size()) + " ranks");
  return all;
}

inline Status malformed(const char* what, size_t rank) {
  return Status::Internal(std::string("training: malformed ") + what + " from rank " + std::to_string(rank));
}

}  // namespace lancer::train::exchange

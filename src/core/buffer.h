// A byte vector whose resize() leaves new bytes uninitialised: batch buffers
// are overwritten by pread right away, so zero-filling them would double the
// memory traffic of the reader.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace lancer::core {

template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  using std::allocator<T>::allocator;
  template <typename U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;  // default-init: no zeroing for trivial types
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

using ByteBuffer = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;
template <typename T>
using UninitVector = std::vector<T, DefaultInitAllocator<T>>;

}  // namespace lancer::core

// A byte vector whose resize() leaves new bytes uninitialised: batch buffers
// are overwritten by pread right away, so zero-filling them would double the
// memory traffic of the reader. Large buffers (the training sample, packed
// rows, spill runs, batches) are also backed by transparent huge pages where
// the kernel offers them: their first touch then faults once per 2 MiB instead
// of once per 4 KiB (52,000 page faults in a 200,000 x 128 build).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace lancer::core {

// Buffers from this size on are aligned to 2 MiB and advised MADV_HUGEPAGE.
inline constexpr size_t kHugePageBufferBytes = size_t{4} << 20;
// Memory for `bytes` (>= kHugePageBufferBytes): huge-page aligned and advised; throws bad_alloc.
void* allocate_huge_page_buffer(size_t bytes);
void free_huge_page_buffer(void* p, size_t bytes) noexcept;

template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  using std::allocator<T>::allocator;
  T* allocate(size_t n) {
    if (n >= kHugePageBufferBytes / sizeof(T)) return static_cast<T*>(allocate_huge_page_buffer(n * sizeof(T)));
    return std::allocator<T>::allocate(n);
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n >= kHugePageBufferBytes / sizeof(T)) {
      free_huge_page_buffer(p, n * sizeof(T));
    } else {
      std::allocator<T>::deallocate(p, n);
    }
  }
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

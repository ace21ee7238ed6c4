#include "core/buffer.h"

#include <sys/mman.h>

#include <new>

namespace lancer::core {

namespace {
constexpr size_t kHugePage = size_t{2} << 20, kSmallPage = 4096;
}  // namespace

void* allocate_huge_page_buffer(size_t bytes) {
  // Aligned so that the whole buffer can be huge pages; the advice only asks (THP "madvise" mode,
  // the usual default): where the kernel has none to give, the buffer gets small pages as before.
  void* p = ::operator new (bytes, std::align_val_t{kHugePage});
  (void)madvise(p, (bytes + kSmallPage - 1) / kSmallPage * kSmallPage, MADV_HUGEPAGE);
  return p;
}

void free_huge_page_buffer(void* p, size_t bytes) noexcept {
  (void)bytes;
  ::operator delete (p, std::align_val_t{kHugePage});
}

}  // namespace lancer::core

// Deletion files in Arrow IPC file format (`_deletions/*.arrow`).
#include "fuzz_support.h"
#include "lance/deletion.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)lancer::lance::decode_deletion_file(data, size, lancer::lance::DeletionFileKind::kArrowArray, 1u << 20,
                                            "_deletions/0-1-0.arrow");
  return 0;
}

// Deletion files as portable Roaring bitmaps (`_deletions/*.bin`); the same decoder reads the
// fragment bitmaps of index entries.
#include "fuzz_support.h"
#include "lance/deletion.h"
#include "lance/roaring.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)lancer::lance::decode_deletion_file(data, size, lancer::lance::DeletionFileKind::kBitmap, 1u << 20,
                                            "_deletions/0-1-0.bin");
  (void)lancer::lance::roaring_decode(data, size, "fragment bitmap");
  return 0;
}

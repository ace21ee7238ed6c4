// Stable row-id sequences (a fragment's `row_id_meta`, inline or in `_rowids/`), with and
// without the fragment's physical row count to match.
#include "fuzz_support.h"
#include "lance/row_ids.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte chooses an expected count (0: none) so both checks are reached.
  const uint64_t expected = data[0];
  (void)lancer::lance::decode_row_id_sequence(data + 1, size - 1, "row ids",
                                              expected ? std::optional<uint64_t>(expected * 16) : std::nullopt);
  return 0;
}

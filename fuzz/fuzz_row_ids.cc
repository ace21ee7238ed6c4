// Stable row-id sequences (a fragment's `row_id_meta`, inline or in `_rowids/`), decoded as
// fragments decode them: with the fragment's physical row count to match, which is what bounds
// the memory a decode may take. (Without it, a 46-byte sequence of ranges claiming 631 million
// ids made the decoder reserve 5 GB: tests/data/fuzz-regressions/row_ids/.)
#include "fuzz_support.h"
#include "lance/row_ids.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lancer::fuzz::Input in(data, size);
  // Bytes 0-3: the fragment's physical row count, kept below 2^20 so one input cannot ask for more
  // than 8 MB of ids.
  const uint64_t physical_rows = in.u32() % (1u << 20);
  (void)lancer::lance::decode_row_id_sequence(in.rest(), in.rest_size(), "row ids", physical_rows);
  return 0;
}

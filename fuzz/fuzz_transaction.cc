// Transaction files (`_transactions/*.txn`, or inline in a manifest) of other writers, as a
// commit that lost a race reads them: parsed, then checked by Lance's rebase rules against an
// index entry. The first input byte picks the indexed field and the entry's fragment bitmap.
#include <vector>

#include "fuzz_support.h"
#include "lance/commit.h"
#include "lance/roaring.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lancer::fuzz::Input in(data, size);
  const uint8_t shape = in.u8();
  ::lance::table::Transaction txn;
  if (!txn.ParseFromArray(in.rest(), static_cast<int>(in.rest_size()))) return 0;
  ::lance::table::IndexMetadata index;
  index.set_name("vector_idx");
  index.add_fields(shape & 7);
  std::vector<uint32_t> covered;
  for (uint32_t f = 0; f < 8; ++f) {
    if (shape & (8u << (f % 5))) covered.push_back(f);
  }
  index.set_fragment_bitmap(lancer::lance::roaring_encode(covered));
  (void)lancer::lance::check_compatible(txn, &index, 2);
  return 0;
}

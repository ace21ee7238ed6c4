// Manifest files (`_versions/*.manifest`): the framed Manifest, IndexSection and inline
// Transaction, and the fragment bitmaps of the index entries as search and commit decode them.
#include "fuzz_support.h"
#include "lance/manifest.h"
#include "lance/roaring.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = lancer::fuzz::write_scratch("1.manifest", data, size);
  auto mf = lancer::lance::read_manifest(path, "_versions/1.manifest");
  if (!mf.ok() || !mf->index_section) return 0;
  for (const auto& idx : mf->index_section->indices()) {
    const std::string& bm = idx.fragment_bitmap();
    (void)lancer::lance::roaring_decode(reinterpret_cast<const uint8_t*>(bm.data()), bm.size(), "fragment bitmap");
  }
  return 0;
}

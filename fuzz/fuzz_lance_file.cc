// The Lance file container: footer, offset tables, global buffers, schema and column metadata
// (every data file and index file goes through LanceFile::open first).
#include "fuzz_support.h"
#include "lance/file_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = lancer::fuzz::write_scratch("data.lance", data, size);
  auto file = lancer::lance::LanceFile::open(path, "data/fuzz.lance");
  if (!file.ok()) return 0;
  for (size_t i = 0; i < (*file)->num_global_buffers(); ++i) (void)(*file)->read_global_buffer(i);
  return 0;
}

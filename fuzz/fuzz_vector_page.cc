// Every page decoder of vector columns: 2.0 (flat, fixed-size list, nullable), 2.1/2.2 mini-block
// (chunk table, definition levels, bit-packed levels) and full-zip. The page is opened with every
// vector type the file's schema names, and read whole in slices of up to 256 rows.
#include <vector>

#include "fuzz_support.h"
#include "lance/file_reader.h"
#include "lance/vector_page.h"

namespace {

// Enough rows to cross several mini-block chunks; bounded so a huge row count is no timeout.
constexpr uint64_t kMaxRowsRead = 4096;
constexpr uint64_t kSlice = 256;

void read_page(const lancer::lance::LanceFile& file, size_t c, size_t p, lancer::lance::VectorType type) {
  auto reader = lancer::lance::VectorPageReader::open(file, c, p, type);
  if (!reader.ok()) return;
  const uint64_t rows = std::min((*reader)->num_rows(), kMaxRowsRead);
  std::vector<uint8_t> values(kSlice * type.row_bytes()), valid(kSlice);
  for (uint64_t start = 0; start < rows; start += kSlice) {
    const uint64_t n = std::min(kSlice, rows - start);
    if (!(*reader)->read(start, n, values.data(), valid.data()).ok()) return;
  }
  // A read from the end backwards: chunk caches must not depend on reading in order.
  if (rows > 1) (void)(*reader)->read(rows - 1, 1, values.data(), valid.data());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = lancer::fuzz::write_scratch("data.lance", data, size);
  auto file = lancer::lance::LanceFile::open(path, "data/fuzz.lance");
  if (!file.ok()) return 0;
  const auto& f = **file;
  std::vector<lancer::lance::VectorType> types;
  for (const auto& field : f.schema().fields()) {
    auto t = lancer::lance::parse_vector_logical_type(field.logical_type());
    if (t.ok() && t->dim <= 4096) types.push_back(*t);
  }
  for (size_t c = 0; c < f.num_columns(); ++c) {
    for (size_t p = 0; p < f.column(c).pages.size(); ++p) {
      for (const auto& t : types) read_page(f, c, p, t);
    }
  }
  return 0;
}

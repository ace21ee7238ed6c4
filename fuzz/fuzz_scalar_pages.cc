// The scalar page decoders: u64 pages (row ids of data files and index `_rowid` columns; 2.0
// flat/bit-packed, 2.1+ mini-block with inline and out-of-line bit packing, RLE) and f32 pages
// (index columns such as `_distance`), on every page of every column.
#include <vector>

#include "fuzz_support.h"
#include "lance/f32_page.h"
#include "lance/file_reader.h"
#include "lance/u64_page.h"

namespace {

constexpr uint64_t kMaxRowsRead = 8192;
constexpr uint64_t kSlice = 1024;

// `rows`: the page's row count (f32 readers take it from the page info).
template <typename Reader, typename T>
void read_all(Reader& reader, uint64_t page_rows) {
  const uint64_t rows = std::min(page_rows, kMaxRowsRead);
  std::vector<T> out(kSlice);
  for (uint64_t start = 0; start < rows; start += kSlice) {
    if (!reader.read(start, std::min(kSlice, rows - start), out.data()).ok()) return;
  }
  if (rows > 1) (void)reader.read(rows / 2, 1, out.data());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = lancer::fuzz::write_scratch("data.lance", data, size);
  auto file = lancer::lance::LanceFile::open(path, "data/fuzz.lance");
  if (!file.ok()) return 0;
  const auto& f = **file;
  for (size_t c = 0; c < f.num_columns(); ++c) {
    for (size_t p = 0; p < f.column(c).pages.size(); ++p) {
      const uint64_t rows = f.column(c).pages[p].num_rows;
      if (auto r = lancer::lance::U64PageReader::open(f, c, p); r.ok()) {
        read_all<lancer::lance::U64PageReader, uint64_t>(**r, rows);
      }
      if (auto r = lancer::lance::F32PageReader::open(f, c, p); r.ok()) {
        read_all<lancer::lance::F32PageReader, uint32_t>(**r, rows);
      }
    }
  }
  return 0;
}

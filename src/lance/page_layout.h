// Structural page layouts shared by the typed page readers (vector_page.h,
// u64_page.h): the 2.1+ mini-block chunk table and chunk header, the base of
// the page openers (version dispatch, error helpers, buffer checks) and values
// stored back to back. What a value means (its width, nulls, bit packing) stays
// with each typed reader, as lance-encoding keeps structural layouts
// (miniblock, fullzip) apart from value decoders. Functions here are stateless;
// a ChunkView points into a caller-owned buffer and lives as long as it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "encodings_v2_0.pb.h"
#include "encodings_v2_1.pb.h"
#include "lance/file_reader.h"
#include "lancer/status.h"

namespace lancer::lance {

// The most values one mini-block chunk may hold.
constexpr uint64_t kMaxChunkValues = 32768;

struct MiniBlockChunk {
  uint64_t first_row = 0;
  uint64_t rows = 0;
  uint64_t offset = 0;  // absolute file offset
  uint64_t bytes = 0;
};

// Parses a mini-block page's chunk table (`meta`: one u16, or with `large` u32,
// word per chunk) against its chunk buffer `data`: every chunk but the last
// holds 2^k rows, the last the rest (at most kMaxChunkValues), and the chunk
// sizes add up to `data`. Errors are Corruption prefixed with `where`.
Result<std::vector<MiniBlockChunk>> parse_chunk_table(const LanceFile& file, BufferRange meta, BufferRange data,
                                                      bool large, uint64_t rows, const std::string& where);

// Index of the chunk holding `row` (chunks sorted by first_row, row inside the page).
size_t find_chunk(const std::vector<MiniBlockChunk>& chunks, uint64_t row);

// One chunk in memory: [u16 levels][u16 level bytes, if the page has
// definition levels][u16|u32 value bytes], then levels and values, each
// 8-byte aligned.
struct ChunkView {
  std::string where;  // "<page> mini-block chunk <i>", for the typed reader's errors
  const uint8_t* levels = nullptr;
  uint64_t levels_size = 0;
  const uint8_t* values = nullptr;
  uint64_t values_size = 0;
};

// Reads chunk `index` into `buffer` and checks its header: `expected_levels`
// levels (0 without definition levels), buffers inside the chunk.
Result<ChunkView> read_chunk(const LanceFile& file, const std::vector<MiniBlockChunk>& chunks, size_t index, bool large,
                             bool has_levels, uint64_t expected_levels, const std::string& where,
                             std::vector<uint8_t>* buffer);

// A mini-block page's chunks with the one chunk in memory (a read that stays
// inside it reads nothing more). Not thread-safe.
class MiniBlockChunks {
 public:
  MiniBlockChunks(const LanceFile& file, std::vector<MiniBlockChunk> chunks, bool large, bool has_levels,
                  std::string where)
      : file_(file), chunks_(std::move(chunks)), large_(large), has_levels_(has_levels), where_(std::move(where)) {}

  // Rows [start, start + count), chunk by chunk: `decode(chunk, view)` when a
  // chunk is first needed (its header already checked), then `copy(from, n,
  // at)` for the n rows it holds from its row `from` on, which are rows
  // at.. of the read.
  template <typename Decode, typename Copy>
  Status read(uint64_t start, uint64_t count, Decode&& decode, Copy&& copy) {
    uint64_t row = start;
    const uint64_t end = start + count;
    while (row < end) {
      const size_t ci = find_chunk(chunks_, row);
      const MiniBlockChunk& c = chunks_[ci];
      if (loaded_ != static_cast<int64_t>(ci)) {
        loaded_ = -1;
        LANCER_ASSIGN_OR_RETURN(ChunkView view, read_chunk(file_, chunks_, ci, large_, has_levels_,
                                                           has_levels_ ? c.rows : 0, where_, &buffer_));
        LANCER_RETURN_IF_ERROR(decode(c, view));
        loaded_ = static_cast<int64_t>(ci);
      }
      const uint64_t n = std::min(end, c.first_row + c.rows) - row;
      copy(row - c.first_row, n, row - start);
      row += n;
    }
    return Status::OK();
  }

 private:
  const LanceFile& file_;
  std::vector<MiniBlockChunk> chunks_;
  bool large_;
  bool has_levels_;
  std::string where_;
  int64_t loaded_ = -1;
  std::vector<uint8_t> buffer_;
};

// An uncompressed `flat` of `bits` bits per value, without buffer compression.
bool is_flat(const ::lance::encodings21::CompressiveEncoding& e, uint64_t bits);
// `inline_bitpacking` of `bits`-bit values (each block carries its width).
bool is_inline_bitpacked(const ::lance::encodings21::CompressiveEncoding& e, uint64_t bits);
// The packed width of an `out_of_line_bitpacking` of `bits`-bit values into an
// uncompressed flat of at most `bits` bits; nullopt for any other encoding.
std::optional<size_t> out_of_line_width(const ::lance::encodings21::CompressiveEncoding& e, uint64_t bits);

// Values of `row_bytes` each, back to back from `offset` (2.0 flat, full-zip
// without levels): rows [start, start + count) in one read.
struct ContiguousValues {
  uint64_t offset = 0;
  uint64_t row_bytes = 0;
  Status read(const LanceFile& file, uint64_t start, uint64_t count, void* out) const {
    return file.file().read_at(offset + start * row_bytes, count * row_bytes, out);
  }
};

// What every page opener shares: the page, the "column C page P" prefix of
// its errors, and the checks on the encoding URL and buffer sizes.
class PageOpenerBase {
 protected:
  PageOpenerBase(const LanceFile& file, size_t column, size_t page)
      : file_(file),
        info_(file.column(column).pages[page]),
        where_("column " + std::to_string(column) + " page " + std::to_string(page)) {}

  bool is_v20() const { return file_.version().minor == 0; }
  // Corruption unless the page's encoding URL is the one its file version uses
  // (ArrayEncoding for 2.0, PageLayout for 2.1+).
  Status check_encoding_url() const;
  // The page's encoding message (2.0, 2.1+); Corruption when it does not parse.
  Result<::lance::encodings::ArrayEncoding> parse_array_encoding() const;
  Result<::lance::encodings21::PageLayout> parse_page_layout() const;
  // A mini-block page lists one item per row.
  Status check_mini_block_items(const ::lance::encodings21::MiniBlockLayout& mb) const;
  Status corrupt(const std::string& what) const { return Status::Corruption(where_ + ": " + what); }
  // Buffer `index` exists and holds `expected` bytes; `role` ("values", or
  // empty) and `rows_of` ("10 rows of floatx8") describe it in the error.
  Status check_buffer(size_t index, uint64_t expected, const std::string& role, const std::string& rows_of) const;

  const LanceFile& file_;
  const PageInfo& info_;
  std::string where_;
};

}  // namespace lancer::lance

#include "lance/deletion.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "lance/roaring.h"
#include "storage/file_io.h"

namespace lancer::lance {
namespace {

namespace fs = std::filesystem;

std::string data_dir() {
  if (const char* env = std::getenv("LANCER_TEST_DATA")) return env;
  return (fs::path(__FILE__).parent_path() / "../../data/lance").lexically_normal().string();
}

// "physical_rows N" then "start end" runs of deleted offsets.
struct Expected {
  uint64_t physical_rows = 0;
  std::vector<uint32_t> deleted;
};
Expected read_expected(const std::string& path) {
  std::ifstream in(path);
  Expected e;
  std::string word;
  in >> word >> e.physical_rows;
  EXPECT_EQ(word, "physical_rows") << path;
  for (uint32_t a, b; in >> a >> b;) {
    for (uint32_t v = a; v < b; ++v) e.deleted.push_back(v);
  }
  return e;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "lancer_deletion_XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& bytes) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }

 private:
  std::string path_;
};

std::string read_file(const std::string& path) {
  auto r = storage::read_whole_file(path);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? std::string(r->begin(), r->end()) : std::string();
}

// ---------------------------------------------------------------------------
// A tiny flatbuffer writer for hand-built Arrow IPC files. Objects are laid
// out parent first, children after (uoffsets must point forward), each table
// preceded by its vtable; scalars are naturally aligned within the buffer.
// ---------------------------------------------------------------------------
struct FbObj;
using FbRef = std::shared_ptr<FbObj>;
struct FbField {
  std::string scalar;  // inline little-endian bytes, or empty for `ref`
  FbRef ref;
};
struct FbObj {
  enum Kind { kTable, kBytesVector, kTableVector } kind = kTable;
  std::vector<std::optional<FbField>> fields;  // kTable
  std::string bytes;                           // kBytesVector: raw element bytes
  uint32_t count = 0;                          // kBytesVector: element count
  std::vector<FbRef> tables;                   // kTableVector
};

template <typename T>
FbField scalar(T v) {
  return FbField{std::string(reinterpret_cast<const char*>(&v), sizeof(T)), nullptr};
}
FbField ref(FbRef r) {
  return FbField{"", std::move(r)};
}
FbRef table(std::vector<std::optional<FbField>> fields) {
  auto o = std::make_shared<FbObj>();
  o->fields = std::move(fields);
  return o;
}
FbRef bytes_vector(std::string bytes, uint32_t count) {
  auto o = std::make_shared<FbObj>();
  o->kind = FbObj::kBytesVector;
  o->bytes = std::move(bytes);
  o->count = count;
  return o;
}
FbRef string_obj(const std::string& s) {
  return bytes_vector(s + '\0', static_cast<uint32_t>(s.size()));
}
FbRef table_vector(std::vector<FbRef> tables) {
  auto o = std::make_shared<FbObj>();
  o->kind = FbObj::kTableVector;
  o->tables = std::move(tables);
  return o;
}

class FbBuilder {
 public:
  std::string finish(const FbRef& root) {
    buf_.assign(4, '\0');
    const size_t at = emit(*root);
    put<uint32_t>(0, static_cast<uint32_t>(at));
    pad_to(8);
    return buf_;
  }

 private:
  template <typename T>
  void put(size_t pos, T v) {
    std::memcpy(buf_.data() + pos, &v, sizeof(T));
  }
  void pad_to(size_t align) {
    while (buf_.size() % align != 0) buf_.push_back('\0');
  }

  // Returns the object's position (table start, or vector length word).
  size_t emit(const FbObj& o) {
    std::vector<std::pair<size_t, const FbObj*>> patches;  // uoffset slot → child
    size_t at = 0;
    if (o.kind == FbObj::kTable) {
      // vtable: size, table size, one u16 per field.
      pad_to(2);
      const size_t vtable = buf_.size();
      const size_t vt_size = 4 + 2 * o.fields.size();
      buf_.append(vt_size, '\0');
      pad_to(8);
      at = buf_.size();
      buf_.append(4, '\0');
      put<int32_t>(at, static_cast<int32_t>(at - vtable));
      for (size_t i = 0; i < o.fields.size(); ++i) {
        if (!o.fields[i]) continue;
        const size_t width = o.fields[i]->ref ? 4 : o.fields[i]->scalar.size();
        pad_to(width);
        const size_t pos = buf_.size();
        if (o.fields[i]->ref) {
          buf_.append(4, '\0');
          patches.emplace_back(pos, o.fields[i]->ref.get());
        } else {
          buf_ += o.fields[i]->scalar;
        }
        put<uint16_t>(vtable + 4 + 2 * i, static_cast<uint16_t>(pos - at));
      }
      put<uint16_t>(vtable, static_cast<uint16_t>(vt_size));
      put<uint16_t>(vtable + 2, static_cast<uint16_t>(buf_.size() - at));
    } else if (o.kind == FbObj::kBytesVector) {
      pad_to(8);
      buf_.append(4, '\0');  // so the elements after the length word are 8-aligned
      at = buf_.size();
      buf_.append(4, '\0');
      put<uint32_t>(at, o.count);
      buf_ += o.bytes;
    } else {
      pad_to(4);
      at = buf_.size();
      buf_.append(4 + 4 * o.tables.size(), '\0');
      put<uint32_t>(at, static_cast<uint32_t>(o.tables.size()));
      for (size_t i = 0; i < o.tables.size(); ++i) patches.emplace_back(at + 4 + 4 * i, o.tables[i].get());
    }
    for (const auto& [slot, child] : patches) {
      const size_t child_at = emit(*child);
      put<uint32_t>(slot, static_cast<uint32_t>(child_at - slot));
    }
    return at;
  }

  std::string buf_;
};

template <typename T>
std::string le(T v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(T));
}

// What the hand-built IPC file looks like; the defaults mirror Lance's.
struct IpcSpec {
  std::vector<uint32_t> values;
  std::string name = "row_id";
  bool nullable = false;
  int32_t bit_width = 32;
  bool is_signed = false;
  int num_fields = 1;
  int num_batches = 1;
  int16_t metadata_version = 4;  // V5
  int64_t null_count = 0;
  enum Compression { kNone, kZstd, kZstdStoredRaw, kDefaultCodec } compression = kNone;
};

FbRef schema_table(const IpcSpec& s) {
  std::vector<FbRef> fields;
  for (int i = 0; i < s.num_fields; ++i) {
    auto int_type = table({scalar<int32_t>(s.bit_width), scalar<uint8_t>(s.is_signed ? 1 : 0)});
    fields.push_back(table({ref(string_obj(i == 0 ? s.name : "extra")), scalar<uint8_t>(s.nullable ? 1 : 0),
                            scalar<uint8_t>(2), ref(int_type)}));
  }
  return table({scalar<int16_t>(0), ref(table_vector(fields))});
}

std::string compress_buffer(const std::string& raw, IpcSpec::Compression c) {
  if (c == IpcSpec::kNone || raw.empty()) return raw;
  if (c == IpcSpec::kZstdStoredRaw) return le<int64_t>(-1) + raw;
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 3));
  return le<int64_t>(static_cast<int64_t>(raw.size())) + out;
}

std::string pad8(std::string s) {
  while (s.size() % 8 != 0) s.push_back('\0');
  return s;
}

// Encapsulated message: continuation, length, flatbuffer, padding to 8.
std::string message(const std::string& fb) {
  return le<int32_t>(-1) + le<int32_t>(static_cast<int32_t>(fb.size())) + fb;
}

std::string build_ipc(const IpcSpec& s) {
  std::string file = "ARROW1";
  file += std::string(2, '\0');
  file += message(FbBuilder().finish(
      table({scalar<int16_t>(s.metadata_version), scalar<uint8_t>(1), ref(schema_table(s)), scalar<int64_t>(0)})));

  const std::string validity = compress_buffer(std::string((s.values.size() + 7) / 8, '\xff'), s.compression);
  const std::string values =
      compress_buffer(std::string(reinterpret_cast<const char*>(s.values.data()), s.values.size() * 4), s.compression);
  const std::string body = pad8(validity) + pad8(values);
  const auto n = static_cast<int64_t>(s.values.size());
  std::string nodes = le<int64_t>(n) + le<int64_t>(s.null_count);
  std::string buffers = le<int64_t>(0) + le<int64_t>(static_cast<int64_t>(validity.size())) +
                        le<int64_t>(static_cast<int64_t>(pad8(validity).size())) +
                        le<int64_t>(static_cast<int64_t>(values.size()));
  std::vector<std::optional<FbField>> rb_fields = {scalar<int64_t>(n), ref(bytes_vector(nodes, 1)),
                                                   ref(bytes_vector(buffers, 2))};
  if (s.compression == IpcSpec::kZstd || s.compression == IpcSpec::kZstdStoredRaw) {
    rb_fields.push_back(ref(table({scalar<int8_t>(1), scalar<int8_t>(0)})));
  } else if (s.compression == IpcSpec::kDefaultCodec) {
    rb_fields.push_back(ref(table({})));  // codec absent: LZ4_FRAME by default
  }
  const std::string batch_meta =
      message(FbBuilder().finish(table({scalar<int16_t>(s.metadata_version), scalar<uint8_t>(3), ref(table(rb_fields)),
                                        scalar<int64_t>(static_cast<int64_t>(body.size()))})));

  std::string blocks;
  for (int i = 0; i < s.num_batches; ++i) {
    blocks += le<int64_t>(static_cast<int64_t>(file.size())) + le<int32_t>(static_cast<int32_t>(batch_meta.size())) +
              le<int32_t>(0) + le<int64_t>(static_cast<int64_t>(body.size()));
    file += batch_meta + body;
  }
  const std::string footer =
      FbBuilder().finish(table({scalar<int16_t>(s.metadata_version), ref(schema_table(s)), std::nullopt,
                                ref(bytes_vector(blocks, static_cast<uint32_t>(s.num_batches)))}));
  file += footer + le<int32_t>(static_cast<int32_t>(footer.size())) + "ARROW1";
  return file;
}

// In memory: the fuzz loops below would otherwise spend their time on disk.
Result<std::vector<uint32_t>> decode_arrow(const std::string& bytes, uint64_t physical_rows) {
  return decode_deletion_file(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                              DeletionFileKind::kArrowArray, physical_rows, "_deletions/0-1-2.arrow");
}

void expect_error(const Result<std::vector<uint32_t>>& r, StatusCode code, const std::string& needle) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("0-1-2.arrow"), std::string::npos) << r.status().message();
}

TEST(DeletionPath, MatchesLanceNaming) {
  EXPECT_EQ(deletion_file_relative_path(3, 17, 12263753947917912387ull, DeletionFileKind::kArrowArray),
            "_deletions/3-17-12263753947917912387.arrow");
  EXPECT_EQ(deletion_file_relative_path(0, 1, 42, DeletionFileKind::kBitmap), "_deletions/0-1-42.bin");
}

TEST(DeletionFile, ReadsPylanceFixtures) {
  struct Case {
    const char* name;
    DeletionFileKind kind;
  };
  for (const Case& c : {Case{"mod7_zstd.arrow", DeletionFileKind::kArrowArray},        // ZSTD values, raw validity
                        Case{"prefix1000_zstd.arrow", DeletionFileKind::kArrowArray},  // both buffers ZSTD
                        Case{"one_raw.arrow", DeletionFileKind::kArrowArray},          // -1: stored raw
                        Case{"prefix5500.bin", DeletionFileKind::kBitmap},
                        Case{"pyarrow_plain.arrow", DeletionFileKind::kArrowArray}}) {  // no body compression
    SCOPED_TRACE(c.name);
    const std::string path = data_dir() + "/deletion/" + c.name;
    const Expected e = read_expected(fs::path(path).replace_extension(".expected").string());
    ASSERT_FALSE(e.deleted.empty());
    auto r = read_deletion_file(path, c.kind, e.physical_rows);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(*r, e.deleted);
  }
}

TEST(DeletionFile, RefusesLz4WithNotSupported) {
  auto r = read_deletion_file(data_dir() + "/deletion/pyarrow_lz4.arrow", DeletionFileKind::kArrowArray, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotSupported) << r.status().to_string();
  EXPECT_NE(r.status().message().find("LZ4"), std::string::npos);
  EXPECT_NE(r.status().message().find("pyarrow_lz4.arrow"), std::string::npos);
}

TEST(DeletionFile, OffsetsMustBeBelowPhysicalRows) {
  auto r = read_deletion_file(data_dir() + "/deletion/mod7_zstd.arrow", DeletionFileKind::kArrowArray, 997);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("997 physical rows"), std::string::npos) << r.status().message();
  auto b = read_deletion_file(data_dir() + "/deletion/prefix5500.bin", DeletionFileKind::kBitmap, 5499);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kCorruption);
  EXPECT_NE(b.status().message().find("prefix5500.bin"), std::string::npos) << b.status().message();
  // More deleted rows than the fragment has.
  auto few = read_deletion_file(data_dir() + "/deletion/mod7_zstd.arrow", DeletionFileKind::kArrowArray, 100);
  ASSERT_FALSE(few.ok());
  EXPECT_NE(few.status().message().find("143 deleted rows"), std::string::npos) << few.status().message();
}

TEST(DeletionFile, MissingFileNamesThePath) {
  auto r = read_deletion_file("/nonexistent/_deletions/0-1-2.bin", DeletionFileKind::kBitmap, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/_deletions/0-1-2.bin"), std::string::npos);
}

TEST(DeletionFile, BitmapRoundTripsThroughOurEncoder) {
  TempDir dir;
  const std::string enc = roaring_encode({900, 3, 77, 3});
  auto r = read_deletion_file(dir.write("0-1-2.bin", enc), DeletionFileKind::kBitmap, 901);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, (std::vector<uint32_t>{3, 77, 900}));
}

TEST(HandBuiltIpc, AllCompressionVariantsDecode) {
  std::vector<uint32_t> values;
  for (uint32_t i = 0; i < 500; ++i) values.push_back((i * 7919) % 1000);  // unordered, no duplicates
  std::vector<uint32_t> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (auto c : {IpcSpec::kNone, IpcSpec::kZstd, IpcSpec::kZstdStoredRaw}) {
    IpcSpec s;
    s.values = values;
    s.compression = c;
    auto r = decode_arrow(build_ipc(s), 1000);
    ASSERT_TRUE(r.ok()) << "compression " << c << ": " << r.status().to_string();
    EXPECT_EQ(*r, sorted);
  }
  // Duplicates are tolerated (Lance reads into a set) and folded.
  IpcSpec dup;
  dup.values = {5, 1, 5, 1};
  auto r = decode_arrow(build_ipc(dup), 10);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, (std::vector<uint32_t>{1, 5}));
  // Empty batch.
  auto empty = decode_arrow(build_ipc(IpcSpec{}), 10);
  ASSERT_TRUE(empty.ok()) << empty.status().to_string();
  EXPECT_TRUE(empty->empty());
}

TEST(HandBuiltIpc, RefusesWrongSchemasAndLayouts) {
  IpcSpec base;
  base.values = {1, 2, 3};
  auto with = [&](auto&& edit) {
    IpcSpec s = base;
    edit(s);
    return decode_arrow(build_ipc(s), 10);
  };
  expect_error(with([](IpcSpec& s) { s.name = "rowid"; }), StatusCode::kCorruption, "named 'rowid'");
  expect_error(with([](IpcSpec& s) { s.is_signed = true; }), StatusCode::kCorruption, "is Int32, expected UInt32");
  expect_error(with([](IpcSpec& s) { s.bit_width = 64; }), StatusCode::kCorruption, "UInt64");
  expect_error(with([](IpcSpec& s) { s.nullable = true; }), StatusCode::kCorruption, "nullable");
  expect_error(with([](IpcSpec& s) { s.num_fields = 2; }), StatusCode::kCorruption, "2 fields");
  expect_error(with([](IpcSpec& s) { s.num_batches = 2; }), StatusCode::kCorruption, "2 record batches");
  expect_error(with([](IpcSpec& s) { s.null_count = 1; }), StatusCode::kCorruption, "1 nulls");
  expect_error(with([](IpcSpec& s) { s.metadata_version = 2; }), StatusCode::kNotSupported, "metadata version 2");
  expect_error(with([](IpcSpec& s) { s.compression = IpcSpec::kDefaultCodec; }), StatusCode::kNotSupported, "LZ4");
  expect_error(decode_arrow("ARROW1 this is not an Arrow IPC file", 10), StatusCode::kCorruption, "magic");
  expect_error(decode_arrow("tiny", 10), StatusCode::kCorruption, "too short");
}

TEST(HandBuiltIpc, RefusesLyingZstdLengths) {
  IpcSpec s;
  s.values = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  s.compression = IpcSpec::kZstd;
  std::string file = build_ipc(s);
  // The values buffer's declared length is 64 (16 rows × 4): find and change it.
  const std::string needle = le<int64_t>(64) + "\x28\xb5\x2f\xfd";
  const size_t at = file.find(needle);
  ASSERT_NE(at, std::string::npos);
  std::string shorter = file;
  shorter.replace(at, 8, le<int64_t>(60));
  expect_error(decode_arrow(shorter, 100), StatusCode::kCorruption, "declares 60 bytes");
  std::string huge = file;
  huge.replace(at, 8, le<int64_t>(int64_t{1} << 40));
  expect_error(decode_arrow(huge, 100), StatusCode::kCorruption, "declares");
  std::string longer = file;
  longer.replace(at, 8, le<int64_t>(72));  // within the slack, but the frame holds 64
  expect_error(decode_arrow(longer, 100), StatusCode::kCorruption, "ZSTD");
  std::string garbled = file;
  garbled[at + 8] ^= 0x5A;  // the ZSTD frame magic
  expect_error(decode_arrow(garbled, 100), StatusCode::kCorruption, "ZSTD");
}

std::vector<std::string> arrow_fixtures() {
  return {"mod7_zstd.arrow", "prefix1000_zstd.arrow", "one_raw.arrow", "pyarrow_plain.arrow"};
}

TEST(DeletionFile, EveryTruncationIsCleanCorruption) {
  TempDir dir;
  for (const std::string& name : arrow_fixtures()) {
    const std::string bytes = read_file(data_dir() + "/deletion/" + name);
    for (size_t n = 0; n < bytes.size(); ++n) {
      auto r = decode_arrow(bytes.substr(0, n), 100000);
      ASSERT_FALSE(r.ok()) << name << " cut to " << n << " bytes";
      ASSERT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().to_string();
      ASSERT_NE(r.status().message().find("0-1-2.arrow"), std::string::npos);
    }
  }
  const std::string bin = read_file(data_dir() + "/deletion/prefix5500.bin");
  for (size_t n : {size_t{0}, size_t{3}, size_t{8}, size_t{15}, size_t{16}, size_t{100}, bin.size() - 1}) {
    auto r = read_deletion_file(dir.write("0-1-2.bin", bin.substr(0, n)), DeletionFileKind::kBitmap, 6000);
    ASSERT_FALSE(r.ok()) << "bin cut to " << n;
    ASSERT_EQ(r.status().code(), StatusCode::kCorruption);
    ASSERT_NE(r.status().message().find("0-1-2.bin"), std::string::npos);
  }
}

TEST(DeletionFile, BitFlipsNeverCrash) {
  for (const std::string& name : arrow_fixtures()) {
    const std::string bytes = read_file(data_dir() + "/deletion/" + name);
    const Expected e =
        read_expected(data_dir() + "/deletion/" + fs::path(name).replace_extension(".expected").string());
    size_t failures = 0;
    for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
      std::string flipped = bytes;
      flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
      auto r = decode_arrow(flipped, e.physical_rows);
      if (r.ok()) {
        for (size_t i = 1; i < r->size(); ++i) {
          ASSERT_LT((*r)[i - 1], (*r)[i]);
        }
        if (!r->empty()) {
          ASSERT_LT(r->back(), e.physical_rows);
        }
      } else {
        ++failures;
        ASSERT_NE(r.status().message().find("0-1-2.arrow"), std::string::npos) << r.status().to_string();
      }
    }
    EXPECT_GT(failures, 0u) << name;
  }
}

}  // namespace
}  // namespace lancer::lance

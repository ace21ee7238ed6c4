// The files a build owns: spill runs, the model file, the sample.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "core/checksum.h"
#include "pipeline/model_file.h"
#include "pipeline/sample.h"
#include "pipeline/spill.h"
#include "quant/flat_codec.h"
#include "quant/pq_codec.h"
#include "train/thread_collective.h"

namespace lancer::pipeline {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (name + "." + std::to_string(::getpid()))).string();
}

TEST(SpillFile, RoundTripsPartitionsInRunOrder) {
  const std::string path = temp_path("spill");
  const uint32_t parts = 5;
  const size_t rb = 3;
  std::vector<std::vector<uint64_t>> expect(parts);
  {
    auto s = SpillFile::create(path, parts, rb);
    ASSERT_TRUE(s.ok());
    std::mt19937 rng(1);
    for (uint64_t id = 0; id < 1000; ++id) {
      const uint32_t p = rng() % parts;
      const uint8_t storage[3] = {uint8_t(id), uint8_t(id >> 8), uint8_t(p)};
      (*s)->add(p, id, storage);
      expect[p].push_back(id);
      ASSERT_TRUE((*s)->maybe_flush(1024).ok());  // many small runs
    }
    ASSERT_TRUE((*s)->finish().ok());
  }
  auto s = SpillFile::open(path, parts, rb);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ((*s)->rows(), 1000u);
  for (uint32_t p = 0; p < parts; ++p) {
    core::UninitVector<uint64_t> ids;
    core::ByteBuffer storage;
    ASSERT_TRUE((*s)->append_partition(p, &ids, &storage).ok());
    EXPECT_EQ(std::vector<uint64_t>(ids.begin(), ids.end()), expect[p]);  // stream order within a partition
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(storage[i * rb], uint8_t(ids[i]));
      EXPECT_EQ(storage[i * rb + 2], p);
    }
  }
  EXPECT_FALSE(SpillFile::open(path, parts + 1, rb).ok());  // built for another model
  std::filesystem::remove(path);
}

TEST(SpillFile, RefusesAnUnfinishedOrDamagedFile) {
  const std::string path = temp_path("spill_bad");
  {
    auto s = SpillFile::create(path, 2, 4);
    ASSERT_TRUE(s.ok());
    const uint8_t v[4] = {1, 2, 3, 4};
    for (int i = 0; i < 10; ++i) (*s)->add(i % 2, i, v);
    ASSERT_TRUE((*s)->finish().ok());
  }
  const auto size = std::filesystem::file_size(path);
  for (uint64_t at : {size - 1, size - 20, size - 60}) {  // magic, checksum, run table
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c = 0;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(static_cast<std::streamoff>(at));
    f.write(&c, 1);
    f.close();
    auto s = SpillFile::open(path, 2, 4);
    EXPECT_FALSE(s.ok()) << "flip at " << at;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), StatusCode::kCorruption);
      EXPECT_NE(s.status().message().find(path), std::string::npos);
    }
    std::fstream g(path, std::ios::in | std::ios::out | std::ios::binary);  // undo
    c ^= 0x10;
    g.seekp(static_cast<std::streamoff>(at));
    g.write(&c, 1);
  }
  std::filesystem::resize_file(path, size - 8);  // a torn write
  EXPECT_FALSE(SpillFile::open(path, 2, 4).ok());
  std::filesystem::remove(path);
}

// A spill with several runs of 1000 rows (3-byte storage) over 5 partitions, finished.
std::vector<std::vector<uint64_t>> write_spill(const std::string& path, uint32_t parts, size_t rb) {
  std::vector<std::vector<uint64_t>> expect(parts);
  auto s = SpillFile::create(path, parts, rb);
  EXPECT_TRUE(s.ok());
  std::mt19937 rng(2);
  for (uint64_t id = 0; id < 1000; ++id) {
    const uint32_t p = rng() % parts;
    const uint8_t storage[3] = {uint8_t(id), uint8_t(id >> 8), uint8_t(p)};
    (*s)->add(p, id, storage);
    expect[p].push_back(id);
    EXPECT_TRUE((*s)->maybe_flush(2048).ok());
  }
  EXPECT_TRUE((*s)->finish().ok());
  return expect;
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

// The data region has a checksum per (run, partition): a damaged byte (a torn page after a
// power loss, a bad disk) fails the merge instead of going into the index.
TEST(SpillFile, EveryDamagedDataByteIsCaught) {
  const std::string path = temp_path("spill_data");
  const uint32_t parts = 5;
  const size_t rb = 3;
  write_spill(path, parts, rb);
  const std::string good = read_bytes(path);
  const size_t data_bytes = 1000 * (8 + rb);
  for (size_t at = 0; at < data_bytes; at += 13) {
    std::string bad = good;
    bad[at] ^= 0x01;
    write_bytes(path, bad);
    auto s = SpillFile::open(path, parts, rb);
    ASSERT_TRUE(s.ok()) << s.status().to_string();  // the run table is intact
    Status first;
    for (uint32_t p = 0; p < parts && first.ok(); ++p) {
      core::UninitVector<uint64_t> ids;
      core::ByteBuffer storage;
      first = (*s)->append_partition(p, &ids, &storage);
    }
    ASSERT_FALSE(first.ok()) << "flip at " << at << " went unnoticed";
    EXPECT_EQ(first.code(), StatusCode::kCorruption);
    EXPECT_NE(first.message().find(path), std::string::npos) << first.message();
  }
  std::filesystem::remove(path);
}

// A spill an older lancer wrote ("LNCRSPL1": no partition checksums) is still merged, so a
// build resumed across an upgrade keeps its finished tasks.
TEST(SpillFile, ReadsTheVersion1Layout) {
  const std::string path = temp_path("spill_v1");
  const uint32_t parts = 5;
  const size_t rb = 3;
  const auto expect = write_spill(path, parts, rb);
  const std::string v2 = read_bytes(path);
  ASSERT_EQ(v2.substr(v2.size() - 8), "LNCRSPL2");
  uint64_t footer[5];
  std::memcpy(footer, v2.data() + v2.size() - 48, 40);
  const uint64_t runs = footer[0];
  ASSERT_GT(runs, 2u);
  const size_t v1_words = runs * (2 + parts), v2_words = runs * (2 + 2 * parts);
  const size_t table_at = v2.size() - 48 - v2_words * 8;
  std::string v1 = v2.substr(0, table_at + v1_words * 8);  // the sums dropped
  footer[4] = core::fnv1a64(v1.data() + table_at, v1_words * 8);
  v1.append(reinterpret_cast<const char*>(footer), 40);
  v1 += "LNCRSPL1";
  write_bytes(path, v1);
  auto s = SpillFile::open(path, parts, rb);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  for (uint32_t p = 0; p < parts; ++p) {
    core::UninitVector<uint64_t> ids;
    core::ByteBuffer storage;
    ASSERT_TRUE((*s)->append_partition(p, &ids, &storage).ok());
    EXPECT_EQ(std::vector<uint64_t>(ids.begin(), ids.end()), expect[p]);
  }
  std::filesystem::remove(path);
}

TEST(ModelFile, RoundTripsAndDetectsDamage) {
  ivf::IndexModel m;
  m.kind = {quant::SubIndexKind::kFlat, quant::QuantizerKind::kPq};
  m.metric = simd::Metric::kCosine;
  m.column.element = lance::ElementType::kFloat32;
  m.column.dim = 8;
  m.num_partitions = 3;
  m.loss = 1.25;
  for (int i = 0; i < 24; ++i) m.centroids.push_back(0.5f * float(i));
  auto pq = std::make_shared<quant::PqModel>();
  pq->dim = 8;
  pq->num_sub_vectors = 2;
  pq->num_bits = 4;
  pq->loss = 0.1;
  for (int i = 0; i < 16 * 8; ++i) pq->codebook.push_back(float(i) - 3.0f);
  m.codec = quant::make_pq_codec(pq);
  const std::string bytes = serialize_model(m);
  // The header is byte for byte the one written before the codec seam (docs/decisions/codec-seam.md).
  const std::string header =
      "{\"type\":\"IVF_PQ\",\"metric\":\"cosine\",\"element\":\"float\",\"dim\":8,\"num_partitions\":3,"
      "\"loss\":1.25,\"pq\":{\"num_sub_vectors\":2,\"num_bits\":4,\"loss\":0.1}}";
  EXPECT_EQ(bytes.substr(12, header.size()), header);
  auto back = parse_model(bytes, "model.bin");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ((*back)->centroids, m.centroids);
  EXPECT_EQ(quant::pq_model(*(*back)->codec)->codebook, pq->codebook);
  EXPECT_EQ((*back)->metric, simd::Metric::kCosine);
  EXPECT_EQ((*back)->loss, 1.25);
  EXPECT_EQ(serialize_model(**back), bytes);
  for (size_t at = 0; at < bytes.size(); at += 7) {
    std::string bad = bytes;
    bad[at] ^= 1;
    EXPECT_FALSE(parse_model(bad, "model.bin").ok()) << at;
  }
  EXPECT_FALSE(parse_model(bytes.substr(0, bytes.size() - 1), "model.bin").ok());
}

// `bytes` with its JSON header's `from` replaced by `to`, length and checksum made right again:
// a well-formed model file as some other lancer could write it.
std::string with_header_edit(const std::string& bytes, const std::string& from, const std::string& to) {
  uint32_t len;
  std::memcpy(&len, bytes.data() + 8, 4);
  std::string header = bytes.substr(12, len);
  const size_t at = header.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  header.replace(at, from.size(), to);
  const uint32_t new_len = static_cast<uint32_t>(header.size());
  std::string out = bytes.substr(0, 8) + std::string(reinterpret_cast<const char*>(&new_len), 4) + header +
                    bytes.substr(12 + len, bytes.size() - 12 - len - 8);
  const uint64_t sum = core::fnv1a64(out);
  out.append(reinterpret_cast<const char*>(&sum), 8);
  return out;
}

TEST(ModelFile, RefusesNamesItDoesNotKnow) {
  ivf::IndexModel m;
  m.kind = {quant::SubIndexKind::kFlat, quant::QuantizerKind::kFlat};
  m.metric = simd::Metric::kDot;
  m.column.element = lance::ElementType::kFloat16;
  m.column.dim = 4;
  m.num_partitions = 2;
  m.centroids.assign(8, 0.25f);
  m.codec = quant::make_flat_codec(4, /*half=*/true);
  const std::string bytes = serialize_model(m);
  ASSERT_TRUE(parse_model(with_header_edit(bytes, "\"dot\"", "\"dot\""), "model.bin").ok());
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{{"\"IVF_FLAT\"", "\"IVF_BQ\""},
                                                                                 {"\"IVF_FLAT\"", "\"DISKANN\""},
                                                                                 {"\"dot\"", "\"hamming\""},
                                                                                 {"\"halffloat\"", "\"bfloat16\""},
                                                                                 {"\"halffloat\"", "\"int8\""}}) {
    auto r = parse_model(with_header_edit(bytes, from, to), "model.bin");
    ASSERT_FALSE(r.ok()) << to;
    EXPECT_EQ(r.status().code(), StatusCode::kNotSupported) << r.status().to_string();
    EXPECT_NE(r.status().message().find("model.bin"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(to), std::string::npos) << r.status().message();
  }
}

// Each of `ranks` ranks (threads) collects every ranks-th row id from `first`, then the
// ranks merge as the build does (hashes, threshold, slots, merge_sample_ranks). Returns
// every rank's sample (rows in hash order); *moved counts the rows the ranks sent.
std::vector<std::vector<float>> merged_on_ranks(const std::vector<float>& rows, size_t dim, size_t want, uint64_t seed,
                                                int ranks, size_t* moved = nullptr) {
  const size_t total = rows.size() / dim;
  std::vector<std::vector<float>> got(static_cast<size_t>(ranks));
  std::atomic<size_t> sent{0};
  testing::run_ranks(ranks, [&](core::Collective& collective) {
    const size_t me = static_cast<size_t>(collective.rank());
    SampleCollector c(want, dim, seed);
    for (uint64_t id = me; id < total; id += static_cast<uint64_t>(ranks)) c.offer(id, rows.data() + id * dim);
    auto shares = collective.all_gather(c.serialize_hashes());
    ASSERT_TRUE(shares.ok());
    auto bar = sample_threshold(*shares, want);
    ASSERT_TRUE(bar.ok());
    auto slots = sample_slots(*shares, *bar, 3);  // rows 0-2 of the buffer are not the sample's
    ASSERT_TRUE(slots.ok());
    std::vector<uint64_t> hashes;
    core::InlineExecutor one;
    auto mine = c.take_sorted(one, &hashes);
    hashes.resize((*slots)[me + 1] - (*slots)[me]);
    sent += hashes.size();
    std::vector<float> buffer(slots->back() * dim, -1.0f);
    std::copy_n(mine.data(), hashes.size() * dim, buffer.data() + (*slots)[me] * dim);
    core::ThreadPool pool(2);
    auto n = merge_sample_ranks(collective, hashes, *slots, dim, buffer.data(), pool);
    ASSERT_TRUE(n.ok()) << n.status().to_string();
    for (size_t i = 0; i < 3 * dim; ++i) ASSERT_EQ(buffer[i], -1.0f);  // left alone
    got[me].assign(buffer.begin() + 3 * static_cast<std::ptrdiff_t>(dim),
                   buffer.begin() + static_cast<std::ptrdiff_t>((3 + *n) * dim));
  });
  if (moved) *moved = sent;
  return got;
}

TEST(SampleCollector, RanksMergeToTheSameSampleAsOneStream) {
  const size_t dim = 3, want = 40;
  std::vector<float> rows(900 * dim);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = float(i) * 0.5f;
  SampleCollector whole(want, dim, 3);
  for (uint64_t id = 0; id < 900; ++id) whole.offer(id, rows.data() + id * dim);
  const auto taken = whole.take_sorted();
  const std::vector<float> expect(taken.begin(), taken.end());
  ASSERT_EQ(expect.size(), want * dim);
  for (int ranks : {1, 2, 3, 5}) {
    size_t moved = 0;
    for (const auto& got : merged_on_ranks(rows, dim, want, 3, ranks, &moved)) EXPECT_EQ(got, expect) << ranks;
    EXPECT_EQ(moved, want) << ranks << " ranks: only the sample's rows move";
  }
  // Fewer rows than wanted: everything moves, still in hash order.
  SampleCollector few(want, dim, 3);
  for (uint64_t id = 0; id < 10; ++id) few.offer(id, rows.data() + id * dim);
  const auto few_taken = few.take_sorted();
  const std::vector<float> few_rows(rows.begin(), rows.begin() + 10 * dim);
  for (const auto& got : merged_on_ranks(few_rows, dim, want, 3, 3))
    EXPECT_EQ(got, std::vector<float>(few_taken.begin(), few_taken.end()));
  SampleCollector other_seed(want, dim, 4);
  for (uint64_t id = 0; id < 900; ++id) other_seed.offer(id, rows.data() + id * dim);
  const auto other = other_seed.take_sorted();
  EXPECT_NE(std::vector<float>(other.begin(), other.end()), expect);
}

TEST(SampleCollector, ThresholdOverHashShares) {
  SampleCollector few(40, 3, 3);
  const float row[3] = {1, 2, 3};
  for (uint64_t id = 0; id < 10; ++id) few.offer(id, row);
  auto all = sample_threshold({few.serialize_hashes()}, 40);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, UINT64_MAX);
  EXPECT_FALSE(sample_threshold({std::string(7, '\0')}, 40).ok());
  EXPECT_FALSE(sample_slots({std::string(7, '\0')}, 0, 0).ok());
}

TEST(SampleCollector, TakenOnThreadsInHashOrderAsOnOne) {
  // Large enough that the sort and the row moves are split over the threads.
  const size_t dim = 16, want = 40000, total = 60000;
  std::vector<float> rows(total * dim);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = float(i / dim);  // each row holds its id
  auto collect = [&] {
    SampleCollector c(want, dim, 11);
    for (uint64_t id = 0; id < total; ++id) c.offer(id, rows.data() + id * dim);
    return c;
  };
  const auto expect = collect().take_sorted();
  ASSERT_EQ(expect.size(), want * dim);
  SampleCollector probe(want, dim, 11);
  for (size_t i = 1; i < want; ++i) {
    ASSERT_LT(probe.hash_of(uint64_t(expect[(i - 1) * dim])), probe.hash_of(uint64_t(expect[i * dim]))) << i;
  }
  for (int threads : {2, 3, 8}) {
    core::ThreadPool pool(threads);
    EXPECT_EQ(collect().take_sorted(pool), expect) << threads << " threads";
  }
}

}  // namespace
}  // namespace lancer::pipeline

// The storage layer's contract, for local files and (through the Rust bridge) an object store:
// memory:// is object_store's in-process store, so these run without a server.
#include "storage/file_io.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>
#include <random>

namespace lancer::storage {
namespace {

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

std::string local_root() {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("lancer-storage-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// Each root: a folder, a file:// URI of one, and (when built with it) an object store.
std::vector<std::string> roots() {
  std::vector<std::string> r{local_root(), "file://" + local_root() + "-uri"};
  std::filesystem::create_directories(r[1].substr(7));
  if (object_store_available()) {
    r.push_back("memory://bucket/" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
  }
  return r;
}

TEST(Storage, WholeFilesListingAndRemoval) {
  for (const std::string& root : roots()) {
    SCOPED_TRACE(root);
    const std::string dir = join_path(root, "a/b");
    ASSERT_TRUE(make_directories(dir).ok());
    ASSERT_TRUE(write_file_atomic(join_path(dir, "x.bin"), std::string("hello")).ok());
    ASSERT_TRUE(write_file_atomic(join_path(dir, "x.bin"), std::string("hello world")).ok());  // replaced
    auto bytes = read_whole_file(join_path(dir, "x.bin"));
    ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
    EXPECT_EQ(std::string(bytes->begin(), bytes->end()), "hello world");
    EXPECT_EQ(*file_size(join_path(dir, "x.bin")), 11u);
    EXPECT_EQ(file_size(join_path(dir, "missing")).status().code(), StatusCode::kNotFound);
    EXPECT_EQ(read_whole_file(join_path(dir, "missing")).status().code(), StatusCode::kNotFound);

    auto first = create_file_exclusive(join_path(dir, "once"), "1");
    auto second = create_file_exclusive(join_path(dir, "once"), "2");
    ASSERT_TRUE(first.ok() && second.ok()) << first.status().to_string() << second.status().to_string();
    EXPECT_TRUE(*first);
    EXPECT_FALSE(*second);
    EXPECT_EQ(*read_whole_file(join_path(dir, "once")), std::vector<uint8_t>{'1'});

    auto names = list_directory(join_path(root, "a"));
    ASSERT_TRUE(names.ok());
    EXPECT_EQ(*names, std::vector<std::string>{"b"});
    names = list_directory(dir);
    ASSERT_TRUE(names.ok());
    std::sort(names->begin(), names->end());
    EXPECT_EQ(*names, (std::vector<std::string>{"once", "x.bin"}));
    EXPECT_TRUE(is_directory(dir));
    EXPECT_TRUE(path_exists(join_path(dir, "once")));
    EXPECT_FALSE(is_directory(join_path(dir, "once")));

    EXPECT_TRUE(remove_file(join_path(dir, "once")).ok());
    EXPECT_TRUE(remove_file(join_path(dir, "once")).ok());  // a missing file is fine
    EXPECT_TRUE(remove_tree(join_path(root, "a")).ok());
    EXPECT_FALSE(path_exists(join_path(dir, "x.bin")));
    EXPECT_EQ(list_directory(dir).status().code(), StatusCode::kNotFound);
  }
}

TEST(Storage, RemovingATreeKeepsTheFilesNamedInIt) {
  for (const std::string& root : roots()) {
    SCOPED_TRACE(root);
    const std::string dir = join_path(root, "staging");
    for (const char* name : {"build.json", "model.bin", "tasks/task-0.run", "tasks/task-0.done"}) {
      ASSERT_TRUE(make_directories(parent_path(join_path(dir, name))).ok());
      ASSERT_TRUE(write_file_atomic(join_path(dir, name), std::string(name)).ok());
    }
    ASSERT_TRUE(remove_tree(dir, {"build.json", "absent"}).ok());
    auto names = list_directory(dir);
    ASSERT_TRUE(names.ok()) << names.status().to_string();
    EXPECT_EQ(*names, std::vector<std::string>{"build.json"});
    EXPECT_FALSE(path_exists(join_path(dir, "tasks/task-0.run")));
    ASSERT_TRUE(remove_tree(dir).ok());
    EXPECT_FALSE(path_exists(join_path(dir, "build.json")));
    EXPECT_TRUE(remove_tree(dir, {"build.json"}).ok());  // a missing tree is fine
  }
}

TEST(Storage, RangesAcrossBlocksReadTheRightBytes) {
  // Larger than the object-store reader's blocks, read sequentially and at random, one range and
  // many at a time: every read returns the file's bytes.
  const std::vector<uint8_t> data = pattern(11u << 20 | 12345, 7);
  for (const std::string& root : roots()) {
    SCOPED_TRACE(root);
    const std::string path = join_path(root, "big.bin");
    ASSERT_TRUE(write_file_atomic(path, data).ok());
    auto file = RandomAccessFile::open(path);
    ASSERT_TRUE(file.ok()) << file.status().to_string();
    ASSERT_EQ((*file)->size(), data.size());
    std::mt19937_64 rng(3);
    for (uint64_t at = 0; at < data.size(); at += 300007) {  // sequential, unaligned
      const uint64_t n = std::min<uint64_t>(70001, data.size() - at);
      auto got = (*file)->read_range(at, n);
      ASSERT_TRUE(got.ok());
      ASSERT_TRUE(std::equal(got->begin(), got->end(), data.begin() + at)) << at;
    }
    std::vector<std::vector<uint8_t>> outs(40);
    std::vector<ReadRequest> requests;
    for (auto& out : outs) {
      const uint64_t n = rng() % (6u << 20) + 1, at = rng() % (data.size() - n);
      out.resize(n);
      requests.push_back({at, n, out.data()});
    }
    ASSERT_TRUE((*file)->read_many(requests).ok());
    for (size_t i = 0; i < outs.size(); ++i) {
      ASSERT_TRUE(std::equal(outs[i].begin(), outs[i].end(), data.begin() + requests[i].offset)) << i;
    }
    uint8_t byte;
    const Status past = (*file)->read_at(data.size() - 1, 2, &byte);
    EXPECT_EQ(past.code(), StatusCode::kCorruption);
    EXPECT_NE(past.message().find("big.bin"), std::string::npos);
  }
}

TEST(Storage, OutputFilesAreWholeAfterFinish) {
  const std::vector<uint8_t> data = pattern(13u << 20, 11);  // past a multipart upload's first parts
  for (const std::string& root : roots()) {
    SCOPED_TRACE(root);
    const std::string path = join_path(root, "out.bin");
    {
      auto out = OutputFile::create(path);
      ASSERT_TRUE(out.ok()) << out.status().to_string();
      for (size_t at = 0; at < data.size();) {  // small and large writes
        const size_t n = std::min<size_t>(data.size() - at, at % 3 == 0 ? 17 : (3u << 20) + 5);
        ASSERT_TRUE((*out)->write(data.data() + at, n).ok());
        at += n;
      }
      EXPECT_EQ((*out)->written(), data.size());
      ASSERT_TRUE((*out)->finish().ok());
    }
    EXPECT_EQ(*read_whole_file(path), data);
    if (root.starts_with("memory://")) {  // abandoned uploads never appear
      auto out = OutputFile::create(join_path(root, "abandoned.bin"));
      ASSERT_TRUE(out.ok());
      ASSERT_TRUE((*out)->write(data.data(), 6u << 20).ok());
      out->reset();
      EXPECT_FALSE(path_exists(join_path(root, "abandoned.bin")));
    }
  }
}

TEST(Storage, SchemesLancerCannotUseAreRefusedByName) {
  const Status ddb = configure("s3+ddb://bucket/ds?ddbTableName=t", {});
  EXPECT_EQ(ddb.code(), StatusCode::kNotSupported);
  EXPECT_NE(ddb.message().find("DynamoDB"), std::string::npos);
  auto cos = read_whole_file("cos://bucket/x");
  EXPECT_EQ(cos.status().code(), StatusCode::kNotSupported);
  EXPECT_NE(cos.status().message().find("cos://"), std::string::npos);
  EXPECT_TRUE(is_object_store("s3://b/k"));
  EXPECT_TRUE(is_object_store("abfss://c@a.dfs.core.windows.net/k"));
  EXPECT_FALSE(is_object_store("/data/k"));
  EXPECT_FALSE(is_object_store("file:///data/k"));
}

TEST(Storage, PathsAndUris) {
  EXPECT_EQ(join_path("s3://b/ds", "_versions"), "s3://b/ds/_versions");
  EXPECT_EQ(join_path("s3://b/ds/", "x"), "s3://b/ds/x");
  EXPECT_EQ(parent_path("s3://b/x/y"), "s3://b/x");
  EXPECT_EQ(parent_path("s3://b/x/"), "s3://b");
  EXPECT_EQ(parent_path("/a/b"), "/a");
  EXPECT_EQ(local_path("file:///a/b"), "/a/b");
  EXPECT_EQ(local_path("/a/b"), "/a/b");
  EXPECT_EQ(local_path("gs://b/k"), "");
}

TEST(Storage, ObjectStoreOptionsAreCheckedAndSecretsNeverEchoed) {
  if (!object_store_available()) {
    EXPECT_EQ(configure("s3://b/ds", {{"aws_region", "x"}}).code(), StatusCode::kNotSupported);
    return;
  }
  // A malformed retry count is refused when the store opens, naming the option and not the secret.
  ASSERT_TRUE(configure("s3://lancer-options-test/ds",
                        {{"aws_secret_access_key", "very-secret-value"}, {"client_max_retries", "many"}})
                  .ok());
  auto r = read_whole_file("s3://lancer-options-test/ds/x");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("client_max_retries"), std::string::npos) << r.status().to_string();
  EXPECT_EQ(r.status().message().find("very-secret-value"), std::string::npos);
}

}  // namespace
}  // namespace lancer::storage

#include "dataset/read_ahead.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dataset/dataset.h"

namespace lancer::dataset {
namespace {

// The reader that reads ahead returns the stream's batches, in order, with its stats.
TEST(ReadAheadStream, SameBatchesAsTheStream) {
  const std::string uri = std::string(LANCER_SOURCE_DIR) + "/tests/data/reader/f32x16_v2_0.lance";
  auto ds = Dataset::open(uri);
  ASSERT_TRUE(ds.ok()) << ds.status().to_string();
  std::shared_ptr<const Dataset> shared = std::move(ds).value();
  StreamOptions so;
  so.batch_bytes = 640;  // ten rows: several batches
  auto plain = VectorStream::open(shared, "vector", so);
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  auto inner = VectorStream::open(shared, "vector", so);
  ASSERT_TRUE(inner.ok());
  ReadAheadStream ahead(std::move(inner).value());
  VectorBatch a, b;
  size_t batches = 0;
  for (;;) {
    auto more_a = (*plain)->next(&a);
    auto more_b = ahead.next(&b);
    ASSERT_TRUE(more_a.ok() && more_b.ok());
    ASSERT_EQ(*more_a, *more_b);
    if (!*more_a) break;
    ++batches;
    ASSERT_EQ(a.num_rows, b.num_rows);
    EXPECT_TRUE(std::equal(a.values.begin(), a.values.end(), b.values.begin(), b.values.end()));
    EXPECT_TRUE(std::equal(a.row_ids.begin(), a.row_ids.end(), b.row_ids.begin(), b.row_ids.end()));
  }
  EXPECT_GT(batches, 1u);
  EXPECT_EQ((*plain)->stats().rows, ahead.stats().rows);
  auto after = ahead.next(&b);  // stays at the end
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(*after);
}

}  // namespace
}  // namespace lancer::dataset

#include "lancer/status.h"

#include <gtest/gtest.h>

namespace lancer {
namespace {

Result<int> half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument(std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> quarter(int x) {
  LANCER_ASSIGN_OR_RETURN(int h, half(x));
  LANCER_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

TEST(Status, OkAndContext) {
  EXPECT_TRUE(Status::OK().ok());
  EXPECT_TRUE(Status::OK().context("ignored").ok());
  Status s = Status::Corruption("bad magic").context("reading data/x.lance");
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.message(), "reading data/x.lance: bad magic");
  EXPECT_EQ(s.to_string(), "Corruption: reading data/x.lance: bad magic");
}

TEST(Result, PropagatesErrors) {
  EXPECT_EQ(*quarter(8), 2);
  Result<int> r = quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "3 is odd");
}

Result<int> forgot_the_value() {
  return Status::OK();
}

Result<int> passes_it_on() {
  LANCER_ASSIGN_OR_RETURN(int v, forgot_the_value());
  return v + 1;
}

// In release builds too (the tests are built without assert): never "OK, but no value".
TEST(Result, AnOkStatusWithoutAValueIsAnInternalError) {
  Result<int> r = forgot_the_value();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  Result<int> chained = passes_it_on();
  ASSERT_FALSE(chained.ok());
  EXPECT_EQ(chained.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace lancer

#include "core/uuid.h"

#include <gtest/gtest.h>

namespace lancer::core {
namespace {

TEST(Uuid, TextRoundTrips) {
  for (int i = 0; i < 20; ++i) {
    const std::string bytes = random_uuid_bytes();
    const std::string text = uuid_to_string(bytes);
    EXPECT_EQ(text.size(), 36u);
    EXPECT_EQ(uuid_from_string(text), bytes);
  }
  EXPECT_EQ(uuid_from_string("00112233-4455-6677-8899-AABBCCDDEEFF"),
            std::string("\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff", 16));
  EXPECT_EQ(uuid_from_string("0011"), "");
  EXPECT_EQ(uuid_from_string("00112233-4455-6677-8899-aabbccddeefg"), "");
  EXPECT_EQ(uuid_from_string("00112233-4455-6677-8899-aabbccddeeff0"), "");
}

}  // namespace
}  // namespace lancer::core

#include "core/uuid.h"

#include <cstdint>
#include <random>

namespace lancer::core {

std::string random_uuid_bytes() {
  std::random_device rd;
  std::string b(16, '\0');
  for (auto& x : b) x = static_cast<char>(rd());
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return b;
}

std::string uuid_to_string(const std::string& bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    const auto b = static_cast<uint8_t>(bytes[i]);
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace lancer::core

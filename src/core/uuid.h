// Random (version 4) UUIDs: 16 bytes in RFC 4122 order and the hyphenated text.
#pragma once

#include <string>

namespace lancer::core {

std::string random_uuid_bytes();
std::string uuid_to_string(const std::string& bytes16);
// The 16 bytes of a hyphenated (or plain) hex uuid; empty if it is not one.
std::string uuid_from_string(const std::string& text);

}  // namespace lancer::core

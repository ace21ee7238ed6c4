#include "quant/codec.h"

#include <charconv>

#include "simd/distance.h"

namespace lancer::quant {

size_t Codec::row_bytes() const {
  size_t bytes = 0;
  for (const auto& c : columns()) bytes += c.row_bytes();
  return bytes;
}

Status Codec::reconstruct(const uint8_t*, size_t, float*) const {
  return Status::NotSupported(std::string("no graph index over ") + quantizer_name(kind()) + " codes");
}

float exact_distance(Metric metric, const float* q, const float* v, size_t d) {
  switch (metric) {
    case Metric::kL2: return simd::l2_sqr(q, v, d);
    case Metric::kCosine: return simd::cosine_distance(q, v, d);
    case Metric::kDot: return 1.0f - simd::dot(q, v, d);
  }
  return 0;
}

std::string json_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round trip, as serde does
  std::string s(buf, r.ptr);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace lancer::quant

// Small helpers over a batch's vector rows, shared by the train and encode
// phases. Pure functions; safe from any thread.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/half.h"
#include "dataset/vector_stream.h"
#include "simd/convert.h"

namespace lancer::pipeline {

inline bool finite_row(const float* v, size_t dim) {
  uint32_t bad = 0;  // no early exit: the loop vectorizes
  for (size_t j = 0; j < dim; ++j) {
    uint32_t bits;
    std::memcpy(&bits, v + j, sizeof bits);
    bad |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

// The batch's vectors as float32 (float16 converted).
inline const float* as_f32(const dataset::VectorBatch& b, std::vector<float>* scratch) {
  if (b.type.element == lance::ElementType::kFloat32) return reinterpret_cast<const float*>(b.values.data());
  simd::to_float32(b.values.data(), b.num_rows * b.type.dim, b.type.element, scratch);
  return scratch->data();
}

// Values as a float16 column stores them: the model is rounded once so that
// assignment and encoding use exactly what the index files record.
inline void round_to_half(std::vector<float>* v) {
  for (float& x : *v) x = core::round_to_half(x);
}

}  // namespace lancer::pipeline

// MatrixView: a borrowed, row-major, contiguous matrix (rows x dim). It never
// owns or frees memory; the owner must outlive the view. Copy freely.
#pragma once

#include <cstddef>

namespace lancer::linalg {

template <typename T>
struct MatrixView {
  T* data = nullptr;
  size_t rows = 0;
  size_t dim = 0;

  MatrixView() = default;
  MatrixView(T* d, size_t r, size_t c) : data(d), rows(r), dim(c) {}
  // A mutable view converts to a read-only one.
  template <typename U>
  MatrixView(const MatrixView<U>& o) : data(o.data), rows(o.rows), dim(o.dim) {}  // NOLINT

  T* row(size_t i) const { return data + i * dim; }
  size_t size() const { return rows * dim; }
  // Rows [begin, end).
  MatrixView slice(size_t begin, size_t end) const { return MatrixView(data + begin * dim, end - begin, dim); }
};

}  // namespace lancer::linalg

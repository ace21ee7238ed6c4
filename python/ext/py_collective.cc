#include "py_collective.h"

#include <nanobind/stl/string.h>

namespace nb = nanobind;

namespace lancer::python {

namespace {

std::string to_string(nb::handle h) {
  if (!nb::isinstance<nb::bytes>(h)) throw nb::type_error("a collective callable must return bytes");
  nb::bytes b = nb::borrow<nb::bytes>(h);
  return std::string(b.c_str(), b.size());
}

// A Python exception inside an exchange becomes an IOError naming it.
Status exchange_failed(const char* what, const std::exception& e) {
  return Status::IOError(std::string("distributed training: ") + what + " failed: " + e.what());
}

}  // namespace

PyCollective::PyCollective(int rank, int size, nb::callable all_gather, nb::callable broadcast)
    : rank_(rank), size_(size), all_gather_(std::move(all_gather)), broadcast_(std::move(broadcast)) {}

Result<std::vector<std::string>> PyCollective::all_gather(std::string mine) {
  nb::gil_scoped_acquire gil;
  try {
    nb::object parts = all_gather_(nb::bytes(mine.data(), mine.size()));
    std::vector<std::string> out;
    for (nb::handle part : parts) out.push_back(to_string(part));
    if (out.size() != static_cast<size_t>(size_)) {
      return Status::Internal("all_gather returned " + std::to_string(out.size()) + " parts for " +
                              std::to_string(size_) + " ranks");
    }
    return out;
  } catch (const std::exception& e) {
    return exchange_failed("all_gather", e);
  }
}

Status PyCollective::broadcast(std::string* data, int root) {
  nb::gil_scoped_acquire gil;
  try {
    nb::object mine = rank_ == root ? nb::object(nb::bytes(data->data(), data->size())) : nb::none();
    nb::object result = broadcast_(mine, root);
    *data = to_string(result);
    return Status::OK();
  } catch (const std::exception& e) {
    return exchange_failed("broadcast", e);
  }
}

}  // namespace lancer::python

// Status and Result<T>: the error type at every module boundary of lancer.
// A Status is OK or carries a code and a message; context() prepends where the
// error happened ("reading page 3 of data/x.lance: ..."). No exceptions cross
// the public API. Both types are cheap to move and not thread-safe to mutate.
#pragma once

#include <cassert>
#include <memory>
#include <string>
#include <utility>
#include <variant>

namespace lancer {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller asked for something impossible
  kNotFound,         // a file, version, column or index does not exist
  kNotSupported,     // valid Lance, but a feature lancer does not implement
  kCorruption,       // file contents contradict the format
  kIOError,          // the operating system refused
  kConflict,         // a concurrent writer won the commit race
  kInternal,         // a bug in lancer
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message);

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status NotSupported(std::string m) { return {StatusCode::kNotSupported, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status Conflict(std::string m) { return {StatusCode::kConflict, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return ok() ? StatusCode::kOk : state_->code; }
  const std::string& message() const;
  // "Corruption: reading data/x.lance: bad magic"
  std::string to_string() const;
  // Returns a copy whose message is "<where>: <old message>"; OK stays OK.
  Status context(const std::string& where) const;

 private:
  struct State {
    StatusCode code;
    std::string message;
  };
  std::shared_ptr<const State> state_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  // An OK status carries no value: that is a bug in the caller, turned into an Internal error
  // (as absl::StatusOr does) so that release builds never pass "OK, no value" on.
  Result(Status status)  // NOLINT
      : value_(status.ok() ? Status::Internal("Result built from an OK status, without a value") : std::move(status)) {}

  bool ok() const { return std::holds_alternative<T>(value_); }
  Status status() const { return ok() ? Status::OK() : std::get<Status>(value_); }

  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> value_;
};

}  // namespace lancer

#define LANCER_CONCAT_INNER(a, b) a##b
#define LANCER_CONCAT(a, b) LANCER_CONCAT_INNER(a, b)

#define LANCER_RETURN_IF_ERROR(expr)             \
  do {                                           \
    ::lancer::Status _lancer_st = (expr);        \
    if (!_lancer_st.ok()) return _lancer_st;     \
  } while (0)

#define LANCER_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

// LANCER_ASSIGN_OR_RETURN(auto x, make_x());
#define LANCER_ASSIGN_OR_RETURN(lhs, expr) \
  LANCER_ASSIGN_OR_RETURN_IMPL(LANCER_CONCAT(_lancer_res_, __LINE__), lhs, expr)

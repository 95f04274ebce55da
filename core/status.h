// Status and Result<T>: errors as values across module boundaries.
//
// A Status is either OK or carries a code and a one-line message that names
// what failed and where ("pack data/ab/ab12...: checksum mismatch").
// Result<T> holds either a T or a non-OK Status. Both are [[nodiscard]]:
// a deliberate ignore is spelled `(void)` or `.IgnoreError()` so it can be found.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace dr {

enum class Code {
  kOk = 0,
  kNotFound,
  kAlreadyExists,
  kCorruption,
  kInvalidArgument,
  kIOError,
  kNoSpace,
  kPermissionDenied,
  kUnavailable,  // transient: the caller may retry (timeouts, peer down)
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status AlreadyExists(std::string m) { return Status(Code::kAlreadyExists, std::move(m)); }
  static Status Corruption(std::string m) { return Status(Code::kCorruption, std::move(m)); }
  static Status InvalidArgument(std::string m) {
    return Status(Code::kInvalidArgument, std::move(m));
  }
  static Status IOError(std::string m) { return Status(Code::kIOError, std::move(m)); }
  static Status NoSpace(std::string m) { return Status(Code::kNoSpace, std::move(m)); }
  static Status PermissionDenied(std::string m) {
    return Status(Code::kPermissionDenied, std::move(m));
  }
  static Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
  // A Status with `code` as carried by a number from elsewhere (the wire);
  // a number that is no error code gives InvalidArgument.
  static Status FromCode(int code, std::string m) {
    if (code <= static_cast<int>(Code::kOk) || code > static_cast<int>(Code::kUnavailable))
      return InvalidArgument(std::move(m));
    return Status(static_cast<Code>(code), std::move(m));
  }
  // Maps an errno value from a failed system call on `what` to a Status.
  static Status FromErrno(int err, const std::string& what);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsRetryable() const { return code_ == Code::kUnavailable; }
  const std::string& message() const { return message_; }
  // "code: message", for logs and the command line.
  std::string ToString() const;
  // Returns a copy whose message is prefixed with `context: `.
  Status WithContext(const std::string& context) const;
  void IgnoreError() const {}

 private:
  Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status s) : v_(std::move(s)) {      // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok());
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace dr

#define DR_CONCAT_INNER(a, b) a##b
#define DR_CONCAT(a, b) DR_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)  \
  do {                         \
    ::dr::Status _st = (expr); \
    if (!_st.ok()) return _st; \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(DR_CONCAT(_res_, __LINE__), lhs, expr)

#pragma once

// Error values for lameduck. Every fallible call returns Result<T> (or
// Status for calls without a value); exceptions thrown by libraries are caught
// at the adapter that calls them and turned into an Error that says what and
// where.
//
// Thread-safety: plain values, safe to copy and read from any thread.

#include <version>
// libstdc++ 12's <expected> is empty under clang 14 (the fuzz build); the
// compat header stands in there and nowhere else.
#if defined(__cpp_lib_expected)
#include <expected>
#else
#include "common/expected_compat.h"
#endif
#include <string>
#include <string_view>
#include <utility>

namespace lameduck {

// What kind of failure happened; the code tells the caller whether retrying
// can help.
enum class ErrorCode {
  kInvalidArgument,   // bad input (config, CLI); retrying the same input fails again
  kNotFound,          // the addressed thing does not exist
  kPermissionDenied,  // credentials or RBAC refused the call
  kUnavailable,       // transient: peer down or refused; retry with backoff
  kDeadlineExceeded,  // a timeout or budget ran out
  kBadResponse,       // the peer answered, but with something we cannot use
  kFailedPrecondition,
  kInternal,
};

std::string_view errorCodeName(ErrorCode code);

struct [[nodiscard]] Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  // "<code name>: <message>", for logs.
  std::string describe() const;
};

// std::expected, but [[nodiscard]]: libstdc++ 12 does not mark it, so a
// dropped Status would compile silently. Converts to and from
// std::expected<T, Error> (the monadic operations return that).
template <typename T>
class [[nodiscard]] Result : public std::expected<T, Error> {
 public:
  using std::expected<T, Error>::expected;
  Result(const std::expected<T, Error>& e) : std::expected<T, Error>(e) {}
  Result(std::expected<T, Error>&& e) : std::expected<T, Error>(std::move(e)) {}
};
using Status = Result<void>;

inline std::unexpected<Error> makeError(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace lameduck

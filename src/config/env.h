#pragma once

// ${ENV} expansion of config values (private to src/config; the public
// expandEnv in config.h is this with the text itself as `shown`).

#include <string>
#include <string_view>

#include "common/error.h"

namespace lameduck::config::detail {

// Expands ${NAME} and ${NAME:-fallback}; "$$" is a literal '$'. Unset or
// empty names without a fallback expand to "". Fails on an unterminated "${"
// or an invalid name; the message quotes `shown` where it names the text, so
// that a secret value is never printed (pass a placeholder for secrets).
// Thread-safe as far as getenv is (no setenv concurrently).
Result<std::string> expandEnv(std::string_view text, std::string_view shown);

}  // namespace lameduck::config::detail

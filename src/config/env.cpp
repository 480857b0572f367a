#include "config/env.h"

#include <cctype>
#include <cstdlib>
#include <optional>

#include "config/config.h"

namespace lameduck::config {
namespace detail {
namespace {

bool validName(std::string_view name) {
  bool valid = !name.empty() && !std::isdigit(static_cast<unsigned char>(name.front()));
  for (char c : name) valid = valid && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  return valid;
}

}  // namespace

Result<std::string> expandEnv(std::string_view text, std::string_view shown) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '$' || i + 1 >= text.size() || (text[i + 1] != '$' && text[i + 1] != '{')) {
      out += c;
      continue;
    }
    if (text[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    const size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      return makeError(ErrorCode::kInvalidArgument,
                       "unterminated \"${\" in \"" + std::string(shown) +
                           "\"; expected ${NAME} or ${NAME:-default} (write $$ for a literal $)");
    }
    const std::string_view inner = text.substr(i + 2, close - i - 2);
    std::string_view name = inner;
    std::optional<std::string_view> fallback;
    if (size_t dash = inner.find(":-"); dash != std::string_view::npos) {
      name = inner.substr(0, dash);
      fallback = inner.substr(dash + 2);
    }
    if (!validName(name)) {
      // The name is part of the text, so it is hidden with it.
      const std::string named = shown == text ? std::string(name) : std::string(shown);
      return makeError(ErrorCode::kInvalidArgument, "invalid variable name \"" + named +
                                                        "\" in \"" + std::string(shown) +
                                                        "\"; names are letters, digits and _");
    }
    const char* value = std::getenv(std::string(name).c_str());
    if (value && *value) {
      out += value;
    } else if (fallback) {
      out += *fallback;
    }
    i = close;
  }
  return out;
}

}  // namespace detail

Result<std::string> expandEnv(std::string_view text) { return detail::expandEnv(text, text); }

}  // namespace lameduck::config

// Fuzz target: the config loader (YAML text → Config). Whatever the input,
// parse() returns a value or an error: no exception escapes (an uncaught one
// aborts the run), no crash, no sanitizer report. That secret values never
// appear in messages is checked by tests/config (a fuzzer cannot tell a
// secret from the same text under an ordinary key).
//
// The first line of the input, when it starts with "#set ", is taken as a
// --set override so that both paths are explored together.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<lameduck::config::Override> overrides;
  if (text.starts_with("#set ")) {
    const size_t eol = text.find('\n');
    const std::string_view line = text.substr(5, eol == std::string_view::npos ? eol : eol - 5);
    if (const size_t eq = line.find('='); eq != std::string_view::npos && eq > 0) {
      overrides.push_back({std::string(line.substr(0, eq)), std::string(line.substr(eq + 1))});
    }
  }
  (void)lameduck::config::parse(text, "fuzz.yaml", overrides);
  return 0;
}

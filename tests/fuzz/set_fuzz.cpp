// Fuzz target: --set parsing, from the command-line words to a Config.
// The input is split at NUL bytes into argv words for parseConfigOptions,
// whose overrides are then applied to an empty config and to a small one.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/options.h"
#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args;
  std::string word;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      args.push_back(word);
      word.clear();
    } else {
      word += static_cast<char>(data[i]);
    }
  }
  args.push_back(word);
  auto options = lameduck::cli::parseConfigOptions(args, false);
  if (!options) return 0;
  (void)lameduck::config::defaults(options->overrides);
  (void)lameduck::config::parse("app: {timeout: 1s}\ntraffic: {steps: [{weight: 0}]}\n",
                                "fuzz.yaml", options->overrides);
  (void)lameduck::config::parse("just a scalar\n", "fuzz.yaml", options->overrides);
  return 0;
}

#pragma once

// Command-line option parsing shared by the subcommands.

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "config/config.h"

namespace lameduck::cli {

struct ConfigOptions {
  std::optional<std::string> file;          // --config F (or the positional file of check-config)
  std::vector<config::Override> overrides;  // --set key=value
};

// Accepts --config F, --config=F, --set k=v, --set=k=v; positional only when
// `positional_file` is true. Anything else is an error naming the argument.
Result<ConfigOptions> parseConfigOptions(const std::vector<std::string>& args,
                                         bool positional_file);

// Loads the file, or the embedded defaults when there is none.
Result<config::Config> loadConfig(const ConfigOptions& options);

}  // namespace lameduck::cli

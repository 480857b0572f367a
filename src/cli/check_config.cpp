// `lameduck check-config F`: validates a config file and says what is wrong.

#include <iostream>

#include "cli/commands.h"
#include "cli/options.h"

namespace lameduck::cli {

int checkConfig(const Args& args) {
  auto options = parseConfigOptions(args, true);
  if (!options) {
    std::cerr << "lameduck check-config: " << options.error().message << "\n";
    return kExitUsage;
  }
  auto cfg = loadConfig(*options);
  if (!cfg) {
    std::cerr << cfg.error().message << "\n";
    return kExitUsage;
  }
  std::cout << (options->file ? *options->file : std::string("<embedded defaults>"))
            << ": configuration is valid (exit budget " << formatDuration(cfg->exit.budget())
            << ", app hooks " << (cfg->app.base_url ? "on" : "off") << ")\n";
  return kExitOk;
}

}  // namespace lameduck::cli

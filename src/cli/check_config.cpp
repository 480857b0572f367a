// `lameduck check-config F`: validates a config file and says what is wrong.

#include <iostream>

#include "cli/commands.h"
#include "cli/options.h"

namespace lameduck::cli {

int checkConfig(const Args& args) {
  auto loaded = loadForCommand(args, "check-config", true);
  if (!loaded) return loaded.error();
  const ConfigOptions* options = &loaded->options;
  const config::Config* cfg = &loaded->config;
  const std::string source = options->file ? *options->file : std::string("<embedded defaults>");
  // Advice goes to stderr and does not change the exit code.
  for (const std::string& w : config::warnings(*cfg)) {
    std::cerr << source << ": warning: " << w << "\n";
  }
  std::cout << source << ": configuration is valid (exit budget "
            << formatDuration(cfg->exit.budget()) << ", drain.max_wait "
            << formatDuration(cfg->drain.max_wait) << ", app hooks "
            << (cfg->app.base_url ? "on" : "off") << ")\n";
  return kExitOk;
}

}  // namespace lameduck::cli

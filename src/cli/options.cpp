#include "cli/options.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "cli/commands.h"
#include "common/log.h"
#include "common/version.h"

namespace lameduck::cli {

Result<ConfigOptions> parseConfigOptions(const std::vector<std::string>& args,
                                         bool positional_file) {
  ConfigOptions out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& flag) -> Result<std::string> {
      if (a.size() > flag.size() && a.compare(0, flag.size() + 1, flag + "=") == 0) {
        return a.substr(flag.size() + 1);
      }
      if (i + 1 >= args.size()) {
        return makeError(ErrorCode::kInvalidArgument, flag + " needs a value");
      }
      return args[++i];
    };
    if (a == "--config" || a.starts_with("--config=") || a == "-c") {
      auto v = value(a == "-c" ? "-c" : "--config");
      if (!v) return std::unexpected(v.error());
      out.file = *v;
    } else if (a == "--set" || a.starts_with("--set=")) {
      auto v = value("--set");
      if (!v) return std::unexpected(v.error());
      size_t eq = v->find('=');
      if (eq == std::string::npos || eq == 0) {
        // Only the leading key-like part: the rest may be a secret typed
        // with the wrong separator ("admin.token:s3cret").
        const size_t key_end = std::min<size_t>(
            v->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"),
            64);
        return makeError(ErrorCode::kInvalidArgument,
                         "--set \"" + v->substr(0, key_end) +
                             (key_end < v->size() ? "...\"" : "\"") +
                             ": expected key.path=value, e.g. app.base_url=http://127.0.0.1:8080");
      }
      out.overrides.push_back({v->substr(0, eq), v->substr(eq + 1)});
    } else if (positional_file && !a.starts_with("-") && !out.file) {
      out.file = a;
    } else {
      // Only up to an '=': what follows may be a secret.
      const size_t eq = std::min<size_t>(a.find('='), 64);
      return makeError(ErrorCode::kInvalidArgument,
                       "unknown argument \"" + a.substr(0, eq) + (eq < a.size() ? "...\"" : "\""));
    }
  }
  return out;
}

Result<config::Config> loadConfig(const ConfigOptions& options) {
  if (options.file) return config::loadFile(*options.file, options.overrides);
  return config::defaults(options.overrides);
}

std::expected<LoadedConfig, int> loadForCommand(const std::vector<std::string>& args,
                                                const std::string& command, bool positional_file) {
  auto options = parseConfigOptions(args, positional_file);
  if (!options) {
    std::cerr << "lameduck " << command << ": " << options.error().message << "\n";
    return std::unexpected(kExitUsage);
  }
  auto cfg = loadConfig(*options);
  if (!cfg) {
    std::cerr << "lameduck: invalid configuration:\n" << cfg.error().message << "\n";
    return std::unexpected(kExitUsage);
  }
  return LoadedConfig{std::move(*options), std::move(*cfg)};
}

std::expected<ServiceStart, int> startService(const std::vector<std::string>& args,
                                              const std::string& command) {
  ServiceStart start;
  // main() blocked them first thing; blocking again is harmless and keeps a
  // caller that skipped main() (tests) safe.
  blockHandledSignals();
  start.signals = exitSignals();
  auto loaded = loadForCommand(args, command, false);
  if (!loaded) return std::unexpected(loaded.error());
  start.loaded = std::move(*loaded);
  log::Identity who = log::Identity::fromEnvironment();
  who.commit = kCommit;
  log::init(start.loaded.config.log.level, start.loaded.config.log.format, who);
  start.listener = std::make_unique<SignalListener>();
  return start;
}

std::string instanceName() {
  if (!log::identity().pod.empty()) return log::identity().pod;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

}  // namespace lameduck::cli

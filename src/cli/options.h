#pragma once

// Command-line option parsing shared by the subcommands, and the start-up
// they share (config, logging, the signal listener).
//
// Failure: parsing and loading return errors naming the argument or the
// config key; the *ForCommand / startService helpers print why and give the
// process exit code instead. Ownership: results are values; ServiceStart
// owns its SignalListener. Thread-safety: called from the main thread,
// before the command starts its own threads.

#include <signal.h>

#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/signals.h"
#include "common/error.h"
#include "config/config.h"

namespace lameduck::cli {

struct ConfigOptions {
  std::optional<std::string> file;          // --config F (or the positional file of check-config)
  std::vector<config::Override> overrides;  // --set key=value
};

// Accepts --config F, --config=F, --set k=v, --set=k=v; positional only when
// `positional_file` is true. Anything else is an error naming the argument.
[[nodiscard]] Result<ConfigOptions> parseConfigOptions(const std::vector<std::string>& args,
                                                       bool positional_file);

// Loads the file, or the embedded defaults when there is none.
[[nodiscard]] Result<config::Config> loadConfig(const ConfigOptions& options);

struct LoadedConfig {
  ConfigOptions options;
  config::Config config;
};

// Parses --config/--set (and a positional file when `positional_file`) and
// loads the config. On failure prints why, prefixed with the command, and
// returns the exit code.
[[nodiscard]] std::expected<LoadedConfig, int> loadForCommand(const std::vector<std::string>& args,
                                                              const std::string& command,
                                                              bool positional_file);

// What a long-running subcommand (run, compensator) starts from.
struct ServiceStart {
  LoadedConfig loaded;
  // SIGTERM, SIGINT and SIGQUIT: the signals that start the exit, blocked in
  // every thread since main() began; the command sigwaits for them. Name
  // them with signalName() (cli/signals.h).
  sigset_t signals;
  // Takes SIGHUP (logged, ignored) and SIGUSR1 (logs a state snapshot; give
  // it one with listener->setSnapshot). Lives as long as the ServiceStart.
  std::unique_ptr<SignalListener> listener;
};

// Loads the config, initialises logging with the pod identity and starts
// the SignalListener. The handled signals were blocked by main() before any
// of this (so only the command's own sigwait sees them: no handler runs
// concurrently with, or after, the destruction of what it would touch). On
// failure prints why and returns the exit code.
[[nodiscard]] std::expected<ServiceStart, int> startService(const std::vector<std::string>& args,
                                                            const std::string& command);

// This process's name among its peers (compensator consumer, exit-ordering
// registry): POD_NAME, else the host name and the process id.
std::string instanceName();

}  // namespace lameduck::cli

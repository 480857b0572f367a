// lameduck: graceful-exit sidecar for Kubernetes. main() only dispatches to
// the subcommands in src/cli.

#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/signals.h"
#include "common/memory.h"
#include "common/version.h"

namespace {

constexpr const char* kUsage = R"(lameduck - graceful-exit sidecar for Kubernetes

Usage:
  lameduck run [--config FILE] [--set key.path=value ...]
      Run the sidecar. Without --config it runs on embedded defaults.
      --set values are strings (--set admin.listen=[::]:9901); only where a
      key takes a list or a map is a value starting with [ or { read as one
      (--set app.ports=[8080,9090]). ${ENV} is expanded as in the file.
  lameduck check-config FILE [--set key.path=value ...]
      Validate a config file; exits 2 and names every problem if it is invalid.
  lameduck prestop [--url URL] [--token TOKEN] [--timeout DURATION]
      Exec-hook client: call /prestop (default http://127.0.0.1:9901/prestop,
      token from LAMEDUCK_TOKEN), print the exit summary, exit 0 only when the
      exit completed.
  lameduck spool replay [--config FILE] [--set key.path=value ...]
      Write the local spool's compensations into the Redis stream; the
      spool keeps only what the stream did not confirm.
  lameduck compensator [--config FILE] [--set key.path=value ...]
      Consume the compensation stream: call each action's endpoint, retry
      with backoff, dead-letter after compensator.max_attempts.
  lameduck --version | --help

Signals (run): SIGTERM, SIGINT and SIGQUIT start the exit; SIGHUP is logged
and ignored (no config reload); SIGUSR1 logs a state snapshot.

Exit codes: 0 completed, 1 failed, 2 bad usage or config, 3 exit budget ran out.
)";

}  // namespace

int main(int argc, char** argv) {
  // First of all, before config loading, logging or any thread: block the
  // signals lameduck handles, so a SIGTERM that comes early stays pending
  // until `run` waits for it, and SIGHUP/SIGUSR1/SIGQUIT never meet their
  // default action (which kills). SIGPIPE is ignored: a peer closing a socket
  // (Redis, the app, a scraper) is an error value from write(), never a
  // reason to die. What each signal means: src/cli/signals.h.
  lameduck::cli::blockHandledSignals();
  // Then, also before any thread: freed large blocks go back to the system
  // (src/common/memory.h), so memory follows what is live.
  lameduck::boundHeapGrowth();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? lameduck::cli::kExitUsage : lameduck::cli::kExitOk;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::cout << "lameduck " << lameduck::kVersion << " (commit " << lameduck::kCommit << ")\n";
    return 0;
  }
  const std::string command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "run") return lameduck::cli::run(rest);
  if (command == "compensator") return lameduck::cli::compensator(rest);
  // The other commands are short and wait for no signal: the default
  // actions apply to them again (Ctrl-C ends them).
  lameduck::cli::unblockHandledSignals();
  if (command == "check-config") return lameduck::cli::checkConfig(rest);
  if (command == "prestop") return lameduck::cli::prestop(rest);
  if (command == "spool") return lameduck::cli::spool(rest);
  std::cerr << "lameduck: unknown command \"" << command << "\"\n\n" << kUsage;
  return lameduck::cli::kExitUsage;
}

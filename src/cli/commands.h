#pragma once

// The lameduck subcommands. Each takes the arguments after its name and
// returns the process exit code.
//
// Each runs on the thread that calls it, once per process (main() picks one),
// owns everything it builds and joins every thread it starts before it
// returns. Failures are exit codes (below), with the reason logged or
// printed.

#include <string>
#include <vector>

namespace lameduck::cli {

// Exit codes shared by the subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;    // the exit ran and failed, or a call failed
inline constexpr int kExitUsage = 2;     // bad arguments or bad config
inline constexpr int kExitDeadline = 3;  // the exit ran out of budget

using Args = std::vector<std::string>;

int run(const Args& args);
int checkConfig(const Args& args);
int prestop(const Args& args);
int spool(const Args& args);
int compensator(const Args& args);

}  // namespace lameduck::cli

#pragma once

// The signals lameduck handles (docs/signals.md), in one list for the two
// programs that block them: the static launcher (src/launcher), before the
// real program's dynamic loader runs, and the real program itself
// (cli/signals.cpp), which waits for them on its own threads. Only
// <signal.h>: the launcher links no project library.

#include <signal.h>

namespace lameduck::cli {

// SIGTERM, SIGINT and SIGQUIT start the exit; SIGHUP and SIGUSR1 are
// logged (SIGUSR1 with a state snapshot) and survived.
inline constexpr int kHandledSignals[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1};
inline constexpr int kExitSignals[] = {SIGTERM, SIGINT, SIGQUIT};

}  // namespace lameduck::cli

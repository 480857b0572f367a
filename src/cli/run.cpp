// `lameduck run`: the sidecar daemon. Builds the Sidecar (the composition
// root), serves until a signal starts the exit, and stays up until the app
// is gone.

#include <csignal>
#include <cstring>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/sidecar.h"
#include "cli/signals.h"
#include "common/log.h"
#include "common/version.h"

namespace lameduck::cli {
namespace {

int exitCode(exit::Outcome outcome) {
  switch (outcome) {
    case exit::Outcome::kCompleted:
      return kExitOk;
    case exit::Outcome::kDeadline:
      return kExitDeadline;
    default:
      return kExitFailed;
  }
}

}  // namespace

int run(const Args& args) {
  auto start = startService(args, "run");
  if (!start) return start.error();
  const config::Config& c = start->loaded.config;
  const sigset_t& signals = start->signals;

  // SIGUSR1 logs the exit's state; the sidecar withdraws that snapshot
  // before anything it reads is gone.
  auto sidecar = Sidecar::create(c, SystemClock::instance(), start->listener.get());
  if (!sidecar) {
    log::error("cannot start", {{"error", sidecar.error().message}});
    return kExitUsage;
  }
  if (auto started = (*sidecar)->start(); !started) {
    log::error("cannot start", {{"error", started.error().message}});
    return kExitFailed;
  }
  log::info("lameduck started",
            {{"version", kVersion},
             {"commit", kCommit},
             {"config", start->loaded.options.file.value_or("<embedded defaults>")},
             {"app", c.app.base_url ? c.app.base_url->origin() + c.app.base_url->path : "none"},
             {"exit_budget_ms", toMillis(c.exit.budget())},
             {"drain_max_wait_ms", toMillis(c.drain.max_wait)},
             {"coordination", (*sidecar)->coordinationName()}});

  for (const std::string& w : config::warnings(c)) log::warn("configuration", {{"detail", w}});

  exit::ExitEngine& engine = (*sidecar)->engine();
  siginfo_t info{};
  int sig = -1;
  while (sig < 0) {
    sig = sigwaitinfo(&signals, &info);
    if (sig < 0 && errno != EINTR) {
      log::error("waiting for signals failed", {{"error", std::strerror(errno)}});
      sig = SIGTERM;  // proceed with an orderly exit rather than spin
    }
  }
  const std::string name = signalName(sig);
  log::info("signal received",
            {{"signal", name}, {"sender_pid", static_cast<int64_t>(info.si_pid)}});
  engine.trigger(name);
  const exit::Summary summary = engine.await();
  (*sidecar)->finish();
  const int code = exitCode(summary.outcome);
  log::info("lameduck stopped",
            {{"outcome", exit::outcomeName(summary.outcome)}, {"exit_code", code}});
  return code;
}

}  // namespace lameduck::cli

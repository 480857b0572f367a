#include "diag/watcher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "common/log.h"

namespace lameduck::diag {

bool tcpAccepts(const std::string& host, uint16_t port, Duration timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  // Numeric only: a name lookup has no deadline. The diagnostics URL is
  // loopback in practice; a host name is counted as not checkable (alive).
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) {
    return true;
  }
  bool accepted = false;
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    int rc = ::connect(fd, found->ai_addr, found->ai_addrlen);
    if (rc == 0) {
      accepted = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
      if (::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(ms, 1, 60'000))) == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        accepted = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
      }
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return accepted;
}

std::string_view watchOutcomeName(WatchOutcome outcome) {
  switch (outcome) {
    case WatchOutcome::kExited:
      return "exited";
    case WatchOutcome::kStuck:
      return "stuck";
    case WatchOutcome::kDumpFailed:
      return "dump_failed";
    case WatchOutcome::kOutlived:
      return "outlived";
    case WatchOutcome::kStopped:
      return "stopped";
  }
  return "unknown";
}

ShutdownWatcher::ShutdownWatcher(Diagnosis& diagnosis, Clock& clock, AliveCheck alive,
                                 WatchSettings settings, std::vector<StuckObserver*> observers)
    : diagnosis_(diagnosis),
      clock_(clock),
      alive_(std::move(alive)),
      settings_(settings),
      observers_(std::move(observers)) {}

void ShutdownWatcher::stop() { stopped_.store(true); }

// sleepUntil, not a condition-variable wait: a simulated clock moves on by
// itself in tests, and a pause is at most one poll interval, which bounds how
// long stop() takes to be seen.
bool ShutdownWatcher::pause(TimePoint until) {
  if (stopped_.load()) return false;
  clock_.sleepUntil(until);
  return !stopped_.load();
}

WatchResult ShutdownWatcher::run(TimePoint hook_answered, TimePoint deadline) {
  WatchResult result;
  // The dump must fit before the deadline: with little budget left it comes
  // earlier than after_sigterm rather than not at all.
  const TimePoint dump_at = std::min(hook_answered + settings_.after_sigterm,
                                     std::max(hook_answered, deadline - settings_.fetch_timeout));
  auto aliveNow = [&] {
    const Duration left = deadline - clock_.now();
    return alive_(std::clamp<Duration>(left, Duration(1), settings_.poll));
  };

  // Phase 1: until after_sigterm, a well-behaved app exits by itself.
  while (clock_.now() < dump_at) {
    if (!aliveNow()) {
      result.outcome = WatchOutcome::kExited;
      result.app_gone_at = clock_.now();
      result.detail = "the app exited " +
                      formatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(
                          clock_.now() - hook_answered)) +
                      " after the hook answered";
      log::info("app exited after SIGTERM", {{"detail", result.detail}});
      return result;
    }
    if (!pause(std::min(clock_.now() + settings_.poll, dump_at))) {
      result.outcome = WatchOutcome::kStopped;
      result.detail = "stopped before after_sigterm";
      return result;
    }
  }
  if (!aliveNow()) {
    result.outcome = WatchOutcome::kExited;
    result.app_gone_at = clock_.now();
    result.detail = "the app exited within after_sigterm";
    return result;
  }

  // Phase 2: still alive: dump (3), bounded by app.timeout and the budget.
  const TimePoint fetch_started = clock_.now();
  const Duration fetch_timeout =
      std::clamp<Duration>(deadline - fetch_started, Duration(1), settings_.fetch_timeout);
  auto report = diagnosis_.diagnose(fetch_timeout);
  if (report) {
    StuckReport stuck{*report, clock_.now() - hook_answered, clock_.wallNow(),
                      clock_.now() - fetch_started};
    result.reported = true;
    result.outcome = WatchOutcome::kStuck;
    result.detail = describe(*report);
    int64_t not_cancellable = 0;
    for (const Group& g : report->groups) {
      if (!g.cancellable) not_cancellable += g.count;
    }
    log::audit("app_shutdown_stuck",
               {{"source", report->source},
                {"after_sigterm_ms", static_cast<int64_t>(toMillis(stuck.after_hook))},
                {"goroutines_at_start", report->goroutines_at_start.value_or(-1)},
                {"goroutines_at_end", report->goroutines_at_end},
                {"groups", static_cast<int64_t>(report->groups.size())},
                {"not_cancellable", not_cancellable},
                {"summary", result.detail},
                {"report", renderJson(*report)}});
    for (StuckObserver* o : observers_) o->onShutdownStuck(stuck);
  } else {
    result.outcome = WatchOutcome::kDumpFailed;
    result.detail = report.error().message;
    log::warn("the app is alive after SIGTERM but its goroutine dump failed",
              {{"error", report.error().describe()}});
    for (StuckObserver* o : observers_) o->onShutdownDumpFailed(report.error());
  }
  const WatchOutcome after_dump = result.outcome;

  // Phase 3: the sidecar stays while the app is alive, up to the deadline.
  while (clock_.now() < deadline) {
    if (!aliveNow()) {
      result.app_gone_at = clock_.now();
      result.outcome = after_dump;
      return result;
    }
    if (!pause(std::min(clock_.now() + settings_.poll, deadline))) {
      result.outcome = WatchOutcome::kStopped;
      return result;
    }
  }
  result.outcome = WatchOutcome::kOutlived;
  log::warn("exit budget over while the app is still alive after SIGTERM; stopping anyway",
            {{"detail", result.detail}});
  return result;
}

}  // namespace lameduck::diag

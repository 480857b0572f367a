#pragma once

// The after-SIGTERM watcher: the kubelet sends SIGTERM to the app when the
// preStop hook returns. If the app is still alive `after_sigterm` later, it is
// held by goroutines that ignored their cancel: the watcher takes dump (3),
// writes the audit event `app_shutdown_stuck` and tells the StuckObservers.
// It then keeps the sidecar up while the app is alive, bounded by the exit
// budget, so that the sidecar never leaves before the app.
//
// Thread-safety: run() on one thread; stop() from any thread (seen within
// one poll interval).

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "diag/diagnosis.h"

namespace lameduck::diag {

// Whether the app is still alive (its diagnostics endpoint accepts a
// connection and/or app.ports still listen). Must return within `timeout`.
using AliveCheck = std::function<bool(Duration timeout)>;

// A TCP connect to host:port within `timeout` (the diagnostics endpoint
// answering is the app being alive). Cheap: no request, no dump.
bool tcpAccepts(const std::string& host, uint16_t port, Duration timeout);

struct WatchSettings {
  Duration after_sigterm = std::chrono::seconds(5);
  Duration fetch_timeout = std::chrono::seconds(2);  // app.timeout
  Duration poll = std::chrono::milliseconds(100);    // how often "alive" is checked
};

enum class WatchOutcome {
  kExited,      // the app was gone before after_sigterm: nothing to report
  kStuck,       // dump (3) taken and reported; the app went away afterwards
  kDumpFailed,  // alive after after_sigterm, but the dump could not be taken
  kOutlived,    // the app was still alive when the deadline came
  kStopped,     // stop() was called
};
std::string_view watchOutcomeName(WatchOutcome outcome);

struct [[nodiscard]] WatchResult {
  WatchOutcome outcome = WatchOutcome::kExited;
  bool reported = false;    // dump (3) was taken and reported
  std::string detail;       // what happened, for the log
  TimePoint app_gone_at{};  // set when the app was seen gone
};

class ShutdownWatcher {
 public:
  // `diagnosis`, `clock` and observers must outlive the watcher.
  ShutdownWatcher(Diagnosis& diagnosis, Clock& clock, AliveCheck alive, WatchSettings settings,
                  std::vector<StuckObserver*> observers = {});

  // Blocks from now until the app is gone or `deadline` (the end of the exit
  // budget) — at most. `hook_answered` is when /prestop answered. The dump
  // is taken after_sigterm after it, or earlier when that would leave less
  // than fetch_timeout before the deadline. Never throws; every failure ends
  // up in the result.
  WatchResult run(TimePoint hook_answered, TimePoint deadline);

  // Makes run() return promptly (a second signal, shutdown of the sidecar).
  void stop();

 private:
  // Sleeps until `until` or stop(); false when stopped.
  bool pause(TimePoint until);

  Diagnosis& diagnosis_;
  Clock& clock_;
  AliveCheck alive_;
  WatchSettings settings_;
  std::vector<StuckObserver*> observers_;
  std::atomic<bool> stopped_{false};
};

}  // namespace lameduck::diag

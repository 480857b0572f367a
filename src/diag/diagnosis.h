#pragma once

// Exit diagnosis for Go apps: the state shared by the diagnosis steps and the
// after-SIGTERM watcher (the source of dumps, the baseline), and the
// observer interface through which metrics and the exit trace learn that
// the app is stuck in its shutdown.
//
// Thread-safety: Diagnosis is thread-safe (the baseline is guarded; fetches
// are serialised by the source). Observers are called on the caller's thread.

#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/error.h"
#include "diag/fetch.h"
#include "diag/report.h"

namespace lameduck::diag {

// Dump (3): the app was still alive after_sigterm after /prestop answered.
struct StuckReport {
  Report report;
  Duration after_hook{};  // from the hook's answer to the dump
  WallTime taken{};       // when the dump was taken, for spans and logs
  Duration fetch_took{};  // how long fetching it took
};

// Told once per exit when the app is stuck in its shutdown. Implemented by
// the metrics (lameduck_app_goroutines{wait_reason}) and the exit trace (a
// span of its own). Called on the watcher's thread; must not block long and
// must not throw.
class StuckObserver {
 public:
  virtual ~StuckObserver() = default;
  virtual void onShutdownStuck(const StuckReport& stuck) = 0;
  // Dump (3) could not be taken; `error` says why. Default: nothing.
  virtual void onShutdownDumpFailed(const Error& error) { (void)error; }
};

class Diagnosis {
 public:
  // `source` must outlive this object.
  explicit Diagnosis(DumpSource& source) : source_(source) {}

  // Dump (1). On failure the baseline stays unset (reports then cover every
  // parked goroutine) and the error is returned for the step's detail.
  Status takeBaseline(Duration timeout);

  // A dump now, reported against the baseline.
  Result<Report> diagnose(Duration timeout);

  bool hasBaseline() const;
  std::string source() const { return source_.source(); }

 private:
  DumpSource& source_;
  mutable std::mutex mu_;
  std::optional<Dump> baseline_;
};

// Sums group counts per wait reason: the gauge's values.
std::vector<std::pair<std::string, int64_t>> countsByWaitReason(const Report& report);

// One line for logs: "2 sleep main.sleepLoop (/app/main.go:75, not cancellable); …"
std::string describe(const Report& report);

}  // namespace lameduck::diag

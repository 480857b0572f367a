#pragma once

// The after-SIGTERM watch (dump (3) of the diagnosis) as an exit observer.
// When the exit is done — the hook has answered and the kubelet sends the
// app SIGTERM — it runs a ShutdownWatcher (diag/watcher.h) on a thread of
// its own: in a native-sidecar pod the sidecar's own SIGTERM comes only
// after the app has gone, too late to see it stuck, so the watch cannot
// wait for it. The watch ends when the app is gone, or at the end of the
// exit budget.
//
// Promises: at most one watch per object (one exit per process); none
// starts after stop(). waitOver() bounds every wait for it by the exit's
// budget plus one fetch timeout, on the injected clock. Failures of the
// watch itself (a dump that cannot be taken) go to the StuckObservers and
// the log, never to the caller.
//
// Ownership: the diagnosis, the clock, the observers and whatever `alive`
// reads are borrowed and must outlive the watch; the destructor stops and
// joins a running watch (within one poll interval).
//
// Thread-safety: onExitDone() on the exit thread; stop() and waitOver()
// from any thread, any number of callers.

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "diag/diagnosis.h"
#include "diag/watcher.h"
#include "exit/engine.h"

namespace lameduck::diag {

class AfterExitWatch final : public exit::ExitObserver {
 public:
  AfterExitWatch(Diagnosis& diagnosis, Clock& clock, AliveCheck alive, WatchSettings settings,
                 std::vector<StuckObserver*> observers);
  ~AfterExitWatch() override;
  AfterExitWatch(const AfterExitWatch&) = delete;
  AfterExitWatch& operator=(const AfterExitWatch&) = delete;

  // Starts the watch: the hook answered now, the budget ends
  // summary.budget after the start of the exit. Returns at once.
  void onExitDone(const exit::Summary& summary) override;

  // Ends a running watch within one poll interval; none starts afterwards.
  void stop();

  // Blocks until the watch is over (the app gone, the budget over, or
  // stopped); returns at once when no watch was started. Bounded: it gives
  // up at the end of the exit budget plus one fetch timeout and returns
  // false then (the watch overran what it may take).
  bool waitOver();

  // How the finished watch ended; nullopt while none has finished.
  std::optional<WatchResult> result() const;

 private:
  Clock& clock_;
  const WatchSettings settings_;
  ShutdownWatcher watcher_;  // runs once, on thread_

  mutable std::mutex mu_;
  std::condition_variable over_cv_;
  bool stopped_ = false;               // guarded by mu_
  bool started_ = false;               // guarded by mu_
  TimePoint wait_bound_{};             // guarded by mu_; set when started
  std::optional<WatchResult> result_;  // guarded by mu_; set when over
  std::thread thread_;                 // joined by the destructor only
};

}  // namespace lameduck::diag

#pragma once

// The exit state machine: Ready → Draining → Compensating → Terminated.
//
// One exit per process. trigger() may be called any number of times from any
// thread (preStop calls, signals); the first starts the exit on the engine's
// own thread, the rest only join it, and every caller of await() gets the
// same Summary. Only the exit thread mutates the record; other threads read
// snapshots.
//
// Budget: the exit has grace_period - safety_margin from the first trigger.
// Draining must end compensation_reserve before that; Compensating then gets
// what is left of the budget and never less than the reserve, even when
// draining overran. Deadlines come from the injected Clock, so tests run a
// whole exit in simulated time.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "config/config.h"
#include "exit/step.h"
#include "exit/summary.h"

namespace lameduck::exit {

// Notified on the exit thread; implementations must be quick and thread-safe.
class ExitObserver {
 public:
  virtual ~ExitObserver() = default;
  virtual void onTransition(State from, State to) = 0;
  virtual void onPhaseDone(Phase phase, Duration took) = 0;
  virtual void onExitDone(const Summary& summary) = 0;
  virtual void onAppFigures(const app::Figures& figures) = 0;
  virtual void onConnections(int64_t established, int64_t arrived) = 0;
};

class ExitEngine final : private ExitRecorder {
 public:
  ExitEngine(Clock& clock, const config::ExitConfig& config, ExitPlan plan, ExitObserver& observer);
  // Waits for a running exit to end (it is bounded by its budget).
  ~ExitEngine() override;
  ExitEngine(const ExitEngine&) = delete;
  ExitEngine& operator=(const ExitEngine&) = delete;

  // Starts the exit unless it already started. Returns at once.
  void trigger(std::string_view reason);

  State state() const { return state_.load(std::memory_order_acquire); }
  // When the first trigger came (engine clock); nullopt before it.
  std::optional<TimePoint> startedAt() const;
  // A copy of the record as it is now.
  Summary snapshot() const;

  // Blocks until Terminated. Only valid after trigger().
  Summary await();
  // As await(), but gives up after `real_timeout` of wall time and returns
  // nullopt. Used by request handlers, which must not block forever.
  std::optional<Summary> awaitFor(Duration real_timeout);

 private:
  void run();
  void runPhase(Phase phase, std::vector<std::unique_ptr<Step>>& steps, TimePoint deadline);
  void transition(State to);
  void announce(State from, State to);  // audit record, observer
  Duration sinceStart() const;

  // ExitRecorder
  void appFigures(const app::Figures& figures) override;
  void inflightReachedZero() override;
  void compensations(const CompensationReport& report) override;
  void connections(int64_t established, int64_t arrived, int64_t malformed_lines) override;
  void drainWaitDone(Duration took, bool drained) override;
  void traffic(const TrafficReport& report) override;

  Clock& clock_;
  const config::ExitConfig config_;
  ExitPlan plan_;
  ExitObserver& observer_;

  std::atomic<State> state_{State::kReady};
  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  bool started_ = false;  // guarded by mu_
  bool done_ = false;     // guarded by mu_
  TimePoint start_{};     // written once under mu_ before the thread starts
  std::string traceparent_;
  Summary record_;  // guarded by mu_
  std::thread thread_;
};

// A W3C traceparent ("00-<32 hex>-<16 hex>-01") with fresh random ids.
std::string newTraceparent();

}  // namespace lameduck::exit

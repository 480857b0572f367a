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
//
// Every exit is one trace: a root span `exit`, a child span per phase and a
// grandchild per step; the ids are in the summary and handed to observers,
// and a step's context carries the traceparent of its own span.
//
// Failure: no call fails. What went wrong in an exit is in its Summary: a
// step's failure or lateness is recorded and the exit goes on, and the
// outcome says whether it completed, failed or ran out of budget. Steps
// must not throw.
//
// Ownership: the engine owns the plan's steps and its exit thread (joined
// by the destructor); the clock and the observer are borrowed.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "exit/step.h"
#include "exit/summary.h"

namespace lameduck::exit {

// The exit's time budget (from exit.* in the configuration).
struct Budget {
  Duration grace_period{};
  Duration safety_margin{};
  Duration compensation_reserve{};

  Duration total() const { return grace_period - safety_margin; }
};

// What onExitStarted reports: the trigger and the root span.
struct ExitStart {
  std::string trigger;
  std::string trace_id;
  std::string span_id;
  std::string parent_span_id;  // empty unless the trigger carried a traceparent
  WallTime started_wall{};
  Duration budget{};
};

// Notified on the exit thread, in this order: onExitStarted, then per phase
// onPhaseStarted, onStepDone per step, onPhaseDone; onTransition at each
// state change; onExitDone last. Every call has a no-op default.
// Implementations must be quick (they delay the exit) and thread-safe.
class ExitObserver {
 public:
  virtual ~ExitObserver() = default;
  virtual void onExitStarted(const ExitStart&) {}
  virtual void onTransition(State /*from*/, State /*to*/) {}
  virtual void onPhaseStarted(const PhaseTiming&) {}
  virtual void onStepDone(const StepReport&) {}
  virtual void onPhaseDone(const PhaseTiming&) {}
  virtual void onExitDone(const Summary&) {}
};

// Hands every notification to each observer in turn, in the order given.
// The observers must outlive the list.
class ObserverList final : public ExitObserver {
 public:
  explicit ObserverList(std::vector<ExitObserver*> observers) : observers_(std::move(observers)) {}
  void onExitStarted(const ExitStart& s) override {
    for (ExitObserver* o : observers_) o->onExitStarted(s);
  }
  void onTransition(State from, State to) override {
    for (ExitObserver* o : observers_) o->onTransition(from, to);
  }
  void onPhaseStarted(const PhaseTiming& p) override {
    for (ExitObserver* o : observers_) o->onPhaseStarted(p);
  }
  void onStepDone(const StepReport& r) override {
    for (ExitObserver* o : observers_) o->onStepDone(r);
  }
  void onPhaseDone(const PhaseTiming& p) override {
    for (ExitObserver* o : observers_) o->onPhaseDone(p);
  }
  void onExitDone(const Summary& s) override {
    for (ExitObserver* o : observers_) o->onExitDone(s);
  }

 private:
  std::vector<ExitObserver*> observers_;
};

class ExitEngine final : private ExitRecorder {
 public:
  // `clock` and `observer` must outlive the engine.
  ExitEngine(Clock& clock, const Budget& budget, ExitPlan plan, ExitObserver& observer);
  // Waits for a running exit to end (it is bounded by its budget).
  ~ExitEngine() override;
  ExitEngine(const ExitEngine&) = delete;
  ExitEngine& operator=(const ExitEngine&) = delete;

  // Starts the exit unless it already started. Returns at once. A valid
  // `traceparent` (W3C) makes the exit's trace a child of that span; an
  // invalid or empty one is ignored (a fresh trace is started).
  void trigger(std::string_view reason, std::string_view traceparent = {});

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
  WallTime wallAt(TimePoint t) const;

  // ExitRecorder
  void section(std::string_view name, std::string json) override;
  void attribute(std::string key, AttrValue value) override;
  void event(std::string name, Attributes attributes) override;
  void span(ChildSpan child) override;

  Clock& clock_;
  const Budget budget_;
  ExitPlan plan_;
  ExitObserver& observer_;

  std::atomic<State> state_{State::kReady};
  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  bool started_ = false;  // guarded by mu_
  bool done_ = false;     // guarded by mu_
  TimePoint start_{};     // written once under mu_ before the thread starts
  Summary record_;        // guarded by mu_
  // The step running now: where attribute(), event() and span() go.
  // Guarded by mu_.
  std::optional<StepReport> running_;
  std::thread thread_;
};

// A W3C traceparent ("00-<32 hex>-<16 hex>-01") with fresh random ids.
using ::lameduck::newTraceparent;

}  // namespace lameduck::exit

#pragma once

// A step of an exit phase. The engine runs the steps of each phase in order,
// gives each the phase's deadline, and records what it returned. Later
// features (traffic shift, connection tracking, compensation hand-off, exit
// ordering) are steps; the engine does not know what they do.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "app/app_client.h"
#include "common/clock.h"
#include "exit/summary.h"

namespace lameduck::exit {

// What a step may write into the exit's record. Thread-safe.
class ExitRecorder {
 public:
  virtual ~ExitRecorder() = default;
  virtual void appFigures(const app::Figures& figures) = 0;
  virtual void inflightReachedZero() = 0;
  virtual void compensations(const CompensationReport& report) = 0;
  // `arrived` connections are new since the previous call.
  virtual void connections(int64_t established, int64_t arrived, int64_t malformed_lines) = 0;
  virtual void drainWaitDone(Duration took, bool drained) = 0;
  // The traffic shift as it stands; called as it progresses.
  virtual void traffic(const TrafficReport& report) = 0;
};

struct StepContext {
  Clock& clock;
  TimePoint exit_started;
  TimePoint deadline;  // the phase's; a step must return by then
  std::string traceparent;
  ExitRecorder& record;

  Duration remaining() const {
    Duration left = deadline - clock.now();
    return left > Duration::zero() ? left : Duration::zero();
  }
  // A call timeout bounded by what is left of the phase.
  Duration callTimeout(Duration configured) const { return std::min(configured, remaining()); }
};

struct StepResult {
  StepStatus status = StepStatus::kOk;
  std::string detail;

  static StepResult ok(std::string detail = "") { return {StepStatus::kOk, std::move(detail)}; }
  static StepResult skipped(std::string detail) {
    return {StepStatus::kSkipped, std::move(detail)};
  }
  static StepResult deadline(std::string detail) {
    return {StepStatus::kDeadline, std::move(detail)};
  }
  static StepResult failed(std::string detail) { return {StepStatus::kFailed, std::move(detail)}; }
};

// Steps run on the engine's exit thread only; they must return by
// ctx.deadline (plus at most one bounded call), never throw, and report
// problems in the result.
class Step {
 public:
  virtual ~Step() = default;
  virtual std::string_view name() const = 0;
  virtual StepResult run(StepContext& ctx) = 0;
};

struct ExitPlan {
  std::vector<std::unique_ptr<Step>> draining;
  std::vector<std::unique_ptr<Step>> compensating;
  std::vector<std::unique_ptr<Step>> terminating;
};

}  // namespace lameduck::exit

#pragma once

// A step of an exit phase, and what it may write into the exit's record.
//
// The engine runs the steps of each phase in order, gives each the phase's
// deadline, and records what it returned. Every step lives in a component
// of its own: it owns a section of the summary, which it replaces as it
// goes, and the details of its span in the exit trace. The engine knows
// sections only by name and does not know what any step does.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "exit/span.h"
#include "exit/summary.h"

namespace lameduck::exit {

// What a running step may write into the exit's record. Thread-safe; a
// step calls it on the exit thread, while others read snapshots.
class ExitRecorder {
 public:
  virtual ~ExitRecorder() = default;
  // Replaces the summary section `name` with `json`, a JSON value as text
  // (rendered by the step's component). The section keeps the place it was
  // declared in (ExitPlan::sections), or goes after the others.
  virtual void section(std::string_view name, std::string json) = 0;
  // An attribute of the running step's span (a later value replaces an
  // earlier one of the same key).
  virtual void attribute(std::string key, AttrValue value) = 0;
  // An event on the running step's span, stamped now.
  virtual void event(std::string name, Attributes attributes = {}) = 0;
  // A finished child span of the running step's span, with a span id of its
  // own. Its times are kept inside the step's: a start before the step began
  // or an end after now is moved to that bound. Bounded: past
  // kMaxChildSpans per step further spans are dropped, and past
  // kMaxSpanEvents events of one span the rest are.
  virtual void span(ChildSpan child) = 0;
};

inline constexpr size_t kMaxChildSpans = 128;
inline constexpr size_t kMaxSpanEvents = 128;

// Given to Step::run for the run only: a step must not keep the context,
// the recorder or the pointers in it after run() returned.
struct StepContext {
  Clock& clock;
  TimePoint exit_started;
  TimePoint deadline;       // the phase's (or the step's grace); return by then
  std::string traceparent;  // of this step's own span: send it with every call
  ExitRecorder& record;
  // The steps that ran before this one in this exit, in order. Read on the
  // exit thread only.
  const std::vector<StepReport>* earlier = nullptr;

  Duration remaining() const {
    Duration left = deadline - clock.now();
    return left > Duration::zero() ? left : Duration::zero();
  }
  // A call timeout bounded by what is left of the phase.
  Duration callTimeout(Duration configured) const { return std::min(configured, remaining()); }
  // The report of an earlier step by name; null when it did not run.
  const StepReport* find(std::string_view step) const {
    if (!earlier) return nullptr;
    for (const StepReport& r : *earlier) {
      if (r.name == step) return &r;
    }
    return nullptr;
  }
};

struct [[nodiscard]] StepResult {
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
// problems in the result. The plan (and so the engine) owns its steps;
// what a step borrows from its component must outlive the engine.
class Step {
 public:
  virtual ~Step() = default;
  virtual std::string_view name() const = 0;
  virtual StepResult run(StepContext& ctx) = 0;
  // How long the step may still run once the phase's deadline has passed.
  // Zero for almost every step: a step that comes too late is reported,
  // not run. A step that explains an overrun (what held the phase up) gets
  // a bounded grace; the compensation reserve is kept anyway.
  virtual Duration grace() const { return Duration::zero(); }
};

// A summary section and its value before any step wrote it, so that a
// section is in the summary (as null or empty figures) from the start.
struct SectionDefault {
  std::string name;
  std::string json = "null";
};

struct ExitPlan {
  std::vector<std::unique_ptr<Step>> draining;
  std::vector<std::unique_ptr<Step>> compensating;
  std::vector<std::unique_ptr<Step>> terminating;
  std::vector<SectionDefault> sections;  // in the order the summary shows them
};

}  // namespace lameduck::exit

#pragma once

// What an exit did: the record /prestop answers with, /status shows while the
// exit runs, and the audit log keeps.
//
// Thread-safety: plain values and pure renderings; the engine owns the live
// summary and hands out copies (exit/engine.h).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "exit/span.h"

namespace lameduck::exit {

enum class State { kReady, kDraining, kCompensating, kTerminated };
enum class Outcome { kNone, kCompleted, kDeadline, kFailed };
// The timed parts of an exit. kTerminating runs the finishing steps (the
// terminate hook) before the state becomes Terminated.
enum class Phase { kDraining, kCompensating, kTerminating };

enum class StepStatus { kOk, kSkipped, kDeadline, kFailed };

std::string_view stateName(State s);
std::string_view outcomeName(Outcome o);
std::string_view phaseName(Phase p);
std::string_view stepStatusName(StepStatus s);

inline constexpr State kAllStates[] = {State::kReady, State::kDraining, State::kCompensating,
                                       State::kTerminated};
inline constexpr Outcome kAllOutcomes[] = {Outcome::kCompleted, Outcome::kDeadline,
                                           Outcome::kFailed};
inline constexpr Phase kAllPhases[] = {Phase::kDraining, Phase::kCompensating, Phase::kTerminating};

struct StepReport {
  Phase phase = Phase::kDraining;
  std::string name;
  StepStatus status = StepStatus::kOk;
  std::string detail;
  Duration started_at{};  // since the exit started
  Duration took{};
  // Its span in the exit trace: id, parent (the phase's span), wall-clock
  // start, and what the step recorded.
  std::string span_id;
  std::string parent_span_id;
  WallTime started_wall{};
  Attributes attributes;
  std::vector<SpanEvent> events;
  std::vector<ChildSpanReport> children;  // finished parts of the step, in order
};

struct PhaseTiming {
  Phase phase = Phase::kDraining;
  Duration started_at{};  // since the exit started
  Duration took{};
  Duration budget{};    // time the phase was given
  std::string span_id;  // child of the exit's root span
  WallTime started_wall{};
};

// A section of the summary owned by a step's component: its name and its
// value as JSON text.
struct Section {
  std::string name;
  std::string json;
};

struct Summary {
  State state = State::kReady;
  Outcome outcome = Outcome::kNone;
  std::string trigger;         // what started the exit: "prestop", "SIGTERM", ...
  std::string trace_id;        // W3C trace id of the exit
  std::string span_id;         // the root span (`exit`)
  std::string parent_span_id;  // from an incoming traceparent; empty when none
  WallTime started_wall{};
  Duration elapsed{};  // so far, or in total once Terminated
  Duration budget{};   // grace_period - safety_margin
  Duration compensation_reserve{};
  std::vector<PhaseTiming> phases;
  std::vector<StepReport> steps;
  std::vector<Section> sections;  // what the steps reported, in plan order
  // Why the outcome is not `completed`: the first failed or deadline step.
  std::string reason;

  // The JSON text of a section; nullptr when there is none of that name.
  const std::string* section(std::string_view name) const;
};

// JSON renderings (nlohmann is confined to summary.cpp).
std::string toJson(const Summary& s);

}  // namespace lameduck::exit

namespace lameduck::exit {
// Reads the outcome back from toJson() output (used by `lameduck prestop`).
Result<Outcome> outcomeFromJson(std::string_view json);
}  // namespace lameduck::exit

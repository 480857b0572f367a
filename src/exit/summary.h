#pragma once

// What an exit did: the record /prestop answers with, /status shows while the
// exit runs, and the audit log keeps.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

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
  Phase phase;
  std::string name;
  StepStatus status = StepStatus::kOk;
  std::string detail;
  Duration started_at{};  // since the exit started
  Duration took{};
};

struct PhaseTiming {
  Phase phase;
  Duration started_at{};  // since the exit started
  Duration took{};
  Duration budget{};  // time the phase was given
};

// Figures the app reported through its status hook, and when they changed
// in ways that matter for draining.
struct AppFigures {
  std::optional<int64_t> inflight;
  std::optional<int64_t> connections;
  std::optional<int64_t> queued;
  std::optional<Duration> inflight_zero_at;  // since the exit started
};

// What the drain wait saw: tracked TCP connections on app.ports and the
// quiet period that replaces a blind preStop sleep.
struct DrainReport {
  std::optional<int64_t> connections;              // established on app.ports at the last read
  int64_t new_connections = 0;                     // arrived while draining
  std::optional<Duration> last_new_connection_at;  // since the exit started
  std::optional<Duration> drained_at;              // when every condition held
  std::optional<Duration> wait;                    // how long the drain wait took
  int64_t malformed_lines = 0;                     // skipped socket-table lines
};

// What happened to the app's pending compensations.
struct CompensationReport {
  int64_t pending = 0;     // valid entries the app handed over
  int64_t rejected = 0;    // entries refused (reasons in rejected_reasons)
  int64_t written = 0;     // newly written to the Redis stream
  int64_t duplicates = 0;  // already in the stream (a retried hand-off)
  int64_t spooled = 0;     // written to the local spool instead
  int64_t acked = 0;       // acknowledged to the app (only once durable)
  std::vector<std::string> rejected_reasons;
};

// One step of the traffic shift: the weight set, how long it was held and
// what the error-rate gate said.
struct TrafficStepReport {
  int64_t weight = 0;     // percent of the original weight
  Duration hold{};        // configured hold
  Duration planned{};     // hold after fitting the plan into the budget
  Duration started_at{};  // since the exit started
  Duration took{};
  bool weight_set = false;
  std::string backend_detail;  // what the backend reported after the change
  int64_t attempts = 0;        // weight-change attempts (retries on transient errors)
  std::string gate;            // "none", "pass", "fail" or "inconclusive" (last check)
  std::optional<double> error_rate;
  int64_t gate_checks = 0;
  // "passed", "held" (the gate never passed within the step's share of the
  // budget), "continued" (gate not passed, on_fail continue), "failed" (the
  // weight could not be set) or "running".
  std::string result = "running";
  std::string detail;
};

// What the traffic shift did.
struct TrafficReport {
  std::string backend;
  Duration configured{};          // sum of the configured holds
  Duration available{};           // what the budget left for the plan
  bool shortened = false;         // holds were scaled down to fit the budget
  std::optional<int64_t> weight;  // last weight the backend accepted
  std::vector<TrafficStepReport> steps;
};

struct Summary {
  State state = State::kReady;
  Outcome outcome = Outcome::kNone;
  std::string trigger;   // what started the exit: "prestop", "SIGTERM", ...
  std::string trace_id;  // W3C trace id of the exit
  WallTime started_wall{};
  Duration elapsed{};  // so far, or in total once Terminated
  Duration budget{};   // grace_period - safety_margin
  Duration compensation_reserve{};
  std::vector<PhaseTiming> phases;
  std::vector<StepReport> steps;
  AppFigures app;
  DrainReport drain;
  std::optional<CompensationReport> compensations;  // once they were fetched
  std::optional<TrafficReport> traffic;             // when a shift ran
  // Why the outcome is not `completed`: the first failed or deadline step.
  std::string reason;
};

// JSON renderings (nlohmann is confined to summary.cpp).
std::string toJson(const Summary& s);

}  // namespace lameduck::exit

namespace lameduck::exit {
// Reads the outcome back from toJson() output (used by `lameduck prestop`).
Result<Outcome> outcomeFromJson(std::string_view json);
}  // namespace lameduck::exit

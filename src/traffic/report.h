#pragma once

// The traffic shift's section of the exit summary (`traffic`): plain values,
// rendered to JSON here.
//
// Thread-safety: plain values and a pure rendering; the shift step fills
// them on the exit thread and hands the rendered JSON to the engine.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace lameduck::traffic {

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

inline constexpr const char* kTrafficSection = "traffic";
// The section's JSON value.
std::string toJson(const TrafficReport& report);

}  // namespace lameduck::traffic

#pragma once

// The compensation hand-off's section of the exit summary
// (`compensations`): plain values, rendered to JSON here.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace lameduck::saga {

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

inline constexpr const char* kCompensationsSection = "compensations";
// The section's JSON value.
std::string toJson(const CompensationReport& report);

}  // namespace lameduck::saga

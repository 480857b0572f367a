#pragma once

// The exit-ordering section of the exit summary (`coordination`): plain
// values, rendered to JSON here.
//
// Thread-safety: plain values and a pure rendering; the coordination steps
// fill them on the exit thread and hand the rendered JSON to the engine.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace lameduck::coord {

// Exit ordering (coordination.*) as it stands: the exit slot of
// max_concurrent_exits and the wait for the services in wait_for. Updated
// while the coordination steps wait, so /status shows who is waited for.
struct CoordinationReport {
  std::string service;  // empty when this pod only waits (no service of its own)
  std::string pod;
  // The exit slot: "" (not used), "waiting", "held", "deadline" (none came
  // free in time) or "skipped" (Redis unreachable; the exit went on
  // without one).
  std::string slot;
  std::optional<int64_t> slot_token;      // fencing token of the held slot
  std::vector<std::string> slot_holders;  // while waiting: "pod (token N)"
  std::optional<Duration> slot_wait;      // how long the slot took so far
  std::vector<std::string> wait_for;      // the configured services
  // "" (not used), "waiting", "done", "deadline", or "skipped" (Redis
  // unreachable).
  std::string wait_for_status;
  std::vector<std::string> alive;         // "service/pod (State)" still waited for
  std::optional<Duration> wait_for_wait;  // how long the wait took so far
  std::string cycle;                      // "a -> b -> a" when one was detected
  std::string error;                      // the last Redis error of this exit
};

inline constexpr const char* kCoordinationSection = "coordination";
// The section's JSON value.
std::string toJson(const CoordinationReport& report);

}  // namespace lameduck::coord

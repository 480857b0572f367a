#pragma once

// The summary section `drain`, owned by the drain wait: what the connection
// tracking saw and, when the drain waited, what held it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "drain/tracker.h"

namespace lameduck::drain {

struct DrainSection {
  std::string source;         // "netlink" | "proc"; empty without connection tracking
  std::string source_reason;  // why that source (the fallback's cause)
  std::optional<int64_t> connections;  // open on app.ports at the last read (busy + idle)
  std::optional<int64_t> busy;
  std::optional<int64_t> idle;
  int64_t new_connections = 0;                  // arrived while draining
  std::optional<Duration> last_activity_at;     // last request bytes or new connection, since the exit started
  std::optional<Duration> drained_at;           // when every condition held
  std::optional<Duration> wait;                 // how long the drain wait took
  int64_t malformed_lines = 0;                  // skipped /proc lines
  std::optional<int64_t> inflight;              // the app's figure at the last read (hooks set)
  std::vector<HeldConnection> held_by;          // at most ConnectionTracker::kMaxHeldBy
};

// The section as a JSON object (text). Durations in ms; absent figures null.
// held_by entries: {"peer", "activity" (busy|idle), "reason",
// "ms_since_data_in", "ms_since_data_out" (null from /proc), "bytes_queued"}.
std::string renderDrainSection(const DrainSection& s);

}  // namespace lameduck::drain

#pragma once

// The connection half of "drained" (the wait step adds the app's in-flight
// figure): at most `max_connections` busy connections on the app ports, and
// no request bytes and no new connection for `quiet_period`. Idle
// connections never hold the exit. Fed one snapshot per poll with the time
// it was read; pure bookkeeping, so it runs in simulated time in tests.
//
// With the /proc source (no timestamps) every established connection counts
// as busy: the fallback cannot tell an idle pooled connection from a request
// being worked on.
//
// Failure: none of its own; a read that failed is judged not drained
// (unreadable()). Ownership: keeps a copy of the previous snapshot.
// Thread-safety: none; one poller owns it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "drain/activity.h"
#include "drain/connections.h"

namespace lameduck::drain {

struct DrainRules {
  int64_t max_connections = 0;
  Duration quiet_period = std::chrono::seconds(2);
};

// One connection that held the drain, for the summary and the audit record.
struct HeldConnection {
  std::string peer;  // "10.0.0.9:41000", "[fd00::9]:41000"
  Activity activity = Activity::kIdle;
  std::string reason;                          // why busy, or "request bytes within the quiet period"
  std::optional<uint32_t> ms_since_data_in;    // absent from /proc
  std::optional<uint32_t> ms_since_data_out;
  uint64_t bytes_queued = 0;                   // rqueue + wqueue + notsent
};

struct ConnectionVerdict {
  bool drained = false;
  std::vector<std::string> reasons;  // why not, each naming the figure and the setting
  int64_t busy = 0;
  int64_t idle = 0;
  int64_t new_connections = 0;  // since the previous poll
  bool request_bytes = false;   // since the previous poll
  std::vector<HeldConnection> held_by;  // at most kMaxHeldBy, busy ones first
};

class ConnectionTracker {
 public:
  static constexpr size_t kMaxHeldBy = 10;
  // The quiet period runs from `started`: endpoint removal takes time to
  // reach load balancers even when no request arrives in between.
  ConnectionTracker(DrainRules rules, TimePoint started);

  // Judges a snapshot read at `now`.
  ConnectionVerdict observe(const ConnectionSnapshot& snapshot, TimePoint now);
  // A read that failed: never drained; the previous snapshot is kept.
  ConnectionVerdict unreadable(const Error& error);

  TimePoint lastActivity() const { return last_activity_; }

 private:
  DrainRules rules_;
  TimePoint last_activity_;
  std::optional<ConnectionSnapshot> previous_;
  TimePoint previous_at_{};
};

}  // namespace lameduck::drain

#pragma once

// The drain's sections of the exit summary: `app` (the figures the app
// reported through its status hook while draining) and `drain` (what the
// connection tracking saw). Plain values, rendered to JSON here so that the
// exit engine only ever sees text; the renderings never fail.
//
// Thread-safety: plain values and pure renderings; the drain wait fills
// them on the exit thread.

#include <cstdint>
#include <optional>
#include <string>

#include <string_view>
#include <vector>

#include "app/app_client.h"
#include "common/clock.h"
#include "drain/tracker.h"

namespace lameduck::drain {

// Figures the app reported through its status hook, and when in-flight work
// first reached zero.
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
  // Per-connection activity: which reader ("netlink" | "proc"; empty until
  // read), busy and idle connections at the last read, and the connections
  // that held the drain at the last poll that was not drained.
  std::string source;
  std::optional<int64_t> busy;
  std::optional<int64_t> idle;
  std::optional<Duration> last_activity_at;  // request bytes or new connection, since the exit started
  std::vector<HeldConnection> held_by;
  // Set when the wait ran out: what was left of exit.grace_period then, for
  // the rest of the exit and the app's own shutdown.
  std::optional<Duration> grace_left;
};

// The section names, and their JSON (the same keys whether or not a value
// is known: unknown figures are null).
inline constexpr const char* kAppSection = "app";
inline constexpr const char* kDrainSection = "drain";
std::string toJson(const AppFigures& figures);
std::string toJson(const DrainReport& report);

// Metrics of the drain wait (implemented by the metrics registry). Called
// on the exit thread; implementations must be quick and thread-safe.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void onAppFigures(const app::Figures& figures) = 0;
  // `arrived` connections are new since the previous call.
  virtual void onConnections(int64_t established, int64_t arrived) = 0;
  // Busy and idle connections on app.ports at the last read.
  virtual void onConnectionActivity(int64_t /*busy*/, int64_t /*idle*/) {}
  // The reader of the connections, once at start: "netlink" or "proc" (the
  // fallback where netlink is refused or disabled).
  virtual void onConnectionSource(std::string_view /*source*/) {}
};

}  // namespace lameduck::drain

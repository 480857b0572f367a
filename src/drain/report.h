#pragma once

// The drain's sections of the exit summary: `app` (the figures the app
// reported through its status hook while draining) and `drain` (what the
// connection tracking saw). Plain values, rendered to JSON here so that the
// exit engine only ever sees text.

#include <cstdint>
#include <optional>
#include <string>

#include "app/app_client.h"
#include "common/clock.h"

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
};

}  // namespace lameduck::drain

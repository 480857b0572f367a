#pragma once

// Busy or idle: what the connections of two successive snapshots say about
// the app's work. Pure functions over snapshots, so the rules are tested with
// made-up facts and the drain wait only decides what to do with the answer.
//
// A connection is busy when
//   - it is being set up (SYN_RECV): a client is about to send;
//   - bytes are queued either way (unread by the app, unsent or unacked);
//   - the peer spoke last: data arrived after the app last sent data (a
//     request being worked on, long-poll included), or data arrived and
//     the app has sent nothing yet on the connection;
//   - data moved since the previous snapshot (a streaming reply), judged by
//     the byte counters when the kernel has them, else by the timestamps.
// Otherwise it is idle: the app answered last and nothing is queued, as with
// a load balancer's pooled keep-alive connection. ACKs and keepalive probes
// are not data (the kernel's last_data_* timestamps ignore them; last_ack_recv
// is never used). Connections in TIME_WAIT are history, not connections.
//
// Thread-safety: pure functions, callable from any thread.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "drain/connections.h"

namespace lameduck::drain {

enum class Activity { kBusy, kIdle };
std::string_view activityName(Activity a);  // "busy" | "idle"

struct ClassifiedConnection {
  ConnectionFacts facts;
  Activity activity = Activity::kIdle;
  std::string_view reason;  // why, e.g. "peer spoke last"; static text
};

struct ActivityReport {
  std::vector<ClassifiedConnection> connections;  // the snapshot's connections, same order
  int64_t busy = 0;
  int64_t idle = 0;
  // Data from a client arrived on a tracked connection since the previous
  // snapshot (always false without one).
  bool request_bytes = false;
  // How long before the snapshot data last arrived from a client on any
  // tracked connection that has received some; absent when the source has
  // no timestamps (proc) or no connection received data.
  std::optional<Duration> last_request_bytes_ago;
  // Connections that appeared since the previous snapshot (countNew).
  int64_t new_connections = 0;
};

// Classifies `now.connections`. `previous` is the snapshot of the poll
// before (nullptr on the first poll) and `elapsed` the time between the two.
ActivityReport classify(const ConnectionSnapshot* previous, const ConnectionSnapshot& now,
                        Duration elapsed);

}  // namespace lameduck::drain

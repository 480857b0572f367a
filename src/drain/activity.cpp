#include "drain/activity.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <utility>

namespace lameduck::drain {
namespace {

bool queued(const ConnectionFacts& c) {
  // Once the peer has closed, the kernel counts its FIN in the receive
  // queue until the app reads end-of-file: one byte that is not data.
  const bool peer_closed = c.state == tcp_state::kCloseWait || c.state == tcp_state::kLastAck ||
                           c.state == tcp_state::kClosing;
  const uint32_t unread = peer_closed && c.rqueue > 0 ? c.rqueue - 1 : c.rqueue;
  return unread > 0 || c.wqueue > 0 || c.unacked.value_or(0) > 0 || c.notsent.value_or(0) > 0;
}

bool settingUp(const ConnectionFacts& c) {
  return c.state == tcp_state::kSynRecv || c.state == tcp_state::kNewSynRecv;
}

// Request bytes arrived and the app has not sent a byte on this connection
// yet. The data timestamps are kernel ticks (1-10 ms), and a client usually
// sends its first request within the tick the connection was accepted in,
// so "the peer spoke last" cannot be read from them then; the counters tell.
// bytes_acked counts the SYN as 1.
bool neverAnswered(const ConnectionFacts& c) {
  return c.bytes_received.value_or(0) > 0 && c.bytes_acked && *c.bytes_acked <= 1 &&
         c.wqueue == 0 && c.notsent.value_or(0) == 0;
}

bool hasCounters(const ConnectionFacts& c) { return c.bytes_received && c.bytes_acked; }

// Whether data moved on `c` in the `elapsed_ms` before the snapshot.
// `before` is the same socket in the previous snapshot, if it was there.
bool dataMoved(const ConnectionFacts& c, const ConnectionFacts* before, int64_t elapsed_ms) {
  if (before && hasCounters(c) && hasCounters(*before)) {
    return *c.bytes_received != *before->bytes_received || *c.bytes_acked != *before->bytes_acked;
  }
  if (!before && hasCounters(c)) {
    // New since the last poll: any payload either way is movement. The
    // handshake is not (bytes_acked may count the SYN as 1).
    return *c.bytes_received > 0 || *c.bytes_acked > 1;
  }
  return (c.ms_since_data_in && *c.ms_since_data_in < elapsed_ms) ||
         (c.ms_since_data_out && *c.ms_since_data_out < elapsed_ms);
}

// Whether a client's data arrived on `c` in the `elapsed_ms` before the
// snapshot.
bool requestBytes(const ConnectionFacts& c, const ConnectionFacts* before, int64_t elapsed_ms) {
  if (c.bytes_received) {
    if (before && before->bytes_received) return *c.bytes_received != *before->bytes_received;
    if (!before) return *c.bytes_received > 0;
  }
  if (c.ms_since_data_in) return *c.ms_since_data_in < elapsed_ms;
  // No timestamps (proc): unread bytes that were not there before.
  return c.rqueue > 0 && (!before || before->rqueue != c.rqueue);
}

// The same socket in an earlier snapshot: by kernel cookie when it has one
// (an address pair can be reused by a new socket), else by address pair.
class Earlier {
 public:
  explicit Earlier(const ConnectionSnapshot* previous) {
    if (!previous) return;
    for (const ConnectionFacts& c : previous->connections) {
      if (c.cookie) {
        by_cookie_.emplace(c.cookie, &c);
      } else {
        by_pair_.emplace(std::pair{c.local, c.peer}, &c);
      }
    }
  }
  const ConnectionFacts* find(const ConnectionFacts& c) const {
    if (c.cookie) {
      auto it = by_cookie_.find(c.cookie);
      return it == by_cookie_.end() ? nullptr : it->second;
    }
    auto it = by_pair_.find({c.local, c.peer});
    return it == by_pair_.end() ? nullptr : it->second;
  }

 private:
  std::unordered_map<uint64_t, const ConnectionFacts*> by_cookie_;
  std::map<std::pair<Endpoint, Endpoint>, const ConnectionFacts*> by_pair_;
};

}  // namespace

std::string_view activityName(Activity a) { return a == Activity::kBusy ? "busy" : "idle"; }

ActivityReport classify(const ConnectionSnapshot* previous, const ConnectionSnapshot& now,
                        Duration elapsed) {
  ActivityReport report;
  const Earlier before(previous);
  if (previous) report.new_connections = countNew(*previous, now);
  const int64_t elapsed_ms =
      std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
  report.connections.reserve(now.connections.size());
  for (const ConnectionFacts& c : now.connections) {
    if (c.state == tcp_state::kTimeWait || c.state == tcp_state::kListen) continue;
    const ConnectionFacts* prev = before.find(c);
    ClassifiedConnection out{c, Activity::kBusy, ""};
    if (settingUp(c)) {
      out.reason = "being set up";
    } else if (queued(c)) {
      out.reason = "bytes queued";
    } else if ((c.ms_since_data_in && c.ms_since_data_out &&
                *c.ms_since_data_in < *c.ms_since_data_out) ||
               neverAnswered(c)) {
      out.reason = "peer spoke last";
    } else if (previous && dataMoved(c, prev, elapsed_ms)) {
      out.reason = "data moved since the last poll";
    } else {
      out.activity = Activity::kIdle;
      out.reason = "app answered last, nothing queued";
    }
    (out.activity == Activity::kBusy ? report.busy : report.idle)++;
    if (previous && requestBytes(c, prev, elapsed_ms)) report.request_bytes = true;
    if (c.ms_since_data_in && c.bytes_received.value_or(1) > 0) {
      const Duration ago = std::chrono::milliseconds(*c.ms_since_data_in);
      if (!report.last_request_bytes_ago || ago < *report.last_request_bytes_ago) {
        report.last_request_bytes_ago = ago;
      }
    }
    report.connections.push_back(std::move(out));
  }
  return report;
}

}  // namespace lameduck::drain

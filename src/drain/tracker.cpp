#include "drain/tracker.h"

#include <algorithm>

#include "common/parse.h"

namespace lameduck::drain {
namespace {

HeldConnection held(const ClassifiedConnection& c, std::string reason) {
  HeldConnection h;
  h.peer = c.facts.peer.toString();
  h.activity = c.activity;
  h.reason = std::move(reason);
  h.ms_since_data_in = c.facts.ms_since_data_in;
  h.ms_since_data_out = c.facts.ms_since_data_out;
  h.bytes_queued = uint64_t{c.facts.rqueue} + c.facts.wqueue + c.facts.notsent.value_or(0);
  return h;
}

}  // namespace

ConnectionTracker::ConnectionTracker(DrainRules rules, TimePoint started)
    : rules_(rules), last_activity_(started) {}

ConnectionVerdict ConnectionTracker::observe(const ConnectionSnapshot& snapshot, TimePoint now) {
  const Duration elapsed = previous_ ? now - previous_at_ : Duration::zero();
  ActivityReport report = classify(previous_ ? &*previous_ : nullptr, snapshot, elapsed);
  if (snapshot.source == SourceKind::kProc) {
    // No timestamps: an established connection may be working on a request
    // without a byte queued, so each one counts as busy.
    report.busy = static_cast<int64_t>(snapshot.established.size());
    report.idle = 0;
    for (ClassifiedConnection& c : report.connections) {
      c.activity = Activity::kBusy;
      c.reason = "no timestamps from /proc: counted as busy";
    }
  }
  ConnectionVerdict v;
  v.busy = report.busy;
  v.idle = report.idle;
  v.new_connections = report.new_connections;
  v.request_bytes = report.request_bytes;
  if (report.new_connections > 0) last_activity_ = std::max(last_activity_, now);
  if (report.request_bytes) {
    // Netlink says when the bytes came; /proc only that they came.
    const Duration ago = report.last_request_bytes_ago.value_or(Duration::zero());
    last_activity_ = std::max(last_activity_, std::min(now, now - std::min(ago, elapsed)));
  }
  previous_ = snapshot;
  previous_at_ = now;

  for (const ClassifiedConnection& c : report.connections) {
    if (v.held_by.size() >= kMaxHeldBy) break;
    if (c.activity == Activity::kBusy) v.held_by.push_back(held(c, std::string(c.reason)));
  }
  const Duration quiet_for = now - last_activity_;
  for (const ClassifiedConnection& c : report.connections) {
    if (v.held_by.size() >= kMaxHeldBy) break;
    if (c.activity == Activity::kIdle && c.facts.ms_since_data_in &&
        std::chrono::milliseconds(*c.facts.ms_since_data_in) < rules_.quiet_period &&
        quiet_for < rules_.quiet_period) {
      v.held_by.push_back(held(c, "request bytes within the quiet period"));
    }
  }

  if (v.busy > rules_.max_connections) {
    v.reasons.push_back(std::to_string(v.busy) + " busy connection(s) (drain.max_connections " +
                        std::to_string(rules_.max_connections) + "; " + std::to_string(v.idle) +
                        " idle do not count)");
  }
  if (quiet_for < rules_.quiet_period) {
    v.reasons.push_back("last request bytes or new connection " + formatDuration(quiet_for) +
                        " ago (drain.quiet_period " + formatDuration(rules_.quiet_period) + ")");
  }
  v.drained = v.reasons.empty();
  return v;
}

ConnectionVerdict ConnectionTracker::unreadable(const Error& error) {
  ConnectionVerdict v;
  v.reasons.push_back("connections unreadable: " + error.message);
  return v;
}

}  // namespace lameduck::drain

#include "drain/wait_step.h"

#include "common/log.h"
#include "common/parse.h"
#include "drain/tracker.h"

namespace lameduck::drain {
namespace {

int64_t millis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// The figures of the `app` and `drain` sections as attributes of the step's
// span, as they stand when the wait ends. When it ended not drained, the
// connections that held it are listed up to kMaxHeldListed (the count says
// how many there were).
constexpr size_t kMaxHeldListed = 20;
void recordFigures(exit::StepContext& ctx, bool drained, bool app, const AppFigures& figures,
                   bool connections, const DrainReport& report) {
  auto optional = [&](const char* key, const std::optional<int64_t>& v) {
    if (v) ctx.record.attribute(key, *v);
  };
  if (report.wait) ctx.record.attribute("drain.wait_ms", millis(*report.wait));
  if (report.grace_left) ctx.record.attribute("drain.grace_left_ms", millis(*report.grace_left));
  if (app) {
    optional("app.inflight", figures.inflight);
    optional("app.connections", figures.connections);
    optional("app.queued", figures.queued);
    if (figures.inflight_zero_at) {
      ctx.record.attribute("app.inflight_zero_at_ms", millis(*figures.inflight_zero_at));
    }
  }
  if (!connections) return;
  if (!report.source.empty()) ctx.record.attribute("drain.source", report.source);
  optional("drain.connections", report.connections);
  optional("drain.busy", report.busy);
  optional("drain.idle", report.idle);
  ctx.record.attribute("drain.new_connections", report.new_connections);
  if (report.malformed_lines > 0) {
    ctx.record.attribute("drain.malformed_lines", report.malformed_lines);
  }
  if (!drained && !report.held_by.empty()) {
    std::string held;
    for (size_t i = 0; i < report.held_by.size() && i < kMaxHeldListed; ++i) {
      const HeldConnection& h = report.held_by[i];
      if (!held.empty()) held += ", ";
      held += h.peer + " (" + std::string(activityName(h.activity)) + ": " + h.reason + ")";
    }
    if (report.held_by.size() > kMaxHeldListed) {
      held += " and " + std::to_string(report.held_by.size() - kMaxHeldListed) + " more";
    }
    ctx.record.attribute("drain.held_by", held);
    ctx.record.attribute("drain.held_by_count", static_cast<int64_t>(report.held_by.size()));
  }
}

}  // namespace

DrainWaitStep::DrainWaitStep(app::AppClient* app, ConnectionSource* connections,
                             const config::DrainConfig& config, Duration app_timeout,
                             Duration grace_period, Observer& observer)
    : app_(app),
      connections_(connections),
      timeout_(app_timeout),
      grace_period_(grace_period),
      drain_(config),
      observer_(observer) {}

void DrainWaitStep::publish(exit::StepContext& ctx) {
  if (app_) ctx.record.section(kAppSection, toJson(figures_));
  ctx.record.section(kDrainSection, toJson(report_));
}

exit::SectionDefault appSectionDefault() { return {kAppSection, toJson(AppFigures{})}; }
exit::SectionDefault drainSectionDefault() { return {kDrainSection, toJson(DrainReport{})}; }

void DrainWaitStep::pollApp(exit::StepContext& ctx, TimePoint deadline, AppPoll& state,
                            std::vector<std::string>& reasons) {
  const Duration left = deadline - ctx.clock.now();
  if (left <= Duration::zero()) {
    // The last look at the deadline: no time for a call, and what the
    // previous call said still stands.
    if (!state.reason.empty()) reasons.push_back(state.reason);
    return;
  }
  auto figures = app_->status({std::min(timeout_, left), ctx.traceparent});
  if (!figures) {
    state.reason = "app status unreadable: " + figures.error().message;
    reasons.push_back(state.reason);
    return;
  }
  figures_.inflight = figures->inflight;
  figures_.connections = figures->connections;
  figures_.queued = figures->queued;
  observer_.onAppFigures(*figures);
  publish(ctx);
  state.reason.clear();
  if (!figures->inflight) {
    state.reason = "app status has no \"inflight\" figure";
  } else if (*figures->inflight > 0) {
    state.reason = "in-flight still " + std::to_string(*figures->inflight);
  } else if (!state.inflight_zero_seen) {
    state.inflight_zero_seen = true;
    if (!figures_.inflight_zero_at) {
      figures_.inflight_zero_at = ctx.clock.now() - ctx.exit_started;
      ctx.record.event("inflight_reached_zero");
      publish(ctx);
    }
  }
  if (!state.reason.empty()) reasons.push_back(state.reason);
}

void DrainWaitStep::pollConnections(exit::StepContext& ctx, ConnectionTracker& tracker,
                                    std::vector<std::string>& reasons) {
  auto snap = connections_->read();
  if (!snap) {
    reasons.push_back("connections unreadable: " + snap.error().message);
    return;
  }
  const TimePoint seen = ctx.clock.now();
  const TimePoint quiet_before = tracker.lastActivity();
  ConnectionVerdict v = tracker.observe(*snap, seen);
  const int64_t arrived = v.new_connections;
  report_.source = std::string(sourceName(snap->source));
  report_.connections = v.busy + v.idle;
  report_.busy = v.busy;
  report_.idle = v.idle;
  report_.malformed_lines = snap->malformed_lines;
  if (arrived > 0) {
    report_.new_connections += arrived;
    report_.last_new_connection_at = seen - ctx.exit_started;
  }
  if (tracker.lastActivity() > quiet_before) {
    report_.last_activity_at = tracker.lastActivity() - ctx.exit_started;
    ctx.record.event("quiet_period_restarted",
                     {{"new_connections", arrived}, {"request_bytes", v.request_bytes}});
  }
  if (!v.drained) report_.held_by = v.held_by;
  observer_.onConnections(v.busy + v.idle, arrived);
  observer_.onConnectionActivity(v.busy, v.idle);
  publish(ctx);
  for (std::string& r : v.reasons) reasons.push_back(std::move(r));
}

exit::StepResult DrainWaitStep::drained(exit::StepContext& ctx, TimePoint started) {
  const Duration took = ctx.clock.now() - started;
  report_.wait = took;
  report_.drained_at = ctx.clock.now() - ctx.exit_started;
  publish(ctx);
  ctx.record.attribute("drain.drained", true);
  recordFigures(ctx, true, app_ != nullptr, figures_, connections_ != nullptr, report_);
  return exit::StepResult::ok("drained after " + formatDuration(took));
}

exit::StepResult DrainWaitStep::notDrained(exit::StepContext& ctx, TimePoint started,
                                           const std::string& not_drained) {
  report_.wait = ctx.clock.now() - started;
  // What the kubelet's grace period still holds for the rest of the exit
  // and then the app's own shutdown.
  const Duration left = std::max(Duration::zero(), ctx.exit_started + grace_period_ - ctx.clock.now());
  report_.grace_left = left;
  publish(ctx);
  ctx.record.attribute("drain.drained", false);
  ctx.record.attribute("drain.not_drained", not_drained);
  recordFigures(ctx, false, app_ != nullptr, figures_, connections_ != nullptr, report_);
  const bool hit_max_wait = started + drain_.max_wait <= ctx.deadline;
  log::warn("app not drained when the wait ended",
            {{"reason", not_drained}, {"grace_left_ms", static_cast<int64_t>(toMillis(left))}});
  return exit::StepResult::deadline(
      "not drained: " + not_drained + "; " +
      (hit_max_wait ? "drain.max_wait (" + formatDuration(drain_.max_wait) + ")"
                    : std::string("the draining budget")) +
      " ran out with " + formatDuration(left) + " of the grace period left for the app's shutdown");
}

exit::StepResult DrainWaitStep::run(exit::StepContext& ctx) {
  const TimePoint started = ctx.clock.now();
  const TimePoint deadline = std::min(ctx.deadline, started + drain_.max_wait);
  // The quiet period runs from the start of the wait: endpoint removal takes
  // time to reach kube-proxy and ingress controllers even when no request
  // arrives in between.
  ConnectionTracker tracker(DrainRules{drain_.max_connections, drain_.quiet_period}, started);
  AppPoll app_state;
  std::string not_drained = "nothing read yet";
  if (connections_) {
    // The baseline: connections open before the wait are not arrivals. Its
    // verdict is no answer yet (the quiet period only starts now).
    if (auto first = connections_->read()) {
      const ConnectionVerdict baseline = tracker.observe(*first, ctx.clock.now());
      log::debug("drain wait starts", {{"busy", baseline.busy}, {"idle", baseline.idle}});
    } else {
      log::warn(
          "no connection baseline for the drain wait: connections open before it may "
          "count as new arrivals",
          {{"error", first.error().message}});
    }
  }
  for (;;) {
    const TimePoint poll_start = ctx.clock.now();
    std::vector<std::string> reasons;
    if (app_) pollApp(ctx, deadline, app_state, reasons);
    if (connections_) pollConnections(ctx, tracker, reasons);
    if (reasons.empty()) return drained(ctx, started);
    std::string now_reasons;
    for (const std::string& r : reasons) now_reasons += (now_reasons.empty() ? "" : "; ") + r;
    if (now_reasons != not_drained) log::debug("not drained yet", {{"reason", now_reasons}});
    not_drained = std::move(now_reasons);
    const TimePoint now = ctx.clock.now();
    if (now >= deadline) break;
    // Wake at the next poll, never earlier: "data moved since the last
    // poll" is judged over the time between two reads, and a read a few
    // milliseconds after the last one (as an extra wake at the end of the
    // quiet period was) would find a stream that writes every 10 ms idle.
    // The exit comes at most one poll_interval after the quiet period.
    ctx.clock.sleepUntil(std::min(poll_start + drain_.poll_interval, deadline));
  }
  return notDrained(ctx, started, not_drained);
}

}  // namespace lameduck::drain

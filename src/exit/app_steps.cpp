#include "exit/app_steps.h"

#include "common/log.h"
#include "common/parse.h"

namespace lameduck::exit {
namespace {

StepResult fromError(const Error& e) {
  if (e.code == ErrorCode::kDeadlineExceeded) return StepResult::deadline(e.message);
  return StepResult::failed(e.message);
}

}  // namespace

StepResult DrainHookStep::run(StepContext& ctx) {
  auto ok = app_.drain({ctx.callTimeout(timeout_), ctx.traceparent});
  if (!ok) return fromError(ok.error());
  return StepResult::ok();
}

DrainWaitStep::DrainWaitStep(app::AppClient* app, drain::ConnectionSource* connections,
                             const config::Config& config)
    : app_(app), connections_(connections), timeout_(config.app.timeout), drain_(config.drain) {}

StepResult DrainWaitStep::run(StepContext& ctx) {
  const TimePoint started = ctx.clock.now();
  const TimePoint deadline = std::min(ctx.deadline, started + drain_.max_wait);
  // The quiet period runs from the start of the wait: endpoint removal takes
  // time to reach kube-proxy and ingress controllers even when no request
  // arrives in between.
  TimePoint last_new = started;
  std::optional<drain::ConnectionSnapshot> previous;
  bool inflight_zero_seen = false;
  std::string app_reason = "app status not read yet";
  std::string not_drained = "nothing read yet";
  if (connections_) {
    if (auto first = connections_->read()) previous = std::move(*first);
  }
  for (;;) {
    const TimePoint poll_start = ctx.clock.now();
    std::vector<std::string> reasons;
    if (app_) {
      const Duration left = deadline - poll_start;
      if (left <= Duration::zero()) {
        // The last look at the deadline: no time for a call, and what the
        // previous call said still stands.
        if (!app_reason.empty()) reasons.push_back(app_reason);
      } else if (auto figures = app_->status({std::min(timeout_, left), ctx.traceparent});
                 !figures) {
        app_reason = "app status unreadable: " + figures.error().message;
        reasons.push_back(app_reason);
      } else {
        ctx.record.appFigures(*figures);
        app_reason.clear();
        if (!figures->inflight) {
          app_reason = "app status has no \"inflight\" figure";
        } else if (*figures->inflight > 0) {
          app_reason = "in-flight still " + std::to_string(*figures->inflight);
        } else if (!inflight_zero_seen) {
          inflight_zero_seen = true;
          ctx.record.inflightReachedZero();
        }
        if (!app_reason.empty()) reasons.push_back(app_reason);
      }
    }
    if (connections_) {
      auto snap = connections_->read();
      if (!snap) {
        reasons.push_back("connections unreadable: " + snap.error().message);
      } else {
        int64_t arrived = previous ? drain::countNew(*previous, *snap) : 0;
        const TimePoint seen = ctx.clock.now();
        if (arrived > 0) last_new = seen;
        const auto open = static_cast<int64_t>(snap->established.size());
        ctx.record.connections(open, arrived, snap->malformed_lines);
        previous = std::move(*snap);
        if (open > drain_.max_connections) {
          reasons.push_back(std::to_string(open) +
                            " connection(s) still open (drain.max_connections " +
                            std::to_string(drain_.max_connections) + ")");
        }
        if (seen - last_new < drain_.quiet_period) {
          reasons.push_back("a new connection arrived " + formatDuration(seen - last_new) +
                            " ago (drain.quiet_period " + formatDuration(drain_.quiet_period) +
                            ")");
        }
      }
    }
    if (reasons.empty()) {
      const Duration took = ctx.clock.now() - started;
      ctx.record.drainWaitDone(took, true);
      return StepResult::ok("drained after " + formatDuration(took));
    }
    std::string now_reasons;
    for (const std::string& r : reasons) now_reasons += (now_reasons.empty() ? "" : "; ") + r;
    if (now_reasons != not_drained) log::debug("not drained yet", {{"reason", now_reasons}});
    not_drained = std::move(now_reasons);
    const TimePoint now = ctx.clock.now();
    if (now >= deadline) break;
    // Wake at the next poll, or exactly when the quiet period would end.
    TimePoint wake = std::min(poll_start + drain_.poll_interval, deadline);
    if (connections_ && last_new + drain_.quiet_period > now) {
      wake = std::min(wake, std::max(now, last_new + drain_.quiet_period));
    }
    ctx.clock.sleepUntil(wake);
  }
  ctx.record.drainWaitDone(ctx.clock.now() - started, false);
  const bool hit_max_wait = started + drain_.max_wait <= ctx.deadline;
  log::warn("app not drained when the wait ended", {{"reason", not_drained}});
  return StepResult::deadline("not drained: " + not_drained + "; " +
                              (hit_max_wait
                                   ? "drain.max_wait (" + formatDuration(drain_.max_wait) + ")"
                                   : std::string("the draining budget")) +
                              " ran out");
}

StepResult FetchCompensationsStep::run(StepContext& ctx) {
  auto batch = app_.compensations({ctx.callTimeout(timeout_), ctx.traceparent});
  if (!batch) return fromError(batch.error());
  CompensationReport report;
  report.pending = static_cast<int64_t>(batch->valid.size());
  report.rejected = static_cast<int64_t>(batch->rejected.size());
  report.rejected_reasons = batch->rejected;
  ctx.record.compensations(report);
  for (const std::string& why : batch->rejected) {
    log::warn("compensation entry rejected", {{"reason", why}});
  }
  log::info("compensations pending",
            {{"count", batch->valid.size()}, {"rejected", batch->rejected.size()}});
  std::string detail = std::to_string(batch->valid.size()) + " pending";
  if (!batch->rejected.empty()) {
    detail += ", " + std::to_string(batch->rejected.size()) +
              " rejected (first: " + batch->rejected.front() + ")";
  }
  return StepResult::ok(detail);
}

StepResult TerminateHookStep::run(StepContext& ctx) {
  auto ok = app_.terminate({ctx.callTimeout(timeout_), ctx.traceparent});
  if (!ok) return fromError(ok.error());
  return StepResult::ok();
}

ExitPlan makeAppPlan(const config::Config& config, app::AppClient* app,
                     drain::ConnectionSource* connections, std::unique_ptr<Step> handoff) {
  ExitPlan plan;
  const Duration t = config.app.timeout;
  if (app) plan.draining.push_back(std::make_unique<DrainHookStep>(*app, t));
  if (app || connections) {
    plan.draining.push_back(std::make_unique<DrainWaitStep>(app, connections, config));
  }
  if (app) {
    if (handoff) {
      plan.compensating.push_back(std::move(handoff));
    } else {
      plan.compensating.push_back(std::make_unique<FetchCompensationsStep>(*app, t));
    }
    plan.terminating.push_back(std::make_unique<TerminateHookStep>(*app, t));
  }
  return plan;
}

}  // namespace lameduck::exit

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

StepResult InflightWaitStep::run(StepContext& ctx) {
  const TimePoint started = ctx.clock.now();
  const TimePoint deadline = std::min(ctx.deadline, started + max_wait_);
  std::string last_problem = "no status read yet";
  for (;;) {
    const TimePoint poll_start = ctx.clock.now();
    Duration left = deadline - poll_start;
    if (left <= Duration::zero()) break;
    auto figures = app_.status({std::min(timeout_, left), ctx.traceparent});
    if (figures) {
      ctx.record.appFigures(*figures);
      if (!figures->inflight) {
        last_problem = "status hook answer has no \"inflight\" figure";
      } else if (*figures->inflight == 0) {
        ctx.record.inflightReachedZero();
        return StepResult::ok("in-flight reached 0 after " +
                              formatDuration(ctx.clock.now() - started));
      } else {
        last_problem = "in-flight still " + std::to_string(*figures->inflight);
      }
    } else {
      // Unreadable counts as not drained; keep polling until the budget ends.
      last_problem = "status unreadable: " + figures.error().message;
      log::warn("app status unreadable; counting as not drained",
                {{"error", figures.error().message}});
    }
    ctx.clock.sleepUntil(std::min(poll_start + poll_, deadline));
  }
  const bool hit_max_wait = started + max_wait_ <= ctx.deadline;
  return StepResult::deadline(last_problem + " when " +
                              (hit_max_wait ? "drain.max_wait (" + formatDuration(max_wait_) + ")"
                                            : std::string("the draining budget")) +
                              " ran out");
}

StepResult FetchCompensationsStep::run(StepContext& ctx) {
  auto batch = app_.compensations({ctx.callTimeout(timeout_), ctx.traceparent});
  if (!batch) return fromError(batch.error());
  ctx.record.compensations(static_cast<int64_t>(batch->valid.size()),
                           static_cast<int64_t>(batch->rejected.size()));
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

ExitPlan makeAppPlan(const config::Config& config, app::AppClient* app) {
  ExitPlan plan;
  if (app == nullptr) return plan;
  const Duration t = config.app.timeout;
  plan.draining.push_back(std::make_unique<DrainHookStep>(*app, t));
  plan.draining.push_back(std::make_unique<InflightWaitStep>(*app, t, config.drain.poll_interval,
                                                             config.drain.max_wait));
  plan.compensating.push_back(std::make_unique<FetchCompensationsStep>(*app, t));
  plan.terminating.push_back(std::make_unique<TerminateHookStep>(*app, t));
  return plan;
}

}  // namespace lameduck::exit

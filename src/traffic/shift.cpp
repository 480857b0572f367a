#include "traffic/shift.h"

#include <algorithm>
#include <cmath>

#include "common/log.h"
#include "common/parse.h"

namespace lameduck::traffic {
namespace {

constexpr Duration kFirstBackoff = std::chrono::milliseconds(100);
constexpr Duration kMaxBackoff = std::chrono::seconds(2);

bool transient(const Error& e) {
  return e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kDeadlineExceeded;
}

Duration scaled(Duration d, double factor) {
  return Duration(static_cast<Duration::rep>(std::floor(static_cast<double>(d.count()) * factor)));
}

std::string percent(int64_t weight) { return std::to_string(weight) + "%"; }

int64_t millis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// One traffic step as a child span of the shift's span: the weight, its
// hold, the weight-change attempts and what the gate said.
exit::ChildSpan stepSpan(const TrafficStepReport& r, TimePoint start, TimePoint end,
                         std::vector<exit::ChildSpan::Event> events) {
  exit::ChildSpan span;
  span.name = "traffic_step";
  span.start = start;
  span.end = end;
  span.attributes = {{"traffic.weight", r.weight},
                     {"traffic.hold_ms", millis(r.hold)},
                     {"traffic.planned_hold_ms", millis(r.planned)},
                     {"traffic.attempts", r.attempts},
                     {"traffic.gate.checks", r.gate_checks},
                     {"traffic.result", r.result}};
  // No result before the weight was set (a failed step never checked it).
  if (!r.gate.empty()) span.attributes.push_back({"traffic.gate.result", r.gate});
  if (r.error_rate) span.attributes.push_back({"traffic.gate.error_rate", *r.error_rate});
  if (!r.backend_detail.empty()) {
    span.attributes.push_back({"traffic.backend.reported", r.backend_detail});
  }
  if (!r.detail.empty()) span.attributes.push_back({"traffic.detail", r.detail});
  span.events = std::move(events);
  if (r.result == "failed") {
    span.status = exit::SpanStatus::kError;
    span.status_message = "setting weight " + percent(r.weight) + " failed: " + r.detail;
  } else {
    span.status = exit::SpanStatus::kOk;
  }
  return span;
}

// A gate check that did not pass while on_fail is hold: the weight is held.
// Kept up to the engine's bound per span (a gate re-checked every interval
// for minutes keeps its first holds).
void noteHeld(std::vector<exit::ChildSpan::Event>& held, TimePoint now,
              const TrafficStepReport& report) {
  if (held.size() >= exit::kMaxSpanEvents) return;
  exit::Attributes attributes{{"traffic.gate.result", report.gate},
                              {"traffic.gate.check", report.gate_checks}};
  if (report.error_rate) attributes.push_back({"traffic.gate.error_rate", *report.error_rate});
  if (!report.detail.empty()) attributes.push_back({"traffic.gate.detail", report.detail});
  held.push_back({"gate_held", now, std::move(attributes)});
}

}  // namespace

FittedPlan fitPlan(const std::vector<config::TrafficStep>& steps, Duration available) {
  FittedPlan plan;
  if (available < Duration::zero()) available = Duration::zero();
  for (const auto& s : steps) plan.configured += s.hold;
  for (const auto& s : steps) {
    if (plan.configured == Duration::zero()) {
      plan.holds.push_back(Duration::zero());
      plan.shares.push_back(Duration::zero());
      continue;
    }
    // Shares split `available` in proportion to the holds: a step's share is
    // its hold when the plan is exactly as long as the budget allows, more
    // when there is slack, and its shortened hold when there is not.
    const double part =
        static_cast<double>(s.hold.count()) / static_cast<double>(plan.configured.count());
    const Duration share = scaled(available, part);
    plan.shares.push_back(share);
    plan.holds.push_back(std::min(s.hold, share));
  }
  plan.shortened = plan.configured > available;
  return plan;
}

ShiftStep::ShiftStep(const config::TrafficConfig& config, Duration reserve_after,
                     std::unique_ptr<Backend> backend, std::unique_ptr<Gate> gate,
                     ShiftObserver& observer)
    : config_(config),
      reserve_after_(reserve_after),
      backend_(std::move(backend)),
      gate_(std::move(gate)),
      observer_(observer) {}

Result<std::string> ShiftStep::setWeight(exit::StepContext& ctx, int64_t weight, TimePoint until,
                                         TrafficStepReport& report) {
  Duration backoff = kFirstBackoff;
  for (;;) {
    ++report.attempts;
    const Duration timeout =
        std::max(ctx.callTimeout(config_.timeout), Duration(std::chrono::milliseconds(1)));
    auto done = backend_->setWeight(weight, timeout);
    if (done) return done;
    const TimePoint now = ctx.clock.now();
    if (!transient(done.error()) || now + backoff >= until) return done;
    log::warn("traffic weight change failed; retrying", {{"backend", backend_->name()},
                                                         {"weight", weight},
                                                         {"attempt", report.attempts},
                                                         {"retry_in_ms", toMillis(backoff)},
                                                         {"error", done.error().message}});
    ctx.clock.sleepUntil(now + backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

bool ShiftStep::checkGate(exit::StepContext& ctx, TimePoint until, TrafficStepReport& report) {
  ++report.gate_checks;
  const Duration left = until - ctx.clock.now();
  const Duration timeout =
      std::clamp(left, Duration(std::chrono::milliseconds(1)), config_.timeout);
  auto reading = gate_->read(timeout);
  std::string result;
  std::string detail;
  if (!reading) {
    result = "inconclusive";
    detail = reading.error().message;
    report.error_rate.reset();
  } else if (!reading->error_rate || !std::isfinite(*reading->error_rate)) {
    result = "inconclusive";
    detail = reading->detail.empty() ? "no data" : reading->detail;
    report.error_rate.reset();
  } else {
    report.error_rate = *reading->error_rate;
    result = *reading->error_rate <= config_.gate.max_error_rate ? "pass" : "fail";
    detail = reading->detail;
  }
  report.gate = result;
  report.detail = detail;
  observer_.onGateCheck(result);
  log::Fields fields{{"gate", gate_->name()},
                     {"weight", report.weight},
                     {"result", result},
                     {"max_error_rate", config_.gate.max_error_rate},
                     {"detail", detail}};
  if (report.error_rate) fields.emplace_back("error_rate", *report.error_rate);
  if (result == "pass") {
    log::info("traffic gate check", fields);
  } else {
    log::warn("traffic gate did not pass", fields);
  }
  return result == "pass";
}

exit::StepResult ShiftStep::run(exit::StepContext& ctx) {
  if (!backend_) return exit::StepResult::skipped("no traffic backend");
  if (config_.steps.empty()) return exit::StepResult::skipped("no traffic steps");

  const TimePoint plan_start = ctx.clock.now();
  const Duration available = ctx.remaining() - reserve_after_;
  const FittedPlan plan = fitPlan(config_.steps, available);
  last_ = TrafficReport{};
  TrafficReport& report = *last_;
  report.backend = std::string(backend_->name());
  report.configured = plan.configured;
  report.available = std::max(available, Duration::zero());
  report.shortened = plan.shortened;
  ctx.record.attribute("traffic.backend", report.backend);
  ctx.record.attribute("traffic.steps", static_cast<int64_t>(config_.steps.size()));
  ctx.record.attribute("traffic.configured_hold_ms", millis(plan.configured));
  ctx.record.attribute("traffic.available_ms", millis(report.available));
  ctx.record.attribute("traffic.shortened", plan.shortened);
  if (plan.shortened) {
    log::warn("traffic holds shortened to fit the exit budget",
              {{"configured_ms", toMillis(plan.configured)},
               {"available_ms", toMillis(report.available)}});
    Duration fitted{};
    for (Duration h : plan.holds) fitted += h;
    ctx.record.event("budget_shortened", {{"traffic.configured_hold_ms", millis(plan.configured)},
                                          {"traffic.planned_hold_ms", millis(fitted)},
                                          {"traffic.available_ms", millis(report.available)}});
  }

  TimePoint share_end = plan_start;
  std::string trail;
  for (size_t i = 0; i < config_.steps.size(); ++i) {
    const config::TrafficStep& step = config_.steps[i];
    const TimePoint step_start = ctx.clock.now();
    share_end += plan.shares[i];
    TrafficStepReport sr;
    sr.weight = step.weight;
    sr.hold = step.hold;
    sr.planned = plan.holds[i];
    sr.started_at = step_start - ctx.exit_started;
    sr.gate = gate_ ? "" : "none";
    report.steps.push_back(sr);
    ctx.record.section(kTrafficSection, toJson(report));
    TrafficStepReport& cur = report.steps.back();
    std::vector<exit::ChildSpan::Event> held;  // gate_held events of this step

    // A weight change may retry past the step's share (weight 0 matters
    // most and has no hold), but never past the phase.
    const TimePoint retry_until =
        std::min(std::max(share_end, step_start + config_.timeout), ctx.deadline);
    auto set = setWeight(ctx, step.weight, retry_until, cur);
    if (!set) {
      cur.result = "failed";
      cur.detail = set.error().message;
      cur.took = ctx.clock.now() - step_start;
      observer_.onTrafficStep(cur.result);
      ctx.record.section(kTrafficSection, toJson(report));
      ctx.record.span(stepSpan(cur, step_start, ctx.clock.now(), std::move(held)));
      ctx.record.attribute("traffic.result", std::string("failed"));
      log::error("traffic weight change failed; shift stopped", {{"backend", backend_->name()},
                                                                 {"weight", step.weight},
                                                                 {"attempts", cur.attempts},
                                                                 {"error", set.error().message}});
      return exit::StepResult::failed(
          "setting weight " + percent(step.weight) + " via " + report.backend + " failed after " +
          std::to_string(cur.attempts) + " attempt(s): " + set.error().message);
    }
    cur.weight_set = true;
    cur.backend_detail = *set;
    report.weight = step.weight;
    ctx.record.attribute("traffic.weight", step.weight);
    observer_.onWeight(step.weight);
    ctx.record.section(kTrafficSection, toJson(report));
    log::info("traffic weight set", {{"backend", backend_->name()},
                                     {"weight", step.weight},
                                     {"hold_ms", toMillis(cur.planned)},
                                     {"reported", *set}});

    const TimePoint weight_set_at = ctx.clock.now();
    const TimePoint hold_end = std::min(weight_set_at + cur.planned, share_end);
    if (ctx.clock.now() < hold_end) ctx.clock.sleepUntil(hold_end);

    if (!gate_) {
      cur.result = "passed";
    } else {
      const bool hold = config_.gate.on_fail == config::GateOnFail::kHold;
      bool passed = checkGate(ctx, std::max(share_end, ctx.clock.now() + config_.timeout), cur);
      ctx.record.section(kTrafficSection, toJson(report));
      if (!passed && hold) {
        noteHeld(held, ctx.clock.now(), cur);
        while (!passed) {
          const TimePoint next = ctx.clock.now() + config_.gate.interval;
          if (next >= share_end) break;
          ctx.clock.sleepUntil(next);
          passed = checkGate(ctx, share_end, cur);
          ctx.record.section(kTrafficSection, toJson(report));
          if (!passed) noteHeld(held, ctx.clock.now(), cur);
        }
      }
      if (passed) {
        cur.result = "passed";
      } else if (hold) {
        cur.result = "held";
        log::warn("traffic gate never passed within the step's share of the budget; moving on",
                  {{"weight", step.weight}, {"checks", cur.gate_checks}, {"gate", cur.gate}});
      } else {
        cur.result = "continued";
        log::warn("traffic gate did not pass; continuing (on_fail: continue)",
                  {{"weight", step.weight}, {"gate", cur.gate}});
      }
    }
    cur.took = ctx.clock.now() - step_start;
    observer_.onTrafficStep(cur.result);
    ctx.record.section(kTrafficSection, toJson(report));
    ctx.record.span(stepSpan(cur, step_start, ctx.clock.now(), std::move(held)));
    if (!trail.empty()) trail += " -> ";
    trail += percent(step.weight) + " " + cur.result;
  }
  ctx.record.attribute("traffic.result", std::string("done"));
  if (plan.shortened) {
    trail += " (holds shortened from " + formatDuration(plan.configured) + " to fit " +
             formatDuration(report.available) + ")";
  }
  return exit::StepResult::ok(trail);
}

}  // namespace lameduck::traffic

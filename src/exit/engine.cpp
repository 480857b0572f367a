#include "exit/engine.h"

#include <algorithm>

#include "common/log.h"

namespace lameduck::exit {
ExitEngine::ExitEngine(Clock& clock, const Budget& budget, ExitPlan plan, ExitObserver& observer)
    : clock_(clock), budget_(budget), plan_(std::move(plan)), observer_(observer) {
  record_.budget = budget_.total();
  record_.compensation_reserve = budget_.compensation_reserve;
  for (SectionDefault& d : plan_.sections) {
    record_.sections.push_back(Section{std::move(d.name), std::move(d.json)});
  }
}

ExitEngine::~ExitEngine() {
  if (thread_.joinable()) thread_.join();
}

void ExitEngine::trigger(std::string_view reason, std::string_view traceparent) {
  std::lock_guard lock(mu_);
  if (started_) {
    log::info("exit already in progress; joining it", {{"trigger", reason}});
    return;
  }
  started_ = true;
  start_ = clock_.now();
  record_.trigger = std::string(reason);
  if (auto parent = TraceContext::parse(traceparent)) {
    record_.trace_id = parent->trace_id;
    record_.parent_span_id = parent->span_id;
  } else {
    if (!traceparent.empty()) {
      log::warn("ignoring an invalid traceparent; the exit starts a trace of its own",
                {{"traceparent", std::string(traceparent.substr(0, 64))}});
    }
    record_.trace_id = newTraceId();
  }
  record_.span_id = newSpanId();
  record_.started_wall = clock_.wallNow();
  // Readiness flips before trigger() returns, not when the thread gets going.
  state_.store(State::kDraining, std::memory_order_release);
  thread_ = std::thread([this] { run(); });
}

std::optional<TimePoint> ExitEngine::startedAt() const {
  std::lock_guard lock(mu_);
  if (!started_) return std::nullopt;
  return start_;
}

Summary ExitEngine::snapshot() const {
  std::lock_guard lock(mu_);
  Summary s = record_;
  s.state = state();
  if (started_ && !done_) s.elapsed = clock_.now() - start_;
  return s;
}

Summary ExitEngine::await() {
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [this] { return done_; });
  return record_;
}

std::optional<Summary> ExitEngine::awaitFor(Duration real_timeout) {
  std::unique_lock lock(mu_);
  if (!done_cv_.wait_for(lock, real_timeout, [this] { return done_; })) return std::nullopt;
  return record_;
}

Duration ExitEngine::sinceStart() const { return clock_.now() - start_; }

WallTime ExitEngine::wallAt(TimePoint t) const {
  return record_.started_wall + std::chrono::duration_cast<WallTime::duration>(t - start_);
}

void ExitEngine::transition(State to) {
  announce(state_.exchange(to, std::memory_order_acq_rel), to);
}

void ExitEngine::announce(State from, State to) {
  log::audit("transition", {{"from", stateName(from)},
                            {"to", stateName(to)},
                            {"trigger", record_.trigger},
                            {"trace_id", record_.trace_id},
                            {"elapsed_ms", toMillis(sinceStart())}});
  observer_.onTransition(from, to);
}

void ExitEngine::runPhase(Phase phase, std::vector<std::unique_ptr<Step>>& steps,
                          TimePoint deadline) {
  const TimePoint phase_start = clock_.now();
  PhaseTiming timing{phase,       phase_start - start_, Duration::zero(), deadline - phase_start,
                     newSpanId(), wallAt(phase_start)};
  observer_.onPhaseStarted(timing);
  const std::vector<StepReport>* earlier = &record_.steps;  // appended on this thread only
  for (auto& step : steps) {
    const TimePoint step_start = clock_.now();
    const std::string span_id = newSpanId();
    // A step explaining an overrun may still run for its grace.
    const TimePoint step_deadline = step_start >= deadline && step->grace() > Duration::zero()
                                        ? step_start + step->grace()
                                        : deadline;
    {
      std::lock_guard lock(mu_);
      running_ = StepReport{};
      running_->phase = phase;
      running_->name = std::string(step->name());
      running_->started_at = step_start - start_;
      running_->span_id = span_id;
      running_->parent_span_id = timing.span_id;
      running_->started_wall = wallAt(step_start);
    }
    StepContext ctx{clock_,        start_,
                    step_deadline, TraceContext{record_.trace_id, span_id}.traceparent(),
                    *this,         earlier};
    StepResult result;
    if (step_start >= step_deadline) {
      result = StepResult::deadline("not run: the " + std::string(phaseName(phase)) +
                                    " budget was used up");
    } else {
      result = step->run(ctx);
    }
    StepReport report;
    {
      std::lock_guard lock(mu_);
      report = std::move(*running_);
      running_.reset();
    }
    report.status = result.status;
    report.detail = std::move(result.detail);
    report.took = clock_.now() - step_start;
    log::Fields fields{{"phase", phaseName(phase)},
                       {"step", report.name},
                       {"status", stepStatusName(report.status)},
                       {"duration_ms", toMillis(report.took)},
                       {"trace_id", record_.trace_id}};
    if (!report.detail.empty()) fields.emplace_back("detail", report.detail);
    if (report.status == StepStatus::kFailed || report.status == StepStatus::kDeadline) {
      log::warn("exit step did not complete", fields);
    } else {
      log::info("exit step done", fields);
    }
    observer_.onStepDone(report);
    std::lock_guard lock(mu_);
    record_.steps.push_back(std::move(report));
  }
  timing.took = clock_.now() - phase_start;
  {
    std::lock_guard lock(mu_);
    record_.phases.push_back(timing);
  }
  observer_.onPhaseDone(timing);
}

void ExitEngine::run() {
  const TimePoint exit_deadline = start_ + budget_.total();
  const TimePoint drain_deadline = exit_deadline - budget_.compensation_reserve;
  {
    ExitStart started;
    {
      std::lock_guard lock(mu_);
      started = ExitStart{record_.trigger,        record_.trace_id,     record_.span_id,
                          record_.parent_span_id, record_.started_wall, record_.budget};
    }
    observer_.onExitStarted(started);
  }

  announce(State::kReady, State::kDraining);
  runPhase(Phase::kDraining, plan_.draining, drain_deadline);

  transition(State::kCompensating);
  // The reserve is kept even when draining overran its deadline: handing off
  // data outranks waiting.
  const TimePoint comp_deadline =
      std::max(exit_deadline, clock_.now() + budget_.compensation_reserve);
  runPhase(Phase::kCompensating, plan_.compensating, comp_deadline);

  runPhase(Phase::kTerminating, plan_.terminating, exit_deadline);

  Summary final_record;
  {
    std::lock_guard lock(mu_);
    Outcome outcome = Outcome::kCompleted;
    for (const StepReport& s : record_.steps) {
      if (s.status == StepStatus::kFailed) {
        if (outcome != Outcome::kFailed) record_.reason = s.name + ": " + s.detail;
        outcome = Outcome::kFailed;
      } else if (s.status == StepStatus::kDeadline && outcome == Outcome::kCompleted) {
        outcome = Outcome::kDeadline;
        record_.reason = s.name + ": " + s.detail;
      }
    }
    record_.outcome = outcome;
    record_.elapsed = clock_.now() - start_;
    record_.state = State::kTerminated;
  }
  transition(State::kTerminated);
  {
    std::lock_guard lock(mu_);
    final_record = record_;
  }
  log::audit("exit", {{"outcome", outcomeName(final_record.outcome)},
                      {"trigger", final_record.trigger},
                      {"trace_id", final_record.trace_id},
                      {"duration_ms", toMillis(final_record.elapsed)},
                      {"reason", final_record.reason},
                      {"summary", toJson(final_record)}});
  observer_.onExitDone(final_record);
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  done_cv_.notify_all();
}

void ExitEngine::section(std::string_view name, std::string json) {
  std::lock_guard lock(mu_);
  for (Section& s : record_.sections) {
    if (s.name == name) {
      s.json = std::move(json);
      return;
    }
  }
  record_.sections.push_back(Section{std::string(name), std::move(json)});
}

void ExitEngine::attribute(std::string key, AttrValue value) {
  std::lock_guard lock(mu_);
  if (!running_) return;
  for (Attribute& a : running_->attributes) {
    if (a.key == key) {
      a.value = std::move(value);
      return;
    }
  }
  running_->attributes.push_back(Attribute{std::move(key), std::move(value)});
}

void ExitEngine::event(std::string name, Attributes attributes) {
  std::lock_guard lock(mu_);
  if (!running_) return;
  // Bounded: a step that loops (a gate held for minutes) cannot grow the
  // record without end.
  if (running_->events.size() >= kMaxSpanEvents) return;
  running_->events.push_back(
      SpanEvent{std::move(name), wallAt(clock_.now()), std::move(attributes)});
}

void ExitEngine::span(ChildSpan child) {
  std::lock_guard lock(mu_);
  if (!running_ || running_->children.size() >= kMaxChildSpans) return;
  // Inside the step's own time: from its start to now (it has not ended).
  const TimePoint step_start = start_ + running_->started_at;
  const TimePoint now = clock_.now();
  auto within = [&](TimePoint t) { return std::clamp(t, step_start, now); };
  const TimePoint begin = within(child.start);
  const TimePoint end = std::max(begin, within(child.end));
  ChildSpanReport report{{std::move(child.name), wallAt(begin), wallAt(end),
                          std::move(child.attributes), {}, child.status,
                          std::move(child.status_message)},
                         newSpanId()};
  const size_t events = std::min(child.events.size(), kMaxSpanEvents);
  report.events.reserve(events);
  for (size_t i = 0; i < events; ++i) {
    ChildSpan::Event& e = child.events[i];
    report.events.push_back(SpanEvent{std::move(e.name), wallAt(std::clamp(e.at, begin, end)),
                                      std::move(e.attributes)});
  }
  running_->children.push_back(std::move(report));
}

}  // namespace lameduck::exit

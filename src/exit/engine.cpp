#include "exit/engine.h"

#include <random>

#include "common/log.h"

namespace lameduck::exit {

std::string newTraceparent() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  auto hex = [](uint64_t v, int digits) {
    static const char* kHex = "0123456789abcdef";
    std::string s(digits, '0');
    for (int i = digits - 1; i >= 0; --i, v >>= 4) s[i] = kHex[v & 0xf];
    return s;
  };
  uint64_t hi = rng(), lo = rng(), span = rng();
  if ((hi | lo) == 0) lo = 1;  // all-zero ids are invalid
  if (span == 0) span = 1;
  return "00-" + hex(hi, 16) + hex(lo, 16) + "-" + hex(span, 16) + "-01";
}

ExitEngine::ExitEngine(Clock& clock, const config::ExitConfig& config, ExitPlan plan,
                       ExitObserver& observer)
    : clock_(clock), config_(config), plan_(std::move(plan)), observer_(observer) {
  record_.budget = config_.budget();
  record_.compensation_reserve = config_.compensation_reserve;
}

ExitEngine::~ExitEngine() {
  if (thread_.joinable()) thread_.join();
}

void ExitEngine::trigger(std::string_view reason) {
  std::lock_guard lock(mu_);
  if (started_) {
    log::info("exit already in progress; joining it", {{"trigger", reason}});
    return;
  }
  started_ = true;
  start_ = clock_.now();
  traceparent_ = newTraceparent();
  record_.trigger = std::string(reason);
  record_.trace_id = traceparent_.substr(3, 32);
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
  for (auto& step : steps) {
    StepContext ctx{clock_, start_, deadline, traceparent_, *this};
    const TimePoint step_start = clock_.now();
    StepResult result;
    if (step_start >= deadline) {
      result = StepResult::deadline("not run: the " + std::string(phaseName(phase)) +
                                    " budget was used up");
    } else {
      result = step->run(ctx);
    }
    StepReport report{phase,         std::string(step->name()), result.status,
                      result.detail, step_start - start_,       clock_.now() - step_start};
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
    std::lock_guard lock(mu_);
    record_.steps.push_back(std::move(report));
  }
  const Duration took = clock_.now() - phase_start;
  {
    std::lock_guard lock(mu_);
    record_.phases.push_back(
        PhaseTiming{phase, phase_start - start_, took, deadline - phase_start});
  }
  observer_.onPhaseDone(phase, took);
}

void ExitEngine::run() {
  const TimePoint exit_deadline = start_ + config_.budget();
  const TimePoint drain_deadline = exit_deadline - config_.compensation_reserve;

  announce(State::kReady, State::kDraining);
  runPhase(Phase::kDraining, plan_.draining, drain_deadline);

  transition(State::kCompensating);
  // The reserve is kept even when draining overran its deadline: handing off
  // data outranks waiting.
  const TimePoint comp_deadline =
      std::max(exit_deadline, clock_.now() + config_.compensation_reserve);
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

void ExitEngine::appFigures(const app::Figures& figures) {
  {
    std::lock_guard lock(mu_);
    record_.app.inflight = figures.inflight;
    record_.app.connections = figures.connections;
    record_.app.queued = figures.queued;
  }
  observer_.onAppFigures(figures);
}

void ExitEngine::inflightReachedZero() {
  std::lock_guard lock(mu_);
  if (!record_.app.inflight_zero_at) record_.app.inflight_zero_at = sinceStart();
}

void ExitEngine::compensations(const CompensationReport& report) {
  std::lock_guard lock(mu_);
  record_.compensations = report;
}

void ExitEngine::connections(int64_t established, int64_t arrived, int64_t malformed_lines) {
  {
    std::lock_guard lock(mu_);
    record_.drain.connections = established;
    record_.drain.malformed_lines = malformed_lines;
    if (arrived > 0) {
      record_.drain.new_connections += arrived;
      record_.drain.last_new_connection_at = sinceStart();
    }
  }
  observer_.onConnections(established, arrived);
}

void ExitEngine::drainWaitDone(Duration took, bool drained) {
  std::lock_guard lock(mu_);
  record_.drain.wait = took;
  if (drained) record_.drain.drained_at = sinceStart();
}

void ExitEngine::traffic(const TrafficReport& report) {
  std::lock_guard lock(mu_);
  record_.traffic = report;
}

}  // namespace lameduck::exit

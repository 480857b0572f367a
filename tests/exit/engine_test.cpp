// The exit engine in simulated time: budgets, outcomes, the compensation
// reserve, and idempotent triggers. No test here sleeps.

#include "exit/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <nlohmann/json.hpp>
#include <thread>

#include "exit/app_steps.h"

namespace lameduck::exit {
namespace {

using namespace std::chrono_literals;

// An app whose hooks answer from scripts; a "hang" consumes the whole call
// timeout in simulated time and fails as a timeout would.
class FakeApp final : public app::AppClient {
 public:
  explicit FakeApp(SimulatedClock& clock) : clock_(clock) {}

  enum class Mode { kOk, kHang, kError, kRefused };
  Mode drain_mode = Mode::kOk;
  Mode status_mode = Mode::kOk;
  Mode terminate_mode = Mode::kOk;
  std::deque<int64_t> inflight{0};  // one value per status call; the last repeats
  int pending_compensations = 0;
  std::atomic<int> drain_calls{0}, status_calls{0}, terminate_calls{0}, compensation_calls{0};
  std::vector<Duration> timeouts_seen;
  std::string last_traceparent;

  Status drain(const app::Call& call) override {
    drain_calls++;
    return answer(drain_mode, call);
  }
  Result<app::Figures> status(const app::Call& call) override {
    status_calls++;
    if (auto s = answer(status_mode, call); !s) return std::unexpected(s.error());
    int64_t v = inflight.front();
    if (inflight.size() > 1) inflight.pop_front();
    return app::Figures{v, 0, 0, std::nullopt};
  }
  Result<app::CompensationBatch> compensations(const app::Call& call) override {
    compensation_calls++;
    if (auto s = answer(Mode::kOk, call); !s) return std::unexpected(s.error());
    app::CompensationBatch b;
    for (int i = 0; i < pending_compensations; ++i)
      b.valid.push_back({"c" + std::to_string(i), "s", "", "a", "{}"});
    return b;
  }
  Status ack(const std::vector<std::string>&, const app::Call&) override { return {}; }
  Status terminate(const app::Call& call) override {
    terminate_calls++;
    return answer(terminate_mode, call);
  }

 private:
  Status answer(Mode mode, const app::Call& call) {
    timeouts_seen.push_back(call.timeout);
    last_traceparent = call.traceparent;
    switch (mode) {
      case Mode::kOk:
        clock_.advance(std::min<Duration>(1ms, call.timeout));
        return {};
      case Mode::kHang:
        clock_.advance(call.timeout);
        return makeError(ErrorCode::kDeadlineExceeded, "no answer within timeout");
      case Mode::kError:
        return makeError(ErrorCode::kBadResponse, "answered HTTP 500");
      case Mode::kRefused:
        return makeError(ErrorCode::kUnavailable, "cannot connect");
    }
    return {};
  }
  SimulatedClock& clock_;
};

class RecordingObserver final : public ExitObserver {
 public:
  void onTransition(State from, State to) override {
    std::lock_guard lock(mu);
    transitions.emplace_back(from, to);
  }
  void onPhaseDone(Phase, Duration) override {}
  void onExitDone(const Summary&) override { exits++; }
  void onAppFigures(const app::Figures&) override {}
  void onConnections(int64_t, int64_t) override {}
  std::mutex mu;
  std::vector<std::pair<State, State>> transitions;
  std::atomic<int> exits{0};
};

// A step that uses time: it takes `takes`, or overruns its deadline by `overrun`.
class TimedStep final : public Step {
 public:
  TimedStep(SimulatedClock& clock, std::string name, std::optional<Duration> takes,
            Duration overrun = 0s)
      : clock_(clock), name_(std::move(name)), takes_(takes), overrun_(overrun) {}
  std::string_view name() const override { return name_; }
  StepResult run(StepContext& ctx) override {
    given = ctx.remaining();
    if (takes_) {
      clock_.advance(*takes_);
      return StepResult::ok();
    }
    clock_.sleepUntil(ctx.deadline + overrun_);
    return StepResult::deadline("waited until the deadline");
  }
  Duration given{};

 private:
  SimulatedClock& clock_;
  std::string name_;
  std::optional<Duration> takes_;
  Duration overrun_;
};

config::Config baseConfig() {
  config::Config c;
  c.exit.grace_period = 30s;
  c.exit.safety_margin = 2s;
  c.exit.compensation_reserve = 5s;
  c.app.base_url = HttpUrl{"http", "127.0.0.1", 8080, ""};
  c.app.timeout = 2s;
  c.drain.poll_interval = 50ms;
  c.drain.max_wait = 20s;
  return c;
}

const StepReport* findStep(const Summary& s, std::string_view name) {
  for (const StepReport& r : s.steps) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

// Runs one whole exit in simulated time for a config and an app (or none).
Summary runExit(SimulatedClock& clock, const config::Config& c, FakeApp* app,
                drain::ConnectionSource* connections = nullptr) {
  RecordingObserver obs;
  ExitEngine engine(clock, c.exit, makeAppPlan(c, app, connections), obs);
  engine.trigger("prestop");
  return engine.await();
}

TEST(ExitEngine, CompletesWhenAppDrainsAndRunsEveryHookOnce) {
  SimulatedClock clock;
  FakeApp app(clock);
  app.inflight = {3, 2, 1, 0};
  app.pending_compensations = 4;
  RecordingObserver obs;
  config::Config c = baseConfig();
  ExitEngine engine(clock, c.exit, makeAppPlan(c, &app), obs);

  engine.trigger("prestop");
  Summary s = engine.await();

  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  EXPECT_EQ(s.state, State::kTerminated);
  EXPECT_EQ(app.drain_calls, 1);
  EXPECT_EQ(app.status_calls, 4);
  EXPECT_EQ(app.compensation_calls, 1);
  EXPECT_EQ(app.terminate_calls, 1);
  ASSERT_TRUE(s.compensations.has_value());
  EXPECT_EQ(s.compensations->pending, 4);
  ASSERT_TRUE(s.app.inflight_zero_at.has_value());
  // Three polls at 50 ms before the fourth saw 0.
  EXPECT_GE(*s.app.inflight_zero_at, 150ms);
  EXPECT_LT(*s.app.inflight_zero_at, 200ms);
  ASSERT_EQ(obs.transitions.size(), 3u);
  EXPECT_EQ(obs.transitions[0], std::pair(State::kReady, State::kDraining));
  EXPECT_EQ(obs.transitions[1], std::pair(State::kDraining, State::kCompensating));
  EXPECT_EQ(obs.transitions[2], std::pair(State::kCompensating, State::kTerminated));
  ASSERT_EQ(s.phases.size(), 3u);
  EXPECT_EQ(s.phases[0].phase, Phase::kDraining);
  EXPECT_EQ(s.phases[0].budget, 23s);  // 30 s - 2 s margin - 5 s reserve
  EXPECT_EQ(s.trace_id.size(), 32u);
  EXPECT_EQ(app.last_traceparent.substr(3, 32), s.trace_id);
}

TEST(ExitEngine, DeadlineOutcomeWhenInflightNeverReachesZero) {
  SimulatedClock clock;
  FakeApp app(clock);
  app.inflight = {7};
  config::Config c = baseConfig();
  c.drain.max_wait = 60s;  // the phase budget, not max_wait, ends the wait
  const TimePoint start = clock.now();
  Summary s = runExit(clock, c, &app);

  EXPECT_EQ(s.outcome, Outcome::kDeadline);
  const StepReport* wait = findStep(s, "drain_wait");
  ASSERT_NE(wait, nullptr);
  EXPECT_EQ(wait->status, StepStatus::kDeadline);
  EXPECT_NE(wait->detail.find("in-flight still 7"), std::string::npos) << wait->detail;
  EXPECT_NE(s.reason.find("in-flight still 7"), std::string::npos);
  // Draining ended exactly at its deadline (budget minus reserve) ...
  EXPECT_EQ(s.phases[1].started_at, 23s);
  // ... and the whole exit fit the budget.
  EXPECT_LE(clock.now() - start, 28s);
  EXPECT_EQ(app.terminate_calls, 1);
}

TEST(ExitEngine, MaxWaitBoundsTheInflightWait) {
  SimulatedClock clock;
  FakeApp app(clock);
  app.inflight = {1};
  config::Config c = baseConfig();
  c.drain.max_wait = 3s;
  Summary s = runExit(clock, c, &app);
  const StepReport* wait = findStep(s, "drain_wait");
  ASSERT_NE(wait, nullptr);
  EXPECT_EQ(wait->status, StepStatus::kDeadline);
  EXPECT_NE(wait->detail.find("drain.max_wait"), std::string::npos) << wait->detail;
  EXPECT_GE(wait->took, 3s);
  EXPECT_LT(wait->took, 3s + 100ms);
}

TEST(ExitEngine, HangingHooksEndInDeadlineWithinBudget) {
  SimulatedClock clock;
  FakeApp app(clock);
  app.drain_mode = app.status_mode = app.terminate_mode = FakeApp::Mode::kHang;
  config::Config c = baseConfig();
  const TimePoint start = clock.now();
  Summary s = runExit(clock, c, &app);
  EXPECT_EQ(s.outcome, Outcome::kDeadline);
  EXPECT_LE(clock.now() - start, c.exit.budget());
  // No call was given more than app.timeout.
  for (Duration t : app.timeouts_seen) EXPECT_LE(t, 2s);
}

TEST(ExitEngine, UnreadableStatusCountsAsNotDrained) {
  SimulatedClock clock;
  FakeApp app(clock);
  app.status_mode = FakeApp::Mode::kError;
  config::Config c = baseConfig();
  Summary s = runExit(clock, c, &app);
  EXPECT_EQ(s.outcome, Outcome::kDeadline);
  const StepReport* wait = findStep(s, "drain_wait");
  ASSERT_NE(wait, nullptr);
  EXPECT_NE(wait->detail.find("status unreadable"), std::string::npos) << wait->detail;
  EXPECT_GT(app.status_calls, 100);  // kept polling until the budget ended
}

TEST(ExitEngine, RefusedDrainHookFailsTheExitButTheExitGoesOn) {
  SimulatedClock clock;
  FakeApp app(clock);
  app.drain_mode = FakeApp::Mode::kRefused;
  config::Config c = baseConfig();
  Summary s = runExit(clock, c, &app);
  EXPECT_EQ(s.outcome, Outcome::kFailed);
  EXPECT_NE(s.reason.find("app_drain_hook"), std::string::npos) << s.reason;
  EXPECT_EQ(app.compensation_calls, 1);
  EXPECT_EQ(app.terminate_calls, 1);
}

TEST(ExitEngine, CompensationReserveIsKeptWhenDrainingOverruns) {
  SimulatedClock clock;
  RecordingObserver obs;
  config::ExitConfig e{30s, 2s, 5s};
  ExitPlan plan;
  // Draining runs 4 s past its own deadline (a call that could not be cut).
  plan.draining.push_back(std::make_unique<TimedStep>(clock, "overrun", std::nullopt, 4s));
  auto comp = std::make_unique<TimedStep>(clock, "handoff", 1s);
  TimedStep* comp_ptr = comp.get();
  plan.compensating.push_back(std::move(comp));
  ExitEngine engine(clock, e, std::move(plan), obs);
  engine.trigger("prestop");
  Summary s = engine.await();
  EXPECT_EQ(s.phases[1].phase, Phase::kCompensating);
  EXPECT_EQ(s.phases[1].started_at, 27s);
  // 1 s of budget was left, but compensation still got the full reserve.
  EXPECT_EQ(comp_ptr->given, 5s);
  EXPECT_EQ(findStep(s, "handoff")->status, StepStatus::kOk);
}

TEST(ExitEngine, CompensationGetsTheRestOfTheBudgetWhenDrainingIsQuick) {
  SimulatedClock clock;
  RecordingObserver obs;
  config::ExitConfig e{30s, 2s, 5s};
  ExitPlan plan;
  plan.draining.push_back(std::make_unique<TimedStep>(clock, "quick", 1s));
  auto comp = std::make_unique<TimedStep>(clock, "handoff", 1s);
  TimedStep* comp_ptr = comp.get();
  plan.compensating.push_back(std::move(comp));
  ExitEngine engine(clock, e, std::move(plan), obs);
  engine.trigger("prestop");
  Summary s = engine.await();
  EXPECT_EQ(comp_ptr->given, 27s);
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
}

TEST(ExitEngine, StepsAfterAnExhaustedBudgetAreReportedNotRun) {
  SimulatedClock clock;
  RecordingObserver obs;
  config::ExitConfig e{10s, 1s, 2s};
  ExitPlan plan;
  plan.draining.push_back(std::make_unique<TimedStep>(clock, "eats-budget", std::nullopt));
  auto second = std::make_unique<TimedStep>(clock, "never-runs", 1s);
  TimedStep* second_ptr = second.get();
  plan.draining.push_back(std::move(second));
  ExitEngine engine(clock, e, std::move(plan), obs);
  engine.trigger("prestop");
  Summary s = engine.await();
  const StepReport* r = findStep(s, "never-runs");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->status, StepStatus::kDeadline);
  EXPECT_EQ(second_ptr->given, Duration::zero());  // run() was never called
  EXPECT_EQ(s.outcome, Outcome::kDeadline);
}

TEST(ExitEngine, ManyConcurrentTriggersStartOneExitAndShareOneSummary) {
  SimulatedClock clock;
  FakeApp app(clock);
  RecordingObserver obs;
  config::Config c = baseConfig();
  ExitEngine engine(clock, c.exit, makeAppPlan(c, &app), obs);
  constexpr int kCallers = 64;
  std::vector<std::string> summaries(kCallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      engine.trigger(i % 2 ? "prestop" : "SIGTERM");
      summaries[i] = toJson(engine.await());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(obs.exits, 1);
  EXPECT_EQ(app.drain_calls, 1);
  EXPECT_EQ(app.terminate_calls, 1);
  for (const std::string& s : summaries) EXPECT_EQ(s, summaries[0]);
  EXPECT_EQ(obs.transitions.size(), 3u);
}

TEST(ExitEngine, ReadinessFlipsBeforeTriggerReturns) {
  SimulatedClock clock;
  RecordingObserver obs;
  ExitEngine engine(clock, config::ExitConfig{}, ExitPlan{}, obs);
  EXPECT_EQ(engine.state(), State::kReady);
  engine.trigger("prestop");
  EXPECT_NE(engine.state(), State::kReady);
  engine.await();
  EXPECT_EQ(engine.state(), State::kTerminated);
}

TEST(ExitEngine, SnapshotBeforeAnyTriggerIsReady) {
  SimulatedClock clock;
  RecordingObserver obs;
  ExitEngine engine(clock, config::ExitConfig{}, ExitPlan{}, obs);
  Summary s = engine.snapshot();
  EXPECT_EQ(s.state, State::kReady);
  EXPECT_EQ(s.outcome, Outcome::kNone);
  auto j = nlohmann::json::parse(toJson(s));
  EXPECT_EQ(j["state"], "Ready");
  EXPECT_TRUE(j["outcome"].is_null());
}

TEST(ExitEngine, NoAppConfiguredCompletesAtOnce) {
  SimulatedClock clock;
  config::Config c;  // embedded defaults: no app
  Summary s = runExit(clock, c, nullptr);
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  EXPECT_TRUE(s.steps.empty());
  EXPECT_EQ(s.elapsed, Duration::zero());
}

TEST(Summary, JsonCarriesOutcomePhasesStepsAndFigures) {
  Summary s;
  s.state = State::kTerminated;
  s.outcome = Outcome::kDeadline;
  s.reason = "app_inflight_wait: in-flight still \"3\"\n";
  s.trigger = "prestop";
  s.trace_id = std::string(32, 'a');
  s.phases.push_back({Phase::kDraining, 0ms, 1500ms, 23s});
  s.steps.push_back({Phase::kDraining, "app_drain_hook", StepStatus::kOk, "", 0ms, 2ms});
  s.app.inflight = 3;
  auto j = nlohmann::json::parse(toJson(s));
  EXPECT_EQ(j["outcome"], "deadline");
  EXPECT_EQ(j["reason"], s.reason);
  EXPECT_EQ(j["phases"]["draining"]["duration_ms"], 1500.0);
  EXPECT_EQ(j["steps"][0]["step"], "app_drain_hook");
  EXPECT_EQ(j["app"]["inflight"], 3);
  EXPECT_TRUE(j["app"]["connections"].is_null());
  EXPECT_EQ(outcomeFromJson(toJson(s)).value(), Outcome::kDeadline);
  EXPECT_FALSE(outcomeFromJson("not json").has_value());
}

// Socket tables as a script over simulated time: from each offset on, the
// given connections are established.
class FakeConnections final : public drain::ConnectionSource {
 public:
  FakeConnections(SimulatedClock& clock) : clock_(clock), t0_(clock.now()) {}
  void at(Duration offset, std::set<std::string> established) {
    script_.emplace_back(offset, std::move(established));
  }
  bool unreadable = false;
  int reads = 0;

  Result<drain::ConnectionSnapshot> read() override {
    reads++;
    if (unreadable) return makeError(ErrorCode::kUnavailable, "cannot read /proc/net/tcp: denied");
    drain::ConnectionSnapshot s;
    s.listening = 1;
    for (const auto& [offset, set] : script_) {
      if (clock_.now() - t0_ >= offset) {
        s.established = set;
        s.seen.clear();
        for (const std::string& key : set) s.seen[key].open = true;
      }
    }
    return s;
  }

 private:
  SimulatedClock& clock_;
  TimePoint t0_;
  std::vector<std::pair<Duration, std::set<std::string>>> script_;
};

Summary runDrainOnly(SimulatedClock& clock, FakeConnections& conns, const config::Config& c,
                     FakeApp* app = nullptr) {
  return runExit(clock, c, app, &conns);
}

TEST(DrainWait, NoTrafficStillWaitsExactlyTheQuietPeriod) {
  SimulatedClock clock;
  FakeConnections conns(clock);
  config::Config c;  // quiet_period 2s, no app hooks
  Summary s = runDrainOnly(clock, conns, c);
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  ASSERT_TRUE(s.drain.drained_at.has_value());
  EXPECT_EQ(*s.drain.drained_at, 2s);
  EXPECT_EQ(s.drain.new_connections, 0);
  EXPECT_FALSE(s.drain.last_new_connection_at.has_value());
}

TEST(DrainWait, QuietPeriodRestartsWithEveryNewConnection) {
  SimulatedClock clock;
  FakeConnections conns(clock);
  conns.at(500ms, {"a"});
  conns.at(1200ms, {"a", "b"});
  conns.at(1500ms, {});
  config::Config c;
  Summary s = runDrainOnly(clock, conns, c);
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  EXPECT_EQ(s.drain.new_connections, 2);
  ASSERT_TRUE(s.drain.last_new_connection_at.has_value());
  // Seen at the first poll after it arrived (polls are 50 ms apart).
  EXPECT_GE(*s.drain.last_new_connection_at, 1200ms);
  EXPECT_LE(*s.drain.last_new_connection_at, 1250ms);
  // Drained exactly one quiet period after the last arrival: no blind wait.
  EXPECT_EQ(*s.drain.drained_at - *s.drain.last_new_connection_at, 2s);
}

TEST(DrainWait, OpenConnectionsHoldTheExitUntilTheyClose) {
  SimulatedClock clock;
  FakeConnections conns(clock);
  conns.at(0s, {"long-lived"});
  conns.at(5s, {});
  config::Config c;
  Summary s = runDrainOnly(clock, conns, c);
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  EXPECT_GE(*s.drain.drained_at, 5s);
  EXPECT_LT(*s.drain.drained_at, 5s + 100ms);
  EXPECT_EQ(s.drain.connections, 0);
  // The connection open when draining began is not a new one.
  EXPECT_EQ(s.drain.new_connections, 0);
}

TEST(DrainWait, MaxConnectionsToleratesAFewLingeringOnes) {
  SimulatedClock clock;
  FakeConnections conns(clock);
  conns.at(0s, {"a", "b"});
  config::Config c;
  c.drain.max_connections = 2;
  Summary s = runDrainOnly(clock, conns, c);
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  EXPECT_EQ(*s.drain.drained_at, 2s);
}

TEST(DrainWait, UnreadableConnectionsNeverCountAsDrained) {
  SimulatedClock clock;
  FakeConnections conns(clock);
  conns.unreadable = true;
  config::Config c;
  Summary s = runDrainOnly(clock, conns, c);
  EXPECT_EQ(s.outcome, Outcome::kDeadline);
  const StepReport* wait = findStep(s, "drain_wait");
  ASSERT_NE(wait, nullptr);
  EXPECT_NE(wait->detail.find("connections unreadable: cannot read /proc/net/tcp"),
            std::string::npos)
      << wait->detail;
  EXPECT_FALSE(s.drain.drained_at.has_value());
  ASSERT_TRUE(s.drain.wait.has_value());
  EXPECT_EQ(*s.drain.wait, 20s);  // drain.max_wait
}

TEST(DrainWait, NeedsInflightZeroAndQuietConnectionsTogether) {
  SimulatedClock clock;
  FakeApp app(clock);
  app.inflight = {};
  for (int i = 0; i < 80; ++i) app.inflight.push_back(1);  // ~4 s of polls
  app.inflight.push_back(0);
  FakeConnections conns(clock);
  config::Config c = baseConfig();
  Summary s = runDrainOnly(clock, conns, c, &app);
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  ASSERT_TRUE(s.app.inflight_zero_at.has_value());
  EXPECT_GT(*s.app.inflight_zero_at, 2s);  // later than the quiet period
  EXPECT_GE(*s.drain.drained_at, *s.app.inflight_zero_at);
}

TEST(Traceparent, HasW3CShape) {
  std::string t = newTraceparent();
  ASSERT_EQ(t.size(), 55u);
  EXPECT_EQ(t.substr(0, 3), "00-");
  EXPECT_EQ(t[35], '-');
  EXPECT_EQ(t.substr(52), "-01");
  EXPECT_NE(newTraceparent(), t);
}

}  // namespace
}  // namespace lameduck::exit

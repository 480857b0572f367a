// The app's hooks and the drain wait, run by the real exit engine in
// simulated time against a fake app and scripted socket tables: outcomes,
// budgets, the quiet period and what the summary's `app` and `drain`
// sections say. No test here sleeps.

#include "drain/wait_step.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "app/steps.h"
#include "exit/engine.h"
#include "fakes/app.h"
#include "fakes/drain.h"
#include "fakes/exit.h"

namespace lameduck::drain {
namespace {

using namespace std::chrono_literals;
using exit::ExitEngine;
using exit::Outcome;
using exit::Phase;
using exit::State;
using exit::StepReport;
using exit::StepStatus;
using exit::Summary;
using fakes::FakeApp;
using fakes::FakeConnections;
using fakes::FakeFactsSource;
using fakes::findStep;
using fakes::RecordingObserver;

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

exit::Budget budgetOf(const config::Config& c) {
  return {c.exit.grace_period, c.exit.safety_margin, c.exit.compensation_reserve};
}

fakes::NullDrainObserver null_drain_observer;

// The app's part of the sidecar's plan: drain hook and drain wait, the
// compensations look-up, the terminate hook.
exit::ExitPlan appPlan(const config::Config& c, app::AppClient* app,
                       ConnectionSource* connections = nullptr) {
  exit::ExitPlan plan;
  const Duration t = c.app.timeout;
  if (app) plan.draining.push_back(std::make_unique<app::DrainHookStep>(*app, t));
  if (app || connections) {
    plan.draining.push_back(
        std::make_unique<DrainWaitStep>(app, connections, c.drain, t, c.exit.grace_period,
                                        null_drain_observer));
  }
  if (app) {
    plan.compensating.push_back(std::make_unique<app::FetchCompensationsStep>(*app, t));
    plan.terminating.push_back(std::make_unique<app::TerminateHookStep>(*app, t));
  }
  plan.sections = {appSectionDefault(), drainSectionDefault()};
  return plan;
}

using fakes::attributeAs;

nlohmann::json section(const Summary& s, std::string_view name) {
  auto j = nlohmann::json::parse(fakes::sectionText(s, name), nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "section " << name << " missing or not JSON";
  return j;
}

// Runs one whole exit in simulated time for a config and an app (or none).
Summary runExit(SimulatedClock& clock, const config::Config& c, FakeApp* app,
                ConnectionSource* connections = nullptr) {
  RecordingObserver obs;
  ExitEngine engine(clock, budgetOf(c), appPlan(c, app, connections), obs);
  engine.trigger("prestop");
  return engine.await();
}

Summary runDrainOnly(SimulatedClock& clock, FakeConnections& conns, const config::Config& c,
                     FakeApp* app = nullptr) {
  return runExit(clock, c, app, &conns);
}

TEST(AppPlan, CompletesWhenAppDrainsAndRunsEveryHookOnce) {
  SimulatedClock clock;
  FakeApp app(clock);
  app.inflight = {3, 2, 1, 0};
  app.pending_compensations = 4;
  RecordingObserver obs;
  config::Config c = baseConfig();
  ExitEngine engine(clock, budgetOf(c), appPlan(c, &app), obs);

  engine.trigger("prestop");
  Summary s = engine.await();

  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  EXPECT_EQ(s.state, State::kTerminated);
  EXPECT_EQ(app.drain_calls, 1);
  EXPECT_EQ(app.status_calls, 4);
  EXPECT_EQ(app.compensation_calls, 1);
  EXPECT_EQ(app.terminate_calls, 1);
  EXPECT_EQ(section(s, "compensations")["pending"], 4);
  ASSERT_TRUE(section(s, "app")["inflight_zero_at_ms"].is_number());
  // Three polls at 50 ms before the fourth saw 0.
  EXPECT_GE(section(s, "app")["inflight_zero_at_ms"].get<double>(), 150.0);
  EXPECT_LT(section(s, "app")["inflight_zero_at_ms"].get<double>(), 200.0);
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

TEST(AppPlan, DeadlineOutcomeWhenInflightNeverReachesZero) {
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

TEST(AppPlan, MaxWaitBoundsTheInflightWait) {
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

TEST(AppPlan, HangingHooksEndInDeadlineWithinBudget) {
  SimulatedClock clock;
  FakeApp app(clock);
  app.drain_mode = app.status_mode = app.terminate_mode = FakeApp::Mode::kHang;
  config::Config c = baseConfig();
  const TimePoint start = clock.now();
  Summary s = runExit(clock, c, &app);
  EXPECT_EQ(s.outcome, Outcome::kDeadline);
  EXPECT_LE(clock.now() - start, c.exit.budget());  // simulated time
  // No call was given more than app.timeout.
  for (Duration t : app.timeouts_seen) EXPECT_LE(t, 2s);
}

TEST(AppPlan, UnreadableStatusCountsAsNotDrained) {
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

TEST(AppPlan, RefusedDrainHookFailsTheExitButTheExitGoesOn) {
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

TEST(AppPlan, NoAppConfiguredCompletesAtOnce) {
  SimulatedClock clock;
  config::Config c;  // embedded defaults: no app
  Summary s = runExit(clock, c, nullptr);
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  EXPECT_TRUE(s.steps.empty());
  EXPECT_EQ(s.elapsed, Duration::zero());
}

TEST(DrainWait, NoTrafficStillWaitsExactlyTheQuietPeriod) {
  SimulatedClock clock;
  FakeConnections conns(clock);
  config::Config c;  // quiet_period 2s, no app hooks
  Summary s = runDrainOnly(clock, conns, c);
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  auto d = section(s, "drain");
  EXPECT_EQ(d["drained_at_ms"], 2000.0);
  EXPECT_EQ(d["new_connections"], 0);
  EXPECT_TRUE(d["last_new_connection_at_ms"].is_null());
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
  auto d = section(s, "drain");
  EXPECT_EQ(d["new_connections"], 2);
  ASSERT_TRUE(d["last_new_connection_at_ms"].is_number());
  // Seen at the first poll after it arrived (polls are 50 ms apart).
  EXPECT_GE(d["last_new_connection_at_ms"].get<double>(), 1200.0);
  EXPECT_LE(d["last_new_connection_at_ms"].get<double>(), 1250.0);
  // Drained exactly one quiet period after the last arrival: no blind wait.
  EXPECT_DOUBLE_EQ(d["drained_at_ms"].get<double>() - d["last_new_connection_at_ms"].get<double>(),
                   2000.0);
}

TEST(DrainWait, OpenConnectionsHoldTheExitUntilTheyClose) {
  SimulatedClock clock;
  FakeConnections conns(clock);
  conns.at(0s, {"long-lived"});
  conns.at(5s, {});
  config::Config c;
  Summary s = runDrainOnly(clock, conns, c);
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  auto d = section(s, "drain");
  EXPECT_GE(d["drained_at_ms"].get<double>(), 5000.0);
  EXPECT_LT(d["drained_at_ms"].get<double>(), 5100.0);
  EXPECT_EQ(d["connections"], 0);
  // The connection open when draining began is not a new one.
  EXPECT_EQ(d["new_connections"], 0);
}

TEST(DrainWait, MaxConnectionsToleratesAFewLingeringOnes) {
  SimulatedClock clock;
  FakeConnections conns(clock);
  conns.at(0s, {"a", "b"});
  config::Config c;
  c.drain.max_connections = 2;
  Summary s = runDrainOnly(clock, conns, c);
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  EXPECT_EQ(section(s, "drain")["drained_at_ms"], 2000.0);
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
  auto d = section(s, "drain");
  EXPECT_TRUE(d["drained_at_ms"].is_null());
  EXPECT_EQ(d["wait_ms"], 18000.0);  // drain.max_wait
  // 30 s grace period - 18 s: what the rest of the exit and the app's own
  // shutdown had left.
  EXPECT_EQ(d["grace_left_ms"], 12000.0);
  EXPECT_EQ(fakes::attributeAs<int64_t>(*wait, "drain.grace_left_ms"), 12000);
  EXPECT_NE(wait->detail.find("ran out with 12s of the grace period left for the app's shutdown"),
            std::string::npos)
      << wait->detail;
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
  const double zero_at = section(s, "app")["inflight_zero_at_ms"].get<double>();
  EXPECT_GT(zero_at, 2000.0);  // later than the quiet period
  EXPECT_GE(section(s, "drain")["drained_at_ms"].get<double>(), zero_at);
}

ConnectionFacts pooled(int n, uint32_t ms_in, uint32_t ms_out, uint64_t received) {
  ConnectionFacts f;
  f.source = SourceKind::kNetlink;
  f.local.addr = {10, 0, 0, 1};
  f.local.port = 8080;
  f.peer.addr = {10, 0, 0, 2};
  f.peer.port = static_cast<uint16_t>(40000 + n);
  f.state = tcp_state::kEstablished;
  f.ms_since_data_in = ms_in;
  f.ms_since_data_out = ms_out;
  f.bytes_received = received;
  f.bytes_acked = 5000;
  f.unacked = 0;
  f.notsent = 0;
  f.cookie = static_cast<uint64_t>(n);
  return f;
}

uint32_t msOf(Duration d) {
  return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

TEST(DrainWait, AnIdlePoolOfKeepAliveConnectionsNeverHoldsTheExit) {
  SimulatedClock clock;
  FakeFactsSource conns(clock, [](Duration t) {
    std::vector<ConnectionFacts> v;
    for (int i = 0; i < 3; ++i) v.push_back(pooled(i, 10000 + msOf(t), 9990 + msOf(t), 700));
    return v;
  });
  config::Config c;  // quiet_period 2s, max_connections 0
  Summary s = runExit(clock, c, nullptr, &conns);
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  auto d = section(s, "drain");
  EXPECT_EQ(d["drained_at_ms"], 2000.0);
  EXPECT_EQ(d["source"], "netlink");
  EXPECT_EQ(d["busy"], 0);
  EXPECT_EQ(d["idle"], 3);
}

TEST(DrainWait, RequestBytesOnAnExistingConnectionRestartTheQuietPeriod) {
  SimulatedClock clock;
  // One pooled connection carries a quick request every 500 ms until 3 s.
  FakeFactsSource conns(clock, [](Duration t) {
    const Duration last = std::min(t, Duration(3s)) - std::min(t, Duration(3s)) % Duration(500ms);
    const uint64_t requests = static_cast<uint64_t>(last / Duration(500ms));
    const uint32_t ago = msOf(t - last);
    return std::vector<ConnectionFacts>{pooled(1, ago, ago, 100 + 100 * requests)};
  });
  config::Config c;
  Summary s = runExit(clock, c, nullptr, &conns);
  EXPECT_EQ(s.outcome, Outcome::kCompleted);
  auto d = section(s, "drain");
  EXPECT_GE(d["drained_at_ms"].get<double>(), 5000.0);
  EXPECT_LE(d["drained_at_ms"].get<double>(), 5100.0);
  EXPECT_EQ(d["last_activity_at_ms"], 3000.0);
}

TEST(DrainWait, ARequestThatNeverEndsHitsTheDeadlineNamingItsConnection) {
  SimulatedClock clock;
  FakeFactsSource conns(clock, [](Duration t) {
    return std::vector<ConnectionFacts>{pooled(7, 50 + msOf(t), 900 + msOf(t), 300),
                                        pooled(8, 9000 + msOf(t), 8000 + msOf(t), 300)};
  });
  config::Config c;
  Summary s = runExit(clock, c, nullptr, &conns);
  EXPECT_EQ(s.outcome, Outcome::kDeadline);
  auto d = section(s, "drain");
  EXPECT_EQ(d["busy"], 1);
  EXPECT_EQ(d["idle"], 1);
  ASSERT_EQ(d["held_by"].size(), 1u);
  EXPECT_EQ(d["held_by"][0]["peer"], "10.0.0.2:40007");
  EXPECT_EQ(d["held_by"][0]["activity"], "busy");
  EXPECT_EQ(d["held_by"][0]["reason"], "peer spoke last");
  const StepReport* wait = findStep(s, "drain_wait");
  ASSERT_NE(wait, nullptr);
  EXPECT_NE(wait->detail.find("1 busy connection(s)"), std::string::npos) << wait->detail;
  // The same figures, and who held the drain, on the step's span.
  EXPECT_EQ(attributeAs<bool>(*wait, "drain.drained"), false);
  EXPECT_EQ(attributeAs<std::string>(*wait, "drain.source"), "netlink");
  EXPECT_EQ(attributeAs<int64_t>(*wait, "drain.connections"), 2);
  EXPECT_EQ(attributeAs<int64_t>(*wait, "drain.busy"), 1);
  EXPECT_EQ(attributeAs<int64_t>(*wait, "drain.idle"), 1);
  EXPECT_EQ(attributeAs<int64_t>(*wait, "drain.new_connections"), 0);
  EXPECT_EQ(attributeAs<std::string>(*wait, "drain.held_by"),
            "10.0.0.2:40007 (busy: peer spoke last)");
  EXPECT_EQ(attributeAs<int64_t>(*wait, "drain.held_by_count"), 1);
  EXPECT_NE(attributeAs<std::string>(*wait, "drain.not_drained").value_or("").find("busy"),
            std::string::npos);
  const auto waited = attributeAs<int64_t>(*wait, "drain.wait_ms");
  ASSERT_TRUE(waited);
  EXPECT_EQ(*waited, std::chrono::duration_cast<std::chrono::milliseconds>(wait->took).count());
}

TEST(DrainTrace, ADrainedWaitHasTheAppFiguresAndNoStaleHolders) {
  SimulatedClock clock;
  FakeApp app(clock);
  app.inflight = {2, 1, 0};
  config::Config c = baseConfig();
  Summary s = runExit(clock, c, &app);
  const StepReport* wait = findStep(s, "drain_wait");
  ASSERT_NE(wait, nullptr);
  EXPECT_EQ(attributeAs<bool>(*wait, "drain.drained"), true);
  EXPECT_EQ(attributeAs<int64_t>(*wait, "app.inflight"), 0);
  const auto zero_at = attributeAs<int64_t>(*wait, "app.inflight_zero_at_ms");
  ASSERT_TRUE(zero_at);
  EXPECT_GE(*zero_at, 100);
  EXPECT_FALSE(attributeAs<std::string>(*wait, "drain.held_by"));
  EXPECT_FALSE(attributeAs<std::string>(*wait, "drain.source"));  // no connections tracked
  ASSERT_FALSE(wait->events.empty());
  EXPECT_EQ(wait->events[0].name, "inflight_reached_zero");
}

}  // namespace
}  // namespace lameduck::drain

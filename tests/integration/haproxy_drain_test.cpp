// The proof under load with real haproxy (and nginx): lameduck loses no request while
// endpoint removal lags behind the deletion; bare SIGTERM does.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/scenario.h"

namespace lameduck::testing {
namespace {

std::string failures(const ScenarioResult& r) {
  std::string out;
  for (const auto& [kind, n] : r.failures) out += kind + ": " + std::to_string(n) + "\n";
  return out;
}

TEST(HaproxyDrain, LameduckLosesNoRequestWhileRemovalLags) {
  ScenarioOptions o;
  o.scheme = ExitScheme::kLameduck;
  o.propagation = 2s;
  o.quiet = 1s;
  o.warmup = 1s;
  ScenarioResult r = runScenario(o);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_GT(r.total, 1000);
  EXPECT_EQ(r.failed, 0) << failures(r) << r.summary;
  // The app was let go only after haproxy stopped routing to it.
  EXPECT_GT(r.prestop_ms, r.removed_ms) << r.summary;
  EXPECT_NE(r.summary.find("\"outcome\":\"completed\""), std::string::npos) << r.summary;
}

TEST(HaproxyDrain, BareSigtermLosesRequestsInTheSameSetup) {
  ScenarioOptions o;
  o.scheme = ExitScheme::kBareSigterm;
  o.propagation = 2s;
  o.warmup = 1s;
  ScenarioResult r = runScenario(o);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_GT(r.total, 1000);
  EXPECT_GT(r.failed, 0) << "bare SIGTERM lost nothing; the scenario no longer shows the problem";
}

}  // namespace
}  // namespace lameduck::testing

namespace lameduck::testing {
namespace {

TEST(HaproxyDrain, BlindPreStopSleepLosesNothingButTakesTheWholeSleep) {
  ScenarioOptions o;
  o.scheme = ExitScheme::kSleepPrestop;
  o.propagation = 2s;
  o.sleep = 15s;
  o.warmup = 1s;
  ScenarioResult r = runScenario(o);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.failed, 0);
  EXPECT_GE(r.exit_ms, 15000);  // the baseline's cost, whatever the propagation took
}

}  // namespace
}  // namespace lameduck::testing

// An app WITHOUT the drain protocol behind pooling load balancers: lameduck
// only sees its connections (app.ports). The balancers keep idle
// connections to it open after the removal, and a monitoring probe keeps
// one too; none of them holds the exit, the traffic before the removal
// does, and no request fails.
namespace lameduck::testing {
namespace {

ScenarioOptions noHooks(Balancer balancer) {
  ScenarioOptions o;
  o.scheme = ExitScheme::kLameduck;
  o.hooks = false;
  o.balancer = balancer;
  o.probe = true;
  o.propagation = 2s;
  o.quiet = 1s;
  o.warmup = 1s;
  return o;
}

void expectLosslessCompletedExit(const ScenarioResult& r) {
  EXPECT_GT(r.total, 500);
  EXPECT_EQ(r.failed, 0) << failures(r) << r.summary;
  EXPECT_EQ(r.outcome, "completed") << r.summary;
  // The app was let go only after the balancer stopped sending to it.
  EXPECT_GT(r.prestop_ms, r.removed_ms) << r.summary;
  auto summary = nlohmann::json::parse(r.summary, nullptr, false);
  ASSERT_TRUE(summary.is_object()) << r.summary;
  EXPECT_EQ(summary["drain"]["source"], "netlink") << r.summary;
  EXPECT_GE(summary["drain"]["idle"].get<int>(), 1) << r.summary;  // the probe at least
  EXPECT_EQ(summary["drain"]["busy"], 0) << r.summary;
}

TEST(HaproxyDrain, AnAppWithoutHooksLosesNoRequestBehindHaproxyConnectionReuse) {
  ScenarioResult r = runScenario(noHooks(Balancer::kHaproxy));
  ASSERT_TRUE(r.ok) << r.error;
  expectLosslessCompletedExit(r);
}

TEST(NginxDrain, AnAppWithoutHooksLosesNoRequestBehindNginxUpstreamKeepalive) {
  ScenarioResult r = runScenario(noHooks(Balancer::kNginx));
  ASSERT_TRUE(r.ok) << r.error;
  expectLosslessCompletedExit(r);
}

}  // namespace
}  // namespace lameduck::testing

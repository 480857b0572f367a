// The proof under load with real haproxy: lameduck loses no request while
// endpoint removal lags behind the deletion; bare SIGTERM does.

#include <gtest/gtest.h>

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

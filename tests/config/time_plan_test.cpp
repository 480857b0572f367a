// How the grace period is shared between the exit and the app's own
// shutdown: exit.app_shutdown, the derived drain.max_wait, and the advice
// check-config gives.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"
#include "support/harness.h"

namespace lameduck::config {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

Config parsed(std::string_view yaml, const std::vector<Override>& o = {}) {
  auto c = parse(yaml, "test.yaml", o);
  EXPECT_TRUE(c) << c.error().message;
  return c ? *c : Config{};
}

TEST(TimePlan, TheDefaultsLeaveTheAppItsShutdownTime) {
  const Config c = parsed("");
  EXPECT_EQ(c.exit.app_shutdown, 5s);
  EXPECT_TRUE(c.drain.max_wait_auto);
  // 30 s grace - 2 s margin - 5 s reserve - 5 s for the app.
  EXPECT_EQ(c.drain.max_wait, 18s);
  EXPECT_EQ(appShutdownLeft(c), 7s);
  EXPECT_TRUE(warnings(c).empty());
}

TEST(TimePlan, TheDerivedMaxWaitFollowsGracePeriodAppShutdownAndTrafficHolds) {
  EXPECT_EQ(parsed("exit: {grace_period: 60s, app_shutdown: 15s}\n").drain.max_wait, 38s);
  EXPECT_EQ(parsed("", {{"exit.grace_period", "40s"}}).drain.max_wait, 28s);
  // The holds of the traffic shift come before the drain wait.
  const Config shifted = parsed(
      "traffic:\n"
      "  backend: webhook\n"
      "  webhook: {url: \"http://127.0.0.1:9/weight\"}\n"
      "  steps: [{weight: 50, hold: 4s}, {weight: 0, hold: 1s}]\n");
  EXPECT_EQ(plannedHolds(shifted), 5s);
  EXPECT_EQ(shifted.drain.max_wait, 13s);
  // Steps without a backend never run.
  EXPECT_EQ(plannedHolds(parsed("traffic: {steps: [{weight: 0, hold: 9s}]}\n")), 0s);
}

TEST(TimePlan, AnExplicitMaxWaitIsKeptAndAdvisedAgainstWhenItLeavesTooLittle) {
  const Config fits = parsed("drain: {max_wait: 10s}\n");
  EXPECT_FALSE(fits.drain.max_wait_auto);
  EXPECT_EQ(fits.drain.max_wait, 10s);
  EXPECT_TRUE(warnings(fits).empty());

  const Config c = parsed("drain: {max_wait: 22s}\n");
  EXPECT_EQ(c.drain.max_wait, 22s);
  // 30 s - 22 s - 5 s compensation reserve.
  EXPECT_EQ(appShutdownLeft(c), 3s);
  ASSERT_EQ(warnings(c).size(), 1u);
  const std::string w = warnings(c)[0];
  EXPECT_THAT(w, HasSubstr("drain.max_wait 22s leaves the app 3s of the 30s grace period"));
  EXPECT_THAT(w, HasSubstr("less than exit.app_shutdown 5s"));
  EXPECT_THAT(w, HasSubstr("Lower drain.max_wait to 18s or raise exit.grace_period"));
  // The same through --set.
  EXPECT_EQ(warnings(parsed("", {{"drain.max_wait", "22s"}})).size(), 1u);
}

TEST(TimePlan, AGracePeriodTooShortForTheAppGivesDrainingItAllAndSaysSo) {
  const Config c =
      parsed("exit: {grace_period: 6s, safety_margin: 1s, compensation_reserve: 1s}\n");
  // Nothing fits after 5 s for the app: the drain wait may use all of
  // Draining, and the advice is to raise the grace period.
  EXPECT_EQ(c.drain.max_wait, 4s);
  ASSERT_EQ(warnings(c).size(), 1u);
  EXPECT_THAT(warnings(c)[0], HasSubstr("drain.max_wait 4s (derived) leaves the app 1s"));
  EXPECT_THAT(warnings(c)[0], HasSubstr("Raise exit.grace_period"));
  // app_shutdown 0: the app needs nothing, all of Draining is the wait's.
  const Config none = parsed(
      "exit: {grace_period: 6s, safety_margin: 1s, compensation_reserve: 1s, app_shutdown: 0s}\n");
  EXPECT_EQ(none.drain.max_wait, 4s);
  EXPECT_TRUE(warnings(none).empty());
}

TEST(TimePlan, BadAppShutdownValuesAreNamed) {
  auto c = parse("exit: {app_shutdown: -1s}\n", "test.yaml");
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error().message, HasSubstr("exit.app_shutdown: invalid duration \"-1s\""));
}

TEST(CheckConfigCommand, WarnsWhenMaxWaitLeavesTheAppTooLittleButAccepts) {
  testing::TempDir dir;
  const std::string file = dir.write("tight.yaml", "drain: {max_wait: 25s}\n");
  const std::string out = dir.file("out.txt");
  // Draining ends 23 s into the exit at the latest; 30 - 23 - 5 = 2 s.
  EXPECT_EQ(testing::runCommand({testing::lameduckBinary(), "check-config", file}, out), 0);
  const std::string text = testing::readFile(out);
  EXPECT_THAT(text, HasSubstr("tight.yaml: warning: drain.max_wait 25s leaves the app 2s"));
  EXPECT_THAT(text, HasSubstr("configuration is valid"));
  EXPECT_THAT(text, HasSubstr("drain.max_wait 25s"));
}

}  // namespace
}  // namespace lameduck::config

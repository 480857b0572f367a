// The Grafana dashboard (deploy/grafana) against a live exposition: a real
// lameduck after a real exit with compensations, a refused one and a failed
// Pushgateway push, so that every family has samples. The check itself is
// tests/packaging/check-dashboard.mjs (PromQL parsed by Prometheus's
// grammar); node and its packages come from tests/packaging/tools.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "integration/daemon.h"

namespace lameduck::testing {
namespace {

using ::testing::HasSubstr;

TEST(Dashboard, EveryExpressionNamesOnlyMetricsALiveLameduckExports) {
  const std::string source = LAMEDUCK_SOURCE_DIR;
  int port = 0;
  int silent = listenOnLoopback(port);  // a Pushgateway that never answers
  ASSERT_GE(silent, 0);
  Daemon d(
      "exit: {grace_period: 6s, safety_margin: 1s, compensation_reserve: 1s}\n"
      "app: {timeout: 500ms}\n"
      "metrics: {pushgateway: {url: \"http://127.0.0.1:" +
          std::to_string(port) + "\", timeout: 200ms}}\n",
      AppOptions{"ok", 2, false, 1});
  ASSERT_GT(d.adminPort(), 0);
  ASSERT_EQ(d.adminStatus("/prestop"), 200);
  ASSERT_TRUE(
      waitUntil([&] { return d.metric("lameduck_pushgateway_push_failures_total") == 1; }, 20s));
  const std::string metrics = d.dir().write("metrics.txt", d.metrics());
  close(silent);

  const std::string out = d.dir().file("check.txt");
  ASSERT_EQ(runCommand({source + "/tests/packaging/tools"}, out, 600s), 0) << readFile(out);
  int rc = runCommand(
      {"/usr/bin/env", "node", source + "/tests/packaging/check-dashboard.mjs",
       source + "/build/tools", source + "/deploy/grafana/lameduck-dashboard.json", metrics},
      out, 60s);
  EXPECT_EQ(rc, 0) << readFile(out);
  // The panels the dashboard promises are there.
  EXPECT_THAT(readFile(out), HasSubstr("lameduck_exit_duration_seconds_bucket"));
  EXPECT_THAT(readFile(out), HasSubstr("lameduck_exits_total"));
  EXPECT_THAT(readFile(out), HasSubstr("lameduck_compensation_failures_total"));
  EXPECT_THAT(readFile(out), HasSubstr("lameduck_traffic_weight_percent"));

  // And the checker does fail on a name lameduck does not export.
  const std::string bad =
      d.dir().write("bad.json",
                    "{\"panels\": [{\"title\": \"typo\", \"targets\": [{\"refId\": \"A\", "
                    "\"expr\": \"sum(rate(lameduck_exit_total[5m]))\"}]}]}");
  rc = runCommand({"/usr/bin/env", "node", source + "/tests/packaging/check-dashboard.mjs",
                   source + "/build/tools", bad, metrics},
                  out, 60s);
  EXPECT_NE(rc, 0);
  EXPECT_THAT(readFile(out), HasSubstr("lameduck_exit_total is not in lameduck's exposition"));
}

}  // namespace
}  // namespace lameduck::testing

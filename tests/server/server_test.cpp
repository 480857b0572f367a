// Access policy and the metrics exposition (checked by the real promtool).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/access.h"
#include "server/metrics.h"
#include "server/pushgateway.h"
#include "support/harness.h"

namespace lameduck::server {
namespace {

using ::testing::HasSubstr;

config::AdminConfig adminWith(std::string token, std::vector<std::string> cidrs) {
  config::AdminConfig c;
  c.token = std::move(token);
  for (const auto& s : cidrs) c.allow_cidrs.push_back(Cidr::parse(s).value());
  return c;
}

TEST(AccessPolicy, OpenWhenNothingIsConfigured) {
  AccessPolicy p(adminWith("", {}));
  EXPECT_EQ(p.check("203.0.113.9", ""), Access::kAllowed);
}

TEST(AccessPolicy, BearerTokenMustMatchExactly) {
  AccessPolicy p(adminWith("s3cret", {}));
  EXPECT_EQ(p.check("127.0.0.1", "Bearer s3cret"), Access::kAllowed);
  EXPECT_EQ(p.check("127.0.0.1", "bearer s3cret"), Access::kAllowed);
  EXPECT_EQ(p.check("127.0.0.1", ""), Access::kNoToken);
  EXPECT_EQ(p.check("127.0.0.1", "Basic czNjcmV0"), Access::kNoToken);
  EXPECT_EQ(p.check("127.0.0.1", "Bearer s3cre"), Access::kBadToken);
  EXPECT_EQ(p.check("127.0.0.1", "Bearer s3cret2"), Access::kBadToken);
}

TEST(AccessPolicy, SourceNetworksAreCheckedFirst) {
  AccessPolicy p(adminWith("s3cret", {"10.0.0.0/8", "127.0.0.1/32"}));
  EXPECT_EQ(p.check("10.2.3.4", "Bearer s3cret"), Access::kAllowed);
  EXPECT_EQ(p.check("::ffff:127.0.0.1", "Bearer s3cret"), Access::kAllowed);
  EXPECT_EQ(p.check("192.168.0.1", "Bearer s3cret"), Access::kSourceDenied);
  EXPECT_EQ(p.check("192.168.0.1", ""), Access::kSourceDenied);
}

TEST(Metrics, ExposesTheContractNames) {
  Metrics m("0.1.0", "abc");
  m.onTransition(exit::State::kReady, exit::State::kDraining);
  m.hookRequest("drain", "200");
  m.adminDenied("token");
  m.onAppFigures(app::Figures{4, 9, 0, std::nullopt});
  m.onConnections(9, 2);
  exit::Summary s;
  s.outcome = exit::Outcome::kDeadline;
  s.elapsed = std::chrono::milliseconds(1500);
  exit::PhaseTiming draining;
  draining.phase = exit::Phase::kDraining;
  draining.took = std::chrono::milliseconds(1200);
  m.onPhaseDone(draining);
  m.onExitDone(s);
  std::string text = m.render();
  EXPECT_THAT(text, HasSubstr("lameduck_exit_state{state=\"Draining\"} 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_exit_state{state=\"Ready\"} 0"));
  EXPECT_THAT(text, HasSubstr("lameduck_exit_duration_seconds_count 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_exit_phase_duration_seconds_count{phase=\"draining\"} 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_exits_total{outcome=\"deadline\"} 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_exits_total{outcome=\"completed\"} 0"));
  EXPECT_THAT(text, HasSubstr("lameduck_app_inflight 4"));
  EXPECT_THAT(text, HasSubstr("lameduck_app_connections 9"));
  EXPECT_THAT(text, HasSubstr("lameduck_app_new_connections_total 2"));
  EXPECT_THAT(text, HasSubstr("lameduck_hook_requests_total{code=\"200\",hook=\"drain\"} 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_admin_requests_denied_total{reason=\"token\"} 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_build_info{commit=\"abc\",version=\"0.1.0\"} 1"));
}

TEST(Metrics, ExpositionPassesPromtool) {
  Metrics m("0.1.0", "abc");
  m.hookRequest("status", "timeout");
  exit::PhaseTiming compensating;
  compensating.phase = exit::Phase::kCompensating;
  compensating.took = std::chrono::milliseconds(10);
  m.onPhaseDone(compensating);
  testing::TempDir dir;
  std::string file = dir.write("metrics.txt", m.render());
  std::string out = dir.file("promtool.txt");
  int rc = testing::runCommand({"/bin/sh", "-c", "promtool check metrics < " + file}, out);
  EXPECT_EQ(rc, 0) << testing::readFile(out);
}

TEST(Pushgateway, GroupPathIsJobNamespacePodWithBase64ForOddValues) {
  EXPECT_EQ(pushgatewayGroupPath({"lameduck", "shop", "web-7d9f.x_2"}),
            "/metrics/job/lameduck/namespace/shop/pod/web-7d9f.x_2");
  EXPECT_EQ(pushgatewayGroupPath({"lameduck", "", "web-0"}), "/metrics/job/lameduck/pod/web-0");
  // A slash or a space cannot go into a path segment: base64url, as the
  // Pushgateway documents it ("a/b c" -> "YS9iIGM=", "ab?" -> "YWI_").
  EXPECT_EQ(pushgatewayGroupPath({"a/b c", "", "ab?"}),
            "/metrics/job@base64/YS9iIGM=/pod@base64/YWI_");
  EXPECT_EQ(pushgatewayGroupPath({"j", "", ""}), "/metrics/job/j/pod@base64/=");
}

}  // namespace
}  // namespace lameduck::server

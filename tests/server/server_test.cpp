// Access policy and the metrics exposition (checked by the real promtool).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/access.h"
#include "server/metrics.h"
#include "server/pushgateway.h"
#include <atomic>
#include <mutex>
#include <thread>

#include "support/harness.h"
#include "support/idle_clients.h"

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

// The exit engine's own metrics; each feature component tests its own
// (tests/<component>/metrics_test.cpp).
TEST(Metrics, ExposesTheContractNames) {
  Metrics m("0.1.0", "abc");
  m.onTransition(exit::State::kReady, exit::State::kDraining);
  m.adminDenied("token");
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
  EXPECT_THAT(text, HasSubstr("lameduck_admin_requests_denied_total{reason=\"token\"} 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_build_info{commit=\"abc\",version=\"0.1.0\"} 1"));
}

TEST(Metrics, ExpositionPassesPromtool) {
  Metrics m("0.1.0", "abc");
  m.adminDenied("source");
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

// The push renders the metrics only once `ready` has returned: what is
// recorded while it waits (the after-SIGTERM diagnosis, in the sidecar) is
// part of the pod's last word. A real HTTP server on loopback stands in for
// the Pushgateway.
TEST(Pushgateway, ThePushWaitsForReadyAndCarriesWhatWasRecordedMeanwhile) {
  const PushGrouping grouping{"lameduck", "", "web-0"};
  std::mutex mu;
  std::vector<std::string> bodies;
  http::Server gateway;
  gateway.route("PUT", pushgatewayGroupPath(grouping), [&](const http::Request& req) {
    std::lock_guard lock(mu);
    bodies.push_back(req.body);
    return http::Response{200, ""};
  });
  auto port = gateway.bind(HostPort{"127.0.0.1", 0});
  ASSERT_TRUE(port) << port.error().message;
  ASSERT_TRUE(gateway.start());
  config::PushgatewayConfig config;
  config.url = *parseHttpUrl("http://127.0.0.1:" + std::to_string(*port));
  config.timeout = std::chrono::seconds(10);
  Metrics metrics("0.1.0", "abc");
  std::atomic<bool> ready_ran{false};
  FinalPush push(config, grouping, metrics, SystemClock::instance(), [&] {
    exit::Summary done;
    done.state = exit::State::kTerminated;
    done.outcome = exit::Outcome::kCompleted;
    metrics.onExitDone(done);  // recorded after the push was started
    ready_ran = true;
  });
  push.onExitDone(exit::Summary{});
  push.wait();
  gateway.stop();
  EXPECT_TRUE(ready_ran);
  std::lock_guard lock(mu);
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_THAT(bodies[0], HasSubstr("lameduck_exits_total{outcome=\"completed\"} 1"));
  EXPECT_THAT(bodies[0], HasSubstr("lameduck_pushgateway_push_failures_total 0"));
}

}  // namespace
}  // namespace lameduck::server

// The admin and metrics ports of the real daemon keep answering while
// connections that never finish a request are open (each one used to hold
// a worker until its keep-alive ran out).
namespace lameduck::server {
namespace {

class HostileConnections : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = std::make_unique<testing::Process>(
        std::vector<std::string>{testing::lameduckBinary(), "run", "--set",
                                 "admin.listen=127.0.0.1:0", "--set", "metrics.listen=127.0.0.1:0",
                                 "--set", "compensation.spool=" + dir_.path(), "--set",
                                 "app.ports=[]"},
        dir_.file("lameduck.log"));
    auto admin = testing::waitForLameduckPort(*daemon_, "admin");
    auto metrics = testing::waitForLameduckPort(*daemon_, "metrics");
    ASSERT_TRUE(admin && metrics) << daemon_->output();
    admin_ = *admin;
    metrics_ = *metrics;
  }

  // Each probe gets the kubelet's probe timeout; the condition is polled
  // until it holds or the deadline passes.
  bool answers(int port, const std::string& path, int expected_status) {
    int last = 0;
    std::string why;
    bool ok = testing::waitUntil(
        [&] {
          auto r = testing::call(port, "GET", path, {}, std::chrono::seconds(1));
          if (!r) {
            why = r.error().message;
            return false;
          }
          last = r->status;
          return r->status == expected_status;
        },
        std::chrono::seconds(20));
    EXPECT_TRUE(ok) << path << ": last status " << last << " " << why;
    return ok;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::Process> daemon_;
  int admin_ = 0;
  int metrics_ = 0;
};

TEST_F(HostileConnections, HealthzAndReadyzAnswerWithManyIdleConnectionsOpen) {
  testing::IdleClients idle(admin_, 500, testing::IdleClients::Kind::kIdle);
  testing::IdleClients metrics_idle(metrics_, 200, testing::IdleClients::Kind::kIdle);
  ASSERT_GT(idle.open(), 400u);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(answers(admin_, "/healthz", 200));
    ASSERT_TRUE(answers(admin_, "/readyz", 200));
  }
  EXPECT_TRUE(answers(metrics_, "/metrics", 200));
}

TEST_F(HostileConnections, HealthzAnswersWhileSlowlorisClientsTrickleHeaders) {
  testing::IdleClients slow(admin_, 300, testing::IdleClients::Kind::kSlowloris,
                            std::chrono::milliseconds(100));
  testing::IdleClients metrics_slow(metrics_, 100, testing::IdleClients::Kind::kSlowloris,
                                    std::chrono::milliseconds(100));
  ASSERT_GT(slow.open(), 250u);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(answers(admin_, "/healthz", 200));
  EXPECT_TRUE(answers(metrics_, "/metrics", 200));
  // A slowloris connection is cut off once its head is overdue: the server
  // closed some and the clients had to reconnect.
  EXPECT_TRUE(testing::waitUntil([&] { return slow.reopened() > 0; }, std::chrono::seconds(30)));
}

TEST_F(HostileConnections, HealthzAnswersWhilePrestopCallersWaitForTheExit) {
  // Hook callers block until the exit ends (here: a few seconds of quiet
  // period with nothing to drain); they must not take /healthz's workers.
  std::vector<std::thread> callers;
  std::atomic<int> answered{0};
  for (int i = 0; i < 40; ++i) {
    callers.emplace_back([&] {
      auto r = testing::call(admin_, "GET", "/prestop", {}, std::chrono::seconds(60));
      if (r && r->status == 200) ++answered;
    });
  }
  testing::IdleClients idle(admin_, 200, testing::IdleClients::Kind::kIdle);
  EXPECT_TRUE(answers(admin_, "/readyz", 503));  // the exit started
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(answers(admin_, "/healthz", 200));
  for (auto& t : callers) t.join();
  EXPECT_EQ(answered.load(), 40);
}

}  // namespace
}  // namespace lameduck::server

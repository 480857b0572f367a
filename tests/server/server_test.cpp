// Access policy and the metrics exposition (checked by the real promtool).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/access.h"
#include "server/endpoints.h"
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
using ::testing::Not;
using namespace std::chrono_literals;

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
  m.adminShed("budget");
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
  EXPECT_THAT(text, HasSubstr("lameduck_admin_connections_shed_total{reason=\"budget\"} 1"));
  EXPECT_THAT(text, HasSubstr("lameduck_admin_connections_shed_total{reason=\"cap\"} 0"));
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

// The admin server in process (an exit engine with nothing to run), so that
// tests can read the server's own accounting of the bytes it holds.
class AdminPort : public ::testing::Test {
 protected:
  void start(config::AdminConfig config) {
    config.listen = HostPort{"127.0.0.1", 0};
    engine_ = std::make_unique<exit::ExitEngine>(SystemClock::instance(),
                                                 exit::Budget{30s, 2s, 5s}, exit::ExitPlan{},
                                                 metrics_);
    admin_ = std::make_unique<AdminServer>(config, *engine_, metrics_, 10s);
    auto port = admin_->start();
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
  }
  void TearDown() override {
    if (admin_) admin_->stop();
  }
  std::string rendered() const { return metrics_.render(); }

  Metrics metrics_{"0.0.0", "test"};
  std::unique_ptr<exit::ExitEngine> engine_;
  std::unique_ptr<AdminServer> admin_;
  int port_ = 0;
};

TEST_F(AdminPort, BodySlowlorisClientsStayWithinTheBufferBudget) {
  start(config::AdminConfig{});
  // Each announces the largest body admin takes (64 KiB), sends all but
  // its last KiB and trickles the rest: ~19 MB without a total budget.
  testing::IdleClients slow(port_, 300, testing::IdleClients::Kind::kSlowBody, 100ms, 64 * 1024);
  ASSERT_TRUE(testing::waitUntil([&] { return admin_->stats().shed_budget > 0; }, 30s));
  for (int i = 0; i < 20; ++i) {
    auto r = testing::call(port_, "GET", "/healthz", {}, 10s);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
  }
  const http::ServerStats stats = admin_->stats();
  EXPECT_LE(stats.peak_buffered_bytes, kAdminBufferBudget);
  EXPECT_GT(stats.peak_buffered_bytes, kAdminBufferBudget / 2);  // the clients did fill it
  EXPECT_THAT(rendered(), Not(HasSubstr("lameduck_admin_connections_shed_total{reason=\"budget\"} 0\n")));
}

TEST_F(AdminPort, SourceOutsideTheAllowlistNeverHasABodyRead) {
  start(adminWith("", {"10.0.0.0/8"}));
  {
    testing::RawConnection raw(port_);
    raw.send("POST /prestop HTTP/1.1\r\nContent-Length: 60000\r\n\r\n" + std::string(60000, 'x'));
    EXPECT_TRUE(raw.readUntilClosed(20s));
  }
  {
    testing::RawConnection raw(port_);
    raw.send("POST /healthz HTTP/1.1\r\nContent-Length: 60000\r\n\r\n" + std::string(60000, 'x'));
    EXPECT_TRUE(raw.readUntilClosed(20s));
  }
  // Probes from that source are still answered; the exit never started.
  auto probe = testing::call(port_, "GET", "/readyz", {}, 10s);
  ASSERT_TRUE(probe) << probe.error().message;
  EXPECT_EQ(probe->status, 200);
  const http::ServerStats stats = admin_->stats();
  EXPECT_LE(stats.peak_buffered_bytes, http::ServerOptions{}.restricted_max_head_bytes + 4);
  EXPECT_EQ(stats.screened_out, 1u);    // /prestop: 403 after the head
  EXPECT_EQ(stats.refused_source, 1u);  // a body to an open path: refused too
  EXPECT_THAT(rendered(), HasSubstr("lameduck_admin_requests_denied_total{reason=\"source\"} 1"));
  EXPECT_THAT(rendered(), HasSubstr("lameduck_admin_connections_shed_total{reason=\"source\"} 1"));
}

TEST_F(AdminPort, PrestopWithoutTheTokenIsRefusedBeforeItsBodyIsRead) {
  start(adminWith("s3cret", {}));
  {
    testing::RawConnection raw(port_);
    // The head alone: the refusal must come without the body.
    raw.send("POST /prestop HTTP/1.1\r\nContent-Length: 60000\r\n\r\n");
    auto answer = raw.readUntilClosed(20s);
    ASSERT_TRUE(answer);
    EXPECT_THAT(*answer, HasSubstr("HTTP/1.1 401"));
  }
  EXPECT_LT(admin_->stats().peak_buffered_bytes, 1024u);
  EXPECT_EQ(engine_->state(), exit::State::kReady);
  auto status = testing::call(port_, "GET", "/status", {{"Authorization", "Bearer s3cret"}}, 10s);
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(status->status, 200);
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

TEST_F(HostileConnections, HealthzAnswersWhileBodySlowlorisClientsTrickleBodies) {
  // Whole heads announcing the largest body each port takes, most of it
  // sent, the rest a byte at a time: the buffer budget sheds them.
  testing::IdleClients slow(admin_, 300, testing::IdleClients::Kind::kSlowBody,
                            std::chrono::milliseconds(100), 64 * 1024);
  testing::IdleClients metrics_slow(metrics_, 300, testing::IdleClients::Kind::kSlowBody,
                                    std::chrono::milliseconds(100), 4 * 1024);
  ASSERT_GT(slow.open(), 250u);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(answers(admin_, "/healthz", 200));
  EXPECT_TRUE(answers(metrics_, "/metrics", 200));
  EXPECT_TRUE(testing::waitUntil(
      [&] {
        return testing::metricValue(
                   metrics_, "lameduck_admin_connections_shed_total{reason=\"budget\"}") > 0;
      },
      std::chrono::seconds(30)));
}

TEST_F(HostileConnections, HealthzAnswersWhilePrestopCallersWaitForTheExit) {
  // Hook callers block until the exit ends (here: a few seconds of quiet
  // period with nothing to drain); they must not take /healthz's workers.
  std::atomic<int> answered{0};
  // jthreads: an ASSERT below that returns early joins them (each call is
  // bounded) rather than ending the run in std::terminate.
  std::vector<std::jthread> callers;
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

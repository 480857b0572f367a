// The final exit metrics reach a real Prometheus Pushgateway (Debian's
// prometheus-pushgateway), grouped by pod; a Pushgateway that never answers
// costs at most the push timeout and never delays /prestop.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include "diag/go_service.h"
#include "integration/daemon.h"
#include "support/trickle.h"

namespace lameduck::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr const char* kPushgatewayBin = "/usr/bin/prometheus-pushgateway";

// A pushgateway on a free loopback port; it cannot report a port it picked,
// so a few free ones are tried. Its persistence file, in this test's own
// directory, tells it apart from any other pushgateway that may have taken
// the port in the meantime (its /api/v1/status lists its flags).
class Pushgateway {
 public:
  Pushgateway() {
    const std::string state = dir_.file("pushgateway.state");
    for (int attempt = 0; attempt < 3 && !process_; ++attempt) {
      port_ = freePort();
      auto p = std::make_unique<Process>(
          std::vector<std::string>{kPushgatewayBin,
                                   "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                                   "--persistence.file=" + state},
          dir_.file("pushgateway-" + std::to_string(attempt) + ".log"));
      bool ours = false;
      waitUntil(
          [&] {
            auto r = call(port_, "GET", "/api/v1/status", {}, 2s);
            ours = r && r->status == 200 && r->body.find(state) != std::string::npos;
            return ours || !p->running();
          },
          30s, 50ms);
      if (ours && p->running()) process_ = std::move(p);
      attempts_ = attempt + 1;
    }
  }
  ~Pushgateway() {
    if (process_) {
      process_->signal(SIGTERM);
      process_->waitExit(10s);
    }
  }
  bool up() const { return process_ != nullptr; }
  int port() const { return port_; }
  // Every attempt's log, so a failure to start shows why each one failed.
  std::string log() const {
    std::string all;
    for (int attempt = 0; attempt < attempts_; ++attempt) {
      all += "attempt " + std::to_string(attempt + 1) + ":\n" +
             readFile(dir_.file("pushgateway-" + std::to_string(attempt) + ".log"));
    }
    return all;
  }

  // The groups the pushgateway holds (its /api/v1/metrics "data").
  json groups() {
    auto r = call(port_, "GET", "/api/v1/metrics", {}, 5s);
    if (!r || r->status != 200) return json::array();
    json j = json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.contains("data") || !j["data"].is_array()) return json::array();
    return j["data"];
  }

  // The first group pushed, waiting up to `timeout`; null when none came.
  json firstGroup(std::chrono::milliseconds timeout) {
    json first;
    waitUntil(
        [&] {
          json all = groups();
          if (all.empty()) return false;
          first = all[0];
          return true;
        },
        timeout, 50ms);
    return first;
  }

 private:
  TempDir dir_;
  int port_ = 0;
  int attempts_ = 0;
  std::unique_ptr<Process> process_;
};

// The value of `metric` with label `label`=`value` in a pushgateway group.
std::optional<std::string> sampleIn(const json& group, const std::string& metric,
                                    const std::string& label, const std::string& value) {
  if (!group.contains(metric)) return std::nullopt;
  for (const json& m : group[metric]["metrics"]) {
    if (m["labels"].value(label, "") == value) return m.value("value", "");
  }
  return std::nullopt;
}

constexpr const char* kExit =
    "exit: {grace_period: 6s, safety_margin: 1s, compensation_reserve: 1s}\n"
    "app: {timeout: 500ms}\n"
    "drain: {poll_interval: 20ms}\n";

TEST(Pushgateway, FinalExitMetricsArePushedGroupedByPod) {
  Pushgateway pgw;
  ASSERT_TRUE(pgw.up()) << pgw.log();
  Daemon d(std::string(kExit) + "metrics: {pushgateway: {url: \"http://127.0.0.1:" +
               std::to_string(pgw.port()) + "\", job: checkout-exits}}\n",
           AppOptions{"ok", 2}, {{"POD_NAME", "checkout-7d9f-x2"}, {"POD_NAMESPACE", "shop"}});
  ASSERT_GT(d.adminPort(), 0);
  // Nothing is pushed before the exit: a live pod is scraped.
  EXPECT_TRUE(pgw.groups().empty()) << pgw.groups().dump();

  auto r = d.admin("/prestop");
  ASSERT_TRUE(r && r->status == 200);
  const json group = pgw.firstGroup(20s);
  ASSERT_FALSE(group.is_null()) << d.lameduck().output() << pgw.log();
  EXPECT_EQ(pgw.groups().size(), 1u);
  EXPECT_EQ(group["labels"]["job"], "checkout-exits");
  EXPECT_EQ(group["labels"]["namespace"], "shop");
  EXPECT_EQ(group["labels"]["pod"], "checkout-7d9f-x2");
  EXPECT_EQ(group["push_time_seconds"]["metrics"][0]["labels"]["pod"], "checkout-7d9f-x2");
  // The pushed series carry the exit's outcome, state and hand-off.
  EXPECT_EQ(sampleIn(group, "lameduck_exits_total", "outcome", "completed"), "1");
  EXPECT_EQ(sampleIn(group, "lameduck_exits_total", "outcome", "deadline"), "0");
  EXPECT_EQ(sampleIn(group, "lameduck_exit_state", "state", "Terminated"), "1");
  EXPECT_EQ(sampleIn(group, "lameduck_compensations_written_total", "sink", "spool"), "2");
  ASSERT_TRUE(group.contains("lameduck_exit_duration_seconds"));
  EXPECT_EQ(group["lameduck_exit_duration_seconds"]["metrics"][0].value("count", ""), "1");
  ASSERT_TRUE(waitForLine(
      d.lameduck().outputPath(),
      [](const json& j) { return j.value("msg", "") == "final exit metrics pushed"; }, 10s));
  EXPECT_EQ(d.metric("lameduck_pushgateway_push_failures_total"), 0);

  d.lameduck().signal(SIGTERM);
  EXPECT_EQ(d.lameduck().waitExit(20s), 0);
}

// Runs the exit (/prestop completes it whatever the push does) and waits for
// the warning that the final push failed.
std::optional<json> failedPushAfterPrestop(Daemon& d) {
  auto r = d.admin("/prestop");
  EXPECT_TRUE(r && r->status == 200);
  if (r) {
    EXPECT_THAT(r->body, HasSubstr("\"outcome\":\"completed\""));
  }
  return waitForLine(
      d.lameduck().outputPath(),
      [](const json& j) {
        return j.value("msg", "") ==
               "pushing the final exit metrics failed; they are lost with "
               "this pod";
      },
      20s);
}

TEST(Pushgateway, AGatewayThatNeverAnswersCostsOnlyTheTimeoutAndIsCounted) {
  // Accepts connections (the kernel's backlog) but never reads or answers.
  int port = 0;
  int silent = listenOnLoopback(port);
  ASSERT_GE(silent, 0);
  Daemon d(std::string(kExit) + "metrics: {pushgateway: {url: \"http://127.0.0.1:" +
               std::to_string(port) + "\", timeout: 300ms}}\n",
           AppOptions{}, {{"POD_NAME", "web-0"}});
  ASSERT_GT(d.adminPort(), 0);
  auto warn = failedPushAfterPrestop(d);
  ASSERT_TRUE(warn) << d.lameduck().output();
  EXPECT_EQ((*warn)["level"], "warn");
  EXPECT_THAT((*warn)["pushgateway"].get<std::string>(),
              HasSubstr("/metrics/job/lameduck/pod/web-0"));
  EXPECT_EQ(d.metric("lameduck_pushgateway_push_failures_total"), 1);
  // The sidecar still stops promptly on SIGTERM, with the exit's outcome.
  d.lameduck().signal(SIGTERM);
  EXPECT_EQ(d.lameduck().waitExit(20s), 0);
  close(silent);
}

// With the after-SIGTERM diagnosis the push is an exit observer like the
// others, but it waits for the watch: it goes out only once the stuck app
// is gone, and the pod's last word names what held the app.
TEST(Pushgateway, WithTheAfterSigtermDiagnosisThePushWaitsForTheWatchAndCarriesIt) {
  Pushgateway pgw;
  ASSERT_TRUE(pgw.up()) << pgw.log();
  TempDir dir;
  auto app = startGoService(dir, "goapp", {"-workers", "sleep", "-on-sigterm", "wait"});
  ASSERT_TRUE(app);
  Daemon d("exit: {grace_period: 30s, safety_margin: 1s, compensation_reserve: 1s}\n"
           "drain: {max_wait: 2s, quiet_period: 0s, poll_interval: 50ms}\n"
           "app:\n"
           "  timeout: 2s\n"
           "  diagnostics: {goroutines: \"" +
               app->goroutineUrl() +
               "\", after_sigterm: 1s}\n"
               "metrics: {pushgateway: {url: \"http://127.0.0.1:" +
               std::to_string(pgw.port()) + "\"}}\n",
           std::nullopt, {{"POD_NAME", "stuck-0"}}, {"app.base_url=" + app->baseUrl()});
  ASSERT_GT(d.adminPort(), 0);
  auto r = d.admin("/prestop");
  ASSERT_TRUE(r && r->status == 200);
  app->process->signal(SIGTERM);  // the kubelet, once the hook answered
  ASSERT_TRUE(waitUntil(
      [&] { return d.metric("lameduck_app_goroutines{wait_reason=\"sleep\"}") >= 1; }, 20s))
      << d.lameduck().output();
  // The app is still alive, so the watch is still on: nothing pushed yet.
  EXPECT_TRUE(pgw.groups().empty()) << pgw.groups().dump();
  app->process->signal(SIGKILL);  // the end of the app's grace period
  ASSERT_TRUE(app->process->waitExit(10s));
  const json group = pgw.firstGroup(20s);
  ASSERT_FALSE(group.is_null()) << d.lameduck().output() << pgw.log();
  EXPECT_EQ(group["labels"]["pod"], "stuck-0");
  auto sleeping = sampleIn(group, "lameduck_app_goroutines", "wait_reason", "sleep");
  ASSERT_TRUE(sleeping) << group.dump();
  EXPECT_GE(std::stod(*sleeping), 1.0);
  d.lameduck().signal(SIGTERM);
  EXPECT_TRUE(d.lameduck().waitExit(20s)) << d.lameduck().output();
}

TEST(Pushgateway, AnHttpsGatewayTricklingItsHandshakeCostsOnlyTheTimeout) {
  // Every byte of the ServerHello comes well within the push timeout; only
  // the deadline for the whole exchange ends the handshake, and with it the
  // push the sidecar waits for before it leaves.
  TricklingServer gateway(tlsServerHelloStart(), 100ms, TrickleAfter::kFirstBytes);
  Daemon d(std::string(kExit) + "metrics: {pushgateway: {url: \"https://127.0.0.1:" +
               std::to_string(gateway.port()) + "\", timeout: 500ms}}\n",
           AppOptions{}, {{"POD_NAME", "web-0"}});
  ASSERT_GT(d.adminPort(), 0);
  auto warn = failedPushAfterPrestop(d);
  ASSERT_TRUE(warn) << d.lameduck().output();
  EXPECT_THAT((*warn)["error"].get<std::string>(), HasSubstr("no complete answer within 500ms"));
  d.lameduck().signal(SIGTERM);
  EXPECT_EQ(d.lameduck().waitExit(20s), 0) << "the push held the sidecar";
  EXPECT_LT(gateway.sent(), tlsServerHelloStart().size()) << "the gateway was still trickling";
}

}  // namespace
}  // namespace lameduck::testing

// The traffic shift against real components: haproxy's Runtime API (the
// weight really changes and traffic really moves) and a webhook receiver.

#include <gtest/gtest.h>

#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "http/http.h"
#include "integration/daemon.h"
#include "support/haproxy.h"
#include "support/webhook.h"

namespace lameduck::testing {
namespace {

using nlohmann::json;

std::unique_ptr<Process> startSampleApp(const TempDir& dir, const std::string& name, int& port) {
  auto p = std::make_unique<Process>(
      std::vector<std::string>{sampleAppBinary(), "--listen", "127.0.0.1:0", "--threads", "8"},
      dir.file(name + ".log"));
  port = waitForAppPort(*p).value_or(0);
  return p;
}

// Sends `n` requests through haproxy's frontend, each on a new connection,
// and returns how many each server answered (from haproxy's own counters).
// Every request must be answered 200 while the weights shift: a failed one
// fails the test, with the first error.
std::map<std::string, int64_t> sendThrough(const Haproxy& h, int n) {
  auto before = h.served();
  int failed = 0;
  std::string first_error;
  for (int i = 0; i < n; ++i) {
    auto r = call(h.frontPort(), "GET", "/", {}, 2s);
    if (r && r->status == 200) continue;
    if (failed++ == 0) first_error = r ? "answered " + std::to_string(r->status) : r.error().message;
  }
  EXPECT_EQ(failed, 0) << "requests through haproxy that failed; the first: " << first_error;
  auto after = h.served();
  std::map<std::string, int64_t> delta;
  for (const auto& [server, count] : after) delta[server] = count - before[server];
  return delta;
}

double share(const std::map<std::string, int64_t>& counts, const std::string& server) {
  int64_t total = 0;
  for (const auto& [name, n] : counts) total += n;
  return total == 0 ? 0.0 : static_cast<double>(counts.at(server)) / static_cast<double>(total);
}

// Calls /prestop on a thread and keeps the answer.
class AdminPrestopCall {
 public:
  explicit AdminPrestopCall(int admin_port)
      : thread_([this, admin_port] {
          auto r = call(admin_port, "GET", "/prestop", {}, 60s);
          std::lock_guard lock(mu_);
          body_ = r ? r->body : "";
        }) {}
  ~AdminPrestopCall() {
    if (thread_.joinable()) thread_.join();
  }
  json summary() {
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mu_);
    return json::parse(body_, nullptr, false);
  }

 private:
  std::mutex mu_;
  std::string body_;
  std::thread thread_;
};

std::string haproxyConfig(const std::string& socket, const std::string& server,
                          const std::string& steps) {
  return "exit: {grace_period: 40s}\n"
         "drain: {quiet_period: 300ms}\n"
         "traffic:\n"
         "  backend: haproxy\n"
         "  haproxy: {socket: \"unix:" +
         socket + "\", server: " + server + "}\n  steps: " + steps + "\n";
}

TEST(HaproxyShift, TheWeightReallyChangesAndTrafficReallyMoves) {
  TempDir hdir;
  Daemon d(haproxyConfig(hdir.file("haproxy.sock"), "be_app/app1",
                         "[{weight: 50, hold: 6s}, {weight: 0, hold: 3s}]"),
           AppOptions{});
  int port2 = 0;
  auto app2 = startSampleApp(hdir, "app2", port2);
  ASSERT_GT(port2, 0);
  std::string error;
  auto h = Haproxy::start(hdir, {{"app1", d.appPort()}, {"app2", port2}}, error, "weight 100");
  ASSERT_TRUE(h) << error;

  const int n = 300;
  auto before = sendThrough(*h, n);
  const std::string weight_before = h->weight("app1");
  AdminPrestopCall prestop(d.adminPort());
  ASSERT_TRUE(waitUntil([&] { return h->weight("app1").starts_with("50 "); }, 20s, 20ms))
      << h->weight("app1") << d.lameduck().output();
  const std::string weight_half = h->weight("app1");
  auto half = sendThrough(*h, n);
  ASSERT_TRUE(waitUntil([&] { return h->weight("app1").starts_with("0 "); }, 20s, 20ms))
      << h->weight("app1") << d.lameduck().output();
  const std::string weight_zero = h->weight("app1");
  auto zero = sendThrough(*h, n);
  json s = prestop.summary();
  ASSERT_FALSE(s.is_discarded()) << d.lameduck().output();

  std::printf("step      haproxy weight app1        app1  app2\n");
  std::printf("before    %-24s %5lld %5lld\n", weight_before.c_str(),
              static_cast<long long>(before["app1"]), static_cast<long long>(before["app2"]));
  std::printf("50%%       %-24s %5lld %5lld\n", weight_half.c_str(),
              static_cast<long long>(half["app1"]), static_cast<long long>(half["app2"]));
  std::printf("0%%        %-24s %5lld %5lld\n", weight_zero.c_str(),
              static_cast<long long>(zero["app1"]), static_cast<long long>(zero["app2"]));

  EXPECT_EQ(weight_before, "100 (initial 100)");
  EXPECT_EQ(weight_half, "50 (initial 100)");
  EXPECT_EQ(weight_zero, "0 (initial 100)");
  // Round robin over weights 100:100, then 50:100 (a third), then 0:100.
  EXPECT_NEAR(share(before, "app1"), 0.5, 0.05);
  EXPECT_NEAR(share(half, "app1"), 1.0 / 3.0, 0.08);
  EXPECT_EQ(zero["app1"], 0);
  EXPECT_EQ(zero["app2"], n);
  // At weight 0 the server is also in drain state.
  const std::string stat = h->command("show stat");
  const size_t row = stat.find("be_app,app1,");
  ASSERT_NE(row, std::string::npos) << stat;
  EXPECT_NE(stat.substr(row, stat.find('\n', row) - row).find(",DRAIN"), std::string::npos) << stat;

  EXPECT_EQ(s["outcome"], "completed") << s.dump(2);
  const json& t = s["traffic"];
  EXPECT_EQ(t["backend"], "haproxy");
  ASSERT_EQ(t["steps"].size(), 2u) << s.dump(2);
  EXPECT_EQ(t["steps"][0]["backend"], "weight 50 (initial 100)");
  EXPECT_EQ(t["steps"][1]["backend"], "weight 0 (initial 100), state drain");
  EXPECT_EQ(t["steps"][0]["result"], "passed");
  EXPECT_EQ(t["weight"], 0);
  // The shift ran before the app was told to drain.
  EXPECT_EQ(s["steps"][0]["step"], "traffic_shift");
  EXPECT_EQ(s["steps"][1]["step"], "app_drain_hook");
  EXPECT_EQ(d.metric("lameduck_traffic_weight_percent"), 0);
  EXPECT_EQ(d.metric("lameduck_traffic_steps_total{result=\"passed\"}"), 2);
}

TEST(HaproxyShift, AnUnknownServerIsAClearFailureNamingIt) {
  TempDir hdir;
  Daemon d(haproxyConfig(hdir.file("haproxy.sock"), "be_app/nosuch", "[{weight: 0}]"));
  int port1 = 0;
  auto app1 = startSampleApp(hdir, "app1", port1);
  std::string error;
  auto h = Haproxy::start(hdir, {{"app1", port1}}, error);
  ASSERT_TRUE(h) << error;
  auto r = d.admin("/prestop");
  auto parsed = jsonBody(r, "GET /prestop");
  ASSERT_TRUE(parsed) << d.lameduck().output();
  json s = *parsed;
  EXPECT_EQ(s["outcome"], "failed");
  const std::string reason = s.value("reason", "");
  EXPECT_NE(reason.find("be_app/nosuch"), std::string::npos) << reason;
  EXPECT_NE(reason.find("haproxy refused"), std::string::npos) << reason;
  EXPECT_EQ(s["traffic"]["steps"][0]["attempts"], 1);  // a refusal is not retried
  EXPECT_EQ(d.metric("lameduck_traffic_steps_total{result=\"failed\"}"), 1);
}

TEST(HaproxyShift, AStepAboveZeroNeverCutsOffAServerWithTheDefaultWeight) {
  TempDir hdir;
  Daemon d(haproxyConfig(hdir.file("haproxy.sock"), "be_app/app1", "[{weight: 50}, {weight: 0}]"));
  int port1 = 0;
  auto app1 = startSampleApp(hdir, "app1", port1);
  std::string error;
  auto h = Haproxy::start(hdir, {{"app1", port1}}, error);  // weight 1, haproxy's default
  ASSERT_TRUE(h) << error;
  auto r = d.admin("/prestop");
  auto parsed = jsonBody(r, "GET /prestop");
  ASSERT_TRUE(parsed) << d.lameduck().output();
  json s = *parsed;
  EXPECT_EQ(s["outcome"], "completed") << s.dump(2);
  const std::string first = s["traffic"]["steps"][0]["backend"];
  EXPECT_TRUE(first.starts_with("weight 1 (initial 1), nearest to 50%")) << first;
}

TEST(HaproxyShift, AnUnreachableSocketIsRetriedThenFailsWithinItsBound) {
  TempDir hdir;  // no haproxy listens on this socket
  Daemon d(haproxyConfig(hdir.file("haproxy.sock"), "be_app/app1", "[{weight: 0}]") +
           "  timeout: 1s\n");
  auto r = call(d.adminPort(), "GET", "/prestop", {}, 30s);
  auto parsed = jsonBody(r, "GET /prestop");
  ASSERT_TRUE(parsed) << d.lameduck().output();
  json s = *parsed;
  EXPECT_EQ(s["outcome"], "failed");
  EXPECT_NE(s.value("reason", "").find("connect"), std::string::npos) << s.dump(2);
  EXPECT_GT(s["traffic"]["steps"][0]["attempts"].get<int>(), 1);
}

std::string webhookConfig(int port) {
  return "traffic:\n"
         "  backend: webhook\n"
         "  webhook: {url: \"http://127.0.0.1:" +
         std::to_string(port) +
         "/weights\", token: s3cret}\n"
         "  steps: [{weight: 50, hold: 200ms}, {weight: 0}]\n";
}

TEST(WebhookShift, PostsEachWeightWithPodAndTokenAndRetriesA503) {
  WebhookReceiver hook({503, 200});
  ASSERT_GT(hook.port(), 0) << "the webhook receiver did not start";
  Daemon d(webhookConfig(hook.port()), std::nullopt,
           {{"POD_NAME", "web-7"}, {"POD_NAMESPACE", "shop"}});
  auto r = call(d.adminPort(), "GET", "/prestop", {}, 30s);
  auto parsed = jsonBody(r, "GET /prestop");
  ASSERT_TRUE(parsed) << d.lameduck().output();
  json s = *parsed;
  EXPECT_EQ(s["outcome"], "completed") << s.dump(2);
  auto got = hook.received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], (json{{"weight", 50}, {"pod", "web-7"}, {"namespace", "shop"}}));
  EXPECT_EQ(got[1]["weight"], 50);  // the retry after 503
  EXPECT_EQ(got[2]["weight"], 0);
  EXPECT_EQ(hook.authorizations().at(0), "Bearer s3cret");
  EXPECT_EQ(s["traffic"]["steps"][0]["attempts"], 2);
}

TEST(WebhookShift, ARefusalFailsTheShiftWithTheStatus) {
  WebhookReceiver hook({403});
  ASSERT_GT(hook.port(), 0) << "the webhook receiver did not start";
  Daemon d(webhookConfig(hook.port()));
  auto r = call(d.adminPort(), "GET", "/prestop", {}, 30s);
  auto parsed = jsonBody(r, "GET /prestop");
  ASSERT_TRUE(parsed) << d.lameduck().output();
  json s = *parsed;
  EXPECT_EQ(s["outcome"], "failed");
  EXPECT_NE(s.value("reason", "").find("HTTP 403"), std::string::npos) << s.dump(2);
  EXPECT_EQ(hook.received().size(), 1u);
}

}  // namespace
}  // namespace lameduck::testing

// A full exit with haproxy where a real prometheus scrapes the sample apps
// and gates the traffic shift: a healthy fleet passes, a fleet answering 5xx
// holds the shift, and no traffic is inconclusive.

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "integration/daemon.h"
#include "support/haproxy.h"
#include "support/prometheus.h"

namespace lameduck::testing {
namespace {

using nlohmann::json;

const char* kErrorRate =
    "sum(rate(sample_requests_total{code=\"500\"}[4s])) / sum(rate(sample_requests_total[4s]))";

// Requests through haproxy's frontend until stopped. Their answers are
// not looked at, on purpose: the apps answer 500 when told to, and what the
// gate under test reads is the error rate Prometheus scrapes from the apps'
// own counters.
class Load {
 public:
  explicit Load(int port)
      : thread_([this, port] {
          while (!stop_) sendIgnoringTheAnswer(port);
        }) {}
  ~Load() {
    stop_ = true;
    thread_.join();
  }

 private:
  static void sendIgnoringTheAnswer(int port) {
    const Result<http::ClientResponse> ignored = call(port, "GET", "/", {}, 2s);
    static_cast<void>(ignored);
  }

  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Fleet {
  TempDir dir;
  std::unique_ptr<Process> app1, app2;
  int port1 = 0, port2 = 0;
  std::unique_ptr<Haproxy> haproxy;
  std::unique_ptr<Prometheus> prometheus;
  std::string error;

  Fleet() {
    for (auto [app, port, name] : {std::tuple{&app1, &port1, "app1"}, {&app2, &port2, "app2"}}) {
      *app = std::make_unique<Process>(
          std::vector<std::string>{sampleAppBinary(), "--listen", "127.0.0.1:0"},
          dir.file(std::string(name) + ".log"));
      *port = waitForAppPort(**app).value_or(0);
    }
    haproxy = Haproxy::start(dir, {{"app1", port1}, {"app2", port2}}, error, "weight 100");
    if (!haproxy) return;
    prometheus = Prometheus::start(dir,
                                   {{"app1", "127.0.0.1:" + std::to_string(port1)},
                                    {"app2", "127.0.0.1:" + std::to_string(port2)}},
                                   error);
  }
  bool ok() const { return port1 > 0 && port2 > 0 && haproxy && prometheus; }

  // Waits until the gate's query gives a value `accept` likes.
  bool waitForRate(const std::function<bool(const std::string&)>& accept) const {
    return waitUntil([&] { return accept(prometheus->firstValue(kErrorRate)); }, 60s, 250ms);
  }
  void setErrors(bool on) {
    for (int port : {port1, port2}) {
      auto r = call(port, "POST", "/control/errors", {}, 2s, on ? "1" : "0");
      EXPECT_TRUE(r && r->status == 200)
          << "telling the app on port " << port << " to " << (on ? "fail" : "stop failing") << ": "
          << (r ? "answered " + std::to_string(r->status) : r.error().message);
    }
  }
  // app1 back to full weight for the next exit.
  void restore() {
    haproxy->command("set weight be_app/app1 100");
    haproxy->command("set server be_app/app1 state ready");
  }
  // One lameduck exit shifting app1's weight, gated on prometheus.
  json exitWith(const std::string& on_fail) {
    Daemon d(
        "exit: {grace_period: 14s, compensation_reserve: 3s}\n"
        "drain: {quiet_period: 200ms}\n"
        "traffic:\n"
        "  backend: haproxy\n"
        "  haproxy: {socket: \"unix:" +
        haproxy->socketPath() +
        "\", server: be_app/app1}\n"
        "  steps: [{weight: 50, hold: 2s}, {weight: 0}]\n"
        "  gate:\n"
        "    source: prometheus\n"
        "    max_error_rate: 0.05\n"
        "    on_fail: " +
        on_fail +
        "\n"
        "    interval: 500ms\n"
        "    prometheus: {url: \"" +
        prometheus->url() + "\", query: '" + kErrorRate + "'}\n");
    auto r = call(d.adminPort(), "GET", "/prestop", {}, 30s);
    json s = r ? json::parse(r->body, nullptr, false) : json();
    gate_checks_fail = d.metric("lameduck_traffic_gate_checks_total{result=\"fail\"}");
    gate_checks_inconclusive =
        d.metric("lameduck_traffic_gate_checks_total{result=\"inconclusive\"}");
    return s;
  }
  double gate_checks_fail = 0, gate_checks_inconclusive = 0;
};

bool finite(const std::string& v) {
  if (v.empty()) return false;
  return std::isfinite(std::strtod(v.c_str(), nullptr));
}

TEST(PrometheusGate, HealthyFleetPassesFailingFleetHoldsNoTrafficIsInconclusive) {
  Fleet f;
  ASSERT_TRUE(f.ok()) << f.error;

  {
    SCOPED_TRACE("healthy fleet");
    Load load(f.haproxy->frontPort());
    ASSERT_TRUE(f.waitForRate([](const std::string& v) { return finite(v) && std::stod(v) == 0; }));
    json s = f.exitWith("hold");
    ASSERT_TRUE(s.is_object());
    EXPECT_EQ(s["outcome"], "completed") << s.dump(2);
    const json& step = s["traffic"]["steps"][0];
    EXPECT_EQ(step["gate"], "pass") << s.dump(2);
    EXPECT_EQ(step["result"], "passed");
    EXPECT_EQ(step["error_rate"], 0.0);
    EXPECT_EQ(s["traffic"]["steps"][1]["result"], "passed");
  }
  f.restore();
  {
    SCOPED_TRACE("fleet answering 5xx");
    f.setErrors(true);
    Load load(f.haproxy->frontPort());
    ASSERT_TRUE(
        f.waitForRate([](const std::string& v) { return finite(v) && std::stod(v) > 0.5; }));
    json s = f.exitWith("hold");
    ASSERT_TRUE(s.is_object());
    const json& step = s["traffic"]["steps"][0];
    EXPECT_EQ(step["gate"], "fail") << s.dump(2);
    EXPECT_EQ(step["result"], "held");
    EXPECT_GT(step["error_rate"].get<double>(), 0.05);
    // Re-checked while holding, not just once.
    EXPECT_GE(step["gate_checks"].get<int>(), 3) << s.dump(2);
    EXPECT_GE(f.gate_checks_fail, 3);
    f.setErrors(false);
  }
  f.restore();
  {
    SCOPED_TRACE("no traffic");
    // Without requests the rate is 0/0: NaN, or no series at all.
    ASSERT_TRUE(f.waitForRate([](const std::string& v) { return v.empty() || v == "NaN"; }));
    json s = f.exitWith("continue");
    ASSERT_TRUE(s.is_object());
    const json& step = s["traffic"]["steps"][0];
    EXPECT_EQ(step["gate"], "inconclusive") << s.dump(2);
    EXPECT_EQ(step["result"], "continued");
    EXPECT_TRUE(step["error_rate"].is_null());
    EXPECT_GE(f.gate_checks_inconclusive, 1);
  }
}

}  // namespace
}  // namespace lameduck::testing

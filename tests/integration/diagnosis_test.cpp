// Exit diagnosis end to end: the real lameduck binary and the real Go
// service (tests/fixtures/goapp), whose goroutine dumps say what held the
// drain, or the shutdown, up.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "diag/go_service.h"
#include "integration/daemon.h"

namespace lameduck::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

int64_t inflight(int port) {
  auto r = call(port, "GET", "/lameduck/status", {}, 2s);
  if (!r || r->status != 200) return -1;
  auto j = json::parse(r->body, nullptr, false);
  return j.is_object() ? j.value("inflight", int64_t{-1}) : -1;
}

const json* group(const json& report, const std::string& function) {
  if (!report.contains("groups") || !report["groups"].is_array()) return nullptr;
  for (const json& g : report["groups"]) {
    if (g.value("function", "") == function) return &g;
  }
  return nullptr;
}

const json* step(const json& summary, const std::string& name) {
  if (!summary.contains("steps") || !summary["steps"].is_array()) return nullptr;
  for (const json& s : summary["steps"]) {
    if (s.value("step", "") == name) return &s;
  }
  return nullptr;
}

std::string config(const std::string& goroutines, const std::string& extra = "") {
  return "exit: {grace_period: 10s, safety_margin: 1s, compensation_reserve: 1s}\n"
         "drain: {max_wait: 2s, quiet_period: 0s, poll_interval: 50ms}\n"
         "app:\n"
         "  timeout: 2s\n"
         "  diagnostics:\n"
         "    goroutines: \"" +
         goroutines + "\"\n" + extra;
}

TEST(Diagnosis, AHandlerStuckAtTheDrainDeadlineIsNamedWithItsWaitAndLine) {
  TempDir dir;
  StuckRequests requests;  // joined after the service is gone
  auto app = startGoService(dir, "goapp", {});
  ASSERT_TRUE(app);
  requests.start(app->port, "sleep", 60s);
  ASSERT_TRUE(waitUntil([&] { return inflight(app->port) == 1; }, 10s));

  Daemon d(config(app->goroutineUrl()), std::nullopt, {}, {"app.base_url=" + app->baseUrl()});
  ASSERT_GT(d.adminPort(), 0);
  json summary = d.adminJson("/prestop");
  ASSERT_TRUE(summary.contains("diagnosis")) << summary;
  const json& diagnosis = summary["diagnosis"];
  EXPECT_EQ(diagnosis["source"], app->goroutineUrl());
  EXPECT_GT(diagnosis["goroutines_at_start"].get<int>(), 0) << diagnosis;
  const json* sleeper = group(diagnosis, "main.sleepLoop");
  ASSERT_NE(sleeper, nullptr) << diagnosis;
  EXPECT_EQ((*sleeper)["wait_reason"], "sleep");
  EXPECT_EQ((*sleeper)["cancellable"], false);
  EXPECT_THAT((*sleeper)["location"].get<std::string>(), HasSubstr("fixtures/goapp/main.go:"));
  EXPECT_EQ((*sleeper)["created_by"], "net/http.(*Server).Serve");
}

// Waits for the app_shutdown_stuck audit record and checks its report:
// every function in `stuck` is there and not cancellable, the polite worker
// (which honoured its context) is not.
void expectStuckReport(Daemon& d, std::initializer_list<const char*> stuck) {
  auto line = waitForLine(
      d.lameduck().outputPath(),
      [](const json& j) { return j.value("event", "") == "app_shutdown_stuck"; }, 20s);
  ASSERT_TRUE(line) << d.lameduck().output();
  EXPECT_EQ((*line)["audit"], true);
  json report = json::parse((*line)["report"].get<std::string>(), nullptr, false);
  ASSERT_TRUE(report.is_object()) << *line;
  for (const char* f : stuck) {
    const json* g = group(report, f);
    ASSERT_NE(g, nullptr) << f << " not in " << report;
    EXPECT_EQ((*g)["cancellable"], false) << f;
  }
  EXPECT_EQ(group(report, "main.politeWait"), nullptr) << report;
}

// The Go service with `workers` that waits for them after SIGTERM, and a
// sidecar whose exit (/prestop) has answered. after_sigterm leaves the
// service ample time to handle its SIGTERM on a loaded machine: its polite
// worker must be gone when the dump is taken.
struct StuckPod {
  TempDir dir;
  std::optional<GoService> app;
  std::unique_ptr<Daemon> d;

  bool start(const std::string& workers) {
    app = startGoService(dir, "goapp", {"-workers", workers, "-on-sigterm", "wait"});
    if (!app) return false;
    d = std::make_unique<Daemon>(config(app->goroutineUrl(), "    after_sigterm: 5s\n"),
                                 std::nullopt, std::map<std::string, std::string>{},
                                 std::vector<std::string>{"app.base_url=" + app->baseUrl()});
    if (d->adminPort() <= 0) return false;
    return !d->adminJson("/prestop").is_null();
  }
};

TEST(Diagnosis, AServiceHangingAfterSigtermIsReportedAsStuck) {
  StuckPod pod;
  ASSERT_TRUE(pod.start("sleep,read,polite"));
  auto& app = pod.app;
  Daemon& d = *pod.d;
  // The kubelet: SIGTERM to the app once its preStop hook returned, and to
  // the classic sidecar at the same time.
  app->process->signal(SIGTERM);
  // The polite worker is gone before the sidecar looks (on a loaded machine
  // the app may take longer than after_sigterm to handle its signal).
  ASSERT_TRUE(waitForLine(
      app->process->outputPath(),
      [](const json& j) { return j.value("event", "") == "polite_stopped"; }, 20s))
      << app->process->output();
  d.lameduck().signal(SIGTERM);
  expectStuckReport(d, {"main.sleepLoop", "main.readForever"});
  // The sidecar stays while the app is alive.
  EXPECT_TRUE(d.lameduck().running());
  // The metric is set just after the audit record is written.
  EXPECT_TRUE(waitUntil(
      [&] { return d.metric("lameduck_app_goroutines{wait_reason=\"sleep\"}") >= 1; }, 10s));
}

// A native sidecar (an init container that keeps running) gets SIGTERM
// only after the app has gone: the watch starts when /prestop answered, and
// the sidecar leaves promptly once the app is gone.
TEST(Diagnosis, InANativeSidecarPodTheStuckAppIsReportedBeforeTheSidecarGetsSigterm) {
  StuckPod pod;
  ASSERT_TRUE(pod.start("sleep,mutex,polite"));
  auto& app = pod.app;
  Daemon& d = *pod.d;
  app->process->signal(SIGTERM);  // the app's SIGTERM; the sidecar gets none yet
  expectStuckReport(d, {"main.sleepLoop", "main.lockForever"});
  EXPECT_TRUE(waitUntil(
      [&] { return d.metric("lameduck_app_goroutines{wait_reason=\"semacquire\"}") >= 1; }, 10s));
  // The kubelet kills the app at the end of its grace period, then sends the
  // sidecar SIGTERM: it leaves on its own, well before its budget ends.
  app->process->signal(SIGKILL);
  ASSERT_TRUE(app->process->waitExit(10s));
  d.lameduck().signal(SIGTERM);
  EXPECT_TRUE(d.lameduck().waitExit(20s)) << d.lameduck().output();
  auto watched = waitForLine(
      d.lameduck().outputPath(),
      [](const json& j) { return j.value("msg", "") == "after-SIGTERM watch done"; }, 1s);
  ASSERT_TRUE(watched) << d.lameduck().output();
  EXPECT_EQ((*watched)["outcome"], "stuck") << *watched;
}

TEST(Diagnosis, ADeadDiagnosticsEndpointIsReportedAndItsStepsAreSkipped) {
  TempDir dir;
  StuckRequests requests;  // joined after the service is gone
  auto app = startGoService(dir, "goapp", {});
  ASSERT_TRUE(app);
  requests.start(app->port, "sleep", 60s);
  ASSERT_TRUE(waitUntil([&] { return inflight(app->port) == 1; }, 10s));
  const RefusingPort refusing;
  ASSERT_GT(refusing.port(), 0);
  const std::string dead = refusing.url() + "/debug/pprof/goroutine?debug=2";
  Daemon d(config(dead), std::nullopt, {}, {"app.base_url=" + app->baseUrl()});
  ASSERT_GT(d.adminPort(), 0);
  json summary = d.adminJson("/prestop");
  ASSERT_TRUE(summary.contains("diagnosis")) << summary;
  EXPECT_EQ(summary["diagnosis"]["source"], dead);
  EXPECT_THAT(summary["diagnosis"]["error"].get<std::string>(), HasSubstr("unavailable"));
  const json* s = step(summary, "diagnosis");
  ASSERT_NE(s, nullptr) << summary;
  EXPECT_EQ((*s)["status"], "skipped");
  EXPECT_THAT((*s)["detail"].get<std::string>(), HasSubstr("cannot connect"));
  const json* base = step(summary, "diagnosis_baseline");
  ASSERT_NE(base, nullptr) << summary;
  EXPECT_EQ((*base)["status"], "skipped");
  // The diagnosis does not decide the outcome: the drain's deadline does.
  EXPECT_EQ(summary["outcome"], "deadline") << summary;
}

TEST(Diagnosis, AGarbageDiagnosticsEndpointIsReportedNotParsedAsADump) {
  TempDir dir;
  StuckRequests requests;  // joined after the service is gone
  auto app = startGoService(dir, "goapp", {});
  ASSERT_TRUE(app);
  requests.start(app->port, "sleep", 60s);
  ASSERT_TRUE(waitUntil([&] { return inflight(app->port) == 1; }, 10s));
  // The status hook answers JSON: not a goroutine dump.
  const std::string garbage = app->baseUrl() + "/lameduck/status";
  Daemon d(config(garbage), std::nullopt, {}, {"app.base_url=" + app->baseUrl()});
  ASSERT_GT(d.adminPort(), 0);
  json summary = d.adminJson("/prestop");
  ASSERT_TRUE(summary.contains("diagnosis")) << summary;
  EXPECT_THAT(summary["diagnosis"]["error"].get<std::string>(), HasSubstr("not a goroutine dump"));
}

TEST(Diagnosis, ASlowDiagnosticsEndpointEndsAtAppTimeout) {
  TempDir dir;
  auto app = startGoService(dir, "goapp", {});
  ASSERT_TRUE(app);
  // A handler that never answers stands for a dump that never comes.
  const std::string slow = app->baseUrl() + "/work/select";
  Daemon d(config(slow), std::nullopt, {}, {"app.base_url=" + app->baseUrl()});
  ASSERT_GT(d.adminPort(), 0);
  json summary = d.adminJson("/prestop");
  ASSERT_TRUE(summary.contains("diagnosis")) << summary;
  EXPECT_THAT(summary["diagnosis"]["error"].get<std::string>(),
              HasSubstr("no complete answer within 2s"));
  const json* base = step(summary, "diagnosis_baseline");
  ASSERT_NE(base, nullptr) << summary;
  EXPECT_THAT((*base)["detail"].get<std::string>(), HasSubstr("no complete answer within 2s"));
  const json* dump = step(summary, "diagnosis");
  ASSERT_NE(dump, nullptr) << summary;
  EXPECT_THAT((*dump)["detail"].get<std::string>(), HasSubstr("no complete answer within 2s"));
  EXPECT_EQ(summary["outcome"], "deadline") << summary;
}

}  // namespace
}  // namespace lameduck::testing

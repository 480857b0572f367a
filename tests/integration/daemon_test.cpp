// The real lameduck binary with the real sample app: preStop calls, signals,
// misbehaving apps, access control, logs and metrics.

#include "integration/daemon.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <set>
#include <thread>

namespace lameduck::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

int countAppEvents(Daemon& d, const std::string& name) {
  int n = 0;
  for (const json& j : jsonLines(d.app()->outputPath())) n += j.value("event", "") == name;
  return n;
}

std::vector<json> auditRecords(Daemon& d) {
  std::vector<json> out;
  for (json& j : jsonLines(d.lameduck().outputPath())) {
    if (j.value("audit", false)) out.push_back(j);
  }
  return out;
}

TEST(Daemon, HundredConcurrentPrestopCallersShareOneExit) {
  Daemon d(kShortExit, AppOptions{"ok", 3});
  ASSERT_GT(d.adminPort(), 0);
  constexpr int kCallers = 100;
  std::vector<std::string> bodies(kCallers);
  std::vector<int> codes(kCallers, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      // Generous: on a loaded machine a hundred simultaneous connects
      // overflow the listen backlog and the kernel retries the SYNs with
      // backoff; the exit itself is short.
      auto r = call(d.adminPort(), i % 2 ? "GET" : "POST", "/prestop", {}, 90s);
      if (r) {
        codes[i] = r->status;
        bodies[i] = r->body;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kCallers; ++i) {
    ASSERT_EQ(codes[i], 200) << "caller " << i;
    EXPECT_EQ(bodies[i], bodies[0]) << "caller " << i;
  }
  auto summary = parseJson(bodies[0], "the /prestop answer");
  ASSERT_TRUE(summary);
  EXPECT_EQ((*summary)["outcome"], "completed") << bodies[0];
  EXPECT_EQ((*summary)["state"], "Terminated");
  EXPECT_EQ((*summary)["compensations"]["pending"], 3);
  EXPECT_TRUE((*summary)["phases"].contains("draining"));
  EXPECT_EQ(d.metric("lameduck_exits_total{outcome=\"completed\"}") +
                d.metric("lameduck_exits_total{outcome=\"deadline\"}") +
                d.metric("lameduck_exits_total{outcome=\"failed\"}"),
            1.0);
  EXPECT_EQ(countAppEvents(d, "drain"), 1);
  EXPECT_EQ(countAppEvents(d, "terminate"), 1);
  EXPECT_EQ(d.metric("lameduck_exit_state{state=\"Terminated\"}"), 1.0);
}

TEST(Daemon, ReadyzTurns503FromDrainingOn) {
  // A grace period long enough for a drain wait (13 s derived) that the
  // slow request below fits in with room.
  Daemon d(kShortExit, AppOptions{}, {}, {"exit.grace_period=20s"});
  ASSERT_GT(d.adminPort(), 0);
  EXPECT_EQ(d.adminStatus("/readyz"), 200);
  EXPECT_EQ(d.adminStatus("/healthz"), 200);
  // Slow work in the app keeps the exit in Draining while the test looks:
  // 4 s, a window a loaded machine does not miss.
  std::jthread work = slowAppRequest(d, 4000);
  std::jthread prestop([&] { EXPECT_EQ(d.adminStatus("/prestop"), 200); });
  EXPECT_TRUE(waitUntil([&] { return d.adminStatus("/readyz") == 503; }, 10s));
  // While the slow request runs, /status shows Draining with the app's figure.
  json status;
  EXPECT_TRUE(waitUntil(
      [&] {
        status = d.adminJson("/status");
        return status["app"]["inflight"] == 1;
      },
      10s))
      << status;
  EXPECT_EQ(status["state"], "Draining") << status;
  prestop.join();
  work.join();
  EXPECT_EQ(d.adminStatus("/readyz"), 503);
  EXPECT_EQ(d.adminStatus("/healthz"), 200);
  json after = d.adminJson("/status");
  EXPECT_EQ(after["state"], "Terminated");
  EXPECT_EQ(after["outcome"], "completed");
  EXPECT_FALSE(after["app"]["inflight_zero_at_ms"].is_null());
}

TEST(Daemon, SigtermWithHangingAppEndsWithDeadlineWithinTheBudget) {
  Daemon d(
      "exit: {grace_period: 4s, safety_margin: 1s, compensation_reserve: 1s}\n"
      "app: {timeout: 500ms}\n",
      AppOptions{"hang"});
  ASSERT_GT(d.adminPort(), 0);
  d.lameduck().signal(SIGTERM);
  // The budget is 3 s; the bound below only guards against a hang.
  auto code = d.lameduck().waitExit(30s);
  ASSERT_TRUE(code.has_value()) << "lameduck did not exit:\n" << d.lameduck().output();
  EXPECT_EQ(*code, 3) << d.lameduck().output();  // 3 = deadline
  auto exitRecord = waitForLine(
      d.lameduck().outputPath(), [](const json& j) { return j.value("event", "") == "exit"; }, 1s);
  ASSERT_TRUE(exitRecord);
  EXPECT_EQ((*exitRecord)["outcome"], "deadline");
  EXPECT_EQ((*exitRecord)["trigger"], "SIGTERM");
  auto summary = parseJson((*exitRecord).value("summary", ""), "the exit record's summary");
  ASSERT_TRUE(summary);
  // The budget ended the exit, not the app: lameduck exited while the app
  // still held its hook calls (in hang mode it answers none until it is
  // stopped, and it still runs), and no step that called it got an answer.
  // The exact accounting of the budget is tested on the simulated clock
  // (tests/drain, tests/exit); a wall-clock figure here would measure the
  // machine.
  EXPECT_TRUE(d.app()->running());
  ASSERT_TRUE((*summary)["steps"].is_array()) << summary->dump();
  int app_steps = 0;
  for (const json& step : (*summary)["steps"]) {
    if (!step.value("step", "").starts_with("app_")) continue;
    ++app_steps;
    EXPECT_NE(step.value("status", ""), "ok") << step;
  }
  EXPECT_GT(app_steps, 0) << summary->dump();
}

TEST(Daemon, GarbageAnsweringAppGivesAClearErrorAndNoCrash) {
  Daemon d(kShortExit, AppOptions{"garbage"});
  ASSERT_GT(d.adminPort(), 0);
  auto r = d.admin("/prestop");
  auto summary = jsonBody(r, "GET /prestop");
  ASSERT_TRUE(summary) << d.lameduck().output();
  EXPECT_THAT((*summary)["outcome"].get<std::string>(), ::testing::AnyOf("failed", "deadline"));
  EXPECT_THAT(r->body, HasSubstr("not valid JSON"));
  EXPECT_TRUE(d.lameduck().running());
  EXPECT_EQ(d.adminStatus("/healthz"), 200);
  EXPECT_THAT(d.lameduck().output(), HasSubstr("not valid JSON"));
}

TEST(Daemon, AppClosingConnectionsGivesAClearErrorAndNoCrash) {
  Daemon d(kShortExit, AppOptions{"close"});
  ASSERT_GT(d.adminPort(), 0);
  auto r = d.admin("/prestop");
  auto summary = jsonBody(r, "GET /prestop");
  ASSERT_TRUE(summary) << d.lameduck().output();
  EXPECT_THAT((*summary)["outcome"].get<std::string>(), ::testing::AnyOf("failed", "deadline"));
  EXPECT_THAT(r->body, HasSubstr("connection closed before a complete answer"));
  EXPECT_TRUE(d.lameduck().running());
}

// Memory does not follow what the app sends: 16 MiB answers of tiny values
// (a status answer padded with `[{},{},...]`, a compensations answer of
// `[0,0,...]`, 8 million non-entries) are read in bounded memory, the
// refusals are counted rather than logged one by one, and the exit ends.
// The bound checked is memory (the chart's limit), not time.
TEST(Daemon, HugeAnswersOfTinyValuesStayUnderThePodsMemoryLimit) {
  AppOptions app;
  app.bloat = 16 << 20;
  Daemon d(kShortExit, app, {},
           {"app.max_response_bytes=" + std::to_string((16 << 20) + 4096), "app.timeout=30s",
            "exit.grace_period=120s"});
  ASSERT_GT(d.adminPort(), 0);
  auto r = call(d.adminPort(), "GET", "/prestop", {}, 180s);
  ASSERT_TRUE(r) << r.error().message;
  json summary = json::parse(r->body);
  EXPECT_EQ(summary["outcome"], "completed") << r->body.substr(0, 2000);
  EXPECT_GT(summary["compensations"]["rejected"].get<int64_t>(), 8'000'000)
      << r->body.substr(0, 2000);
  const int64_t peak_kb = peakRssKb(d.lameduck().pid());
  ASSERT_GT(peak_kb, 0);
  if (kMemoryBoundChecked) {
    EXPECT_LT(peak_kb, 64 * 1024) << "peak RSS " << peak_kb << " kB, over the chart's 64Mi";
  }
  int audited = 0;
  for (const json& a : auditRecords(d)) audited += a.value("event", "") == "compensation_rejected";
  EXPECT_EQ(audited, 10);
}

TEST(Daemon, AppNotRunningFailsTheExitWithoutHanging) {
  // app.base_url points at a port nobody listens on.
  const RefusingPort refusing;
  Daemon dead(
      "exit: {grace_period: 6s, safety_margin: 1s, compensation_reserve: 1s}\n"
      "app: {base_url: \"" +
      refusing.url() + "\", timeout: 500ms}\n");
  ASSERT_GT(dead.adminPort(), 0);
  auto r = dead.admin("/prestop");
  auto summary = jsonBody(r, "GET /prestop");
  ASSERT_TRUE(summary) << dead.lameduck().output();
  EXPECT_THAT((*summary)["outcome"].get<std::string>(), ::testing::AnyOf("failed", "deadline"));
  EXPECT_THAT((*summary)["reason"].get<std::string>(), HasSubstr("cannot connect"));
}

TEST(Daemon, WrongOrMissingTokenGets401AndIsCounted) {
  Daemon d("admin: {token: \"${LD_TEST_TOKEN}\"}\n", std::nullopt, {{"LD_TEST_TOKEN", "s3cret"}});
  ASSERT_GT(d.adminPort(), 0);
  EXPECT_EQ(d.adminStatus("/prestop"), 401);
  EXPECT_EQ(d.adminStatus("/prestop", {{"Authorization", "Bearer wrong"}}), 401);
  EXPECT_EQ(d.adminStatus("/status"), 401);
  EXPECT_EQ(d.adminStatus("/healthz"), 200);  // probes stay open
  EXPECT_EQ(d.adminStatus("/readyz"), 200);   // and no exit started
  EXPECT_EQ(d.metric("lameduck_admin_requests_denied_total{reason=\"token\"}"), 3.0);
  auto ok = d.admin("/prestop", {{"Authorization", "Bearer s3cret"}});
  auto summary = jsonBody(ok, "GET /prestop with the token");
  ASSERT_TRUE(summary) << d.lameduck().output();
  EXPECT_EQ(ok->status, 200);
  // A hook call is one request: the connection is not kept alive.
  auto connection = ok->headers.find("Connection");
  ASSERT_NE(connection, ok->headers.end()) << "no Connection header in the answer";
  EXPECT_EQ(connection->second, "close");
  EXPECT_EQ((*summary)["outcome"], "completed");
}

TEST(Daemon, SourceOutsideTheAllowlistGets403) {
  Daemon d("admin: {allow_cidrs: [\"10.0.0.0/8\"]}\n");
  ASSERT_GT(d.adminPort(), 0);
  EXPECT_EQ(d.adminStatus("/prestop"), 403);
  EXPECT_EQ(d.adminStatus("/readyz"), 200);
  EXPECT_EQ(d.metric("lameduck_admin_requests_denied_total{reason=\"source\"}"), 1.0);
}

TEST(Daemon, PrestopClientPrintsTheSummaryAndExitsByOutcome) {
  Daemon d("admin: {token: s3cret}\n");
  ASSERT_GT(d.adminPort(), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(d.adminPort()) + "/prestop";
  std::string out = d.dir().file("client.txt");
  EXPECT_EQ(runCommand({lameduckBinary(), "prestop", "--url", url, "--token", "nope"}, out), 1);
  EXPECT_THAT(readFile(out), HasSubstr("HTTP 401"));
  EXPECT_EQ(runCommand({lameduckBinary(), "prestop", "--url", url, "--token", "s3cret"}, out), 0);
  EXPECT_THAT(readFile(out), HasSubstr("\"outcome\":\"completed\""));
  EXPECT_EQ(runCommand({lameduckBinary(), "prestop", "--url", "ftp://x"}, out), 2);
}

TEST(Daemon, SigtermAfterACompletedExitStopsWithCodeZero) {
  Daemon d(kShortExit, AppOptions{});
  ASSERT_GT(d.adminPort(), 0);
  EXPECT_EQ(d.adminJson("/prestop")["outcome"], "completed");
  d.lameduck().signal(SIGTERM);
  auto code = d.lameduck().waitExit(20s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  EXPECT_EQ(countAppEvents(d, "drain"), 1);  // the signal joined the finished exit
}

TEST(Daemon, SigintStartsTheExitAndTheProcessEnds) {
  Daemon d(kShortExit, AppOptions{});
  ASSERT_GT(d.adminPort(), 0);
  d.lameduck().signal(SIGINT);
  auto code = d.lameduck().waitExit(20s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << d.lameduck().output();
  EXPECT_EQ(countAppEvents(d, "drain"), 1);
}

TEST(Daemon, LogsAreJsonLinesWithIdentityAndOneAuditPerTransition) {
  Daemon d(kShortExit, AppOptions{},
           {{"POD_NAME", "shop-7d9f"},
            {"POD_NAMESPACE", "prod"},
            {"POD_UID", "uid-1"},
            {"NODE_NAME", "node-a"},
            {"POD_REVISION", "rev-9"}});
  ASSERT_GT(d.adminPort(), 0);
  ASSERT_EQ(d.adminStatus("/prestop"), 200);
  d.lameduck().signal(SIGTERM);
  ASSERT_TRUE(d.lameduck().waitExit(20s).has_value());
  std::istringstream raw(d.lameduck().output());
  int lines = 0;
  for (std::string line; std::getline(raw, line);) {
    ++lines;
    json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    EXPECT_EQ(j["pod"], "shop-7d9f");
    EXPECT_EQ(j["namespace"], "prod");
    EXPECT_EQ(j["pod_uid"], "uid-1");
    EXPECT_EQ(j["node"], "node-a");
    EXPECT_EQ(j["revision"], "rev-9");
  }
  EXPECT_GT(lines, 5);
  std::vector<std::string> transitions;
  std::set<std::string> traces;
  for (const json& a : auditRecords(d)) {
    if (a["event"] == "transition") {
      transitions.push_back(a["from"].get<std::string>() + ">" + a["to"].get<std::string>());
      traces.insert(a["trace_id"].get<std::string>());
      EXPECT_TRUE(a.contains("commit"));
    }
  }
  EXPECT_EQ(transitions, (std::vector<std::string>{"Ready>Draining", "Draining>Compensating",
                                                   "Compensating>Terminated"}));
  EXPECT_EQ(traces.size(), 1u);
}

TEST(Daemon, LiveMetricsAfterAnExitPassPromtool) {
  Daemon d(kShortExit, AppOptions{});
  ASSERT_GT(d.adminPort(), 0);
  ASSERT_EQ(d.adminStatus("/prestop"), 200);
  std::string file = d.dir().write("metrics.txt", d.metrics());
  std::string out = d.dir().file("promtool.txt");
  EXPECT_EQ(runCommand({"/bin/sh", "-c", "promtool check metrics < " + file}, out), 0)
      << readFile(out);
  EXPECT_THAT(readFile(file),
              HasSubstr("lameduck_hook_requests_total{code=\"200\",hook=\"drain\"} 1"));
}

TEST(Daemon, PortInUseIsAClearStartupError) {
  Daemon first("");
  ASSERT_GT(first.adminPort(), 0);
  TempDir dir;
  std::string out = dir.file("out.txt");
  int code = runCommand({lameduckBinary(), "run", "--set",
                         "admin.listen=127.0.0.1:" + std::to_string(first.adminPort()), "--set",
                         "metrics.listen=127.0.0.1:0"},
                        out, 20s);
  EXPECT_EQ(code, 1);
  EXPECT_THAT(readFile(out), HasSubstr("admin.listen: cannot listen on 127.0.0.1:"));
  // The same with Redis configured (a spool replay starts in the background):
  // still a clean error, not an abort.
  code =
      runCommand({lameduckBinary(), "run", "--set",
                  "admin.listen=127.0.0.1:" + std::to_string(first.adminPort()), "--set",
                  "metrics.listen=127.0.0.1:0", "--set", "compensation.spool=" + dir.file("spool"),
                  "--set", "compensation.redis.address=unix:" + dir.file("no-redis.sock")},
                 out, 20s);
  EXPECT_EQ(code, 1) << readFile(out);
}

}  // namespace
}  // namespace lameduck::testing

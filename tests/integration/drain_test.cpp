// Draining with real sockets: connections on the app's port hold the exit,
// the sidecar outlives the app, and the kubelet stand-in loses no request.

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "integration/daemon.h"

namespace lameduck::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

int connectTo(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

constexpr const char* kDrainConfig =
    "exit: {grace_period: 20s, safety_margin: 1s, compensation_reserve: 2s}\n"
    "drain: {quiet_period: 1s, poll_interval: 20ms}\n";

// Where the kernel's socket diagnostics are refused, /proc/net/tcp has no
// activity: every established connection counts as busy, as before.
TEST(Drain, WithTheProcFallbackAnOpenConnectionHoldsTheExitUntilItCloses) {
  Daemon d(kDrainConfig, AppOptions{.track_port = true}, {{"LAMEDUCK_TEST_DISABLE_NETLINK", "1"}});
  ASSERT_GT(d.appPort(), 0);
  int client = connectTo(d.appPort());
  ASSERT_GE(client, 0);
  std::string body;
  std::jthread prestop([&] { body = d.adminBody("/prestop"); });
  // The exit stays in Draining, past the quiet period, while the client
  // holds its connection.
  json status;
  ASSERT_TRUE(waitUntil(
      [&] {
        status = d.adminJson("/status");
        return status["drain"]["connections"] == 1 && status["duration_ms"].get<double>() > 1500;
      },
      15s))
      << status;
  EXPECT_EQ(status["state"], "Draining");
  EXPECT_EQ(status["drain"]["source"], "proc") << status;
  close(client);
  prestop.join();
  auto parsed = parseJson(body, "the /prestop answer");
  ASSERT_TRUE(parsed);
  json summary = *parsed;
  EXPECT_EQ(summary["outcome"], "completed") << body;
  EXPECT_EQ(summary["drain"]["connections"], 0);
  // Held past the quiet period (1 s): the status poll saw 1.5 s of the
  // exit, of which the drain wait is a part.
  EXPECT_GT(summary["drain"]["wait_ms"].get<double>(), 1000);
  // lameduck's own status polls are not counted as the app's connections.
  EXPECT_EQ(summary["drain"]["new_connections"], 0) << body;
}

// With the kernel's per-connection activity, an idle kept-alive connection
// (nothing sent, nothing queued) never holds the exit: it ends one quiet
// period after the drain began, with the connection still open.
TEST(Drain, AnIdleOpenConnectionDoesNotHoldTheExit) {
  Daemon d(kDrainConfig, AppOptions{.track_port = true});
  ASSERT_GT(d.appPort(), 0);
  int client = connectTo(d.appPort());
  ASSERT_GE(client, 0);
  json summary = d.adminJson("/prestop");
  close(client);
  EXPECT_EQ(summary["outcome"], "completed") << summary;
  EXPECT_EQ(summary["drain"]["source"], "netlink") << summary;
  EXPECT_EQ(summary["drain"]["busy"], 0) << summary;
  EXPECT_GE(summary["drain"]["idle"].get<int>(), 1) << summary;
}

TEST(Drain, ANewConnectionRestartsTheQuietPeriod) {
  // A 3 s quiet period: the late request below must come inside it, a
  // window a loaded machine does not miss.
  Daemon d(kDrainConfig, AppOptions{.track_port = true}, {}, {"drain.quiet_period=3s"});
  ASSERT_GT(d.appPort(), 0);
  std::string body;
  // A jthread: an ASSERT below that returns early joins it (the hook call
  // is bounded) rather than ending the run in std::terminate.
  std::jthread prestop([&] { body = d.adminBody("/prestop"); });
  // Once the drain wait has read its first figures (its baseline of
  // connections is taken just before) ...
  ASSERT_TRUE(waitUntil([&] { return !d.adminJson("/status")["app"]["inflight"].is_null(); }, 10s));
  // ... a late request, as from a load balancer that has not seen the removal.
  auto late = call(d.appPort(), "GET", "/");
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 200);
  prestop.join();
  auto parsed = parseJson(body, "the /prestop answer");
  ASSERT_TRUE(parsed);
  json summary = *parsed;
  EXPECT_EQ(summary["outcome"], "completed") << body;
  EXPECT_GE(summary["drain"]["new_connections"].get<int>(), 1) << body;
  ASSERT_FALSE(summary["drain"]["last_new_connection_at_ms"].is_null());
  EXPECT_GE(summary["drain"]["drained_at_ms"].get<double>(),
            summary["drain"]["last_new_connection_at_ms"].get<double>() + 3000);
}

TEST(Drain, UnreadableProcRootEndsInDeadlineWithTheReason) {
  Daemon d(
      "exit: {grace_period: 4s, safety_margin: 1s, compensation_reserve: 1s}\n"
      "drain: {proc_root: /nonexistent-proc}\n",
      AppOptions{.track_port = true});
  ASSERT_GT(d.adminPort(), 0);
  json summary = d.adminJson("/prestop");
  EXPECT_EQ(summary["outcome"], "deadline");
  EXPECT_THAT(summary["reason"].get<std::string>(),
              HasSubstr("connections unreadable: cannot read /nonexistent-proc/net/tcp"));
}

TEST(Drain, TheSidecarOutlivesTheApp) {
  Daemon d(kDrainConfig, AppOptions{.track_port = true});
  ASSERT_GT(d.adminPort(), 0);
  d.lameduck().signal(SIGTERM);  // classic sidecar: SIGTERM at the same time as preStop
  auto staying = waitForLine(
      d.lameduck().outputPath(),
      [](const json& j) {
        return j.value("msg", "") == "exit done; staying up until the app stops listening";
      },
      20s);
  ASSERT_TRUE(staying) << d.lameduck().output();
  EXPECT_TRUE(d.lameduck().running());
  EXPECT_EQ(d.adminStatus("/healthz"), 200);
  d.app()->signal(SIGTERM);
  ASSERT_TRUE(d.app()->waitExit(20s).has_value());
  auto code = d.lameduck().waitExit(20s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  EXPECT_THAT(d.lameduck().output(), HasSubstr("app listeners gone; stopping"));
}

TEST(Drain, TheSidecarStopsAtTheBudgetWhenTheAppNeverStops) {
  Daemon d(
      "exit: {grace_period: 4s, safety_margin: 1s, compensation_reserve: 1s}\n"
      "drain: {quiet_period: 0s}\n",
      AppOptions{.track_port = true});
  ASSERT_GT(d.adminPort(), 0);
  d.lameduck().signal(SIGTERM);
  auto code = d.lameduck().waitExit(30s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);  // the exit itself completed
  EXPECT_THAT(d.lameduck().output(), HasSubstr("exit budget over while the app still listens"));
  EXPECT_TRUE(d.app()->running());
}

TEST(PodSim, DeletesAPodWithWorkInFlightAndLosesNothing) {
  TempDir dir;
  std::string out = dir.file("pod_sim.txt");
  int code =
      runCommand({POD_SIM_BIN, "--lameduck", lameduckBinary(), "--app", sampleAppBinary(),
                  "--grace", "10s", "--slow", "3:800", "--", "--set", "drain.quiet_period=500ms"},
                 out, std::chrono::seconds(60));
  std::string text = readFile(out);
  EXPECT_EQ(code, 0) << text;
  EXPECT_THAT(text, HasSubstr("Requests in flight at deletion: 3 completed, 0 failed"));
  EXPECT_THAT(text, HasSubstr("Outcome: completed; app exit code 0; lameduck exit code 0"));
  // The kubelet order: hook returned, then SIGTERM to the app.
  EXPECT_LT(text.find("preStop hook returned HTTP 200"), text.find("SIGTERM -> app container"));
}

}  // namespace
}  // namespace lameduck::testing

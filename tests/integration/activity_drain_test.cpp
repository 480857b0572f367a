// The drain on connection activity, against the real kernel: an app without
// the drain protocol (tests/fixtures/plain_app, only app.ports set), real
// keep-alive connections on loopback, lameduck reading socket diagnostics
// (netlink). Idle pooled connections never hold the exit; requests, slow
// replies and streams do, and a request that never ends is named.

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <thread>

#include "integration/daemon.h"
#include "support/harness.h"
#include "support/keepalive.h"

namespace lameduck::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

double msBetween(int64_t from_ns, int64_t to_ns) {
  return static_cast<double>(to_ns - from_ns) / 1e6;
}

struct PodOptions {
  std::string listen = "127.0.0.1:0";  // the app's; "[::1]:0" for IPv6
  std::vector<std::string> sets{};  // extra lameduck --set overrides
  std::map<std::string, std::string> env{};
  std::vector<std::string> prefix{};  // runs lameduck under this command (setpriv, no_netlink)
};

// plain_app and a lameduck that tracks its port, with nothing else: no
// hooks, no Redis, no traffic backend. Both stopped by PID at the end.
class Pod {
 public:
  explicit Pod(const PodOptions& o = {})
      : d_("exit: {grace_period: 30s}\ndrain: {quiet_period: 1s, max_wait: 15s}\n",
           AppOptions{.track_port = true, .plain = true, .listen = o.listen}, o.env, o.sets,
           o.prefix) {}

  bool up() const { return d_.appPort() > 0 && d_.adminPort() > 0; }
  int appPort() const { return d_.appPort(); }
  int metricsPort() const { return d_.metricsPort(); }
  Process& lameduck() { return d_.lameduck(); }

  // A keep-alive connection to the app that has made one request (the
  // app answered last: idle, as a load balancer's pooled connection).
  std::unique_ptr<KeepAliveConnection> pooledConnection(int family = AF_INET) {
    std::string error;
    auto c = KeepAliveConnection::open(family, d_.appPort(), error);
    if (!c) {
      ADD_FAILURE() << error;
      return nullptr;
    }
    EXPECT_EQ(c->get("/", 10s), 200);
    return c;
  }

  json status() {
    auto r = call(d_.adminPort(), "GET", "/status", {}, 5s);
    if (!r) return nullptr;
    auto j = json::parse(r->body, nullptr, false);
    return j.is_discarded() ? json(nullptr) : j;
  }

  // Waits until the drain wait has read the connections at least once.
  bool waitForDrainWait() {
    return waitUntil(
        [&] {
          json s = status();
          return s.is_object() && s["state"] == "Draining" && s.contains("drain") &&
                 s["drain"].is_object() && s["drain"]["source"].is_string() &&
                 !s["drain"]["source"].get<std::string>().empty();
        },
        15s);
  }

  // GET /prestop (blocks until the exit ended); the summary, and the
  // CLOCK_MONOTONIC time it came back in `done_ns`.
  json prestop(int64_t& done_ns) {
    auto r = call(d_.adminPort(), "GET", "/prestop", {}, 60s);
    done_ns = monoNs();
    if (!r) {
      ADD_FAILURE() << "/prestop failed: " << r.error().message << "\n" << d_.lameduck().output();
      return nullptr;
    }
    auto j = json::parse(r->body, nullptr, false);
    if (j.is_discarded()) {
      ADD_FAILURE() << "/prestop answered " << r->body;
      return nullptr;
    }
    return j;
  }

 private:
  Daemon d_;
};

// /prestop on a thread of its own, for tests that act while the exit runs.
class PrestopCall {
 public:
  explicit PrestopCall(Pod& pod) : thread_([this, &pod] { summary_ = pod.prestop(done_ns_); }) {}
  // Waits for the answer (the call is bounded by its own 60 s timeout).
  json summary() {
    if (thread_.joinable()) thread_.join();
    return summary_;
  }
  int64_t doneNs() {
    summary();
    return done_ns_;
  }

 private:
  json summary_;
  int64_t done_ns_ = 0;
  std::jthread thread_;
};

// Once the drain wait runs, sends the slow request `path` on `conn`; checks
// that lameduck names the connection as busy ("peer spoke last") while the
// app works on it, reads the answer, and returns the exit summary.
// `waited_ms` is the time from sending the request to /prestop's answer.
json slowRequestDuringTheDrain(Pod& pod, KeepAliveConnection& conn, const std::string& path,
                               double& waited_ms) {
  PrestopCall prestop(pod);
  EXPECT_TRUE(pod.waitForDrainWait()) << pod.lameduck().output();
  const int64_t sent_ns = monoNs();
  EXPECT_TRUE(conn.sendRequest(path));
  json status;
  EXPECT_TRUE(waitUntil(
      [&] {
        status = pod.status();
        return status.is_object() && status["drain"]["busy"] == 1 &&
               !status["drain"]["held_by"].empty() &&
               status["drain"]["held_by"][0]["peer"] == conn.peerName();
      },
      10s))
      << status;
  if (status.is_object() && !status["drain"]["held_by"].empty()) {
    EXPECT_EQ(status["drain"]["held_by"][0]["activity"], "busy") << status;
    EXPECT_EQ(status["drain"]["held_by"][0]["reason"], "peer spoke last") << status;
  }
  EXPECT_EQ(conn.readResponse(10s), 200);
  json summary = prestop.summary();
  waited_ms = msBetween(sent_ns, prestop.doneNs());
  return summary;
}

bool hasIpv6Loopback() {
  const int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// (a) A load balancer's pool: several clients holding open keep-alive
// connections that are idle. They do not hold the exit: it completes one
// quiet period after the drain began, long before max_wait, with all of
// them still open.
TEST(ActivityDrain, IdlePooledKeepAliveConnectionsDoNotHoldTheExit) {
  Pod pod;
  ASSERT_TRUE(pod.up());
  std::vector<std::unique_ptr<KeepAliveConnection>> pool;
  for (int i = 0; i < 6; ++i) {
    pool.push_back(pod.pooledConnection());
    ASSERT_TRUE(pool.back());
  }
  int64_t done_ns = 0;
  json summary = pod.prestop(done_ns);
  EXPECT_EQ(summary["outcome"], "completed") << summary;
  EXPECT_EQ(summary["drain"]["source"], "netlink") << summary;
  EXPECT_EQ(summary["drain"]["busy"], 0) << summary;
  EXPECT_GE(summary["drain"]["idle"].get<int>(), 6) << summary;
  EXPECT_EQ(summary["drain"]["new_connections"], 0) << summary;
  ASSERT_TRUE(summary["drain"]["wait_ms"].is_number()) << summary;
  EXPECT_GE(summary["drain"]["wait_ms"].get<double>(), 1000) << summary;  // the quiet period
  // It ended by draining, by the sidecar's own account (a wait cut by
  // drain.max_wait has no drained_at and a drain_wait step that is not ok),
  // not by a wall-clock figure a loaded machine could stretch.
  EXPECT_FALSE(summary["drain"]["drained_at_ms"].is_null()) << "ran into drain.max_wait";
  // The connections were open all along: each still answers.
  for (auto& c : pool) EXPECT_EQ(c->get("/", 10s), 200);
  EXPECT_EQ(metricValue(pod.metricsPort(), "lameduck_drain_connection_source{source=\"netlink\"}"),
            1);
  EXPECT_EQ(metricValue(pod.metricsPort(), "lameduck_app_connections{activity=\"idle\"}"), 6);
}

// (b) Requests over a connection kept alive from before the exit are
// traffic too: each restarts the quiet period (no new connection needed),
// and the exit ends one quiet period after the last of them.
TEST(ActivityDrain, RequestsOnAKeptAliveConnectionRestartTheQuietPeriod) {
  Pod pod;
  ASSERT_TRUE(pod.up());
  auto conn = pod.pooledConnection();
  ASSERT_TRUE(conn);
  PrestopCall prestop(pod);
  ASSERT_TRUE(pod.waitForDrainWait()) << pod.lameduck().output();
  double last_activity = -1;
  int64_t last_sent_ns = 0;
  for (int i = 0; i < 3; ++i) {
    last_sent_ns = monoNs();
    ASSERT_EQ(conn->get("/", 10s), 200);
    // lameduck saw these request bytes: the quiet period restarted.
    json status;
    ASSERT_TRUE(waitUntil(
        [&] {
          status = pod.status();
          return status.is_object() && status["drain"]["last_activity_at_ms"].is_number() &&
                 status["drain"]["last_activity_at_ms"].get<double>() > last_activity;
        },
        10s))
        << "request " << i << " did not restart the quiet period: " << status;
    EXPECT_EQ(status["state"], "Draining") << status;
    last_activity = status["drain"]["last_activity_at_ms"].get<double>();
  }
  json summary = prestop.summary();
  EXPECT_EQ(summary["outcome"], "completed") << summary;
  EXPECT_EQ(summary["drain"]["new_connections"], 0) << summary;
  EXPECT_EQ(summary["drain"]["last_activity_at_ms"].get<double>(), last_activity) << summary;
  EXPECT_GE(summary["drain"]["drained_at_ms"].get<double>(), last_activity + 1000) << summary;
  // The kernel stamps the bytes in ticks (up to 10 ms): a little slack.
  EXPECT_GE(msBetween(last_sent_ns, prestop.doneNs()), 1000 - 20);
}

// (c) A slow request on a kept-alive connection holds the exit until its
// reply, and no longer: the exit completes (no deadline).
TEST(ActivityDrain, ASlowRequestIsWaitedForAndNoLonger) {
  Pod pod;
  ASSERT_TRUE(pod.up());
  auto conn = pod.pooledConnection();
  ASSERT_TRUE(conn);
  double waited_ms = 0;
  json summary = slowRequestDuringTheDrain(pod, *conn, "/work?ms=3000", waited_ms);
  EXPECT_EQ(summary["outcome"], "completed") << summary;
  EXPECT_EQ(summary["drain"]["busy"], 0) << summary;
  // The quiet period alone (1 s) would have ended the wait two seconds
  // before the reply.
  EXPECT_GE(waited_ms, 3000);
}

// (d) A streaming reply holds the exit while its data flows, then the exit
// completes.
TEST(ActivityDrain, AStreamingReplyHoldsTheExitWhileDataFlows) {
  Pod pod;
  ASSERT_TRUE(pod.up());
  auto conn = pod.pooledConnection();
  ASSERT_TRUE(conn);
  PrestopCall prestop(pod);
  ASSERT_TRUE(pod.waitForDrainWait()) << pod.lameduck().output();
  const int64_t sent_ns = monoNs();
  // 3 s of chunks, one every 10 ms, read as they come.
  ASSERT_TRUE(conn->sendRequest("/stream?ms=3000&every=10"));
  std::atomic<bool> seen_busy{false};
  std::jthread watcher([&](std::stop_token stop) {
    waitUntil(
        [&] {
          json s = pod.status();
          if (s.is_object() && s["drain"]["busy"] == 1) seen_busy = true;
          return seen_busy || stop.stop_requested();
        },
        15s);
  });
  EXPECT_EQ(conn->readResponse(15s), 200);
  json summary = prestop.summary();
  watcher.request_stop();
  watcher.join();
  EXPECT_TRUE(seen_busy);
  EXPECT_EQ(summary["outcome"], "completed") << summary;
  EXPECT_GE(msBetween(sent_ns, prestop.doneNs()), 3000) << summary;
}

// (e) A request that never finishes holds the exit until drain.max_wait:
// outcome deadline, and the summary names the connection.
TEST(ActivityDrain, ARequestThatNeverEndsIsNamedWhenTheWaitRunsOut) {
  Pod pod({.sets = {"drain.max_wait=3s"}});
  ASSERT_TRUE(pod.up());
  auto idle = pod.pooledConnection();
  ASSERT_TRUE(idle);
  std::string error;
  auto hung = KeepAliveConnection::open(AF_INET, pod.appPort(), error);
  ASSERT_TRUE(hung) << error;
  ASSERT_TRUE(hung->sendRequest("/hang"));
  int64_t done_ns = 0;
  json summary = pod.prestop(done_ns);
  EXPECT_EQ(summary["outcome"], "deadline") << summary;
  EXPECT_THAT(summary.value("reason", ""), HasSubstr("1 busy connection(s)")) << summary;
  EXPECT_THAT(summary.value("reason", ""), HasSubstr("drain.max_wait (3s) ran out")) << summary;
  const json& held = summary["drain"]["held_by"];
  ASSERT_EQ(held.size(), 1u) << summary;  // the idle one does not hold it
  EXPECT_EQ(held[0]["peer"], hung->peerName()) << summary;
  EXPECT_EQ(held[0]["activity"], "busy") << summary;
  EXPECT_EQ(held[0]["reason"], "peer spoke last") << summary;
  EXPECT_TRUE(held[0]["ms_since_data_in"].is_number()) << summary;
  EXPECT_EQ(summary["drain"]["idle"], 1) << summary;
}

// KNOWN GAP, disabled until the classifier handles it: a request that
// arrives on a kept-alive connection within the same kernel tick (1-10 ms)
// as the app's previous reply leaves tcpi_last_data_recv equal to
// tcpi_last_data_sent, so "the peer spoke last" cannot be read; when that
// happened before the drain wait's first read, no counter moves afterwards
// and the connection looks idle for good. Load balancers that reuse pooled
// connections back to back (haproxy `http-reuse`) hit this. Expected: the
// same as the test above.
TEST(ActivityDrain, DISABLED_ANeverEndingRequestRightAfterAReplyOnTheSameConnectionHoldsTheExit) {
  Pod pod({.sets = {"drain.max_wait=3s"}});
  ASSERT_TRUE(pod.up());
  std::string error;
  auto hung = KeepAliveConnection::open(AF_INET, pod.appPort(), error);
  ASSERT_TRUE(hung) << error;
  // Back to back: the reply, then at once the next request.
  ASSERT_TRUE(hung->sendRequest("/"));
  ASSERT_EQ(hung->readResponse(10s), 200);
  ASSERT_TRUE(hung->sendRequest("/hang"));
  int64_t done_ns = 0;
  json summary = pod.prestop(done_ns);
  EXPECT_EQ(summary["outcome"], "deadline") << summary;
  ASSERT_EQ(summary["drain"]["held_by"].size(), 1u) << summary;
  EXPECT_EQ(summary["drain"]["held_by"][0]["activity"], "busy") << summary;
}

// (f) The same over IPv6 loopback: peers are named "[::1]:port".
TEST(ActivityDrain, WorksOverIpv6) {
  if (!hasIpv6Loopback()) GTEST_SKIP() << "no IPv6 loopback (::1) on this machine";
  Pod pod({.listen = "[::1]:0"});
  ASSERT_TRUE(pod.up());
  auto idle = pod.pooledConnection(AF_INET6);
  auto slow = pod.pooledConnection(AF_INET6);
  ASSERT_TRUE(idle && slow);
  EXPECT_EQ(slow->peerName(), "[::1]:" + std::to_string(slow->localPort()));
  double waited_ms = 0;
  json summary = slowRequestDuringTheDrain(pod, *slow, "/work?ms=2000", waited_ms);
  EXPECT_EQ(summary["outcome"], "completed") << summary;
  EXPECT_EQ(summary["drain"]["source"], "netlink") << summary;
  EXPECT_EQ(summary["drain"]["idle"], 2) << summary;
  EXPECT_GE(waited_ms, 2000);
}

// (g) Where a seccomp filter refuses netlink sockets, lameduck falls back
// to /proc/net/tcp and says so: summary, warn log, metric. Without
// timestamps an idle connection counts as busy, so it holds the exit until
// it closes.
TEST(ActivityDrain, FallsBackToProcWhereSeccompRefusesNetlink) {
  Pod pod({.prefix = {noNetlinkBinary()}});
  ASSERT_TRUE(pod.up());
  auto warn = waitForLine(
      pod.lameduck().outputPath(),
      [](const json& j) {
        return j.value("msg", "") == "connection activity from /proc: idle connections count as busy";
      },
      5s);
  ASSERT_TRUE(warn) << pod.lameduck().output();
  EXPECT_EQ((*warn)["level"], "warn") << *warn;
  EXPECT_EQ((*warn)["source"], "proc") << *warn;
  EXPECT_THAT((*warn).value("reason", ""), HasSubstr("netlink refused")) << *warn;
  EXPECT_EQ(metricValue(pod.metricsPort(), "lameduck_drain_connection_source{source=\"proc\"}"), 1);
  EXPECT_EQ(metricValue(pod.metricsPort(), "lameduck_drain_connection_source{source=\"netlink\"}"),
            0);

  auto conn = pod.pooledConnection();
  ASSERT_TRUE(conn);
  PrestopCall prestop(pod);
  json status;
  ASSERT_TRUE(waitUntil(
      [&] {
        status = pod.status();
        return status.is_object() && status["drain"]["busy"] == 1 &&
               status["duration_ms"].get<double>() > 1500;  // past the quiet period
      },
      15s))
      << status;
  EXPECT_EQ(status["drain"]["source"], "proc") << status;
  conn.reset();  // closing it lets the exit end
  json summary = prestop.summary();
  EXPECT_EQ(summary["outcome"], "completed") << summary;
  EXPECT_EQ(summary["drain"]["source"], "proc") << summary;
}

// (h) As the chart runs it: a non-root user with every capability dropped
// still reads the app's connections through netlink.
TEST(ActivityDrain, ReadsNetlinkAsANonRootUserWithoutCapabilities) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to uid 65534";
  if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "no setpriv (util-linux)";
  Pod pod({.prefix = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                      "--inh-caps=-all", "--bounding-set=-all", "--"}});
  ASSERT_TRUE(pod.up()) << pod.lameduck().output();
  // It really runs as uid 65534 with no capability.
  std::ifstream proc_status("/proc/" + std::to_string(pod.lameduck().pid()) + "/status");
  std::string line, uid, cap_eff, cap_bnd;
  while (std::getline(proc_status, line)) {
    if (line.starts_with("Uid:")) uid = line;
    if (line.starts_with("CapEff:")) cap_eff = line;
    if (line.starts_with("CapBnd:")) cap_bnd = line;
  }
  EXPECT_THAT(uid, HasSubstr("65534"));
  EXPECT_THAT(cap_eff, HasSubstr("0000000000000000"));
  EXPECT_THAT(cap_bnd, HasSubstr("0000000000000000"));

  auto idle = pod.pooledConnection();
  auto slow = pod.pooledConnection();
  ASSERT_TRUE(idle && slow);
  double waited_ms = 0;
  json summary = slowRequestDuringTheDrain(pod, *slow, "/work?ms=2000", waited_ms);
  EXPECT_EQ(summary["outcome"], "completed") << summary;
  EXPECT_EQ(summary["drain"]["source"], "netlink") << summary << pod.lameduck().output();
  EXPECT_EQ(summary["drain"]["idle"], 2) << summary;
  EXPECT_GE(waited_ms, 2000);
}

}  // namespace
}  // namespace lameduck::testing

#include "support/scenario.h"

#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>

#include "common/parse.h"
#include "support/haproxy.h"
#include "support/harness.h"
#include "support/keepalive.h"
#include "support/nginx.h"

namespace lameduck::testing {
namespace {

double msSince(int64_t t0) { return static_cast<double>(monoNs() - t0) / 1e6; }

}  // namespace

std::string schemeName(ExitScheme s) {
  switch (s) {
    case ExitScheme::kLameduck:
      return "lameduck";
    case ExitScheme::kBareSigterm:
      return "bare SIGTERM";
    case ExitScheme::kSleepPrestop:
      return "preStop sleep";
    case ExitScheme::kFixedDrain:
      return "fixed drain + polling";
    case ExitScheme::kConnectionCount:
      return "connection count";
  }
  return "?";
}

std::string balancerName(Balancer b) { return b == Balancer::kNginx ? "nginx" : "haproxy"; }

ScenarioResult runScenario(const ScenarioOptions& o) {
  ScenarioResult result;
  TempDir dir;
  auto startApp = [&](const std::string& name) -> std::pair<std::unique_ptr<Process>, int> {
    auto p = std::make_unique<Process>(
        o.hooks ? std::vector<std::string>{sampleAppBinary(), "--listen", "127.0.0.1:0",
                                           "--threads", "32"}
                : std::vector<std::string>{plainAppBinary(), "--listen", "127.0.0.1:0"},
        dir.file(name + ".log"));
    auto port = waitForAppPort(*p);
    return {std::move(p), port.value_or(0)};
  };
  auto [app1, port1] = startApp("app1");
  auto [app2, port2] = startApp("app2");
  if (port1 == 0 || port2 == 0) {
    result.error = "sample apps did not start";
    return result;
  }

  std::string balancer_error;
  std::unique_ptr<Haproxy> haproxy;
  std::unique_ptr<Nginx> nginx;
  if (o.balancer == Balancer::kNginx) {
    nginx = Nginx::start(dir, {{"app1", port1}, {"app2", port2}}, balancer_error);
  } else {
    // Without hooks nothing tells the app to close its kept-alive
    // connections: pool them as hard as haproxy can, and let no retry or
    // redispatch hide a request the app dropped.
    haproxy = Haproxy::start(dir, {{"app1", port1}, {"app2", port2}}, balancer_error, "",
                             o.hooks ? "" : "  http-reuse always\n  retries 0\n");
  }
  if (!haproxy && !nginx) {
    result.error = balancer_error;
    return result;
  }
  const int front = haproxy ? haproxy->frontPort() : nginx->frontPort();
  const bool client_close = o.balancer == Balancer::kNginx;

  std::unique_ptr<Process> lameduck;
  int admin_port = 0;
  const bool with_lameduck =
      o.scheme == ExitScheme::kLameduck || o.scheme == ExitScheme::kConnectionCount;
  if (with_lameduck) {
    std::vector<std::string> args{
        lameduckBinary(), "run", "--set", "admin.listen=127.0.0.1:0", "--set",
        "metrics.listen=127.0.0.1:0", "--set", "compensation.spool=" + dir.file("spool"), "--set",
        "app.ports=[" + std::to_string(port1) + "]", "--set",
        "exit.grace_period=" + formatDuration(o.grace), "--set",
        "drain.quiet_period=" + formatDuration(o.quiet), "--set",
        "drain.max_wait=" + formatDuration(o.max_wait), "--set",
        std::string("log.level=") + (std::getenv("BENCH_VERBOSE") ? "debug" : "info")};
    if (o.hooks) {
      args.push_back("--set");
      args.push_back("app.base_url=http://127.0.0.1:" + std::to_string(port1));
    }
    std::map<std::string, std::string> env;
    if (o.scheme == ExitScheme::kConnectionCount) env["LAMEDUCK_TEST_DISABLE_NETLINK"] = "1";
    lameduck = std::make_unique<Process>(args, dir.file("lameduck.log"), env);
    admin_port = waitForLameduckPort(*lameduck, "admin").value_or(0);
    if (admin_port == 0) {
      result.error = "lameduck did not start: " + lameduck->output();
      return result;
    }
  }

  // The load: keep-alive clients through haproxy, some requests slow.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> total{0}, failed{0};
  std::mutex failures_mu;
  std::vector<std::thread> clients;
  for (int c = 0; c < o.clients; ++c) {
    clients.emplace_back([&, c] {
      http::Client client(HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(front), ""},
                          SystemClock::instance());
      // Paced clients leave CPU to the processes under test; a client that
      // fell behind does not burst to catch up.
      const auto gap = o.rate > 0 ? std::chrono::nanoseconds(1'000'000'000LL * o.clients / o.rate)
                                  : std::chrono::nanoseconds(0);
      auto next = std::chrono::steady_clock::now();
      for (int64_t i = c; !stop; ++i) {
        if (o.rate > 0) {
          next += gap;
          auto now = std::chrono::steady_clock::now();
          if (next > now) {
            std::this_thread::sleep_until(next);
          } else if (now - next > 100ms) {
            next = now;
          }
        }
        const bool slow = o.slow_every > 0 && i % o.slow_every == 0;
        auto r = client.send("GET", slow ? "/work?ms=" + std::to_string(o.slow_ms) : "/", "", "",
                             client_close ? http::Headers{{"Connection", "close"}}
                                          : http::Headers{},
                             10s);
        total++;
        if (!r || r->status != 200) {
          failed++;
          std::lock_guard lock(failures_mu);
          result.failures[r ? "HTTP " + std::to_string(r->status)
                            : r.error().message.substr(0, 60)]++;
        }
      }
    });
  }
  // A monitoring probe: one request straight to app1, then its connection
  // stays open and idle.
  std::unique_ptr<KeepAliveConnection> probe;
  if (o.probe) {
    probe = KeepAliveConnection::open(AF_INET, port1, balancer_error);
    if (!probe || probe->get("/", 5s) != 200) {
      stop = true;
      for (auto& t : clients) t.join();
      result.error = "the probe connection to app1 failed: " + balancer_error;
      return result;
    }
  }
  std::this_thread::sleep_for(o.warmup);  // load time, not synchronisation

  // The pod of app1 is deleted.
  const int64_t t0 = monoNs();
  std::atomic<double> removed_ms{-1};
  std::thread endpoints([&] {
    std::this_thread::sleep_for(o.propagation);  // endpoint propagation delay
    if (haproxy) {
      haproxy->command("set server be_app/app1 state maint");
    } else if (!nginx->removeServer("app1")) {
      std::fprintf(stderr, "nginx did not reload: %s\n", nginx->log().c_str());
    }
    removed_ms = msSince(t0);
  });
  switch (o.scheme) {
    case ExitScheme::kLameduck:
    case ExitScheme::kConnectionCount: {
      auto r = call(admin_port, "GET", "/prestop", {},
                    std::chrono::duration_cast<std::chrono::milliseconds>(o.grace));
      result.prestop_ms = msSince(t0);
      if (r) result.summary = r->body;
      break;
    }
    case ExitScheme::kBareSigterm:
      break;
    case ExitScheme::kSleepPrestop:
      std::this_thread::sleep_for(o.sleep);  // the scheme under test is a blind sleep
      break;
    case ExitScheme::kFixedDrain: {
      std::this_thread::sleep_for(o.fixed_min);  // the scheme's fixed minimum drain
      for (;;) {
        auto r = call(port1, "GET", "/lameduck/status", {}, 2s);
        if (r && r->body.find("\"inflight\":0") != std::string::npos) break;
        if (msSince(t0) > toMillis(o.grace)) break;
        std::this_thread::sleep_for(o.fixed_poll);  // the scheme polls once a second
      }
      break;
    }
  }
  app1->signal(SIGTERM);
  const auto grace_left = std::chrono::milliseconds(
      std::max<int64_t>(0, static_cast<int64_t>(toMillis(o.grace) - msSince(t0))));
  if (!app1->waitExit(grace_left)) {
    app1->signal(SIGKILL);
    app1->waitExit(5s);
  }
  result.exit_ms = msSince(t0);
  endpoints.join();
  result.removed_ms = removed_ms;
  std::this_thread::sleep_for(o.after);  // keep the load on after app1 is gone
  stop = true;
  for (auto& t : clients) t.join();
  if (lameduck && std::getenv("BENCH_VERBOSE")) std::fputs(lameduck->output().c_str(), stderr);
  if (lameduck) {
    lameduck->signal(SIGTERM);
    lameduck->waitExit(10s);
  }
  probe.reset();
  haproxy.reset();
  nginx.reset();
  app2->signal(SIGTERM);
  app2->waitExit(10s);

  result.total = total;
  result.failed = failed;
  if (!result.summary.empty()) {
    auto summary = nlohmann::json::parse(result.summary, nullptr, false);
    if (summary.is_object() && summary["outcome"].is_string()) {
      result.outcome = summary["outcome"].get<std::string>();
    }
  }
  if (with_lameduck) {
    auto stopped = waitForLine(
        app1->outputPath(),
        [](const nlohmann::json& j) { return j.value("event", "") == "stopped"; }, 1s);
    if (stopped) {
      // Under continuous load every request to app1 after its drain hook
      // comes on a new connection, so its last new connection arrives just
      // before haproxy stops routing to it: the removal time stands for it.
      const double last_done =
          static_cast<double>((*stopped)["last_done_ns"].get<int64_t>() - t0) / 1e6;
      result.ideal_ms = std::max(last_done, result.removed_ms + toMillis(o.quiet));
    }
  }
  result.ok = true;
  return result;
}

}  // namespace lameduck::testing

// Admin-port load benchmark: the real daemon with hostile connections open
// on its admin port while a kubelet-style preStop hook (GET /prestop,
// blocking for the whole exit) runs:
//   --idle N        connections that send nothing (default 1000)
//   --slowloris N   connections that send one header byte every interval
//                   (default 1000)
//   --slow-body N   connections that send a whole head announcing a 64 KiB
//                   body, all of it but its last KiB, then one byte every
//                   interval (default 300)
//   --interval-ms M the slowloris and slow-body byte interval (default 3000:
//                   a byte every 3 s)
// Every closed connection is opened again. Measured, each call on a fresh
// connection as the kubelet makes them:
//   /healthz before and during the exit, /readyz during it (1 s timeout);
//   /prestop during the exit: a probe loop starts a /prestop call every
//   --prestop-every-ms (100) next to the kubelet's (a call joins the running
//   exit), and each is timed from the moment the exit ended (the summary's
//   started_at + duration_ms) to its answer;
//   /prestop after the exit (answered at once, 1 s timeout).
// A failed call (no answer in time, or a 5xx) counts as a miss: it is
// reported in `failed` and sorts above every answer in the percentiles, so a
// p99 with more than 1 % failures reads "miss". Also printed: the sidecar's
// peak RSS (VmHWM) over the run. Target: p99 <= 100 ms (the kubelet's probe
// timeout is 1 s).
//
//   tests/bench/run admin [--idle N] [--slowloris N] [--slow-body N] [--interval-ms M]
//                         [--probes N] [--quiet 8s] [--prestop-every-ms M]

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/idle_clients.h"

namespace {

using namespace lameduck;
using namespace std::chrono_literals;

constexpr double kMiss = std::numeric_limits<double>::infinity();

// Latencies in ms; a failed call is recorded as a miss (infinite).
struct Stats {
  std::mutex mu;
  std::vector<double> ms;
  size_t failed = 0;

  void add(double v) {
    std::lock_guard lock(mu);
    ms.push_back(v);
  }
  void fail() {
    std::lock_guard lock(mu);
    ms.push_back(kMiss);
    ++failed;
  }
  void print(const char* what) {
    std::lock_guard lock(mu);
    std::vector<double> s = ms;
    std::sort(s.begin(), s.end());
    auto pct = [&](double p) {
      if (s.empty()) return 0.0;
      return s[std::min(s.size() - 1, static_cast<size_t>(p * static_cast<double>(s.size())))];
    };
    auto cell = [](double v) {
      char buf[32];
      if (std::isinf(v)) return std::string("   miss");
      std::snprintf(buf, sizeof buf, "%7.2f", v);
      return std::string(buf);
    };
    std::printf("%-40s n=%-5zu failed=%-4zu p50=%s ms  p99=%s ms  max=%s ms\n", what, s.size(),
                failed, cell(pct(0.50)).c_str(), cell(pct(0.99)).c_str(),
                cell(s.empty() ? 0.0 : s.back()).c_str());
  }
};

// One call on a fresh connection; its latency, or a miss.
void probe(int port, const std::string& path, Stats& stats, std::chrono::milliseconds timeout) {
  const int64_t start = testing::monoNs();
  auto r = testing::call(port, "GET", path, {{"Connection", "close"}}, timeout);
  const double ms = static_cast<double>(testing::monoNs() - start) / 1e6;
  if (!r || r->status >= 500) {
    stats.fail();
  } else {
    stats.add(ms);
  }
}

int64_t wallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-12-02T13:03:28.123Z" in ms since the epoch; -1 when malformed.
int64_t rfc3339Ms(const std::string& text) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7) {
    return -1;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

// A /prestop call made during the exit: when it was answered (wall ms) and
// how, and the summary it got.
struct HookCall {
  bool ok = false;
  int64_t answered_ms = 0;
  std::string body;
};

HookCall callPrestop(int port, std::chrono::milliseconds timeout) {
  HookCall out;
  auto r = testing::call(port, "GET", "/prestop", {{"Connection", "close"}}, timeout);
  out.answered_ms = wallMs();
  out.ok = r && r->status == 200;
  if (r) out.body = r->body;
  return out;
}

// VmHWM of a process, in KiB; -1 when unreadable.
long peakRssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

void raiseOwnDescriptorLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

}  // namespace

int main(int argc, char** argv) {
  size_t idle = 1000;
  size_t slowloris = 1000;
  size_t slow_body = 300;
  int interval_ms = 3000;
  int probes = 300;
  int prestop_every_ms = 100;
  std::string quiet = "8s";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--idle") idle = std::stoul(argv[i + 1]);
    else if (a == "--slowloris") slowloris = std::stoul(argv[i + 1]);
    else if (a == "--slow-body") slow_body = std::stoul(argv[i + 1]);
    else if (a == "--interval-ms") interval_ms = std::stoi(argv[i + 1]);
    else if (a == "--probes") probes = std::stoi(argv[i + 1]);
    else if (a == "--prestop-every-ms") prestop_every_ms = std::stoi(argv[i + 1]);
    else if (a == "--quiet") quiet = argv[i + 1];
    else {
      std::fprintf(stderr, "bench_admin: unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  raiseOwnDescriptorLimit();
  testing::TempDir dir;
  // No app: the exit is the drain's quiet period, long enough to probe
  // during it.
  testing::Process daemon(
      {testing::lameduckBinary(), "run", "--set", "admin.listen=127.0.0.1:0", "--set",
       "metrics.listen=127.0.0.1:0", "--set", "compensation.spool=" + dir.path(), "--set",
       "app.ports=[9]", "--set", "drain.quiet_period=" + quiet},
      dir.file("lameduck.log"));
  auto port = testing::waitForLameduckPort(daemon, "admin");
  auto metrics_port = testing::waitForLameduckPort(daemon, "metrics");
  if (!port || !metrics_port) {
    std::fprintf(stderr, "lameduck did not start:\n%s\n", daemon.output().c_str());
    return 1;
  }
  const std::chrono::milliseconds interval(interval_ms);
  testing::IdleClients idle_clients(*port, idle, testing::IdleClients::Kind::kIdle);
  testing::IdleClients slow_clients(*port, slowloris, testing::IdleClients::Kind::kSlowloris,
                                    interval);
  testing::IdleClients body_clients(*port, slow_body, testing::IdleClients::Kind::kSlowBody,
                                    interval, 64 * 1024);
  std::printf(
      "admin port %d: %zu idle + %zu slowloris + %zu slow-body connections open "
      "(a byte every %d ms)\n",
      *port, idle_clients.open(), slow_clients.open(), body_clients.open(), interval_ms);

  Stats before;
  for (int i = 0; i < probes; ++i) {
    probe(*port, "/healthz", before, 1s);
    std::this_thread::sleep_for(5ms);
  }

  // The kubelet's preStop hook: one call that blocks until the exit ends;
  // next to it, more /prestop callers joining the exit all along.
  std::atomic<bool> hook_done{false};
  HookCall kubelet_call;
  std::thread kubelet([&] {
    kubelet_call = callPrestop(*port, 60s);
    hook_done = true;
  });
  std::mutex calls_mu;
  std::vector<HookCall> calls;
  std::vector<std::thread> callers;
  std::thread prestop_loop([&] {
    while (!hook_done) {
      callers.emplace_back([&] {
        HookCall c = callPrestop(*port, 60s);
        std::lock_guard lock(calls_mu);
        calls.push_back(std::move(c));
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(prestop_every_ms));
    }
  });
  Stats during;
  Stats readyz;
  while (!hook_done) {
    probe(*port, "/healthz", during, 1s);
    const int64_t start = testing::monoNs();
    auto r = testing::call(*port, "GET", "/readyz", {{"Connection", "close"}}, 1s);
    if (r && (r->status == 200 || r->status == 503)) {
      readyz.add(static_cast<double>(testing::monoNs() - start) / 1e6);
    } else {
      readyz.fail();
    }
    std::this_thread::sleep_for(5ms);
  }
  kubelet.join();
  prestop_loop.join();
  for (auto& t : callers) t.join();

  // When the exit ended, from the summary the hook got.
  int64_t ended_ms = -1;
  if (kubelet_call.ok) {
    auto j = nlohmann::json::parse(kubelet_call.body, nullptr, false);
    if (j.is_object() && j["started_at"].is_string() && j["duration_ms"].is_number()) {
      const int64_t started = rfc3339Ms(j["started_at"].get<std::string>());
      if (started >= 0) ended_ms = started + j["duration_ms"].get<int64_t>();
    }
  }
  Stats joined;
  calls.push_back(kubelet_call);
  for (const HookCall& c : calls) {
    if (!c.ok || ended_ms < 0) {
      joined.fail();
    } else {
      joined.add(static_cast<double>(std::max<int64_t>(0, c.answered_ms - ended_ms)));
    }
  }

  // Once the exit ended, /prestop answers the summary at once: more hook
  // callers (a restarted kubelet, `lameduck prestop`) must not wait.
  Stats after;
  for (int i = 0; i < probes; ++i) probe(*port, "/prestop", after, 1s);
  const long peak_kib = peakRssKib(daemon.pid());

  before.print("/healthz, before the exit");
  during.print("/healthz, during the exit");
  readyz.print("/readyz, during the exit (503 ok)");
  joined.print("/prestop during the exit, after its end");
  after.print("/prestop, after the exit");
  std::printf("kubelet hook: %s\n", kubelet_call.ok ? "200, summary received" : "FAILED");
  std::printf("sidecar peak RSS (VmHWM): %.1f MiB\n", static_cast<double>(peak_kib) / 1024.0);
  std::printf(
      "connections the server closed (and the clients reopened): idle %zu, slowloris %zu, "
      "slow-body %zu\n",
      idle_clients.reopened(), slow_clients.reopened(), body_clients.reopened());
  const double budget = testing::metricValue(
      *metrics_port, "lameduck_admin_connections_shed_total{reason=\"budget\"}");
  const double overdue = testing::metricValue(
      *metrics_port, "lameduck_admin_connections_shed_total{reason=\"overdue\"}");
  std::printf("admin connections shed: budget %.0f, overdue %.0f\n", budget, overdue);
  daemon.signal(SIGTERM);
  daemon.waitExit(30s);
  return 0;
}

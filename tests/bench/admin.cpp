// Admin-port load benchmark: the real daemon with 1,000 hostile connections
// open on its admin port (half idle, half slowloris: a header byte every
// 200 ms), while a kubelet-style preStop hook (GET /prestop, blocking for the
// whole exit) runs. Prints p50/p99/max of /healthz (a new connection per
// probe, as the kubelet does) before and during the exit, and of /prestop
// calls. Target: p99 <= 100 ms (the kubelet's probe timeout is 1 s).
//
//   tests/bench/run admin [--idle N] [--slowloris N] [--probes N] [--quiet 8s]

#include <algorithm>
#include <csignal>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/idle_clients.h"

namespace {

using namespace lameduck;
using namespace std::chrono_literals;

struct Stats {
  std::vector<double> ms;
  size_t failed = 0;
  void print(const char* what) const {
    std::vector<double> s = ms;
    std::sort(s.begin(), s.end());
    auto pct = [&](double p) {
      if (s.empty()) return 0.0;
      return s[std::min(s.size() - 1, static_cast<size_t>(p * static_cast<double>(s.size())))];
    };
    std::printf("%-34s n=%-5zu failed=%-3zu p50=%7.2f ms  p99=%7.2f ms  max=%7.2f ms\n", what,
                s.size(), failed, pct(0.50), pct(0.99), s.empty() ? 0.0 : s.back());
  }
};

// One call on a fresh connection; its latency, or a failure.
void probe(int port, const std::string& path, Stats& stats, std::chrono::milliseconds timeout,
           bool any_status = false) {
  const int64_t start = testing::monoNs();
  auto r = testing::call(port, "GET", path, {{"Connection", "close"}}, timeout);
  const double ms = static_cast<double>(testing::monoNs() - start) / 1e6;
  if (!r || (!any_status && r->status >= 500)) {
    ++stats.failed;
  } else {
    stats.ms.push_back(ms);
  }
}

}  // namespace

int main(int argc, char** argv) {
  size_t idle = 500;
  size_t slowloris = 500;
  int probes = 300;
  std::string quiet = "8s";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--idle") idle = std::stoul(argv[i + 1]);
    if (a == "--slowloris") slowloris = std::stoul(argv[i + 1]);
    if (a == "--probes") probes = std::stoi(argv[i + 1]);
    if (a == "--quiet") quiet = argv[i + 1];
  }
  testing::TempDir dir;
  // No app: the exit is the drain's quiet period, long enough to probe
  // during it.
  testing::Process daemon(
      {testing::lameduckBinary(), "run", "--set", "admin.listen=127.0.0.1:0", "--set",
       "metrics.listen=127.0.0.1:0", "--set", "compensation.spool=" + dir.path(), "--set",
       "app.ports=[9]", "--set", "drain.quiet_period=" + quiet},
      dir.file("lameduck.log"));
  auto port = testing::waitForLameduckPort(daemon, "admin");
  if (!port) {
    std::fprintf(stderr, "lameduck did not start:\n%s\n", daemon.output().c_str());
    return 1;
  }
  testing::IdleClients idle_clients(*port, idle, testing::IdleClients::Kind::kIdle);
  testing::IdleClients slow_clients(*port, slowloris, testing::IdleClients::Kind::kSlowloris);
  std::printf("admin port %d: %zu idle + %zu slowloris connections open\n", *port,
              idle_clients.open(), slow_clients.open());

  Stats before;
  for (int i = 0; i < probes; ++i) {
    probe(*port, "/healthz", before, 1s);
    std::this_thread::sleep_for(5ms);
  }

  // The kubelet's preStop hook: one call that blocks until the exit ends.
  std::atomic<bool> hook_done{false};
  Stats hook;
  std::thread kubelet([&] {
    probe(*port, "/prestop", hook, 60s);
    hook_done = true;
  });
  Stats during;
  Stats readyz;
  while (!hook_done) {
    probe(*port, "/healthz", during, 1s);
    probe(*port, "/readyz", readyz, 1s, /*any_status=*/true);
    std::this_thread::sleep_for(5ms);
  }
  kubelet.join();

  // Once the exit ended, /prestop answers the summary at once: more hook
  // callers (a restarted kubelet, `lameduck prestop`) must not wait.
  Stats after;
  for (int i = 0; i < probes; ++i) probe(*port, "/prestop", after, 1s);

  before.print("/healthz, before the exit");
  during.print("/healthz, during the exit");
  readyz.print("/readyz, during the exit (503 ok)");
  hook.print("/prestop, kubelet hook (whole exit)");
  after.print("/prestop, after the exit");
  std::printf("connections the server closed (and the clients reopened): idle %zu, slowloris %zu\n",
              idle_clients.reopened(), slow_clients.reopened());
  daemon.signal(SIGTERM);
  daemon.waitExit(30s);
  return 0;
}

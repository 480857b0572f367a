// The drain benchmark: haproxy in front of two apps, keep-alive load with
// slow requests, app1's pod deleted while haproxy learns of the removal only
// `--propagation` later.
//   hooks: sample apps with the drain protocol; compares lameduck with bare
//     SIGTERM, a blind preStop sleep and a fixed minimum drain with 1 s
//     polling.
//   no-hooks: apps without it (lameduck sees only their connections),
//     haproxy pooling (`http-reuse always`, no retries) and an idle probe
//     connection to app1, at propagation 2 s and 5 s (or --propagation);
//     compares lameduck with bare SIGTERM, `sleep 15` and the connection-count
//     rule (every open connection counts, read from /proc).
// Usage: drain [--case hooks|no-hooks|all] [--propagation 3s] [--warmup 5s]
//              [--sleep 15s] [--fixed 5s] [--quiet 2s] [--only lameduck]

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "common/parse.h"
#include "support/scenario.h"

using namespace lameduck;
using namespace lameduck::testing;

namespace {

// The drain-protocol case: lameduck against bare SIGTERM, a blind preStop
// sleep and a fixed minimum drain.
void runHooks(const ScenarioOptions& base, bool only_lameduck) {
  std::printf(
      "endpoint propagation delay %s, quiet period %s, %d keep-alive clients at up to %d "
      "requests/s, every %dth request %d ms\n\n",
      formatDuration(base.propagation).c_str(), formatDuration(base.quiet).c_str(), base.clients,
      base.rate, base.slow_every, base.slow_ms);
  std::printf("%-24s %10s %8s %14s %16s\n", "scheme", "requests", "failed", "exit (ms)",
              "app released (ms)");
  std::vector<ExitScheme> schemes{ExitScheme::kLameduck};
  if (!only_lameduck) {
    schemes.insert(schemes.end(),
                   {ExitScheme::kBareSigterm, ExitScheme::kSleepPrestop, ExitScheme::kFixedDrain});
  }
  ScenarioResult lameduck_result;
  for (ExitScheme s : schemes) {
    ScenarioOptions o = base;
    o.scheme = s;
    ScenarioResult r = runScenario(o);
    if (!r.ok) {
      std::printf("%-24s failed to run: %s\n", schemeName(s).c_str(), r.error.c_str());
      continue;
    }
    std::string label = schemeName(s);
    if (s == ExitScheme::kSleepPrestop) label += " " + formatDuration(o.sleep);
    if (s == ExitScheme::kFixedDrain) label = "fixed " + formatDuration(o.fixed_min) + " + 1s poll";
    double released = s == ExitScheme::kLameduck ? r.prestop_ms : r.exit_ms;
    std::printf("%-24s %10lld %8lld %14.0f %16.0f\n", label.c_str(),
                static_cast<long long>(r.total), static_cast<long long>(r.failed), r.exit_ms,
                released);
    for (const auto& [kind, n] : r.failures) {
      std::printf("%24s   %lld x %s\n", "", static_cast<long long>(n), kind.c_str());
    }
    if (s == ExitScheme::kLameduck) lameduck_result = r;
  }
  if (lameduck_result.ok) {
    std::printf(
        "\nlameduck: haproxy stopped routing at %.0f ms; ideal release (last request done, "
        "last new connection + quiet) at %.0f ms; preStop returned at %.0f ms\n",
        lameduck_result.removed_ms, lameduck_result.ideal_ms, lameduck_result.prestop_ms);
    std::printf("lameduck exit overhead: %.1f ms (target <= 100 ms)\n",
                lameduck_result.prestop_ms - lameduck_result.ideal_ms);
    if (std::getenv("BENCH_VERBOSE")) std::printf("%s\n", lameduck_result.summary.c_str());
  }
}

// The case of an app without the drain protocol behind haproxy that pools
// its connections, with an idle probe connection to app1.
void runNoHooks(const ScenarioOptions& base, Duration propagation, bool only_lameduck) {
  std::printf(
      "\nendpoint propagation delay %s, quiet period %s, %d keep-alive clients at up to %d "
      "requests/s, every %dth request %d ms, one idle probe connection\n",
      formatDuration(propagation).c_str(), formatDuration(base.quiet).c_str(), base.clients,
      base.rate, base.slow_every, base.slow_ms);
  std::printf("%-24s %10s %8s %10s %10s %12s %14s\n", "scheme", "requests", "failed", "outcome",
              "exit (ms)", "removed (ms)", "exit - removed");
  std::vector<ExitScheme> schemes{ExitScheme::kLameduck};
  if (!only_lameduck) {
    schemes.insert(schemes.end(), {ExitScheme::kBareSigterm, ExitScheme::kSleepPrestop,
                                   ExitScheme::kConnectionCount});
  }
  for (ExitScheme s : schemes) {
    ScenarioOptions o = base;
    o.scheme = s;
    o.hooks = false;
    o.probe = true;
    o.balancer = Balancer::kHaproxy;
    o.propagation = propagation;
    ScenarioResult r = runScenario(o);
    std::string label = schemeName(s);
    if (s == ExitScheme::kSleepPrestop) label += " " + formatDuration(o.sleep);
    if (s == ExitScheme::kConnectionCount) label = "old rule: connections<=0";
    if (!r.ok) {
      std::printf("%-24s failed to run: %s\n", label.c_str(), r.error.c_str());
      continue;
    }
    std::printf("%-24s %10lld %8lld %10s %10.0f %12.0f %14.0f\n", label.c_str(),
                static_cast<long long>(r.total), static_cast<long long>(r.failed),
                r.outcome.empty() ? "-" : r.outcome.c_str(), r.exit_ms, r.removed_ms,
                r.exit_ms - r.removed_ms);
    for (const auto& [kind, n] : r.failures) {
      std::printf("%24s   %lld x %s\n", "", static_cast<long long>(n), kind.c_str());
    }
    if (s == ExitScheme::kLameduck) {
      const double target = r.removed_ms + toMillis(o.quiet) + 200;
      std::printf(
          "%24s   preStop returned at %.0f ms; target: 0 failed and exit <= removal + quiet + "
          "200 ms = %.0f ms: %s\n",
          "", r.prestop_ms, target, r.failed == 0 && r.exit_ms <= target ? "met" : "MISSED");
      if (std::getenv("BENCH_VERBOSE")) std::printf("%s\n", r.summary.c_str());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  ScenarioOptions base;
  // More load than the integration test: at least 50,000 requests in the
  // lameduck run.
  base.warmup = std::chrono::seconds(10);
  base.clients = 16;
  base.slow_every = 100;
  base.rate = 6000;
  bool only_lameduck = false;
  bool propagation_set = false;
  std::string which = "all";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto dur = [&](Duration& out) {
      if (i + 1 >= argc || !parseDuration(argv[i + 1])) {
        std::cerr << a << " needs a duration like 3s\n";
        std::exit(2);
      }
      out = *parseDuration(argv[++i]);
    };
    if (a == "--propagation") {
      dur(base.propagation);
      propagation_set = true;
    } else if (a == "--case" && i + 1 < argc) {
      which = argv[++i];
    } else if (a == "--warmup") {
      dur(base.warmup);
    } else if (a == "--sleep") {
      dur(base.sleep);
    } else if (a == "--fixed") {
      dur(base.fixed_min);
    } else if (a == "--quiet") {
      dur(base.quiet);
    } else if (a == "--only" && i + 1 < argc && std::string(argv[i + 1]) == "lameduck") {
      only_lameduck = true;
      ++i;
    } else {
      std::cerr << "usage: drain [--case hooks|no-hooks|all] [--propagation 3s] [--warmup 5s] "
                   "[--sleep 15s] [--fixed 5s] [--quiet 2s] [--only lameduck]\n";
      return 2;
    }
  }
  if (which != "hooks" && which != "no-hooks" && which != "all") {
    std::cerr << "--case must be hooks, no-hooks or all\n";
    return 2;
  }
  if (which != "hooks") {
    if (which == "all") std::printf("== app with the drain protocol ==\n");
    if (which == "all") runHooks(base, only_lameduck);
    std::printf("%s== app without the drain protocol, haproxy connection reuse ==\n",
                which == "all" ? "\n" : "");
    std::vector<Duration> propagations{2s, 5s};
    if (propagation_set) propagations = {base.propagation};
    for (Duration p : propagations) runNoHooks(base, p, only_lameduck);
    return 0;
  }
  runHooks(base, only_lameduck);
  return 0;
}

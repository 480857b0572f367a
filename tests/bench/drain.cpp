// The drain benchmark: haproxy in front of two sample apps, keep-alive load
// with slow requests, app1's pod deleted while haproxy learns of the removal
// only `--propagation` later. Compares lameduck with bare SIGTERM, a blind
// preStop sleep and a fixed minimum drain with 1 s polling.
// Usage: drain [--propagation 3s] [--warmup 5s] [--sleep 15s] [--fixed 5s]
//              [--quiet 2s] [--only lameduck]

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "common/parse.h"
#include "support/scenario.h"

using namespace lameduck;
using namespace lameduck::testing;

int main(int argc, char** argv) {
  ScenarioOptions base;
  // More load than the integration test: at least 50,000 requests in the
  // lameduck run.
  base.warmup = std::chrono::seconds(10);
  base.clients = 16;
  base.slow_every = 100;
  base.rate = 6000;
  bool only_lameduck = false;
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
      std::cerr << "usage: drain [--propagation 3s] [--warmup 5s] [--sleep 15s] [--fixed 5s] "
                   "[--quiet 2s] [--only lameduck]\n";
      return 2;
    }
  }
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
  return 0;
}

// Footprint and latency benchmark for lameduck on embedded defaults:
//   - RSS and private (anonymous) memory after start and after 1,000 scrapes
//   - threads
//   - CPU seconds used while idle
//   - latency from a /prestop call to the app's drain hook receiving it
// Usage: footprint --lameduck BIN --app BIN [--idle 60s] [--runs 100]

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "common/parse.h"
#include "support/harness.h"

using namespace lameduck;
using namespace lameduck::testing;

namespace {

// A "Name:   123 kB" field of /proc/PID/status (or smaps_rollup), in kB.
long procField(pid_t pid, const std::string& file, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + ":", 0) == 0) return std::stol(line.substr(name.size() + 1));
  }
  return -1;
}

double cpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  // Fields after the command name (which is in parentheses and may hold spaces).
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) {
      stime = std::stol(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct Memory {
  long rss_kb, anon_kb, private_kb, threads;
};

Memory memory(pid_t pid) {
  long priv = procField(pid, "smaps_rollup", "Private_Clean") +
              procField(pid, "smaps_rollup", "Private_Dirty");
  return {procField(pid, "status", "VmRSS"), procField(pid, "status", "RssAnon"), priv,
          procField(pid, "status", "Threads")};
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  std::string lameduck_bin, app_bin;
  Duration idle = std::chrono::seconds(60);
  int runs = 100;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--lameduck" && i + 1 < argc) {
      lameduck_bin = argv[++i];
    } else if (a == "--app" && i + 1 < argc) {
      app_bin = argv[++i];
    } else if (a == "--idle" && i + 1 < argc) {
      idle = parseDuration(argv[++i]).value_or(idle);
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else {
      std::cerr << "usage: footprint --lameduck BIN --app BIN [--idle 60s] [--runs 100]\n";
      return 2;
    }
  }
  TempDir dir;

  // 1. Footprint on embedded defaults (loopback ports so runs never clash).
  Process ld({lameduck_bin, "run", "--set", "admin.listen=127.0.0.1:0", "--set",
              "metrics.listen=127.0.0.1:0"},
             dir.file("lameduck.log"));
  auto metrics_port = waitForLameduckPort(ld, "metrics");
  if (!metrics_port) {
    std::cerr << "lameduck did not start:\n" << ld.output();
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let start-up settle before measuring
  Memory at_start = memory(ld.pid());
  {
    http::Client client(HttpUrl{"http", "127.0.0.1", static_cast<uint16_t>(*metrics_port), ""},
                        SystemClock::instance());
    for (int i = 0; i < 1000; ++i) {
      auto r = client.send("GET", "/metrics", "", "", {}, std::chrono::seconds(5));
      if (!r || r->status != 200) {
        std::cerr << "scrape " << i << " failed\n";
        return 1;
      }
    }
  }
  Memory after_scrapes = memory(ld.pid());
  const double cpu0 = cpuSeconds(ld.pid());
  const int64_t t0 = monoNs();
  std::this_thread::sleep_for(idle);  // a benchmark measures idle time; nothing to poll
  const double cpu1 = cpuSeconds(ld.pid());
  const double idle_s = static_cast<double>(monoNs() - t0) / 1e9;
  const double idle_cpu_pct = 100.0 * (cpu1 - cpu0) / idle_s;

  // 2. preStop → drain hook latency, one fresh lameduck + app per run.
  std::vector<double> latencies_ms;
  for (int run = 0; run < runs; ++run) {
    Process app({app_bin, "--listen", "127.0.0.1:0"}, dir.file("app-run.log"));
    auto app_port = waitForAppPort(app);
    if (!app_port) return 1;
    Process l({lameduck_bin, "run", "--set", "admin.listen=127.0.0.1:0", "--set",
               "metrics.listen=127.0.0.1:0", "--set",
               "app.base_url=http://127.0.0.1:" + std::to_string(*app_port), "--set",
               "app.ports=[]", "--set", "compensation.spool=" + dir.file("spool")},
              dir.file("lameduck-run.log"));
    auto admin_port = waitForLameduckPort(l, "admin");
    if (!admin_port) return 1;
    HttpUrl url{"http", "127.0.0.1", static_cast<uint16_t>(*admin_port), ""};
    http::Client client(url, SystemClock::instance());
    const int64_t sent = monoNs();
    auto r = client.send("POST", "/prestop", "", "", {}, std::chrono::seconds(60));
    if (!r || r->status != 200) {
      std::cerr << "prestop failed in run " << run << ": "
                << (r ? "HTTP " + std::to_string(r->status) + " " + r->body : r.error().message)
                << "\n"
                << l.output();
      return 1;
    }
    auto drain = waitForLine(
        app.outputPath(), [](const nlohmann::json& j) { return j.value("event", "") == "drain"; },
        std::chrono::seconds(5));
    if (!drain) return 1;
    latencies_ms.push_back(static_cast<double>((*drain)["mono_ns"].get<int64_t>() - sent) / 1e6);
    l.signal(SIGTERM);
    app.signal(SIGTERM);
    l.waitExit(std::chrono::seconds(10));
    app.waitExit(std::chrono::seconds(10));
  }

  auto mb = [](long kb) { return static_cast<double>(kb) / 1024.0; };
  auto verdict = [](bool ok) { return ok ? "ok" : "MISSED"; };
  const double p50 = percentile(latencies_ms, 0.50), p99 = percentile(latencies_ms, 0.99);
  std::printf("lameduck footprint on embedded defaults\n");
  std::printf("  %-46s %8s %12s %12s  %s\n", "", "RSS MB", "anon MB", "private MB", "threads");
  std::printf("  %-46s %8.2f %12.2f %12.2f  %ld\n", "after start", mb(at_start.rss_kb),
              mb(at_start.anon_kb), mb(at_start.private_kb), at_start.threads);
  std::printf("  %-46s %8.2f %12.2f %12.2f  %ld\n", "after 1,000 /metrics scrapes",
              mb(after_scrapes.rss_kb), mb(after_scrapes.anon_kb), mb(after_scrapes.private_kb),
              after_scrapes.threads);
  std::printf("  idle CPU over %.0f s: %.3f s = %.4f %%\n", idle_s, cpu1 - cpu0, idle_cpu_pct);
  std::printf("  preStop -> drain hook over %d runs: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", runs,
              p50, p99, *std::max_element(latencies_ms.begin(), latencies_ms.end()));
  std::printf("targets\n");
  std::printf("  RSS <= 10 MB:              %s\n", verdict(after_scrapes.rss_kb <= 10 * 1024));
  std::printf("  private (anon) <= 3 MB:    %s\n", verdict(after_scrapes.anon_kb <= 3 * 1024));
  std::printf("  idle CPU <= 0.1 %%:         %s\n", verdict(idle_cpu_pct <= 0.1));
  std::printf("  preStop->drain p99 <= 5 ms: %s\n", verdict(p99 <= 5.0));
  return 0;
}

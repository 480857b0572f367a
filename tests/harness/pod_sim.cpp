// pod_sim: plays the kubelet for one pod on this machine. It starts the
// sample app and lameduck as separate processes, deletes the "pod" the way
// the kubelet does, and prints the exit timeline and lameduck's summary.
//
// Kubelet behaviour reproduced:
//   classic mode: the app container's preStop httpGet goes to /prestop and,
//     at the same moment, the sidecar container (no preStop of its own) gets
//     SIGTERM. The app gets SIGTERM only once its preStop hook returned.
//   native mode (sidecar as an init container with restartPolicy: Always):
//     preStop to /prestop, SIGTERM to the app after the hook, and SIGTERM to
//     the sidecar only after the app exited.
//   Whatever is still alive at terminationGracePeriodSeconds gets SIGKILL.
//
// Usage: pod_sim --lameduck BIN --app BIN [--grace 30s] [--mode classic|native]
//                [--slow N:MS] [--app-arg ARG]... [--admin-listen H:P]
//                [--metrics-listen H:P] [-- lameduck run args...]

#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "common/parse.h"
#include "support/harness.h"

using namespace lameduck;
using namespace lameduck::testing;
using nlohmann::json;

namespace {

int64_t wallMs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// "2026-11-24T21:23:51.719Z" → ms since the epoch, or -1.
int64_t parseTs(const std::string& ts) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(ts.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7) {
    return -1;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

struct Event {
  double at_ms;  // since the pod was deleted
  std::string who;
  std::string what;
};

class Timeline {
 public:
  Timeline() : t0_mono_(monoNs()), t0_wall_(wallMs()) {}
  void reset() {
    t0_mono_ = monoNs();
    t0_wall_ = wallMs();
  }
  void add(const std::string& who, const std::string& what) { addMono(monoNs(), who, what); }
  void addMono(int64_t mono_ns, const std::string& who, const std::string& what) {
    std::lock_guard lock(mu_);
    events_.push_back({(mono_ns - t0_mono_) / 1e6, who, what});
  }
  void addWall(int64_t wall_ms, const std::string& who, const std::string& what) {
    std::lock_guard lock(mu_);
    events_.push_back({static_cast<double>(wall_ms - t0_wall_), who, what});
  }
  double sinceStartMs() const { return (monoNs() - t0_mono_) / 1e6; }
  void print() {
    std::lock_guard lock(mu_);
    std::stable_sort(events_.begin(), events_.end(),
                     [](const Event& a, const Event& b) { return a.at_ms < b.at_ms; });
    for (const Event& e : events_) {
      std::printf("  %+9.1f ms  %-9s %s\n", e.at_ms, e.who.c_str(), e.what.c_str());
    }
  }

 private:
  std::mutex mu_;
  int64_t t0_mono_;
  int64_t t0_wall_;
  std::vector<Event> events_;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "pod_sim: " << why
            << "\nusage: pod_sim --lameduck BIN --app BIN [--grace 30s] [--mode classic|native]"
               " [--slow N:MS] [--app-arg ARG]... [--admin-listen H:P] [--metrics-listen H:P]"
               " [-- lameduck run args...]\n";
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string lameduck_bin, app_bin, mode = "classic";
  std::string admin_listen = "127.0.0.1:0", metrics_listen = "127.0.0.1:0";
  Duration grace = std::chrono::seconds(30);
  int slow_count = 0, slow_ms = 0;
  std::vector<std::string> app_args, lameduck_args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--lameduck") {
      lameduck_bin = next();
    } else if (a == "--app") {
      app_bin = next();
    } else if (a == "--grace") {
      auto d = parseDuration(next());
      if (!d || *d == Duration::zero()) usage("--grace: expected a duration like 30s");
      grace = *d;
    } else if (a == "--mode") {
      mode = next();
      if (mode != "classic" && mode != "native") usage("--mode: classic or native");
    } else if (a == "--slow") {
      std::string v = next();
      if (std::sscanf(v.c_str(), "%d:%d", &slow_count, &slow_ms) != 2 || slow_count < 0 ||
          slow_ms < 0)
        usage("--slow: expected N:MS, e.g. 3:1500");
    } else if (a == "--app-arg") {
      app_args.push_back(next());
    } else if (a == "--admin-listen") {
      admin_listen = next();
    } else if (a == "--metrics-listen") {
      metrics_listen = next();
    } else if (a == "--") {
      lameduck_args.assign(argv + i + 1, argv + argc);
      break;
    } else {
      usage("unknown argument " + a);
    }
  }
  if (lameduck_bin.empty() || app_bin.empty()) usage("--lameduck and --app are required");

  TempDir dir;
  Timeline timeline;
  std::vector<std::string> app_argv{app_bin, "--listen", "127.0.0.1:0"};
  app_argv.insert(app_argv.end(), app_args.begin(), app_args.end());
  Process app(app_argv, dir.file("app.log"));
  auto app_port = waitForAppPort(app, std::chrono::seconds(20));
  if (!app_port) {
    std::cerr << "pod_sim: the app did not start:\n" << app.output();
    return 1;
  }
  std::vector<std::string> ld_argv{
      lameduck_bin, "run",
      "--set",      "app.base_url=http://127.0.0.1:" + std::to_string(*app_port),
      "--set",      "admin.listen=" + admin_listen,
      "--set",      "metrics.listen=" + metrics_listen,
      "--set",      "exit.grace_period=" + formatDuration(grace),
      "--set",      "app.ports=[" + std::to_string(*app_port) + "]",
      "--set",      "compensation.spool=" + dir.file("spool")};
  ld_argv.insert(ld_argv.end(), lameduck_args.begin(), lameduck_args.end());
  Process ld(ld_argv, dir.file("lameduck.log"));
  auto admin_port = waitForLameduckPort(ld, "admin", std::chrono::seconds(20));
  if (!admin_port) {
    std::cerr << "pod_sim: lameduck did not start:\n" << ld.output();
    return 1;
  }
  std::printf("pod_sim: app on 127.0.0.1:%d, lameduck admin on port %d, %s sidecar, grace %s\n",
              *app_port, *admin_port, mode.c_str(), formatDuration(grace).c_str());

  // Work in flight when the pod is deleted.
  std::atomic<int> slow_ok{0}, slow_failed{0};
  std::vector<std::thread> slow;
  for (int i = 0; i < slow_count; ++i) {
    slow.emplace_back([&, i] {
      auto r = call(*app_port, "GET", "/work?ms=" + std::to_string(slow_ms), {},
                    std::chrono::milliseconds(slow_ms) + std::chrono::seconds(60));
      if (r && r->status == 200) {
        slow_ok++;
      } else {
        slow_failed++;
      }
      timeline.add("client", "slow request " + std::to_string(i + 1) + " " +
                                 (r ? "answered HTTP " + std::to_string(r->status)
                                    : "failed: " + r.error().message));
    });
  }
  if (slow_count > 0) {
    waitUntil(
        [&] {
          auto r = call(*app_port, "GET", "/lameduck/status");
          return r &&
                 r->body.find("\"inflight\":" + std::to_string(slow_count)) != std::string::npos;
        },
        std::chrono::seconds(10));
  }

  // The pod is deleted.
  timeline.reset();
  const auto grace_ms = std::chrono::duration_cast<std::chrono::milliseconds>(grace);
  timeline.add("kubelet", "pod deleted; preStop httpGet /prestop on the app container");
  if (mode == "classic") {
    ld.signal(SIGTERM);
    timeline.add("kubelet", "SIGTERM -> lameduck container (classic sidecar has no preStop)");
  }
  // hook_code and summary_body are the hook thread's until it is joined;
  // the main thread only polls hook_returned meanwhile.
  std::string summary_body;
  int hook_code = 0;
  std::atomic<bool> hook_returned{false};
  std::thread hook([&] {
    auto r = call(*admin_port, "GET", "/prestop", {}, grace_ms);
    if (r) {
      hook_code = r->status;
      summary_body = r->body;
      timeline.add("kubelet", "preStop hook returned HTTP " + std::to_string(r->status));
    } else {
      timeline.add("kubelet", "preStop hook failed: " + r.error().message);
    }
    hook_returned = true;
  });
  // The kubelet sends SIGTERM to the app once its hook returned (or the
  // grace period ran out).
  waitUntil([&] { return hook_returned || timeline.sinceStartMs() >= grace_ms.count(); },
            grace_ms + std::chrono::seconds(1), std::chrono::milliseconds(1));
  hook.join();
  app.signal(SIGTERM);
  timeline.add("kubelet", "SIGTERM -> app container");

  auto remaining = [&] {
    double left = static_cast<double>(grace_ms.count()) - timeline.sinceStartMs();
    return std::chrono::milliseconds(static_cast<int64_t>(std::max(0.0, left)));
  };
  auto app_code = app.waitExit(remaining());
  if (app_code) timeline.add("app", "exited with code " + std::to_string(*app_code));
  if (mode == "native" && ld.running()) {
    ld.signal(SIGTERM);
    timeline.add("kubelet", "SIGTERM -> lameduck (native sidecar: after the app exited)");
  }
  auto ld_code = ld.waitExit(remaining());
  if (ld_code) timeline.add("lameduck", "exited with code " + std::to_string(*ld_code));
  if (!app_code) {
    app.signal(SIGKILL);
    app.waitExit(std::chrono::seconds(5));
    timeline.add("kubelet", "grace period over: SIGKILL -> app");
  }
  if (!ld_code) {
    ld.signal(SIGKILL);
    ld.waitExit(std::chrono::seconds(5));
    timeline.add("kubelet", "grace period over: SIGKILL -> lameduck");
  }
  for (auto& t : slow) t.join();

  for (const json& j : jsonLines(app.outputPath())) {
    std::string ev = j.value("event", "");
    if (ev == "listening") continue;
    std::string what =
        ev == "drain"           ? "drain hook received"
        : ev == "terminate"     ? "terminate hook received"
        : ev == "compensations" ? "compensations fetched"
        : ev == "ack"    ? "acked for " + std::to_string(j.value("count", 0)) + " compensation(s)"
        : ev == "signal" ? "got " + j.value("signal", std::string("signal"))
        : ev == "stopped"
            ? "stopped serving (" + std::to_string(j.value("served", 0)) + " requests served)"
            : ev;
    timeline.addMono(j.value("mono_ns", int64_t{0}), "app", what);
  }
  for (const json& j : jsonLines(ld.outputPath())) {
    if (j.value("event", "") == "transition") {
      timeline.addWall(parseTs(j.value("ts", "")), "lameduck",
                       j.value("from", "") + " -> " + j.value("to", "") + " (trigger " +
                           j.value("trigger", "") + ")");
    } else if (j.value("msg", "") == "exit step did not complete" ||
               j.value("msg", "") == "exit step done") {
      timeline.addWall(parseTs(j.value("ts", "")), "lameduck",
                       "step " + j.value("step", "") + ": " + j.value("status", "") +
                           (j.contains("detail") ? " (" + j.value("detail", "") + ")" : ""));
    }
  }

  std::printf("\nExit timeline (ms since the pod was deleted):\n");
  timeline.print();
  std::printf("\nlameduck exit summary (the /prestop answer):\n");
  nlohmann::ordered_json summary = nlohmann::ordered_json::parse(summary_body, nullptr, false);
  std::printf("%s\n", summary.is_discarded() ? summary_body.c_str() : summary.dump(2).c_str());
  if (slow_count > 0) {
    std::printf("\nRequests in flight at deletion: %d completed, %d failed\n", slow_ok.load(),
                slow_failed.load());
  }
  const bool completed = !summary.is_discarded() && summary.value("outcome", "") == "completed";
  std::printf("Outcome: %s; app exit code %s; lameduck exit code %s\n",
              summary.is_discarded() ? "unknown" : summary.value("outcome", "unknown").c_str(),
              app_code ? std::to_string(*app_code).c_str() : "killed",
              ld_code ? std::to_string(*ld_code).c_str() : "killed");
  return completed && slow_failed == 0 && app_code && ld_code ? 0 : 1;
}

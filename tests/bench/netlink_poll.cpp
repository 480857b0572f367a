// The cost of one drain poll: a sock_diag dump of the namespace's TCP sockets,
// the snapshot and the busy/idle classification, with N established loopback
// connections on the app port (a child process plays the app and its
// clients, so the poller's own descriptors are as few as lameduck's). CPU
// time per poll from CLOCK_PROCESS_CPUTIME_ID (user + system, this process
// only); the /proc/net/tcp reader is measured the same way for comparison.
// With --lameduck, the real sidecar then runs with app.ports on the same
// port and those connections open, and its CPU time over --idle (from
// /proc/PID/stat) shows what it costs between exits: it polls only while
// draining, so it should be 0.
// Usage: netlink_poll [--connections 1000] [--polls 200] [--lameduck PATH] [--idle 10s]

#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <thread>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/parse.h"
#include "drain/activity.h"
#include "drain/loopback.h"
#include "drain/netlink.h"
#include "support/harness.h"

using namespace lameduck;
using namespace lameduck::drain;

namespace {

double cpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// This process's system (kernel) CPU time, in ms: the part of a poll spent in
// the kernel's socket walk rather than in lameduck's parsing.
double sysMs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_stime.tv_sec) * 1e3 + static_cast<double>(ru.ru_stime.tv_usec) / 1e3;
}

double wallMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

struct Figures {
  double mean = 0, p50 = 0, p99 = 0, max = 0, wall_mean = 0, sys_mean = 0, read_mean = 0;
  size_t connections = 0;
  int64_t busy = 0;
};

Figures measure(ConnectionSource& source, int polls) {
  std::vector<double> cpu;
  double wall_total = 0, sys_total = 0, read_total = 0;
  Figures f;
  std::optional<ConnectionSnapshot> previous;
  for (int i = 0; i < polls; ++i) {
    const double c0 = cpuMs(), w0 = wallMs(), s0 = sysMs();
    auto snap = source.read();
    read_total += cpuMs() - c0;
    if (!snap) {
      std::fprintf(stderr, "read failed: %s\n", snap.error().message.c_str());
      std::exit(1);
    }
    ActivityReport r = classify(previous ? &*previous : nullptr, *snap, std::chrono::milliseconds(100));
    const double c1 = cpuMs(), w1 = wallMs();
    sys_total += sysMs() - s0;
    cpu.push_back(c1 - c0);
    wall_total += w1 - w0;
    f.connections = snap->connections.size();
    f.busy = r.busy;
    if (std::getenv("NETLINK_POLL_DEBUG") && i == polls - 1) {
      for (const auto& c : r.connections) {
        if (c.facts.bytes_received.value_or(0) > 0) {
          std::fprintf(stderr, "%s %s in=%u out=%u rx=%llu acked=%llu\n", c.facts.key().c_str(),
                       std::string(c.reason).c_str(), c.facts.ms_since_data_in.value_or(0),
                       c.facts.ms_since_data_out.value_or(0),
                       static_cast<unsigned long long>(c.facts.bytes_received.value_or(0)),
                       static_cast<unsigned long long>(c.facts.bytes_acked.value_or(0)));
        }
      }
    }
    previous = std::move(*snap);
  }
  std::sort(cpu.begin(), cpu.end());
  double sum = 0;
  for (double v : cpu) sum += v;
  f.mean = sum / static_cast<double>(cpu.size());
  f.p50 = cpu[cpu.size() / 2];
  f.p99 = cpu[std::min(cpu.size() - 1, cpu.size() * 99 / 100)];
  f.max = cpu.back();
  f.wall_mean = wall_total / static_cast<double>(polls);
  f.sys_mean = sys_total / static_cast<double>(polls);
  f.read_mean = read_total / static_cast<double>(polls);
  return f;
}

// utime + stime of a process, in ms; -1 when /proc/PID/stat cannot be read.
double processCpuMs(pid_t pid) {
  std::string stat = lameduck::testing::readFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  // Fields after the command: state is field 3; utime 14, stime 15.
  std::vector<std::string> fields;
  size_t at = paren + 2;
  while (at < stat.size() && fields.size() < 13) {
    const size_t sp = stat.find(' ', at);
    fields.push_back(stat.substr(at, sp - at));
    if (sp == std::string::npos) break;
    at = sp + 1;
  }
  if (fields.size() < 13) return -1;
  const double ticks = std::atof(fields[11].c_str()) + std::atof(fields[12].c_str());
  return ticks * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The sidecar between exits: its CPU time over `idle` while `port` has the
// benchmark's connections open.
void idleCpu(const std::string& lameduck, uint16_t port, Duration idle) {
  lameduck::testing::TempDir dir;
  lameduck::testing::Process p({lameduck, "run", "--set", "admin.listen=127.0.0.1:0", "--set",
                      "metrics.listen=127.0.0.1:0", "--set",
                      "compensation.spool=" + dir.file("spool"), "--set",
                      "app.ports=[" + std::to_string(port) + "]"},
                     dir.file("lameduck.log"));
  if (!lameduck::testing::waitForLameduckPort(p, "metrics")) {
    std::fprintf(stderr, "lameduck did not start: %s\n", p.output().c_str());
    return;
  }
  const double before = processCpuMs(p.pid());
  const double w0 = wallMs();
  std::this_thread::sleep_for(idle);  // the idle time being measured
  const double used = processCpuMs(p.pid()) - before;
  const double secs = (wallMs() - w0) / 1000;
  std::printf(
      "lameduck idle (no exit) for %.1f s with those connections on app.ports: %.1f ms CPU "
      "(%.3f ms/s; /proc/PID/stat resolution %ld ms); target 0: %s\n",
      secs, used, used / secs, 1000 / sysconf(_SC_CLK_TCK), used < 1000.0 / sysconf(_SC_CLK_TCK) * 2 ? "met" : "MISSED");
}

}  // namespace

int main(int argc, char** argv) {
  int connections = 1000, polls = 200;
  std::string lameduck;
  Duration idle = std::chrono::seconds(10);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--connections" && i + 1 < argc) {
      connections = std::atoi(argv[++i]);
    } else if (a == "--polls" && i + 1 < argc) {
      polls = std::atoi(argv[++i]);
    } else if (a == "--lameduck" && i + 1 < argc) {
      lameduck = argv[++i];
    } else if (a == "--idle" && i + 1 < argc && parseDuration(argv[i + 1])) {
      idle = *parseDuration(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: netlink_poll [--connections 1000] [--polls 200] [--lameduck PATH] "
                   "[--idle 10s]\n");
      return 2;
    }
  }
  if (connections < 1 || polls < 1) return 2;
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < static_cast<rlim_t>(2 * connections + 64)) {
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, static_cast<rlim_t>(2 * connections + 64));
    setrlimit(RLIMIT_NOFILE, &lim);
  }

  lameduck::drain::testing::Listener listener(AF_INET, connections + 16);
  int ready[2], done[2];
  if (pipe(ready) != 0 || pipe(done) != 0) return 1;
  const pid_t child = fork();
  if (child == 0) {  // the app and its clients
    std::vector<lameduck::drain::testing::Socket> ends;
    ends.reserve(2 * static_cast<size_t>(connections));
    for (int i = 0; i < connections; ++i) {
      ends.push_back(listener.connect());
      ends.push_back(listener.accept());
      // Every tenth has a request the app is working on.
      if (i % 10 == 0) {
        ends[ends.size() - 2].send("GET /slow HTTP/1.1\r\n\r\n");
        ends.back().receive(22);
      }
    }
    (void)!write(ready[1], "r", 1);
    char b;
    (void)!read(done[0], &b, 1);
    _exit(0);
  }
  char b;
  if (read(ready[0], &b, 1) != 1) return 1;

  NetlinkOptions options;
  options.ports = {listener.port()};
  options.timeout = std::chrono::seconds(2);
  NetlinkConnectionSource netlink(options, SystemClock::instance(), OwnConnections([] {
                                    return ownSocketInodes();
                                  }));
  ProcConnectionSource proc("/proc", {listener.port()},
                            OwnConnections([] { return ownSocketInodes(); }));
  measure(netlink, 5);  // warm-up
  Figures nl = measure(netlink, polls);
  Figures pr = measure(proc, std::max(10, polls / 4));

  std::printf("%d established loopback connections on the app port, %d polls\n", connections,
              polls);
  std::printf("%-8s %12s %10s %10s %10s %10s %12s %10s %10s %6s\n", "source", "connections",
              "cpu mean", "cpu p50", "cpu p99", "cpu max", "wall mean", "read", "kernel", "busy");
  for (auto [name, f] : {std::pair{"netlink", nl}, std::pair{"proc", pr}}) {
    std::printf("%-8s %12zu %8.3fms %8.3fms %8.3fms %8.3fms %10.3fms %8.3fms %8.3fms %6lld\n",
                name, f.connections, f.mean, f.p50, f.p99, f.max, f.wall_mean, f.read_mean,
                f.sys_mean, static_cast<long long>(f.busy));
  }
  const bool ok = nl.mean <= 1.0 && nl.connections == static_cast<size_t>(connections);
  std::printf("target: netlink mean CPU per poll <= 1 ms: %s\n", ok ? "met" : "MISSED");
  if (!lameduck.empty()) idleCpu(lameduck, listener.port(), idle);
  (void)!write(done[1], "d", 1);
  waitpid(child, nullptr, 0);
  return 0;
}

#pragma once

// Helpers for tests that run real processes: spawn and stop them by PID,
// wait for conditions with a deadline (never a fixed sleep), read their JSON
// log lines, and make HTTP calls.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "http/http.h"

namespace lameduck::testing {

using namespace std::chrono_literals;

// A scratch directory removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// A child process whose stdout and stderr go to one file. The destructor
// sends SIGKILL if it is still running and reaps it, so no test leaves a
// process behind. It also fails the running test when the output holds a
// sanitizer's report (sanitizerReport).
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& output_path,
          const std::map<std::string, std::string>& env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& outputPath() const { return output_; }
  std::string output() const;
  void signal(int sig);
  bool running();
  // The exit status (WEXITSTATUS, or 128+signal) once it ended within
  // `timeout`; nullopt if it is still running.
  std::optional<int> waitExit(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string program_;
  std::string output_;
};

// The first report of AddressSanitizer, LeakSanitizer, ThreadSanitizer or
// UndefinedBehaviorSanitizer in a process's output, from its first line on
// (at most 4 KiB); empty when there is none.
std::string sanitizerReport(const std::string& output);

// Polls `condition` every `poll` until it holds or `timeout` passes.
bool waitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
               std::chrono::milliseconds poll = 10ms);

// Every line of a file that parses as a JSON object.
std::vector<nlohmann::json> jsonLines(const std::string& path);

// Waits for a JSON line matching `match` in the file; nullopt on timeout.
std::optional<nlohmann::json> waitForLine(const std::string& path,
                                          const std::function<bool(const nlohmann::json&)>& match,
                                          std::chrono::milliseconds timeout);

// The port a lameduck process logged for `server` ("admin" or "metrics").
std::optional<int> waitForLameduckPort(const Process& p, const std::string& server,
                                       std::chrono::milliseconds timeout = 20s);
// The port the sample app logged.
std::optional<int> waitForAppPort(const Process& p, std::chrono::milliseconds timeout = 20s);

// One HTTP call to 127.0.0.1:port.
Result<http::ClientResponse> call(int port, const std::string& method, const std::string& path,
                                  const http::Headers& headers = {},
                                  std::chrono::milliseconds timeout = 30s,
                                  const std::string& body = "");

// Paths of the binaries under test, from the build.
std::string lameduckBinary();
std::string sampleAppBinary();
// tests/fixtures/plain_app (keep-alive app without drain hooks) and
// tests/fixtures/no_netlink (runs a command with netlink sockets refused).
std::string plainAppBinary();
std::string noNetlinkBinary();

// Runs a command, returns its exit status; output goes to `output_path`.
int runCommand(const std::vector<std::string>& argv, const std::string& output_path,
               std::chrono::milliseconds timeout = 60s);

std::string readFile(const std::string& path);

}  // namespace lameduck::testing

namespace lameduck::testing {
// A loopback TCP port that was free a moment ago (for servers that cannot
// listen on port 0 and report the port, like prometheus). It is drawn below
// the kernel's ephemeral range, so no outgoing connection of a test running
// beside this one takes it before the server binds it; callers still retry
// with a fresh port when the server did not come up.
int freePort();

// A loopback TCP port where connections are refused for the object's
// lifetime: the port is bound but never listened on, so no other process
// (a test running beside this one) can take it the way it could take a
// port that was merely free a moment ago.
class RefusingPort {
 public:
  RefusingPort();
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  // 0 when no socket could be bound.
  int port() const { return port_; }
  // "http://127.0.0.1:<port>"
  std::string url() const;

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A TCP socket listening on 127.0.0.1 on a free port, which is stored in
// `port`; -1 on failure. The caller closes it.
int listenOnLoopback(int& port);

// CLOCK_MONOTONIC in nanoseconds: the clock the sample app stamps its
// events with, so timelines from several processes line up.
int64_t monoNs();

// The value of one sample ("name{labels}") in the /metrics answer of a
// server on 127.0.0.1:port, or -1 when absent.
double metricValue(int port, const std::string& series);
}  // namespace lameduck::testing

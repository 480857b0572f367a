#pragma once

// Starts the Go fixture service (tests/fixtures/goapp) for tests: its ports
// come from its first log line. The binary is built by CMake (target goapp).

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"

namespace lameduck::testing {

struct GoService {
  std::unique_ptr<Process> process;
  int port = 0;        // drain protocol and /work/*
  int pprof_port = 0;  // net/http/pprof, loopback only

  std::string goroutineUrl() const {
    return "http://127.0.0.1:" + std::to_string(pprof_port) + "/debug/pprof/goroutine?debug=2";
  }
  std::string baseUrl() const { return "http://127.0.0.1:" + std::to_string(port); }
};

inline std::string goServiceBinary() { return GOAPP_BIN; }

// Starts the service with `args`; output goes to dir/<name>.log. Fails the
// test (and returns nullopt) when the binary is missing or it does not come up.
inline std::optional<GoService> startGoService(const TempDir& dir, const std::string& name,
                                               const std::vector<std::string>& args) {
  if (goServiceBinary().empty()) {
    ADD_FAILURE() << "the Go fixture was not built: install golang-go (scripts/install-deps) "
                     "and reconfigure";
    return std::nullopt;
  }
  std::vector<std::string> argv{goServiceBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  GoService s;
  s.process = std::make_unique<Process>(argv, dir.file(name + ".log"));
  auto line = waitForLine(
      s.process->outputPath(),
      [](const nlohmann::json& j) { return j.value("event", "") == "listening"; }, 20s);
  if (!line) {
    ADD_FAILURE() << "the Go service did not start: " << s.process->output();
    return std::nullopt;
  }
  s.port = line->value("port", 0);
  s.pprof_port = line->value("pprof_port", 0);
  return s;
}

// GET /work/<kind> requests, each on a thread of its own; for the stuck
// kinds they never finish (each client gives up after its `timeout`). The
// threads are joined when this object goes, so no request outlives the test
// (a thread still in a call while the process exits would use destroyed
// statics). Declare it BEFORE the GoService: the service then stops first and
// every request returns at once with its connection closed.
class StuckRequests {
 public:
  StuckRequests() = default;
  StuckRequests(const StuckRequests&) = delete;
  StuckRequests& operator=(const StuckRequests&) = delete;
  ~StuckRequests() {
    for (std::thread& t : threads_) t.join();
  }
  void start(int port, const std::string& kind, std::chrono::milliseconds timeout) {
    threads_.emplace_back(
        [port, kind, timeout] { (void)call(port, "GET", "/work/" + kind, {}, timeout); });
  }

 private:
  std::vector<std::thread> threads_;
};

}  // namespace lameduck::testing

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

// Starts GET /work/<kind> on a thread of its own and returns at once; the
// request never finishes for the stuck kinds (the client gives up after
// `timeout`).
inline void startStuckRequest(int port, const std::string& kind,
                              std::chrono::milliseconds timeout) {
  std::thread([port, kind, timeout] {
    (void)call(port, "GET", "/work/" + kind, {}, timeout);
  }).detach();
}

}  // namespace lameduck::testing

#pragma once

// A real OTLP/HTTP JSON receiver for tests: TestCollector from the npm
// package @opentelemetry/contrib-test-utils, run by
// tests/fixtures/otlp/collector.mjs on 127.0.0.1 and a free port. It checks
// every request against the OpenTelemetry JS encoder and records what it got
// in a JSON file that received() reads. The npm packages are fetched into
// build/tools/otlp on first use (tests/fixtures/otlp/install).
//
// The process is stopped by PID in the destructor (SIGTERM, then SIGKILL
// after a bounded wait). Not thread-safe; one test owns it.

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "support/harness.h"

namespace lameduck::testing {

class OtlpCollector {
 public:
  struct Options {
    int fail_first = 0;                // answer the first N requests with fail_status
    int fail_status = 503;             // e.g. 503 (retryable) or 400 (final)
    std::optional<int> retry_after{};  // Retry-After seconds on those answers
  };

  // Starts the receiver (installing its packages first when needed). Returns
  // nullptr and fills `error` when it does not come up within a minute.
  static std::unique_ptr<OtlpCollector> start(const TempDir& dir, const Options& options,
                                              std::string& error);
  static std::unique_ptr<OtlpCollector> start(const TempDir& dir, std::string& error) {
    return start(dir, Options{}, error);
  }
  ~OtlpCollector();
  OtlpCollector(const OtlpCollector&) = delete;
  OtlpCollector& operator=(const OtlpCollector&) = delete;

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Every request so far: {method, path, headers, status, errors, body}.
  std::vector<nlohmann::json> requests() const;
  // Every span TestCollector accepted, each with "resource" and
  // "instrumentationScope" attached.
  std::vector<nlohmann::json> spans() const;
  // Waits until at least `n` requests were answered.
  bool waitForRequests(size_t n, std::chrono::milliseconds timeout) const;
  // The receiver's own output (for failure messages).
  std::string log() const;

 private:
  OtlpCollector() = default;
  nlohmann::json read() const;
  std::unique_ptr<Process> process_;
  std::string out_;
  int port_ = 0;
};

}  // namespace lameduck::testing

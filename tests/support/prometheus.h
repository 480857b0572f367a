#pragma once

// A real prometheus server for tests, scraping the given targets every
// second, on a free loopback port; stopped by the destructor.

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "support/harness.h"

namespace lameduck::testing {

class Prometheus {
 public:
  // targets: job name → "host:port". Returns nullptr and fills `error` when
  // prometheus does not become ready.
  static std::unique_ptr<Prometheus> start(
      const TempDir& dir, const std::vector<std::pair<std::string, std::string>>& targets,
      std::string& error);
  ~Prometheus();

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // An instant query; the parsed answer, or a discarded json when it fails.
  nlohmann::json query(const std::string& expr) const;
  // The first sample of an instant query as a string ("0.5", "NaN"), or ""
  // when the result is empty or the query failed.
  std::string firstValue(const std::string& expr) const;

 private:
  Prometheus() = default;
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

}  // namespace lameduck::testing

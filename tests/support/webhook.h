#pragma once

// A load balancer controller that takes weights by webhook, for tests of
// the traffic shift's webhook backend: an HTTP server on a free loopback
// port that records every POST /weights (body and Authorization header) and
// answers with the scripted statuses in turn (the last one repeats; 200
// when none are given). Stopped by the destructor. Thread-safe.

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "http/http.h"

namespace lameduck::testing {

class WebhookReceiver {
 public:
  explicit WebhookReceiver(std::vector<int> statuses = {});

  // 0 when the server could not bind or start.
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/weights"; }
  // The bodies received so far (a body that is not JSON is discarded json).
  std::vector<nlohmann::json> received() const;
  // The Authorization header of each request so far.
  std::vector<std::string> authorizations() const;

 private:
  mutable std::mutex mu_;
  std::vector<int> statuses_;
  std::vector<nlohmann::json> bodies_;
  std::vector<std::string> auth_;
  http::Server server_;
  int port_ = 0;
};

}  // namespace lameduck::testing

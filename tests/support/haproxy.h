#pragma once

// A real haproxy for tests: one HTTP frontend on a free loopback port, one
// backend `be_app` balancing round-robin over the given servers, and an
// admin-level Runtime API socket. Stopped (SIGTERM, then SIGKILL) by the
// destructor.

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/harness.h"

namespace lameduck::testing {

class Haproxy {
 public:
  // servers: name → port on 127.0.0.1, each with `server_options` (e.g.
  // "weight 100"). `backend_options` are extra lines of be_app (e.g.
  // "  http-reuse always\n  retries 0\n"). Returns nullptr and fills
  // `error` when haproxy does not come up.
  static std::unique_ptr<Haproxy> start(const TempDir& dir,
                                        const std::vector<std::pair<std::string, int>>& servers,
                                        std::string& error, const std::string& server_options = "",
                                        const std::string& backend_options = "");
  ~Haproxy();

  int frontPort() const { return front_; }
  const std::string& socketPath() const { return socket_; }
  // One Runtime API command; its answer ("" on success for set commands).
  std::string command(const std::string& text) const;
  // Requests each server of be_app has answered so far (`show stat` stot).
  std::map<std::string, int64_t> served() const;
  // `get weight be_app/<server>` as "<current> (initial <n>)".
  std::string weight(const std::string& server) const;

 private:
  Haproxy() = default;
  std::unique_ptr<Process> process_;
  std::string socket_;
  int front_ = 0;
};

}  // namespace lameduck::testing

#pragma once

// A real redis-server for tests, on a unix socket in a temp directory,
// started and stopped by PID. Optional AOF persistence (appendfsync always)
// so a SIGKILL'd server can be restarted with its data.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "support/harness.h"

namespace lameduck::testing {

class RedisServer {
 public:
  explicit RedisServer(bool persistent = false, std::string password = "");
  ~RedisServer();

  bool start();  // (re)starts on the same socket and data directory
  void kill();   // SIGKILL
  bool running() { return process_ && process_->running(); }
  const std::string& socket() const { return socket_; }
  config::RedisConfig config(std::chrono::milliseconds timeout = 1000ms) const;
  // id field → how many entries of `stream` carry it (empty when the
  // stream cannot be read, which every caller's count check then catches).
  std::map<std::string, int> streamIds(const std::string& stream) const;
  // redis-cli output for one command (arguments as separate words).
  std::string cli(const std::vector<std::string>& args) const;

 private:
  TempDir dir_;
  std::string socket_;
  bool persistent_;
  std::string password_;
  std::unique_ptr<Process> process_;
};

}  // namespace lameduck::testing

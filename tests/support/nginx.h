#pragma once

// A real nginx for tests: an HTTP proxy on a free loopback port in front of
// an upstream `be_app` that pools its connections to the servers (`keepalive`,
// HTTP/1.1 with the Connection header cleared), and never retries a failed
// request on another server (`proxy_next_upstream off`), so a request the
// app drops is a failed request. One master and one worker, run in the
// foreground and stopped by PID (SIGTERM, then SIGKILL) by the destructor.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/harness.h"

namespace lameduck::testing {

class Nginx {
 public:
  // servers: name → port on 127.0.0.1. Returns nullptr and fills `error`
  // when nginx does not come up.
  static std::unique_ptr<Nginx> start(const TempDir& dir,
                                      std::vector<std::pair<std::string, int>> servers,
                                      std::string& error);
  ~Nginx();
  Nginx(const Nginx&) = delete;
  Nginx& operator=(const Nginx&) = delete;

  int frontPort() const { return front_; }
  // Removes `server` from be_app: rewrites the config without it and
  // reloads (SIGHUP to the master, as `nginx -s reload`). New workers never
  // use the server; the old ones finish the requests they have, then close
  // their pooled connections and exit. True once the master has logged the
  // reload (within 10 s).
  bool removeServer(const std::string& name);
  // The error log (notices included), for failure messages.
  std::string log() const;

 private:
  Nginx(const TempDir& dir) : dir_(dir) {}
  std::string config() const;
  const TempDir& dir_;
  std::vector<std::pair<std::string, int>> servers_;
  std::unique_ptr<Process> process_;
  std::string conf_;
  int front_ = 0;
};

}  // namespace lameduck::testing
